//! How a list of steps shows in a report, the same for playbooks,
//! procedures and hooks: the plan of a dry run, and the outcomes of a run.

use crate::report::{Block, Report};
use crate::runbook::model::Step;
use crate::status::{CheckResult, Status};
use crate::steps::{self, Outcome};

/// The numbered steps, and which of them ask before they run.
pub(super) fn plan(steps: &[Step]) -> Block {
    Block::Table {
        header: vec!["#", "step", "asks"],
        rows: steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                vec![
                    (i + 1).to_string(),
                    steps::describe(step),
                    if steps::is_destructive(step) {
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
pub(super) fn ending(outcomes: &[Outcome], total: usize, interrupted: bool) -> String {
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
pub(super) fn outcomes(
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
                    format!("{:.1}s", o.took.as_secs_f64()),
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
            steps::describe(step)
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
