//! `opsbook run PROCEDURE`: a custom procedure of the runbook run through
//! the step engine, with the backup command behind its `backup:` steps;
//! `run --list` shows them, `--dry-run` prints the steps (see
//! `steps::procedure`).

use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::steps::procedure;
use crate::ui::progress::Progress;

pub(crate) struct Options {
    pub name: Option<String>,
    pub list: bool,
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
    let backups = super::backup::as_step(runbook, &options.state_dir, progress);
    let setup = backups.setup(options.yes);
    let name = options.name.as_deref();
    procedure::run(name, options.list, options.dry_run, setup, report).await
}
