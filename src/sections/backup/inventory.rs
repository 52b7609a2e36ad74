//! Looking after backups: `backup list`, `backup verify`, `backup prune`.

use std::path::Path;

use serde_json::json;

use crate::backup::manifest::Manifest;
use crate::backup::{catalog, retention, verify};
use crate::confirm::confirm;
use crate::error::Error;
use crate::history::StateDir;
use crate::host::human_bytes;
use crate::report::{Block, Report};
use crate::runbook::Runbook;
use crate::status::{CheckResult, Status};

use super::{select, settings};

pub fn list(runbook: &Runbook, report: &mut Report) -> Result<(), Error> {
    let dir = runbook.resolve(&settings(runbook)?.dir);
    let backups = catalog::list(&dir).map_err(|source| Error::State {
        path: dir.clone(),
        action: "read",
        source,
    })?;
    let now = jiff::Timestamp::now();
    let mut rows = Vec::new();
    let mut listed = Vec::new();
    for entry in backups.iter().rev() {
        let manifest = Manifest::read(&entry.path).ok();
        let (items, size) = manifest.as_ref().map_or((0, 0), |m| {
            (
                m.items.len(),
                m.items.iter().map(|i| i.stored_size).sum::<u64>(),
            )
        });
        let age = now
            .as_second()
            .saturating_sub(entry.created_at.as_second())
            .max(0)
            .unsigned_abs();
        rows.push(vec![
            entry.id.clone(),
            entry.created_at.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
            items.to_string(),
            human_bytes(size),
            crate::sections::status::coarse_duration(age),
            if entry.safety {
                "safety".into()
            } else {
                String::new()
            },
        ]);
        listed.push(json!({"id": entry.id, "created_at": entry.created_at, "items": items, "stored_size": size, "age_seconds": age, "safety": entry.safety}));
    }
    report.results.push(CheckResult::new(
        "backup",
        "list",
        Status::Ok,
        format!("{} backups in {}", backups.len(), dir.display()),
    ));
    if !rows.is_empty() {
        report.blocks.push(Block::Table {
            header: vec!["id", "created", "items", "size", "age", ""],
            rows,
        });
    }
    report.blocks.push(Block::Line(format!(
        "{} backups in {}",
        backups.len(),
        dir.display()
    )));
    report.extra.insert("backups".into(), json!(listed));
    Ok(())
}

pub async fn verify_backups(
    runbook: &Runbook,
    id: Option<&str>,
    all: bool,
    identity: Option<&Path>,
    report: &mut Report,
) -> Result<(), Error> {
    let dir = runbook.resolve(&settings(runbook)?.dir);
    let identities = std::sync::Arc::new(match identity {
        Some(path) => verify::identities(path).map_err(Error::Usage)?,
        None => Vec::new(),
    });
    for entry in select(&dir, id, all)? {
        let manifest = match Manifest::read(&entry.path) {
            Ok(manifest) => manifest,
            Err(e) => {
                report.results.push(CheckResult::new(
                    "verify",
                    &entry.id,
                    Status::Crit,
                    format!("manifest.json: {e}"),
                ));
                continue;
            }
        };
        let folder = entry.path.clone();
        let identities = identities.clone();
        let checked = tokio::task::spawn_blocking(move || {
            manifest
                .items
                .iter()
                .map(|item| (item.name.clone(), verify::item(&folder, item, &identities)))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (name, outcome) in checked {
            let result_name = format!("{}/{name}", entry.id);
            report.results.push(match outcome {
                Ok(Some(size)) => CheckResult::new(
                    "verify",
                    result_name,
                    Status::Ok,
                    format!("checksum and stream good ({})", human_bytes(size)),
                ),
                Ok(None) => CheckResult::new(
                    "verify",
                    result_name,
                    Status::Ok,
                    "checksum good; encrypted: pass --identity to read the stream back",
                ),
                Err(problem) => CheckResult::new("verify", result_name, Status::Crit, problem),
            });
        }
    }
    Ok(())
}

pub fn prune(
    runbook: &Runbook,
    dry_run: bool,
    yes: bool,
    state_dir: &Path,
    report: &mut Report,
) -> Result<(), Error> {
    let backup = settings(runbook)?;
    let dir = runbook.resolve(&backup.dir);
    let backups = catalog::list(&dir).map_err(|source| Error::State {
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
    let _lock = state.lock(&format!("{}-data", runbook.state_key()), "backup prune")?;
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
