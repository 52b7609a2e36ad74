//! `unit` checks: a systemd unit on the host must be active, as the pages'
//! `systemctl is-active nginx` asks.

use std::time::Instant;

use crate::grade::CheckResult;
use crate::host::journal;

use super::value::Graded;
use super::{DEFAULT_TIMEOUT, Probe};

impl Probe<'_> {
    pub async fn unit(&self, name: &str, unit: &str, hint: Option<&str>) -> CheckResult {
        let started = Instant::now();
        let (status, message) = journal::unit_state(unit, DEFAULT_TIMEOUT).await;
        let graded = Graded {
            status,
            message,
            figure: None,
        };
        self.finish(name, graded, hint, started)
    }
}
