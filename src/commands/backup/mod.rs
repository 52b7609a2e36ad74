//! `opsbook backup` (create), `backup list`, `backup verify`, `backup prune`:
//! one file each. The on-disk format and the copying live in `crate::backup`;
//! this folder decides what to back up, when, and what to tell the operator.

mod copy;
mod create;
mod drill;
mod list;
mod prune;
mod verify;

pub use copy::copy;
pub use create::create;
pub use drill::drill;
pub use list::{list, list_copy};
pub use prune::prune;
pub use verify::verify_backups;

use std::path::Path;

use futures_util::future::LocalBoxFuture;

use crate::backup::catalog;
use crate::error::Error;
use crate::grade::Status;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::runbook::model::Backup;
use crate::steps::{Setup, TakeBackup};
use crate::ui::progress::Progress;

pub(super) fn settings(runbook: &Runbook) -> Result<&Backup, Error> {
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

/// Which backups a command names: an id, `latest`, or all of them.
pub(super) fn select(
    dir: &Path,
    id: Option<&str>,
    all: bool,
) -> Result<Vec<catalog::BackupEntry>, Error> {
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

/// The backup command as a `backup:` step of playbooks, procedures and the
/// hooks of other commands: the step engine is handed this.
pub struct AsStep<'a> {
    pub runbook: &'a Runbook,
    pub state_dir: &'a Path,
    pub progress: Progress<'a>,
}

impl AsStep<'_> {
    /// Steps set up with this backup command behind their `backup:` steps.
    pub fn setup(&self, yes: bool) -> Setup<'_> {
        Setup {
            runbook: self.runbook,
            progress: self.progress,
            yes,
            backups: Some(self),
            state_dir: self.state_dir,
        }
    }
}

impl TakeBackup for AsStep<'_> {
    fn backup_into<'a>(&'a self, report: &'a mut Report) -> LocalBoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            create(self.runbook, false, self.state_dir, self.progress, report).await?;
            Ok(())
        })
    }

    fn take(&self) -> LocalBoxFuture<'_, (Status, String)> {
        Box::pin(async move {
            let mut report = Report::new("backup", &self.runbook.display, jiff::Timestamp::now());
            let made = create(
                self.runbook,
                false,
                self.state_dir,
                self.progress,
                &mut report,
            );
            let id = match made.await {
                Ok(id) => id,
                Err(e) => return (e.status(), e.to_string()),
            };
            match (report.status(), id) {
                (Status::Ok, Some(id)) => (Status::Ok, format!("backup {id}")),
                (status, id) => {
                    let problems: Vec<String> = report
                        .results
                        .iter()
                        .filter(|r| r.status != Status::Ok)
                        .map(|r| format!("{}: {}", r.name, r.message))
                        .collect();
                    let made = id.map_or_else(String::new, |id| format!("backup {id}; "));
                    (status, format!("{made}{}", problems.join("; ")))
                }
            }
        })
    }
}
