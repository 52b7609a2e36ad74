//! `thresholds:` as written (and a service's own `thresholds`): warn and
//! crit for the host's memory, swap, CPU, iowait, load, disks (used and
//! free), inodes and network, each with an optional `for:`; for each
//! container's memory and CPU against its limits and its network rate; and
//! for Docker's own disk use.

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::runbook::units::{Duration, Percent, Rate, Size};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Thresholds {
    pub memory: Option<HostPercentLimits>,
    pub swap: Option<HostPercentLimits>,
    /// The host's CPU busy (all cores), sampled: graded only when given.
    pub cpu: Option<HostPercentLimits>,
    /// The share of CPU time waiting on I/O, sampled: graded only when given.
    pub iowait: Option<HostPercentLimits>,
    /// The 1-minute load average divided by the number of cores (or raw,
    /// with `per_core: false`).
    pub load: Option<LoadLimits>,
    /// The 5- and 15-minute ones, per core: graded only when given.
    pub load5: Option<LoadLimits>,
    pub load15: Option<LoadLimits>,
    pub disk: Option<DiskLimits>,
    /// Percent of each disk path's inodes in use: graded only when given.
    pub inodes: Option<HostPercentLimits>,
    /// The host's network rate (received and sent), sampled: graded only
    /// when given.
    pub network: Option<HostRateLimits>,
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
    /// Received and sent over the sample: graded only when given.
    pub network: Option<RateLimits>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PercentLimits {
    pub warn: Spanned<Percent>,
    pub crit: Spanned<Percent>,
}

/// A host figure's percentages, and how long it may stay above crit
/// before it is crit (`for: 5m`; warn until then).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostPercentLimits {
    pub warn: Spanned<Percent>,
    pub crit: Spanned<Percent>,
    #[serde(rename = "for")]
    pub lasting: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoadLimits {
    pub warn: Spanned<f64>,
    pub crit: Spanned<f64>,
    /// Divide by the number of cores (the default); `false` grades the
    /// load average as `uptime` prints it.
    pub per_core: Option<bool>,
    #[serde(rename = "for")]
    pub lasting: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiskLimits {
    pub warn: Spanned<Percent>,
    pub crit: Spanned<Percent>,
    /// Free space: warn and crit when there is less than these.
    pub free: Option<SizeLimits>,
    #[serde(default, deserialize_with = "super::lists::strings")]
    pub paths: Vec<String>,
    #[serde(rename = "for")]
    pub lasting: Option<Duration>,
}

/// Bytes a second received and sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimits {
    pub warn: Spanned<Rate>,
    pub crit: Spanned<Rate>,
}

/// The host's network rate, with `for:` as the other host figures.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostRateLimits {
    pub warn: Spanned<Rate>,
    pub crit: Spanned<Rate>,
    #[serde(rename = "for")]
    pub lasting: Option<Duration>,
}
