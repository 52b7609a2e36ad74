//! `thresholds:` as written (and a service's own `thresholds`): warn and
//! crit for the host's memory, swap, load, disks and inodes, for each
//! container's memory and CPU against its limits, and for Docker's own
//! disk use.

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::runbook::units::{Percent, Size};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Thresholds {
    pub memory: Option<PercentLimits>,
    pub swap: Option<PercentLimits>,
    /// The 1-minute load average divided by the number of cores.
    pub load: Option<LoadLimits>,
    /// The 5- and 15-minute ones, per core: graded only when given.
    pub load5: Option<LoadLimits>,
    pub load15: Option<LoadLimits>,
    pub disk: Option<DiskLimits>,
    /// Percent of each disk path's inodes in use: graded only when given.
    pub inodes: Option<PercentLimits>,
    /// Every container's resource use, against its own limits.
    pub containers: Option<ContainerLimits>,
    /// Docker's own disk use (`docker system df`): graded only when given.
    pub docker_disk: Option<DockerDiskLimits>,
}

/// Docker's disk use in bytes: the total of images, containers, volumes
/// and build cache (`warn` / `crit`), and any of those on its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DockerDiskLimits {
    pub warn: Option<Spanned<Size>>,
    pub crit: Option<Spanned<Size>>,
    pub images: Option<SizeLimits>,
    pub containers: Option<SizeLimits>,
    pub volumes: Option<SizeLimits>,
    pub build_cache: Option<SizeLimits>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SizeLimits {
    pub warn: Spanned<Size>,
    pub crit: Spanned<Size>,
}

/// Memory in use as a percent of the container's limit (of the host's
/// memory when it has none); CPU as a percent of its CPU limit (of one core
/// when it has none).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContainerLimits {
    pub memory: Option<PercentLimits>,
    pub cpu: Option<PercentLimits>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PercentLimits {
    pub warn: Spanned<Percent>,
    pub crit: Spanned<Percent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoadLimits {
    pub warn: Spanned<f64>,
    pub crit: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiskLimits {
    pub warn: Spanned<Percent>,
    pub crit: Spanned<Percent>,
    #[serde(default, deserialize_with = "super::lists::strings")]
    pub paths: Vec<String>,
}
