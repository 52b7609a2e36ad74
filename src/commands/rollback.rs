//! `opsbook rollback SERVICE [--to IMAGE|previous]`: put a service back on
//! the image it ran before its last update, or on any image on the host,
//! behind the same health gate and put-back as `update` (see
//! `deploy::update`).

use std::path::PathBuf;

use crate::deploy::update::{self, Asked};
use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

pub(crate) struct Options {
    pub service: String,
    /// `previous`, or an image name or id.
    pub to: String,
    pub dry_run: bool,
    pub yes: bool,
    pub state_dir: PathBuf,
}

pub(crate) async fn run(
    runbook: &Runbook,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let backups = crate::commands::backup::as_step(runbook, &options.state_dir, progress);
    let asked = Asked {
        dry_run: options.dry_run,
        yes: options.yes,
        state_dir: &options.state_dir,
        pull: false,
    };
    let hooks = backups.setup(true);
    update::rollback(
        runbook,
        &options.service,
        &options.to,
        &asked,
        &hooks,
        progress,
        report,
    )
    .await
}
