//! Steps as playbooks, procedures and hooks run them: the engine set up
//! against the deployment, and how the steps show in a report (the plan of
//! a dry run, the outcomes of a run).

use std::path::Path;

use crate::docker::Deployment;
use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::progress::Progress;
use crate::report::{Block, Report};
use crate::runbook::Runbook;
use crate::runbook::model::Step;
use crate::status::{CheckResult, Status};
use crate::steps::{self, Engine, Outcome};

/// Runs `steps` (`what`: "playbook `x`", for messages) against the runbook's
/// deployment (steps that need Docker fail if it is unreachable), handing
/// each outcome to `record`. A destructive step that needs a yes it cannot
/// get refuses the run before its first step (exit 3). Returns the outcomes
/// and whether a signal cut the run short.
pub(super) async fn run(
    runbook: &Runbook,
    steps: &[Step],
    what: &str,
    yes: bool,
    state_dir: &Path,
    progress: Progress,
    record: impl FnMut(&Outcome),
) -> Result<(Vec<Outcome>, bool), Error> {
    if !yes {
        steps::needs_confirmation(steps, what)?;
    }
    let deployment = Deployment::connect(runbook.plan.project.clone()).await.ok();
    let redactor = super::redactor(runbook);
    let engine = Engine {
        runbook,
        deployment: deployment.as_ref(),
        progress,
        interrupt: Interrupt::listen(),
        yes,
        state_dir: state_dir.to_path_buf(),
        redactor: &redactor,
    };
    let outcomes = engine.run(steps, record).await;
    Ok((outcomes, engine.interrupt.is_raised()))
}

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
