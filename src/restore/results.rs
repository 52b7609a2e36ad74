//! How a restore is told: its plan and the question asked before anything
//! changes, then each item's result (restored, put back, failed, or not
//! reached), whether the deployment is as it was after a failure, and the
//! command that goes back through the safety backup.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::ui::human;

use super::prepare::Prepared;
use super::rollback;
use super::swap::Replaced;
use super::targets::Planned;

/// What was and was not restored, what was put back, the failure, and the
/// way back when something changed that was not put back.
pub(super) fn report_items(
    prepared: &Prepared,
    replaced: &Replaced<'_>,
    way_back: &WayBack,
    report: &mut Report,
) {
    // Where a changed item was put back from: without a safety backup,
    // only a volume swapped in comes back, from the data the swap set aside.
    let from = match &way_back.safety_id {
        Some(id) => format!("safety backup {id}"),
        None => SET_ASIDE.to_string(),
    };
    for p in &prepared.planned {
        report.results.push(item_result(p, replaced, &from));
    }
    let outcomes = &replaced.outcomes;
    let changed = rollback::changed(outcomes);
    let put_back = |ok: bool| -> Vec<&str> {
        replaced
            .put_back
            .iter()
            .filter(|(_, o)| o.is_ok() == ok)
            .map(|(n, _)| n.as_str())
            .collect()
    };
    let (back, not_back) = (put_back(true), put_back(false));
    // Changed and still changed: what the way back is for.
    let left: Vec<&str> = changed
        .iter()
        .copied()
        .filter(|n| !back.contains(n))
        .collect();
    let show_way_back = replaced.failure.is_some() && !left.is_empty();
    if let Some(reason) = &replaced.failure {
        report.results.push(CheckResult::new(
            "restore",
            "result",
            Status::Crit,
            reason.clone(),
        ));
        if replaced.taken.is_some() || !changed.is_empty() {
            report
                .results
                .push(put_back_result(&changed, &back, &not_back, way_back));
        }
        if show_way_back {
            report.blocks.push(Block::Line(way_back.line()));
        }
    }
    let restored: Vec<&str> = outcomes
        .iter()
        .filter(|(n, o)| o.is_ok() && !back.contains(&n.as_str()))
        .map(|(n, _)| n.as_str())
        .collect();
    report.extra.insert(
        "restore".into(),
        json!({
            "backup": prepared.entry.id,
            "safety_backup": way_back.safety_id,
            "restored": restored,
            "put_back": back,
            "not_put_back": not_back,
            "way_back": show_way_back.then(|| way_back.line()),
            "downtime_ms": replaced.downtime.map_or(0, |d| d.as_millis() as u64),
        }),
    );
    if let Some(down) = replaced.downtime {
        report.blocks.push(Block::Line(format!(
            "services were down {}",
            human::took(down)
        )));
    }
}

/// One item's result: restored, put back, failed, or not reached.
/// Where a volume swapped in is put back from without a safety backup.
const SET_ASIDE: &str = "the data the swap had set aside";

pub(super) fn item_result(p: &Planned, replaced: &Replaced<'_>, from: &str) -> CheckResult {
    let name = &p.item.name;
    let outcome = replaced.outcomes.iter().find(|(n, _)| n == name);
    let back = replaced
        .put_back
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, o)| o);
    let result = |status, message: String| CheckResult::new("restore", name, status, message);
    match (outcome, back) {
        (Some((_, Ok(size))), None) => result(
            Status::Ok,
            format!("restored ({}) into {}", human::bytes(*size), p.describe()),
        )
        .with_value(*size as f64, "bytes"),
        (Some((_, Ok(_))), Some(Ok(()))) => result(
            Status::Warn,
            format!("restored, then put back from {from}: as it was before"),
        ),
        (Some((_, Ok(_))), Some(Err(e))) => result(
            Status::Crit,
            format!("restored, and NOT put back from {from} ({e}): it holds the backup's data"),
        ),
        (Some((_, Err(f))), Some(Ok(()))) => result(
            Status::Crit,
            format!("{}; put back from {from}: as it was before", f.reason),
        ),
        (Some((_, Err(f))), Some(Err(e))) => result(
            Status::Crit,
            format!(
                "{}; NOT put back from {from} ({e}): its state is unknown",
                f.reason
            ),
        ),
        (Some((_, Err(f))), None) if !f.touched => {
            result(Status::Crit, format!("{}; left as it was", f.reason))
        }
        (Some((_, Err(f))), None) => result(
            Status::Crit,
            format!("{}; it may be partly restored", f.reason),
        ),
        (None, _) => result(
            Status::Crit,
            "not restored: the restore stopped before it (left as it was)".into(),
        ),
    }
}

/// After a failure: whether the deployment is as it was before the restore.
pub(super) fn put_back_result(
    changed: &[&str],
    back: &[&str],
    not_back: &[&str],
    way_back: &WayBack,
) -> CheckResult {
    let result = |status, message: String| CheckResult::new("restore", "put back", status, message);
    let Some(id) = &way_back.safety_id else {
        let left: Vec<&str> = changed
            .iter()
            .rev()
            .copied()
            .filter(|n| !back.contains(n))
            .collect();
        if back.is_empty() {
            return result(
                Status::Crit,
                format!(
                    "no safety backup was taken (--no-safety-backup): nothing to put back from; changed by the restore and left so: {}",
                    listed(&left, "nothing")
                ),
            );
        }
        let status = if left.is_empty() && not_back.is_empty() {
            Status::Warn
        } else {
            Status::Crit
        };
        return result(
            status,
            format!(
                "no safety backup was taken (--no-safety-backup): put back from {SET_ASIDE}: {}; changed by the restore and left so: {}",
                back.join(", "),
                listed(&left, "nothing")
            ),
        );
    };
    // Warn, not ok: shown in the text report too, as its last line.
    if changed.is_empty() {
        return result(
            Status::Warn,
            "nothing had changed yet: the deployment is as it was before the restore".into(),
        );
    }
    if not_back.is_empty() {
        return result(
            Status::Warn,
            format!(
                "put back from safety backup {id}: {}: the deployment is as it was before the restore",
                back.join(", ")
            ),
        );
    }
    result(
        Status::Crit,
        format!(
            "NOT as before the restore: put back from safety backup {id}: {}; could not be put back: {}",
            listed(back, "none"),
            not_back.join(", ")
        ),
    )
}

pub(super) fn show_plan(prepared: &Prepared, report: &mut Report) {
    report.blocks.push(Block::Table {
        header: vec!["item", "kind", "size", "restored into"],
        rows: prepared
            .planned
            .iter()
            .map(|p| {
                vec![
                    p.item.name.clone(),
                    format!("{:?}", p.item.kind).to_lowercase(),
                    human::bytes(p.item.size),
                    p.describe(),
                ]
            })
            .collect(),
    });
    report.blocks.push(Block::Line(format!(
        "from backup {} ({}); stopped, then started again: {}",
        prepared.entry.id,
        prepared.entry.created_at.strftime("%Y-%m-%d %H:%M:%SZ"),
        listed(&prepared.stopping, "nothing")
    )));
    for start in &prepared.to_start {
        report.blocks.push(Block::Line(format!(
            "`{}` is not running: started first for dump `{}` (the restore is refused if it does not become ready)",
            start.service,
            start.items.join("`, `")
        )));
    }
}

/// The question asked before anything changes, and its parts: each item
/// and where it goes, then what stops.
pub(super) fn confirmation(prepared: &Prepared) -> (String, Vec<String>) {
    let question = format!(
        "restore backup {} into `{}`",
        prepared.entry.id, prepared.project
    );
    let mut parts: Vec<String> = prepared
        .planned
        .iter()
        .map(|p| format!("{} → {}", p.item.name, p.describe()))
        .collect();
    for start in &prepared.to_start {
        parts.push(format!("starting {} first (not running)", start.service));
    }
    if !prepared.stopping.is_empty() {
        parts.push(format!(
            "stopping {} (started again after)",
            prepared.stopping.join(", ")
        ));
    }
    (question, parts)
}

pub(super) fn listed(names: &[impl AsRef<str>], none: &str) -> String {
    if names.is_empty() {
        return none.to_string();
    }
    let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    names.join(", ")
}

/// The command that puts the safety backup back.
pub(super) struct WayBack {
    pub(super) runbook_flag: Option<PathBuf>,
    pub(super) safety_id: Option<String>,
}

impl WayBack {
    fn line(&self) -> String {
        let Some(id) = &self.safety_id else {
            return "no safety backup was taken: the items restored above cannot be undone by opsbook".into();
        };
        let runbook = self
            .runbook_flag
            .as_deref()
            .map(|p: &Path| format!(" --runbook {}", p.display()))
            .unwrap_or_default();
        format!("to go back to the state before this restore: opsbook{runbook} restore {id} --yes")
    }
}
