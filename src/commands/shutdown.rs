//! `opsbook shutdown`: stop the deployment in reverse dependency order and
//! check that everything stopped (see `deploy::shutdown`). `--emergency`
//! kills every container at once; `--backup` takes a backup first.

use crate::deploy::shutdown;
use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

pub(crate) struct Options {
    pub emergency: bool,
    pub backup: bool,
    pub force: bool,
    pub dry_run: bool,
    pub yes: bool,
    pub state_dir: std::path::PathBuf,
}

pub(crate) async fn run(
    runbook: &Runbook,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let backups = crate::commands::backup::as_step(runbook, &options.state_dir, progress);
    let how = shutdown::Options {
        emergency: options.emergency,
        backup: options.backup,
        force: options.force,
        dry_run: options.dry_run,
        yes: options.yes,
    };
    shutdown::run(runbook, &how, &backups.setup(true), progress, report).await
}
