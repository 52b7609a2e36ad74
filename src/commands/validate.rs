//! `opsbook validate`: the runbook loaded and checked (any problem has
//! already failed the load), and its resolved plan shown.

use serde_json::json;

use crate::deploy::Resolved;
use crate::docker::Deployment;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::runbook::model::Mode;

pub async fn run(runbook: &Runbook, report: &mut Report) {
    let plan = &runbook.plan;
    let mode = mode(runbook).await;
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
}

/// The mode, decided against the engine when the runbook leaves it to
/// `auto` or says `swarm`; written as decided, or why it was not.
async fn mode(runbook: &Runbook) -> String {
    let plan = &runbook.plan;
    if plan.mode == Mode::Compose || plan.project.is_none() {
        return Resolved::Compose {
            why: if plan.mode == Mode::Compose {
                "mode: compose".into()
            } else {
                "no project: every compose project".into()
            },
        }
        .describe();
    }
    let written = if plan.mode == Mode::Swarm {
        "swarm"
    } else {
        "auto"
    };
    match Deployment::connect(plan.project.clone()).await {
        Ok(deployment) => match crate::deploy::resolve(runbook, &deployment).await {
            Ok(resolved) => resolved.describe(),
            Err(e) => format!("{written}: {e}"),
        },
        Err(e) => format!("{written}: not decided, as Docker did not answer ({e})"),
    }
}
