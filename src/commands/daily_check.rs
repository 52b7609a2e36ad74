//! `opsbook daily-check`: the operators' morning checklist in one
//! concurrent run (see `check::daily`), its backups part read here and on
//! the copy targets (`copies::freshness`); then, as after every daily
//! check, incidents nobody acknowledged in time are escalated.

use crate::backup::copies::freshness;
use crate::check::daily;
use crate::deploy;
use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;

pub(crate) use daily::{Options, Part};

pub(crate) async fn run(
    runbook: &Runbook,
    options: &Options,
    report: &mut Report,
) -> Result<(), Error> {
    let connect = || -> daily::Connected<'_> { Box::pin(deploy::look(runbook)) };
    let backups = || freshness::backups(runbook, &options.state_dir);
    let above = daily::Above {
        connect: &connect,
        backups: &backups,
    };
    daily::run(runbook, options, above, report).await?;
    if options.record && crate::notify::enabled() {
        crate::incident::escalate::overdue(runbook, &options.state_dir).await;
    }
    Ok(())
}
