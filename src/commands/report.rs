//! `opsbook report [--since 7d] [--uptime]`: trends from the history
//! daily-check keeps, per day and per service (see `check::trends`); or
//! the uptime of each check and service and the incidents' response times
//! (`check::uptime`, `incident::response`).

use std::path::Path;
use std::time::Duration;

use crate::check::{self, trends};
use crate::error::Error;
use crate::incident;
use crate::render::Report;
use crate::runbook::Runbook;

pub(crate) fn run(
    runbook: &Runbook,
    state_dir: &Path,
    since: Duration,
    uptime: bool,
    report: &mut Report,
) -> Result<(), Error> {
    if uptime {
        check::uptime::run(runbook, state_dir, since, report)?;
        return incident::response::times(runbook, since, report);
    }
    trends::run(runbook, state_dir, since, report)
}
