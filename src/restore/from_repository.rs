//! `restore` of a runbook whose backups are snapshots of a restic
//! repository (`backup::repository::export`). The snapshot is opened and
//! its lock held for the whole restore; its files and dumps are brought
//! out as a backup of the archive format and checked before anything
//! stops. A volume restored directly streams from the snapshot into its
//! staging folder beside the data (one read, no copy on disk); one
//! restored through Docker's archive endpoint, or checked by a dry run, is
//! brought out first. The normal restore then runs on it, and the folder
//! is removed after.

use std::path::PathBuf;

use crate::backup::manifest::Kind;
use crate::backup::repository::Place;
use crate::backup::repository::export::Reading;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

use super::prepare::Prepared;

/// A snapshot brought out for a restore: the options that restore it, the
/// folder brought out (removed after), the snapshot still open.
pub(super) struct Fetched {
    pub reading: Reading,
    pub options: super::Options,
    pub folder: PathBuf,
}

/// Opens the snapshot `options` names and brings its files and dumps out.
pub(super) async fn fetched(
    runbook: &Runbook,
    options: &super::Options,
    place: &Place,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<Fetched, Error> {
    let dir = runbook.backup_dir(crate::backup::settings(runbook)?);
    let reading = Reading::open(runbook, place, options.id.as_deref(), &dir, progress).await?;
    let folder = match reading.bring_out(false).await {
        Ok(folder) => folder,
        Err(e) => {
            reading.release().await;
            return Err(e);
        }
    };
    report.results.push(CheckResult::new(
        "restore",
        "repository",
        Status::Ok,
        format!(
            "{} read from snapshot {} of restic repository {}",
            reading.id,
            reading.snapshot,
            place.location()
        ),
    ));
    let options = options.of_backup(reading.id.clone());
    Ok(Fetched {
        reading,
        options,
        folder,
    })
}

/// The volumes that cannot stream (restored through Docker's archive
/// endpoint, or verified by a dry run) brought out now; the rest stream.
pub(super) async fn complete(
    reading: &Reading,
    prepared: &mut Prepared<'_>,
    dry_run: bool,
) -> Result<(), Error> {
    for p in &mut prepared.planned {
        if p.item.kind == Kind::Volume && (dry_run || !super::is_direct(p)) {
            p.item = reading.volume(&p.item).await?;
        }
    }
    prepared.streamed = Some(reading.volumes());
    Ok(())
}
