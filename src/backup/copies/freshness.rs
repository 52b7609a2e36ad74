//! The daily check's backups part: how fresh the backups are here
//! (`backup::freshness`) and, per copy target, the newest complete copy
//! against `backup.max_age`. Each is a job of its own under the run's
//! deadline: a target that hangs leaves only its own result unknown.

use std::path::Path;
use std::time::Duration;

use crate::backup::freshness::{self, aged};
use crate::check::daily::Work;
use crate::grade::{CheckResult, Status};
use crate::runbook::Runbook;

/// The jobs of the backups part, each labelled `section name` for the
/// deadline's message: the backups here, then each copy target.
pub(crate) fn backups<'a>(runbook: &'a Runbook, state_dir: &'a Path) -> Vec<(String, Work<'a>)> {
    let mut jobs: Vec<(String, Work<'_>)> = vec![(
        "backups newest".into(),
        Box::pin(async move {
            freshness::local(runbook, state_dir)
                .await
                .unwrap_or_else(|| {
                    vec![CheckResult::new(
                        "backups",
                        "newest",
                        Status::Unknown,
                        "the backup check did not finish",
                    )]
                })
        }),
    )];
    if runbook.model.backup.is_none() || super::copies(runbook).is_empty() {
        return jobs;
    }
    let max_age = runbook.plan.backup_max_age;
    if runbook
        .model
        .backup
        .as_ref()
        .is_some_and(|b| b.repository.is_some())
    {
        jobs.extend(repository_copies(runbook));
        return jobs;
    }
    match super::Target::all(runbook, None) {
        Err(problem) => jobs.push((
            "backups copies".into(),
            Box::pin(async move {
                vec![CheckResult::new(
                    "backups",
                    "copies",
                    Status::Unknown,
                    problem,
                )]
            }),
        )),
        Ok(targets) => {
            for target in targets {
                // An off-site copy that silently stopped is the failure
                // nobody notices.
                jobs.push((
                    format!("backups copy {}", target.name),
                    Box::pin(async move { vec![copy(&target, max_age).await] }),
                ));
            }
        }
    }
    jobs
}

/// One target's newest complete copy against `max_age`; a copy whose
/// manifest does not read makes it crit, named.
async fn copy(target: &super::Target, max_age: Duration) -> CheckResult {
    let name = format!("copy {}", target.name);
    let listing = match target.list().await {
        Err(problem) => {
            return CheckResult::new(
                "backups",
                &name,
                Status::Crit,
                format!("cannot list {}: {problem}", target.location()),
            );
        }
        Ok(listing) => listing,
    };
    let graded = match listing.backups.iter().rev().find(|b| !b.safety) {
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
    };
    match listing.damaged.first() {
        None => graded,
        Some(damaged) => CheckResult {
            status: Status::Crit,
            message: format!("{}; {}", graded.message, target.damaged(damaged)),
            ..graded
        },
    }
}

/// The jobs of a repository's copies: each target's newest snapshot.
fn repository_copies(runbook: &Runbook) -> Vec<(String, Work<'_>)> {
    use crate::backup::repository::{copy, list};
    match copy::targets(runbook, None) {
        Err(problem) => vec![(
            "backups copies".into(),
            Box::pin(async move {
                vec![CheckResult::new(
                    "backups",
                    "copies",
                    Status::Unknown,
                    problem.lines().join("; "),
                )]
            }),
        )],
        Ok(targets) => targets
            .into_iter()
            .map(|target| -> (String, Work<'_>) {
                (
                    format!("backups copy {}", target.name),
                    Box::pin(async move { vec![list::newest_copy(runbook, &target).await] }),
                )
            })
            .collect(),
    }
}
