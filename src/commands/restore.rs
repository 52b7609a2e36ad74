//! `opsbook restore [ID|latest] [--from NAME]`: a backup put back, all or
//! nothing (see `restore/`), its `restore.before` and `.after` steps run
//! with the backup command behind their `backup:` steps.

use crate::error::Error;
use crate::render::Report;
use crate::restore;
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

pub(crate) use restore::Options;

pub(crate) async fn run(
    runbook: &Runbook,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let backups = super::backup::as_step(runbook, &options.state_dir, progress);
    restore::run(runbook, options, backups.setup(true), progress, report).await
}
