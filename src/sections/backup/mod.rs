//! `opsbook backup` (create), `backup list`, `backup verify`, `backup prune`:
//! making backups in `create`, looking after them in `inventory`.

pub(crate) mod copy;
mod create;
mod inventory;

pub use create::create;
pub use inventory::{list, prune, verify_backups};

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
