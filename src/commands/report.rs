//! `opsbook report [--since 7d]`: trends from the history daily-check
//! keeps, per day and per service (see `check::trends`).

use std::path::Path;
use std::time::Duration;

use crate::check::trends;
use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;

pub(crate) fn run(
    runbook: &Runbook,
    state_dir: &Path,
    since: Duration,
    report: &mut Report,
) -> Result<(), Error> {
    trends::run(runbook, state_dir, since, report)
}
