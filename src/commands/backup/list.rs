//! `opsbook backup list`: the complete backups, newest first: id, when,
//! items, size, age (safety backups marked).

use crate::backup::catalog;
use crate::backup::manifest::Manifest;
use serde_json::json;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::Runbook;

use super::settings;

pub fn list(runbook: &Runbook, report: &mut Report) -> Result<(), Error> {
    let dir = runbook.resolve(&settings(runbook)?.dir);
    let backups = catalog::list(&dir).map_err(|source| Error::File {
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
            crate::human::bytes(size),
            crate::human::seconds(age),
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
        format!(
            "{} in {}",
            crate::human::count(backups.len(), "backup"),
            dir.display()
        ),
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
