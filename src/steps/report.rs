//! How steps show in a report, the same for playbooks, procedures and
//! hooks: the numbered plan of a dry run, the outcomes of a run, and how the
//! run ended, in words.

use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::model::Step;

use super::{Outcome, describe, is_destructive};

/// The numbered steps, their branches under them (`when`, `on failure`,
/// `on timeout`), and which of them ask before they run.
pub(crate) fn plan(steps: &[Step]) -> Block {
    let mut rows = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        plan_rows(step, (i + 1).to_string(), "", &mut rows);
    }
    Block::Table {
        header: vec!["#", "step", "asks"],
        rows,
    }
}

fn plan_rows(step: &Step, number: String, indent: &str, rows: &mut Vec<Vec<String>>) {
    let mut shown = format!("{indent}{}", describe(step));
    if let Some(when) = &step.when {
        let is = format!("{:?}", when.is).to_lowercase();
        shown.push_str(&format!(" (only when `{}` is {is})", when.check.value));
    }
    let asks = if is_destructive(step) { "yes" } else { "" };
    rows.push(vec![number.clone(), shown, asks.to_string()]);
    for (label, branch) in [
        ("on failure", &step.on_failure),
        ("on timeout", &step.on_timeout),
    ] {
        for (i, inner) in branch.iter().enumerate() {
            let deeper = format!("{indent}  {label} {}: ", i + 1);
            plan_rows(inner, number.clone(), &deeper, rows);
        }
    }
}

/// How a run of `total` steps ended, in words.
pub(crate) fn ending(outcomes: &[Outcome], total: usize, interrupted: bool) -> String {
    let last = outcomes.last().map_or(0, |o| o.number);
    let status = Status::worst(outcomes.iter().map(|o| o.status));
    if interrupted && last < total {
        format!("interrupted by a signal after step {last}")
    } else if last < total {
        format!("stopped at step {last} of {total}")
    } else {
        format!("finished: {status}")
    }
}

/// The outcomes as a table and as results named `<prefix><n> <step>`, and
/// the steps that never ran.
pub(crate) fn outcomes(
    report: &mut Report,
    section: &str,
    prefix: &str,
    steps: &[Step],
    outcomes: &[Outcome],
) {
    report.blocks.push(Block::Table {
        header: vec!["#", "step", "status", "time", "outcome"],
        rows: outcomes
            .iter()
            .map(|o| {
                vec![
                    format!("{prefix}{}", o.number),
                    o.step.clone(),
                    o.status.to_string(),
                    crate::ui::human::took(o.took),
                    o.message.clone(),
                ]
            })
            .collect(),
    });
    let last = outcomes.last().map_or(0, |o| o.number);
    for (i, step) in steps.iter().enumerate().skip(last) {
        report.blocks.push(Block::Line(format!(
            "not run: {prefix}{} `{}`",
            i + 1,
            describe(step)
        )));
    }
    for o in outcomes {
        report.results.push(
            CheckResult::new(
                section,
                format!("{prefix}{} {}", o.number, o.step),
                o.status,
                o.message.clone(),
            )
            .with_duration(o.took),
        );
    }
}
