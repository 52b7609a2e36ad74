//! How fresh the backups here are, for the daily check: the newest
//! complete backup against `backup.max_age` (a safety backup taken before
//! a restore does not count), the newest passed restore drill against
//! `backup.drill.max_age`, and the free space where backups go. The copy
//! targets' part is `copies::freshness`.

use std::path::Path;
use std::time::Duration;

use super::catalog;
use super::drill::{DrillRecord, newest_passed};
use crate::grade::{CheckResult, Status};
use crate::host::DiskUsage;
use crate::runbook::Runbook;
use crate::runbook::units;

/// The newest complete backup against `max_age`, the newest passed drill,
/// and the free space where backups go; `None` when the folder could not
/// be read at all.
pub(crate) async fn local(runbook: &Runbook, state_dir: &Path) -> Option<Vec<CheckResult>> {
    let Some(backup) = &runbook.model.backup else {
        return Some(Vec::new());
    };
    match super::repository::Place::of(runbook, backup) {
        Ok(Some(place)) => {
            let mut results = super::repository::list::freshness(runbook, &place).await;
            if let Some(max_age) = backup.drill.as_ref().and_then(|d| d.max_age) {
                results.push(repository_drill(runbook, state_dir, max_age.std()));
            }
            return Some(results);
        }
        Ok(None) => {}
        Err(e) => {
            let why = e.lines().join("; ");
            return Some(vec![CheckResult::new(
                "backups",
                "newest",
                Status::Unknown,
                why,
            )]);
        }
    }
    let dir = runbook.backup_dir(backup);
    let max_age = runbook.plan.backup_max_age;
    let disk_limits = runbook.plan.thresholds.disk;
    let shown = backup.dir.clone();
    let found = tokio::task::spawn_blocking(move || {
        let listing = catalog::list(&dir);
        let disk = DiskUsage::read(&crate::state::files::nearest_existing(&dir));
        (listing, disk, catalog::unfinished_safety(&dir))
    })
    .await;
    let Ok((listing, disk, unfinished)) = found else {
        return None;
    };
    let mut results = unfinished_safety(&unfinished, "backups");
    if let (Ok(backups), Some(max_age)) = (&listing, backup.drill.as_ref().and_then(|d| d.max_age))
    {
        results.push(check_drill(backups, max_age.std()));
    }
    results.push(match listing {
        Err(e) => CheckResult::new(
            "backups",
            "newest",
            Status::Unknown,
            format!("cannot read `{shown}`: {e}"),
        ),
        // A safety backup (taken before a restore) is not the scheduled
        // backup: it must not hide that the scheduled one stopped, as the
        // copies' check does not let it either.
        Ok(backups) => match backups.iter().rev().find(|b| !b.safety) {
            None if backups.is_empty() => CheckResult::new(
                "backups",
                "newest",
                Status::Warn,
                format!("no backup yet in {shown}"),
            ),
            None => CheckResult::new(
                "backups",
                "newest",
                Status::Warn,
                format!("no backup yet in {shown}, only safety backups taken before restores"),
            ),
            Some(newest) => aged(
                "newest",
                &format!("newest backup `{}`", newest.id),
                newest.created_at,
                max_age,
            ),
        },
    });
    results.push(crate::check::host::disk_usage(
        &disk,
        "backups",
        "free space",
        disk_limits,
    ));
    Some(results)
}

/// The newest passed restore drill against `backup.drill.max_age`; a
/// newer drill that failed is a warn of its own.
fn check_drill(backups: &[catalog::BackupEntry], max_age: Duration) -> CheckResult {
    let newest = backups
        .iter()
        .filter_map(|b| DrillRecord::read(&b.path).map(|d| (b, d)))
        .max_by_key(|(_, d)| d.at);
    match (newest, newest_passed(backups)) {
        (None, _) => CheckResult::new(
            "backups",
            "drill",
            Status::Warn,
            "no backup was drilled yet: run `opsbook backup drill`",
        ),
        (Some((backup, failed)), passed) if !failed.passed => CheckResult::new(
            "backups",
            "drill",
            Status::Warn,
            format!(
                "the newest drill (of `{}`, {}) failed: {}{}",
                backup.id,
                failed.at.strftime("%Y-%m-%d %H:%M:%SZ"),
                failed.failure.as_deref().unwrap_or("a check failed"),
                passed.map_or(String::new(), |(b, d)| format!(
                    "; the last that passed was of `{}`, {}",
                    b.id,
                    d.at.strftime("%Y-%m-%d %H:%M:%SZ")
                ))
            ),
        ),
        (Some((backup, drill)), _) => aged(
            "drill",
            &format!("newest passed drill (of `{}`)", backup.id),
            drill.at,
            max_age,
        ),
    }
}

/// A repository's newest passed drill, from the drill history (where
/// `backup drill` of a snapshot records it), against `backup.drill.max_age`;
/// a newer drill that failed is a warn of its own.
fn repository_drill(runbook: &Runbook, state_dir: &Path, max_age: Duration) -> CheckResult {
    let state = match crate::state::StateDir::open(state_dir) {
        Ok(state) => state,
        Err(e) => return CheckResult::new("backups", "drill", Status::Unknown, e.to_string()),
    };
    let lines = super::drill::history(&state, runbook)
        .since(jiff::Timestamp::MIN)
        .records;
    let at = |line: &crate::state::Record| line.at.strftime("%Y-%m-%d %H:%M:%SZ").to_string();
    let newest = lines.iter().max_by_key(|l| l.at);
    let newest_passed = lines
        .iter()
        .filter(|l| super::drill::passed(l))
        .max_by_key(|l| l.at);
    match (newest, newest_passed) {
        (None, _) => CheckResult::new(
            "backups",
            "drill",
            Status::Warn,
            "no snapshot was drilled yet: run `opsbook backup drill`",
        ),
        (Some(failed), passed) if !super::drill::passed(failed) => CheckResult::new(
            "backups",
            "drill",
            Status::Warn,
            format!(
                "the newest drill ({}) failed{}",
                at(failed),
                passed.map_or(String::new(), |p| format!(
                    "; the last that passed was {}",
                    at(p)
                ))
            ),
        ),
        (Some(drill), _) => aged("drill", "newest passed drill", drill.at, max_age),
    }
}

/// One warning per unfinished safety backup (a killed restore's), filed
/// under `section`.
pub(crate) fn unfinished_safety(folders: &[std::path::PathBuf], section: &str) -> Vec<CheckResult> {
    folders
        .iter()
        .map(|folder| {
            CheckResult::new(
                section,
                "unfinished safety backup",
                Status::Warn,
                catalog::unfinished_safety_note(folder),
            )
        })
        .collect()
}

/// A backup's age graded: warn past `max_age`, crit past twice that.
pub(crate) fn aged(
    name: &str,
    what: &str,
    created_at: jiff::Timestamp,
    max_age: Duration,
) -> CheckResult {
    let age = jiff::Timestamp::now()
        .as_second()
        .saturating_sub(created_at.as_second())
        .max(0);
    let age = Duration::from_secs(age.unsigned_abs());
    let status = if age > max_age * 2 {
        Status::Crit
    } else if age > max_age {
        Status::Warn
    } else {
        Status::Ok
    };
    let limit = match status {
        Status::Ok => String::new(),
        _ => format!(", older than max_age {}", units::Duration(max_age)),
    };
    CheckResult::new(
        "backups",
        name,
        status,
        format!(
            "{what} is {} old{limit}",
            crate::ui::human::seconds(age.as_secs())
        ),
    )
    .with_value(age.as_secs() as f64, "seconds")
}
