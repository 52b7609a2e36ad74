//! The backup command as a `backup:` step of playbooks and procedures,
//! and as the backup other commands take first (`shutdown --backup`,
//! `update.backup`): the step engine and deploy/ are handed this. A backup
//! taken here is sent off-site as `opsbook backup` sends it, through the
//! `Offsite` it is given (`copies::Offsite`; the step engine's callers
//! choose whether a step's backup is sent).

use std::path::Path;

use futures_util::future::LocalBoxFuture;

use crate::error::Error;
use crate::grade::Status;
use crate::interrupt::Interrupt;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::steps::{Setup, TakeBackup};
use crate::ui::progress::Progress;

use super::create;

/// Where a complete backup goes next: every copy target
/// (`copies::Offsite`).
pub(crate) trait Offsite {
    /// Sends the new backup `id` of `dir` to every copy target; one result
    /// per target into `report`. A signal (`interrupt`) ends it.
    fn send<'a>(
        &'a self,
        runbook: &'a Runbook,
        dir: &'a Path,
        id: &'a str,
        interrupt: &'a Interrupt,
        report: &'a mut Report,
    ) -> LocalBoxFuture<'a, ()>;
}

/// The backup command as a `backup:` step of playbooks, procedures and the
/// hooks of other commands: the step engine is handed this.
pub(crate) struct AsStep<'a> {
    pub runbook: &'a Runbook,
    pub state_dir: &'a Path,
    pub progress: Progress<'a>,
    pub offsite: &'a dyn Offsite,
}

impl AsStep<'_> {
    /// Steps set up with this backup command behind their `backup:` steps.
    pub(crate) fn setup(&self, yes: bool) -> Setup<'_> {
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
            create(
                self.runbook,
                false,
                self.state_dir,
                self.progress,
                self.offsite,
                report,
            )
            .await?;
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
                self.offsite,
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
