//! `opsbook ping NAME [--start|--fail]`: a heartbeat's ping recorded in the
//! state folder on this host, without the agent (see `check::heartbeats`).

use std::path::Path;

use crate::check::heartbeats;
use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;

pub(crate) use crate::state::pings::Ping;

pub(crate) fn run(
    runbook: &Runbook,
    state_dir: &Path,
    name: &str,
    ping: Ping,
    report: &mut Report,
) -> Result<(), Error> {
    report
        .results
        .push(heartbeats::ping(runbook, state_dir, name, ping)?);
    Ok(())
}
