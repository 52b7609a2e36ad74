//! `opsbook backup prune [--dry-run]`: delete what `backup.keep` does not
//! keep, and the leftovers of interrupted backups; asks first.

use std::path::Path;

use crate::backup::{catalog, retention};
use crate::confirm::confirm;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::history::StateDir;
use crate::render::Report;
use crate::runbook::Runbook;

use super::settings;

pub fn prune(
    runbook: &Runbook,
    dry_run: bool,
    yes: bool,
    state_dir: &Path,
    report: &mut Report,
) -> Result<(), Error> {
    let backup = settings(runbook)?;
    let dir = runbook.resolve(&backup.dir);
    let backups = catalog::list(&dir).map_err(|source| Error::File {
        path: dir.clone(),
        action: "read",
        source,
    })?;
    let created: Vec<jiff::Timestamp> = backups.iter().map(|b| b.created_at).collect();
    let kept = match backup.keep {
        Some(rules) => retention::keep(&created, rules),
        None => (0..backups.len()).collect(),
    };
    let doomed: Vec<&catalog::BackupEntry> = backups
        .iter()
        .enumerate()
        .filter(|(i, _)| !kept.contains(i))
        .map(|(_, b)| b)
        .collect();
    let leftovers = catalog::leftovers(&dir);
    for entry in &backups {
        let verdict = if doomed.iter().any(|d| d.id == entry.id) {
            "delete"
        } else {
            "keep"
        };
        report
            .results
            .push(CheckResult::new("prune", &entry.id, Status::Ok, verdict));
    }
    for leftover in &leftovers {
        report.results.push(CheckResult::new(
            "prune",
            leftover
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Status::Ok,
            "delete (left by an interrupted backup)",
        ));
    }
    if dry_run || (doomed.is_empty() && leftovers.is_empty()) {
        if dry_run {
            report.results.push(CheckResult::new(
                "prune",
                "dry-run",
                Status::Ok,
                "dry run: nothing was deleted",
            ));
        }
        return Ok(());
    }
    if !confirm(
        &format!(
            "delete {} backups and {} leftovers in {}",
            doomed.len(),
            leftovers.len(),
            dir.display()
        ),
        yes,
    )? {
        return Err(Error::Usage("prune cancelled: nothing was deleted".into()));
    }
    // No backup may be writing while leftovers are judged leftovers.
    let state = StateDir::open(state_dir)?;
    let _lock = state.lock(&runbook.data_lock_key(), "backup prune")?;
    for path in doomed.iter().map(|b| b.path.clone()).chain(leftovers) {
        if let Err(e) = std::fs::remove_dir_all(&path) {
            report.results.push(CheckResult::new(
                "prune",
                path.display().to_string(),
                Status::Crit,
                format!("cannot delete: {e}"),
            ));
        }
    }
    Ok(())
}
