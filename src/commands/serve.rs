//! `opsbook serve [--listen ADDR] [--token-file FILE]`: the runbook's
//! schedule, metrics, health and status page until a signal stops it; over
//! a fleet, an agent per selected host in this one process (see
//! `serve::launch`).

use crate::error::Error;
use crate::render::Report;
use crate::runbook::Source;
use crate::serve::launch;

pub(crate) use launch::Options;

pub(crate) async fn run(
    source: &Source,
    options: &Options,
    report: &mut Report,
) -> Result<(), Error> {
    launch::run(source, options, report).await
}

pub(crate) async fn run_fleet(
    fleet_file: &std::path::Path,
    limit: Option<&str>,
    options: &Options,
    report: &mut Report,
) -> Result<(), Error> {
    launch::run_fleet(fleet_file, limit, options, report).await
}
