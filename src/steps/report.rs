//! How steps show in a report, the same for playbooks, procedures and
//! hooks: the numbered plan of a dry run, the outcomes of a run, and how the
//! run ended, in words.

use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::model::Step;

use super::{Outcome, describe, is_destructive};

/// The numbered steps, and which of them ask before they run.
pub fn plan(steps: &[Step]) -> Block {
    Block::Table {
        header: vec!["#", "step", "asks"],
        rows: steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                vec![
                    (i + 1).to_string(),
                    describe(step),
                    if is_destructive(step) {
                        "yes".into()
                    } else {
                        String::new()
                    },
                ]
            })
            .collect(),
    }
}

/// How a run of `total` steps ended, in words.
pub fn ending(outcomes: &[Outcome], total: usize, interrupted: bool) -> String {
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
pub fn outcomes(
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
                    crate::human::took(o.took),
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
