//! `heal:` as written: which services `opsbook serve` may restart when
//! Docker reports them unhealthy, after how many failed health probes in a
//! row, how many restarts a window allows, the back-off between them, and
//! the severity of the incident opened when the cap is reached.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Name;
use crate::runbook::units::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Heal {
    #[serde(deserialize_with = "super::lists::names")]
    pub services: Vec<Name>,
    /// Failed health probes in a row (Docker's failing streak) before a
    /// restart (default 3).
    pub after: Option<Spanned<u32>>,
    /// Restarts a service may get within `window` (default 3).
    pub max_restarts: Option<Spanned<u32>>,
    /// Default 1h.
    pub window: Option<Duration>,
    /// The pause after the first restart, doubled after each (default 1m).
    pub backoff: Option<Duration>,
    /// The incident opened when the cap is hit (default the runbook's
    /// second severity, P2 by default).
    pub severity: Option<Name>,
}
