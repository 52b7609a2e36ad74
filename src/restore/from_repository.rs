//! `restore` of a runbook whose backups are snapshots of a restic
//! repository: the snapshot is brought out as a backup of the archive
//! format first (`backup::repository::export`), read back and checked
//! before anything stops; the normal restore then runs on it, and the
//! folder is removed after.

use std::path::PathBuf;

use crate::backup::repository::{Place, export};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

/// The options that restore the backup brought out, and its folder.
pub(super) async fn fetched(
    runbook: &Runbook,
    options: &super::Options,
    place: &Place,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(super::Options, PathBuf), Error> {
    let dir = runbook.backup_dir(crate::backup::settings(runbook)?);
    let id = export::export(runbook, place, options.id.as_deref(), &dir, progress).await?;
    report.results.push(CheckResult::new(
        "restore",
        "repository",
        Status::Ok,
        format!("{id} read back from restic repository {}", place.location()),
    ));
    let options = options.of_backup(id.clone());
    Ok((options, dir.join(id)))
}
