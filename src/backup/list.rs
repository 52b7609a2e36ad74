//! `opsbook backup list`: the complete backups, newest first: id, when,
//! items, size, age, the last drill (safety backups marked); those here,
//! or (through `copies::list`) those on a copy target.

use serde_json::json;

use super::catalog;
use super::drill::DrillRecord;
use super::manifest::Manifest;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::Runbook;

use super::settings;

/// One backup as the list shows it.
pub(crate) struct Listed {
    pub id: String,
    pub created_at: jiff::Timestamp,
    pub safety: bool,
    pub manifest: Option<Manifest>,
    /// Its newest restore drill (local backups only).
    pub drill: Option<DrillRecord>,
}

/// The backups here: the local catalog's, or the repository's snapshots.
pub(crate) async fn list(runbook: &Runbook, report: &mut Report) -> Result<(), Error> {
    let backup = settings(runbook)?;
    if let Some(place) = super::repository::Place::of(runbook, backup)? {
        return super::repository::list::list(runbook, &place, report).await;
    }
    let dir = runbook.backup_dir(backup);
    let backups = catalog::list(&dir).map_err(|source| Error::File {
        path: dir.clone(),
        action: "read",
        source,
    })?;
    let listed = backups
        .into_iter()
        .map(|entry| Listed {
            manifest: Manifest::read(&entry.path).ok(),
            drill: DrillRecord::read(&entry.path),
            id: entry.id,
            created_at: entry.created_at,
            safety: entry.safety,
        })
        .collect();
    show(listed, &dir.display().to_string(), report);
    for damaged in catalog::damaged(&dir) {
        report.results.push(CheckResult::new(
            "backup",
            &damaged.id,
            Status::Warn,
            format!(
                "damaged manifest `{}` ({}): never listed, verified or restored",
                damaged.manifest.display(),
                damaged.why
            ),
        ));
    }
    Ok(())
}

/// The table of `backups`, the count and the JSON list.
pub(crate) fn show(backups: Vec<Listed>, place: &str, report: &mut Report) {
    let now = jiff::Timestamp::now();
    let mut rows = Vec::new();
    let mut listed = Vec::new();
    for entry in backups.iter().rev() {
        let manifest = entry.manifest.as_ref();
        let (items, size) = manifest.map_or((0, 0), |m| (m.items.len(), m.stored_size()));
        let age = now
            .as_second()
            .saturating_sub(entry.created_at.as_second())
            .max(0)
            .unsigned_abs();
        rows.push(vec![
            entry.id.clone(),
            entry.created_at.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
            items.to_string(),
            crate::ui::human::bytes(size),
            crate::ui::human::seconds(age),
            entry.drill.as_ref().map_or(String::new(), |d| {
                let verdict = if d.passed { "passed" } else { "failed" };
                format!("{verdict} {}", d.at.strftime("%Y-%m-%d"))
            }),
            if entry.safety {
                "safety".into()
            } else {
                String::new()
            },
        ]);
        let drill = entry.drill.as_ref().map(|d| json!({"passed": d.passed, "at": d.at, "status": d.status, "duration_ms": d.duration_ms}));
        listed.push(json!({"id": entry.id, "created_at": entry.created_at, "items": items, "stored_size": size, "age_seconds": age, "safety": entry.safety, "drill": drill}));
    }
    report.results.push(CheckResult::new(
        "backup",
        "list",
        Status::Ok,
        format!(
            "{} in {place}",
            crate::ui::human::count(backups.len(), "backup"),
        ),
    ));
    if !rows.is_empty() {
        let mut header = vec!["id", "created", "items", "size", "age", "drill", ""];
        // The drill column only once some backup was drilled.
        if backups.iter().all(|b| b.drill.is_none()) {
            header.remove(5);
            for row in &mut rows {
                row.remove(5);
            }
        }
        report.blocks.push(Block::Table { header, rows });
    }
    report.blocks.push(Block::Line(
        format!("{} backups in {place}", backups.len(),),
    ));
    report.extra.insert("backups".into(), json!(listed));
}
