//! `startup:`, `shutdown:`, `update:` and `restore:` as written: how the
//! deployment is brought up (pre-flight, `up`, what must pass), taken down
//! (grace), put on another image, and the steps run before and after each.

use serde::Deserialize;

use super::Name;
use super::steps::Step;
use crate::runbook::command::Command;
use crate::runbook::units::{Duration, Size};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Startup {
    pub preflight: Option<Preflight>,
    /// Creates missing containers, e.g. `[docker, compose, up, -d, --no-start]`.
    pub up: Option<Command>,
    pub timeout: Option<Duration>,
    #[serde(default, deserialize_with = "super::lists::names")]
    pub verify: Vec<Name>,
    #[serde(default)]
    pub before: Vec<Step>,
    #[serde(default)]
    pub after: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Preflight {
    pub min_free_memory: Option<Size>,
    pub min_free_disk: Option<Size>,
    #[serde(default, deserialize_with = "super::lists::names")]
    pub files: Vec<Name>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Shutdown {
    pub grace: Option<Duration>,
    #[serde(default)]
    pub before: Vec<Step>,
    #[serde(default)]
    pub after: Vec<Step>,
}

/// `update: { backup: true, pull: false, timeout: 2m }`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Update {
    /// Take the runbook's backup first; a failed backup changes nothing.
    #[serde(default)]
    pub backup: bool,
    /// Pull the image from its registry first; a failed pull changes nothing.
    #[serde(default)]
    pub pull: bool,
    /// How long each service may take to become ready (else `startup.timeout`).
    pub timeout: Option<Duration>,
    /// Steps before anything changes (maintenance mode on); one that fails
    /// stops the update with nothing changed.
    #[serde(default)]
    pub before: Vec<Step>,
    /// Steps once every service is ready and verified (migrations,
    /// maintenance mode off); one that fails puts everything back.
    #[serde(default)]
    pub after: Vec<Step>,
}

/// `images:`: what daily-check asks the services' registries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Images {
    /// Ask each service's registry whether its tag points elsewhere now.
    #[serde(default)]
    pub check: bool,
    /// How long an answer is kept before the registry is asked again (6h).
    pub interval: Option<Duration>,
    /// Also list newer semver tags: `minor` (same major) or `major` (any).
    pub newer: Option<Newer>,
    /// How many of each service's images `images prune` keeps for
    /// rollback, the one running included (2).
    pub keep: Option<usize>,
}

/// Which newer tags `images.newer` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Newer {
    Minor,
    Major,
}

/// Steps run before and after a built-in section (`restore:` has only these).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Hooks {
    #[serde(default)]
    pub before: Vec<Step>,
    #[serde(default)]
    pub after: Vec<Step>,
}
