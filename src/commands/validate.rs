//! `opsbook validate`: the runbook loaded and checked (any problem has
//! already failed the load), the copy targets' `${VAR}` looked up now (an
//! unset one would fail tonight's copy), and its resolved plan shown.

use serde_json::json;

use crate::deploy;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::Runbook;

pub(crate) async fn run(runbook: &Runbook, report: &mut Report) -> Result<(), Error> {
    let problems = crate::backup::copies::unresolved(runbook);
    if !problems.is_empty() {
        return Err(Error::RunbookInvalid { problems });
    }
    let plan = &runbook.plan;
    let mode = deploy::describe(runbook).await;
    report.results.push(CheckResult::new(
        "runbook",
        "validate",
        Status::Ok,
        format!("`{}` is valid", runbook.display),
    ));
    report.extra.insert("plan".into(), json!(plan));

    let tiers = |tiers: &[Vec<String>]| {
        if tiers.is_empty() {
            "(no services listed: every container of the project)".to_string()
        } else {
            tiers
                .iter()
                .enumerate()
                .map(|(n, tier)| format!("{}. {}", n + 1, tier.join(", ")))
                .collect::<Vec<_>>()
                .join("   ")
        }
    };
    let t = &plan.thresholds;
    let mut rows = vec![
        vec![
            "runbook".into(),
            format!("{} ({})", runbook.name(), runbook.display),
        ],
        vec![
            "project".into(),
            plan.project
                .clone()
                .unwrap_or_else(|| "(every compose project on the host)".into()),
        ],
        vec!["mode".into(), mode.clone()],
        vec!["startup".into(), tiers(&plan.startup)],
        vec!["shutdown".into(), tiers(&plan.shutdown)],
        vec!["thresholds".into(), thresholds(t)],
    ];
    for check in &plan.checks {
        rows.push(vec![
            format!("check {}", check.name),
            format!("{} {}", check.kind, check.target),
        ]);
    }
    for item in &plan.backup {
        rows.push(vec![format!("backup {}", item.kind), item.source.clone()]);
    }
    report.blocks.push(Block::Table {
        header: vec!["plan", "detail"],
        rows,
    });
    report.extra.insert("mode".into(), json!(mode));
    Ok(())
}

/// `memory 80/85%  swap 25/50%  load 2/2.5 per core  disk 85/90% on /`, and
/// the figures graded only when given.
fn thresholds(t: &crate::runbook::HostThresholds) -> String {
    let per_core = if t.per_core("load") { " per core" } else { "" };
    let mut line = format!(
        "memory {}/{}%  swap {}/{}%  load {}/{}{per_core}  disk {}/{}% on {}",
        t.memory.warn,
        t.memory.crit,
        t.swap.warn,
        t.swap.crit,
        t.load.warn,
        t.load.crit,
        t.disk.warn,
        t.disk.crit,
        t.disk_paths.join(", ")
    );
    if let Some(free) = t.disk_free {
        line.push_str(&format!(
            "  free {}/{}",
            crate::runbook::units::size_as_written(free.warn),
            crate::runbook::units::size_as_written(free.crit)
        ));
    }
    for (name, limits) in [("cpu", t.cpu), ("iowait", t.iowait)] {
        if let Some(l) = limits {
            line.push_str(&format!("  {name} {}/{}%", l.warn, l.crit));
        }
    }
    if let Some(l) = t.network {
        line.push_str(&format!(
            "  network {}/{}",
            crate::runbook::units::per_second(l.warn),
            crate::runbook::units::per_second(l.crit)
        ));
    }
    for (name, window) in &t.windows {
        line.push_str(&format!(
            "  {name} for {}",
            crate::ui::human::duration(*window)
        ));
    }
    line
}
