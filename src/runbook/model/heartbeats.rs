//! `heartbeats:` as written: the jobs opsbook does not run (an app's cron,
//! a host backup, certbot) that ping the agent when they finish, each with
//! when it is due: every `period`, or at the times of a `cron` expression,
//! and the `grace` it is given on top.

use serde::Deserialize;

use super::Name;
use crate::runbook::units::Duration;

/// The grace a heartbeat gets when the runbook gives none.
pub(crate) const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// One heartbeat: `period` or `cron` (one of them), and `grace`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Heartbeat {
    /// Due every this long after its last ping (`1d`).
    pub period: Option<Duration>,
    /// Due at each time of this cron expression (`0 3 * * *`), read in the
    /// schedule's time zone.
    pub cron: Option<Name>,
    /// How late it may be, and how long a started run may take (default 1h).
    pub grace: Option<Duration>,
}

impl Heartbeat {
    pub(crate) fn grace(&self) -> std::time::Duration {
        self.grace.map_or(DEFAULT_GRACE, Duration::std)
    }
}
