//! `opsbook backup prune [--dry-run]`: delete what `backup.keep` does not
//! keep, and the leftovers of interrupted backups; asks first. Each copy
//! target is pruned too, by its own `keep` or else the backup's: one
//! confirmation for the backups here and on every target, which is why it
//! lives with the copies. The newest
//! backup a drill proved is kept locally until a newer one is proved.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{RemoteBackup, Target};
use crate::backup::{catalog, drill, retention};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;
use crate::runbook::model::Backup;
use crate::state::StateDir;
use crate::ui::confirm::confirm;

use crate::backup::settings;

pub(crate) async fn prune(
    runbook: &Runbook,
    dry_run: bool,
    yes: bool,
    state_dir: &Path,
    report: &mut Report,
) -> Result<(), Error> {
    let backup = settings(runbook)?;
    let dir = runbook.backup_dir(backup);
    let backups = catalog::list(&dir).map_err(|source| Error::File {
        path: dir.clone(),
        action: "read",
        source,
    })?;
    let (kept, proved_kept) = kept_here(backup, &backups);
    let targets = Target::all(runbook, None).map_err(Error::Usage)?;
    let remote_doomed = remote_verdicts(&targets, backup, report).await;
    let doomed: Vec<&catalog::BackupEntry> = backups
        .iter()
        .enumerate()
        .filter(|(i, _)| !kept.contains(i))
        .map(|(_, b)| b)
        .collect();
    let leftovers = catalog::leftovers(&dir);
    if backup.drill.is_some() {
        warn_unproved(&backups, report);
    }
    verdicts_here(
        &backups,
        &doomed,
        proved_kept.as_deref(),
        &leftovers,
        report,
    );
    let unfinished = catalog::unfinished_safety(&dir);
    report
        .results
        .extend(crate::backup::freshness::unfinished_safety(
            &unfinished,
            "prune",
        ));
    if dry_run || (doomed.is_empty() && leftovers.is_empty() && remote_doomed.is_empty()) {
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
    let on_targets = if remote_doomed.is_empty() {
        String::new()
    } else {
        format!(", and {} on copy targets", remote_doomed.len())
    };
    if !confirm(
        &format!(
            "delete {} backups and {} leftovers in {}{on_targets}",
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
    let here = doomed.iter().map(|b| b.path.clone()).chain(leftovers);
    delete_here(here, report);
    delete_there(remote_doomed, report).await;
    Ok(())
}

/// Which of `backups` (oldest first) the keep rules keep, by position;
/// and the newest backup a drill proved restores, when the rules would
/// delete it: it stays until a newer one is proved, as the one known to
/// come back.
fn kept_here(
    backup: &Backup,
    backups: &[catalog::BackupEntry],
) -> (BTreeSet<usize>, Option<String>) {
    let created: Vec<jiff::Timestamp> = backups.iter().map(|b| b.created_at).collect();
    let mut kept = match backup.keep {
        Some(rules) => retention::keep(&created, rules),
        None => (0..backups.len()).collect(),
    };
    let mut proved_kept = None;
    if let Some((proved, _)) = drill::newest_passed(backups)
        && let Some(i) = backups.iter().position(|b| b.id == proved.id)
        && !kept.contains(&i)
    {
        kept.insert(i);
        proved_kept = Some(proved.id.clone());
    }
    (kept, proved_kept)
}

/// A warn when the newest backup was never drilled, or failed its drill.
fn warn_unproved(backups: &[catalog::BackupEntry], report: &mut Report) {
    let Some(newest) = backups.last() else {
        return;
    };
    let drilled = drill::DrillRecord::read(&newest.path);
    let unproved = match &drilled {
        None => Some("has never been drilled"),
        Some(d) if !d.passed => Some("failed its drill"),
        Some(_) => None,
    };
    if let Some(unproved) = unproved {
        report.results.push(CheckResult::new(
            "prune",
            "drill",
            Status::Warn,
            format!(
                "the newest backup `{}` {unproved}: run `opsbook backup drill`",
                newest.id
            ),
        ));
    }
}

/// One result per backup here (keep or delete) and per leftover.
fn verdicts_here(
    backups: &[catalog::BackupEntry],
    doomed: &[&catalog::BackupEntry],
    proved_kept: Option<&str>,
    leftovers: &[PathBuf],
    report: &mut Report,
) {
    for entry in backups {
        if proved_kept == Some(entry.id.as_str()) {
            report.results.push(CheckResult::new(
                "prune",
                &entry.id,
                Status::Warn,
                "keep: the keep rules would delete it, but it is the newest backup a drill proved restores; drill a newer one (`opsbook backup drill`)",
            ));
            continue;
        }
        let verdict = if doomed.iter().any(|d| d.id == entry.id) {
            "delete"
        } else {
            "keep"
        };
        report
            .results
            .push(CheckResult::new("prune", &entry.id, Status::Ok, verdict));
    }
    for leftover in leftovers {
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
}

/// Deletes the doomed backups and leftovers here; a crit result for each
/// that cannot be.
fn delete_here(paths: impl Iterator<Item = PathBuf>, report: &mut Report) {
    for path in paths {
        if let Err(e) = std::fs::remove_dir_all(&path) {
            report.results.push(CheckResult::new(
                "prune",
                path.display().to_string(),
                Status::Crit,
                format!("cannot delete: {e}"),
            ));
        }
    }
}

/// Deletes the doomed backups on the copy targets; a crit result for each
/// that cannot be.
async fn delete_there(doomed: Vec<(&Target, RemoteBackup)>, report: &mut Report) {
    for (target, entry) in doomed {
        let files: Vec<String> = match target.manifest(&entry.id).await {
            Ok(manifest) => manifest.items.into_iter().map(|i| i.file).collect(),
            Err(_) => Vec::new(),
        };
        if let Err(problem) = target.remove(&entry.id, &files).await {
            report.results.push(CheckResult::new(
                "prune",
                format!("{}:{}", target.name, entry.id),
                Status::Crit,
                format!("cannot delete: {problem}"),
            ));
        }
    }
}

/// Each copy target's backups judged by its own `keep` (else the
/// backup's): the results, and those to delete.
async fn remote_verdicts<'a>(
    targets: &'a [Target],
    backup: &Backup,
    report: &mut Report,
) -> Vec<(&'a Target, RemoteBackup)> {
    let mut remote_doomed: Vec<(&Target, RemoteBackup)> = Vec::new();
    for target in targets {
        let Some(rules) = target.keep.or(backup.keep) else {
            continue;
        };
        let listing = match target.list().await {
            Ok(listing) => listing,
            Err(problem) => {
                report.results.push(CheckResult::new(
                    "prune",
                    &target.name,
                    Status::Crit,
                    format!("cannot list {}: {problem}", target.location()),
                ));
                continue;
            }
        };
        // Not judged by the rules (its time is unknown), not deleted: said.
        for damaged in &listing.damaged {
            report.results.push(CheckResult::new(
                "prune",
                format!("{}:{}", target.name, damaged.id),
                Status::Crit,
                format!("kept: {}", target.damaged(damaged)),
            ));
        }
        let listed = listing.backups;
        let created: Vec<jiff::Timestamp> = listed.iter().map(|b| b.created_at).collect();
        let kept = retention::keep(&created, rules);
        for (i, entry) in listed.into_iter().enumerate() {
            let verdict = if kept.contains(&i) { "keep" } else { "delete" };
            report.results.push(CheckResult::new(
                "prune",
                format!("{}:{}", target.name, entry.id),
                Status::Ok,
                verdict,
            ));
            if !kept.contains(&i) {
                remote_doomed.push((target, entry));
            }
        }
    }
    remote_doomed
}
