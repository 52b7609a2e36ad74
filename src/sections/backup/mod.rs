//! `opsbook backup` (create), `backup list`, `backup verify`, `backup prune`:
//! making backups in `create`, looking after them in `inventory`.

pub(crate) mod copy;
mod create;
mod inventory;

pub use create::create;
pub use inventory::{list, prune, verify_backups};

use std::path::Path;

use crate::backup::catalog;
use crate::error::Error;
use crate::runbook::Runbook;
use crate::runbook::model::Backup;

pub(super) fn settings(runbook: &Runbook) -> Result<&Backup, Error> {
    runbook.model.backup.as_ref().ok_or_else(|| {
        Error::Usage(format!(
            "the runbook `{}` has no `backup` section",
            runbook.display
        ))
    })
}

/// Which backups a command names: an id, `latest`, or all of them.
pub(super) fn select(
    dir: &Path,
    id: Option<&str>,
    all: bool,
) -> Result<Vec<catalog::BackupEntry>, Error> {
    let backups = catalog::list(dir).map_err(|source| Error::State {
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
