//! `backup list` of a repository: the runbook's snapshots, newest first,
//! with their backup id, time, items, logical size and what each added to
//! the repository (after compression and encryption).

use rustic_core::repofile::SnapshotFile;
use serde_json::json;

use super::{Opened, Place, TAG};
use crate::backup::manifest::Manifest;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::ui::human;

/// One opsbook snapshot of the repository.
pub(crate) struct Snapshot {
    /// The opsbook backup id (its `backup=` tag).
    pub id: String,
    pub snapshot: String,
    pub created_at: jiff::Timestamp,
    pub manifest: Option<Manifest>,
    /// Bytes read (logical), added before and after compression.
    pub size: u64,
    pub added: u64,
    pub stored: u64,
}

impl Snapshot {
    fn of(file: &SnapshotFile) -> Option<Snapshot> {
        let id = file.tags.iter().find_map(|t| t.strip_prefix("backup="))?;
        let summary = file.summary.clone().unwrap_or_default();
        Some(Snapshot {
            id: id.to_string(),
            snapshot: file.id.to_string(),
            created_at: file.time.timestamp(),
            manifest: file
                .description
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok()),
            size: summary.total_bytes_processed,
            added: summary.data_added,
            stored: summary.data_added_packed,
        })
    }
}

/// The runbook's snapshots in the repository, oldest first.
pub(crate) async fn snapshots(runbook: &Runbook, place: &Place) -> Result<Vec<Snapshot>, Error> {
    let repository = place.open().await?;
    Ok(snapshots_in(runbook, place, repository).await?.1)
}

/// The runbook's snapshots in the open `repository`, oldest first, and
/// the repository (opened once: its key's derivation is the slow part).
pub(crate) async fn snapshots_in(
    runbook: &Runbook,
    place: &Place,
    repository: Opened,
) -> Result<(Opened, Vec<Snapshot>), Error> {
    let project = format!("project={}", runbook.name());
    let (repository, found) = tokio::task::spawn_blocking(move || {
        let found = repository
            .get_matching_snapshots(|s| s.tags.contains(TAG) && s.tags.contains(&project));
        (repository, found)
    })
    .await
    .map_err(|e| Error::Usage(format!("repository: {e}")))?;
    let found = found.map_err(|e| place.refused(&e))?;
    let mut all: Vec<Snapshot> = found.iter().filter_map(Snapshot::of).collect();
    all.sort_by_key(|s| s.created_at);
    Ok((repository, all))
}

/// The table of the runbook's snapshots, newest first, and the JSON list.
pub(crate) async fn list(
    runbook: &Runbook,
    place: &Place,
    report: &mut Report,
) -> Result<(), Error> {
    let all = snapshots(runbook, place).await?;
    let now = jiff::Timestamp::now();
    let (mut rows, mut listed) = (Vec::new(), Vec::new());
    for s in all.iter().rev() {
        let items = s.manifest.as_ref().map_or(0, |m| m.items.len());
        let age = now
            .as_second()
            .saturating_sub(s.created_at.as_second())
            .max(0)
            .unsigned_abs();
        rows.push(vec![
            s.id.clone(),
            s.created_at.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
            items.to_string(),
            human::bytes(s.size),
            human::bytes(s.stored),
            human::seconds(age),
            s.snapshot[..8].to_string(),
        ]);
        listed.push(json!({
            "id": s.id, "snapshot": s.snapshot, "created_at": s.created_at,
            "items": items, "size": s.size, "added": s.added, "stored": s.stored,
        }));
    }
    report.blocks.push(Block::Table {
        header: vec!["id", "created", "items", "size", "added", "age", "snapshot"],
        rows,
    });
    report.blocks.push(Block::Line(format!(
        "{} backup(s) in restic repository {}",
        all.len(),
        place.location()
    )));
    report.extra.insert("backups".into(), json!(listed));
    report
        .extra
        .insert("repository".into(), json!(place.location()));
    Ok(())
}

/// daily-check's look at the repository: its newest snapshot against
/// `backup.max_age`, and the free space where it is.
pub(crate) async fn freshness(runbook: &Runbook, place: &Place) -> Vec<CheckResult> {
    let max_age = runbook.plan.backup_max_age;
    let newest = match snapshots(runbook, place).await {
        Ok(all) => match all.last() {
            Some(newest) => crate::backup::freshness::aged(
                "newest",
                &format!("newest backup `{}`", newest.id),
                newest.created_at,
                max_age,
            ),
            None => CheckResult::new(
                "backups",
                "newest",
                Status::Warn,
                format!("no backup yet in restic repository {}", place.location()),
            ),
        },
        Err(e) => CheckResult::new("backups", "newest", Status::Unknown, e.lines().join("; ")),
    };
    // A store's free space is not this host's to grade.
    let Some(folder) = place.folder() else {
        return vec![newest];
    };
    let folder = crate::state::files::nearest_existing(folder);
    let disk = tokio::task::spawn_blocking(move || crate::host::DiskUsage::read(&folder)).await;
    let Ok(disk) = disk else {
        return vec![newest];
    };
    let free = crate::check::host::disk_usage(
        &disk,
        "backups",
        "free space",
        runbook.plan.thresholds.disk,
    );
    vec![newest, free]
}

/// daily-check's look at a copy of the repository: its newest snapshot
/// against `backup.max_age` (an off-site copy that silently stopped is the
/// failure nobody notices).
pub(crate) async fn newest_copy(runbook: &Runbook, copy: &super::copy::Copy) -> CheckResult {
    let name = format!("copy {}", copy.name);
    let location = copy.place.location();
    if let Ok(false) = copy.place.made().await {
        return CheckResult::new(
            "backups",
            &name,
            Status::Warn,
            format!("no copy yet on {location}"),
        );
    }
    match snapshots(runbook, &copy.place).await {
        Ok(all) => match all.last() {
            Some(newest) => crate::backup::freshness::aged(
                &name,
                &format!("newest copy `{}` on {location}", newest.id),
                newest.created_at,
                runbook.plan.backup_max_age,
            ),
            None => CheckResult::new(
                "backups",
                &name,
                Status::Warn,
                format!("no copy yet on {location}"),
            ),
        },
        Err(e) => CheckResult::new(
            "backups",
            &name,
            Status::Crit,
            format!("cannot list {location}: {}", e.lines().join("; ")),
        ),
    }
}
