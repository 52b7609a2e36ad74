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
    let problems = crate::copies::unresolved(runbook);
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
        vec![
            "thresholds".into(),
            format!(
                "memory {}/{}%  swap {}/{}%  load {}/{} per core  disk {}/{}% on {}",
                t.memory.warn,
                t.memory.crit,
                t.swap.warn,
                t.swap.crit,
                t.load.warn,
                t.load.crit,
                t.disk.warn,
                t.disk.crit,
                t.disk_paths.join(", ")
            ),
        ],
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
