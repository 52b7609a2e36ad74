//! Backups on disk, the whole format, reading and writing: one folder per
//! backup holding `manifest.json` and one compressed (optionally encrypted)
//! file per item, written under a name starting with `.` and renamed only
//! when complete, so a half-written backup is never listed, verified or
//! restored. Taking a backup (`take`: stopping what must not write, the
//! items collected, the hooks around), listing, verifying and drilling one
//! live here too; sending one off the host is `copies/`. Commands use it;
//! it knows no command.

pub mod catalog;
pub mod collect;
pub mod direct;
pub mod drill;
pub mod freshness;
pub mod list;
pub mod manifest;
pub mod retention;
pub mod scope;
pub mod staging;
pub mod step;
pub mod take;
pub mod unpack;
pub mod verify;
pub mod writer;

use std::path::Path;

use crate::error::Error;
use crate::runbook::Runbook;
use crate::runbook::model::Backup;

pub use step::{AsStep, Offsite};
pub use take::create;

/// The runbook's `backup` section, or why a backup command cannot run.
pub fn settings(runbook: &Runbook) -> Result<&Backup, Error> {
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
pub fn remote_files(endpoint: &str) -> Error {
    Error::Usage(format!(
        "`backup.files` are files of this machine, and the engine at {endpoint} is on another: keep that host's files in a volume (or run opsbook on that host); nothing was changed"
    ))
}

/// Which backups a command names: an id, `latest`, or all of them.
pub fn select(dir: &Path, id: Option<&str>, all: bool) -> Result<Vec<catalog::BackupEntry>, Error> {
    let backups = catalog::list(dir).map_err(|source| Error::File {
        path: dir.to_path_buf(),
        action: "read",
        source,
    })?;
    if all {
        return Ok(backups);
    }
    match id.unwrap_or("latest") {
        "latest" => backups
            .into_iter()
            .last()
            .map(|b| vec![b])
            .ok_or_else(|| Error::Usage(format!("no backup in {}", dir.display()))),
        wanted => backups
            .into_iter()
            .find(|b| b.id == wanted)
            .map(|b| vec![b])
            .ok_or_else(|| Error::Usage(format!("no backup `{wanted}` in {}", dir.display()))),
    }
}
