//! `opsbook backup list --copy NAME`: the complete backups on one copy
//! target, shown as the local ones are (`backup::list`); each one whose
//! manifest does not read is a crit result naming it. A repository's copy
//! lists as the repository does (`repository::list`).

use crate::backup::list::{Listed, show};
use crate::backup::settings;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;

use super::Target;

/// `backup list --copy NAME`: the backups on copy target `name`.
pub(crate) async fn list(runbook: &Runbook, name: &str, report: &mut Report) -> Result<(), Error> {
    if settings(runbook)?.repository.is_some() {
        let copy = crate::backup::repository::copy::target(runbook, name)?;
        return crate::backup::repository::list::list(runbook, &copy.place, report).await;
    }
    let target = &Target::named(runbook, name)?;
    let remote = match target.list().await {
        Ok(remote) => remote,
        Err(problem) => {
            report.results.push(CheckResult::new(
                "copies",
                name,
                Status::Crit,
                format!("cannot list {}: {problem}", target.location()),
            ));
            return Ok(());
        }
    };
    let mut listed = Vec::new();
    let mut unread = Vec::new();
    for backup in remote.backups {
        let manifest = match target.manifest(&backup.id).await {
            Ok(manifest) => Some(manifest),
            Err(problem) => {
                unread.push(CheckResult::new(
                    "copies",
                    format!("{name}:{}", backup.id),
                    Status::Crit,
                    problem,
                ));
                None
            }
        };
        listed.push(Listed {
            manifest,
            drill: None,
            id: backup.id,
            created_at: backup.created_at,
            safety: backup.safety,
        });
    }
    show(listed, &target.location(), report);
    report.results.extend(unread);
    // Never passed over in silence: a copy whose manifest does not read.
    for damaged in &remote.damaged {
        report.results.push(CheckResult::new(
            "copies",
            format!("{name}:{}", damaged.id),
            Status::Crit,
            target.damaged(damaged),
        ));
    }
    Ok(())
}
