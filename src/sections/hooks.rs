//! The `before` and `after` steps of startup, shutdown, backup and restore
//! (e.g. maintenance mode on before a restore, off after it). They run as
//! part of the command the operator chose, so they do not ask again; a
//! failing `before` step stops the command before it changes anything.

use std::path::Path;

use crate::progress::Progress;
use crate::report::Report;
use crate::runbook::Runbook;
use crate::runbook::model::Step;
use crate::status::Status;

use super::step_report;

/// Runs `steps` (the hook `stage`, like `restore.before`) into `report`;
/// whether every step passed (a pending note counts as passed).
pub(super) async fn run(
    runbook: &Runbook,
    stage: &str,
    steps: &[Step],
    progress: Progress,
    state_dir: &Path,
    report: &mut Report,
) -> bool {
    if steps.is_empty() {
        return true;
    }
    progress.say(format!("{stage}: {} steps", steps.len()));
    // Part of the command the operator chose: no step asks again.
    let ran = step_report::run(runbook, steps, stage, true, state_dir, progress, |_| {}).await;
    let Ok((outcomes, interrupted)) = ran else {
        return false;
    };
    let ending = step_report::ending(&outcomes, steps.len(), interrupted);
    // Only the results: the section's own view stays the report's table.
    let mut hook = Report::new(&report.command, &report.runbook, report.started_at);
    step_report::outcomes(&mut hook, "hook", &format!("{stage} "), steps, &outcomes);
    report.results.extend(hook.results);
    report
        .blocks
        .push(crate::report::Block::Line(format!("{stage}: {ending}")));
    outcomes.len() == steps.len()
        && outcomes
            .iter()
            .all(|o| !matches!(o.status, Status::Crit | Status::Unknown))
}
