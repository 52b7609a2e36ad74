//! The daily check's backups part: how fresh the backups are here
//! (`backup::freshness`) and, per copy target, the newest complete copy
//! against `backup.max_age`.

use std::time::Duration;

use crate::backup::freshness::{self, aged};
use crate::grade::{CheckResult, Status};
use crate::runbook::Runbook;

/// The backups here, then on every copy target.
pub(crate) async fn backups(runbook: &Runbook) -> Vec<CheckResult> {
    let Some(mut results) = freshness::local(runbook).await else {
        return vec![CheckResult::new(
            "backups",
            "newest",
            Status::Unknown,
            "the backup check did not finish",
        )];
    };
    if runbook.model.backup.is_some() {
        results.extend(copies(runbook, runbook.plan.backup_max_age).await);
    }
    results
}

/// Per copy target, the newest complete copy against `max_age`: an
/// off-site copy that silently stopped is the failure nobody notices.
async fn copies(runbook: &Runbook, max_age: Duration) -> Vec<CheckResult> {
    if super::copies(runbook).is_empty() {
        return Vec::new();
    }
    let targets = match super::Target::all(runbook, None) {
        Ok(targets) => targets,
        Err(problem) => {
            return vec![CheckResult::new(
                "backups",
                "copies",
                Status::Unknown,
                problem,
            )];
        }
    };
    let mut results = Vec::new();
    for target in targets {
        let name = format!("copy {}", target.name);
        results.push(match target.list().await {
            Err(problem) => CheckResult::new(
                "backups",
                &name,
                Status::Crit,
                format!("cannot list {}: {problem}", target.location()),
            ),
            Ok(listed) => match listed.iter().rev().find(|b| !b.safety) {
                None => CheckResult::new(
                    "backups",
                    &name,
                    Status::Warn,
                    format!("no copy yet on {}", target.location()),
                ),
                Some(newest) => aged(
                    &name,
                    &format!("newest copy `{}` on {}", newest.id, target.location()),
                    newest.created_at,
                    max_age,
                ),
            },
        });
    }
    results
}
