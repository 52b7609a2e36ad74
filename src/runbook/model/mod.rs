//! The runbook as written: one serde struct per YAML section, every section
//! of the schema (DESIGN.md, "A runbook"), unknown keys refused.
//!
//! Names that other parts refer to (services, checks) are `Spanned`, so the
//! validator can point at the exact line and column of a bad reference.
//!
//! The top level (`Model`, `mode:`, `services:`) is here; each group of
//! sections is a file of its own, re-exported here.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

mod backup;
mod checks;
mod heal;
mod heartbeats;
mod incident;
mod lifecycle;
mod lists;
mod logs;
mod notify;
mod schedule;
mod steps;
mod thresholds;
pub(crate) use backup::*;
pub(crate) use checks::*;
pub(crate) use heal::*;
pub(crate) use heartbeats::*;
pub(crate) use incident::*;
pub(crate) use lifecycle::*;
pub(crate) use logs::*;
pub(crate) use notify::*;
pub(crate) use schedule::*;
pub(crate) use steps::*;
pub(crate) use thresholds::*;

pub(crate) type Name = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Model {
    pub version: Spanned<u32>,
    pub name: Option<String>,
    /// The compose project label (`com.docker.compose.project`); without one,
    /// every compose project on the host is looked at.
    pub project: Option<String>,
    /// How the project is deployed (`mode:`).
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub services: IndexMap<String, Service>,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub checks: IndexMap<String, Check>,
    pub logs: Option<Logs>,
    pub startup: Option<Startup>,
    pub shutdown: Option<Shutdown>,
    pub backup: Option<Backup>,
    pub restore: Option<Hooks>,
    /// How `update` and `rollback` put services on another image.
    pub update: Option<Update>,
    /// What daily-check asks the services' image registries.
    pub images: Option<Images>,
    pub incident: Option<Incident>,
    pub notify: Option<Notify>,
    #[serde(default)]
    pub procedures: IndexMap<String, Procedure>,
    /// When `opsbook serve` runs each job.
    pub schedule: Option<Schedule>,
    /// What `opsbook serve` may restart when it is unhealthy.
    pub heal: Option<Heal>,
    /// Jobs opsbook does not run, graded by their pings.
    #[serde(default)]
    pub heartbeats: IndexMap<String, Heartbeat>,
    /// Extra secret patterns (regexes) masked in every output.
    #[serde(default)]
    pub redact: Vec<Name>,
}

/// `mode:`: `compose` (containers of a compose project), `swarm` (the
/// services of a Docker Swarm stack named as the project), or `auto`, the
/// default: a stack of that name on the engine makes it `swarm`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    #[default]
    Auto,
    Compose,
    Swarm,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Service {
    #[serde(default, deserialize_with = "lists::names")]
    pub depends_on: Vec<Name>,
    /// A critical service down or unhealthy is crit; any other is warn.
    #[serde(default)]
    pub critical: bool,
    /// This service's own log patterns and thresholds, instead of `logs`'.
    pub logs: Option<Logs>,
    /// This service's own resource limits, over `thresholds.containers`.
    pub thresholds: Option<ContainerLimits>,
}
