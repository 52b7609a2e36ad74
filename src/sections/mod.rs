//! One module per command. A section builds its work from the runbook,
//! runs it through the adapters (`docker`, `host`, `lifecycle`) and returns
//! a `Report`; it never prints the report and never calls bollard itself.
//! What several sections need sits below.

pub mod backup;
pub mod daily_check;
mod hooks;
pub mod incident;
pub mod procedure;
pub mod restart;
pub mod restore;
pub mod shutdown;
pub mod startup;
pub mod status;
mod step_report;
pub mod trends;
pub mod validate;

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::redact::Redactor;
use crate::runbook::Runbook;
use crate::status::{CheckResult, Status};

/// The compose project a command that changes containers works on: without
/// one it would touch every project on the host.
fn require_project(runbook: &Runbook, command: &str) -> Result<String, Error> {
    runbook.plan.project.clone().ok_or_else(|| {
        Error::Usage(format!(
            "{command} needs `project` in the runbook (`{}`): it acts on the containers of one compose project",
            runbook.display
        ))
    })
}

/// The runbook's redactor: built-in rules plus its `redact:` patterns.
fn redactor(runbook: &Runbook) -> Redactor {
    let patterns: Vec<String> = runbook
        .model
        .redact
        .iter()
        .map(|p| p.value.clone())
        .collect();
    Redactor::new(&patterns)
}

/// The folders the deployment writes to: the runbook's own, backups, incidents.
fn data_folders(runbook: &Runbook) -> Vec<PathBuf> {
    let mut folders = vec![runbook.dir.clone()];
    if let Some(backup) = &runbook.model.backup {
        folders.push(runbook.resolve(&backup.dir));
    }
    if let Some(incident) = &runbook.model.incident {
        folders.push(runbook.resolve(&incident.dir));
    }
    folders.dedup();
    folders
}

/// The folder itself, or the closest parent that exists (a folder not made
/// yet will live on that filesystem).
fn nearest_existing(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| p.exists())
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

/// The runbook's startup tiers narrowed to `services` (reversed for stopping).
pub(crate) fn tiers_of(runbook: &Runbook, services: &[String], reverse: bool) -> Vec<Vec<String>> {
    let mut tiers: Vec<Vec<String>> = runbook
        .plan
        .tiers_with(services)
        .into_iter()
        .map(|tier| {
            tier.into_iter()
                .filter(|s| services.contains(s))
                .collect::<Vec<_>>()
        })
        .filter(|tier| !tier.is_empty())
        .collect();
    if reverse {
        tiers.reverse();
    }
    tiers
}

/// The result that says a signal stopped the work (a failed run: exit 2).
fn interrupted(section: &str) -> CheckResult {
    CheckResult::new(
        section,
        "interrupted",
        Status::Crit,
        "interrupted by a signal: the step in hand was finished, nothing new was started",
    )
}
