//! `opsbook update [SERVICE...] [--image SERVICE=IMAGE...]`: put services
//! on a new image, each behind a health gate, all or nothing (see
//! `deploy::update`).

use std::path::PathBuf;

use crate::deploy::update::{self, Asked};
use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

pub(crate) struct Options {
    pub services: Vec<String>,
    /// `--image SERVICE=IMAGE`
    pub images: Vec<(String, String)>,
    pub dry_run: bool,
    pub yes: bool,
    pub state_dir: PathBuf,
    /// `--pull`
    pub pull: bool,
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
        pull: options.pull,
    };
    let hooks = backups.setup(true);
    update::update(
        runbook,
        &options.services,
        &options.images,
        &asked,
        &hooks,
        progress,
        report,
    )
    .await
}
