//! Backups on disk, the whole format, reading and writing: one folder per
//! backup holding `manifest.json` and one compressed (optionally encrypted)
//! file per item, written under a name starting with `.` and renamed only
//! when complete, so a half-written backup is never listed, verified or
//! restored. Taking a backup (`take`: stopping what must not write, the
//! items collected, the hooks around), listing, verifying and drilling one
//! live here too, and so do sending one off the host (`copies/`) and
//! snapshots in a restic repository (`repository/`). Commands use it;
//! it knows no command.

pub(crate) mod catalog;
pub(crate) mod collect;
pub(crate) mod copies;
pub(crate) mod direct;
pub(crate) mod drill;
pub(crate) mod freshness;
pub(crate) mod list;
pub(crate) mod manifest;
pub(crate) mod repository;
pub(crate) mod retention;
pub(crate) mod scope;
pub(crate) mod staging;
pub(crate) mod step;
pub(crate) mod take;
pub(crate) mod unpack;
pub(crate) mod verify;
pub(crate) mod writer;

use std::path::Path;

use crate::error::Error;
use crate::runbook::Runbook;
use crate::runbook::model::Backup;

pub(crate) use step::{AsStep, Offsite};
pub(crate) use take::create;

/// The runbook's `backup` section, or why a backup command cannot run.
pub(crate) fn settings(runbook: &Runbook) -> Result<&Backup, Error> {
    runbook.model.backup.as_ref().ok_or_else(|| {
        Error::Usage(format!(
            "the runbook `{}` has no `backup` section{}",
            runbook.display,
            runbook.found_how()
        ))
    })
}

/// `backup.files` are this machine's files: with another machine's engine
/// they would be the wrong host's. Said before anything is changed.
pub(crate) fn remote_files(endpoint: &str) -> Error {
    Error::Usage(format!(
        "`backup.files` are files of this machine, and the engine at {endpoint} is on another: keep that host's files in a volume (or run opsbook on that host); nothing was changed"
    ))
}

/// The newest backup the runbook made (safety backups left out).
pub(crate) const LATEST: &str = "latest";
/// The newest safety backup: the state the last restore replaced.
pub(crate) const LATEST_SAFETY: &str = "latest-safety";

/// Which backups a command names: an id, `latest` (the newest the runbook
/// made), `latest-safety` (the newest a restore took first), or all of
/// them.
pub(crate) fn select(
    dir: &Path,
    id: Option<&str>,
    all: bool,
) -> Result<Vec<catalog::BackupEntry>, Error> {
    let mut backups = catalog::list(dir).map_err(|source| Error::File {
        path: dir.to_path_buf(),
        action: "read",
        source,
    })?;
    if all {
        return Ok(backups);
    }
    match id.unwrap_or(LATEST) {
        // The newest backup the runbook made: a safety backup (the state a
        // restore replaced) is restored only when asked for by name.
        LATEST => match backups.iter().rposition(|b| !b.safety) {
            Some(newest) => Ok(vec![backups.swap_remove(newest)]),
            None if backups.is_empty() => {
                Err(Error::Usage(format!("no backup in {}", dir.display())))
            }
            None => Err(Error::Usage(format!(
                "no backup in {} but safety backups taken before restores: name one by its id, or `{LATEST_SAFETY}`",
                dir.display()
            ))),
        },
        LATEST_SAFETY => backups
            .into_iter()
            .rfind(|b| b.safety)
            .map(|b| vec![b])
            .ok_or_else(|| Error::Usage(format!("no safety backup in {}", dir.display()))),
        wanted => match backups.into_iter().find(|b| b.id == wanted) {
            Some(found) => Ok(vec![found]),
            None => Err(
                match catalog::damaged(dir).into_iter().find(|d| d.id == wanted) {
                    Some(damaged) => Error::Usage(format!(
                        "backup `{wanted}` has a damaged manifest, `{}` ({}): it cannot be read, so it is never listed, verified or restored",
                        damaged.manifest.display(),
                        damaged.why
                    )),
                    None => Error::Usage(format!("no backup `{wanted}` in {}", dir.display())),
                },
            ),
        },
    }
}
