//! `opsbook startup`: the operators' startup page in one command (see
//! `deploy::startup`): pre-flight, create what is missing, start tier by
//! tier waiting for each to be ready, then verify.

use crate::deploy::startup;
use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

pub(crate) struct Options {
    pub skip_preflight: bool,
    pub dry_run: bool,
    pub state_dir: std::path::PathBuf,
}

pub(crate) async fn run(
    runbook: &Runbook,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let backups = crate::commands::backup::as_step(runbook, &options.state_dir, progress);
    let how = startup::Options {
        skip_preflight: options.skip_preflight,
        dry_run: options.dry_run,
    };
    startup::run(runbook, &how, &backups.setup(true), progress, report).await
}
