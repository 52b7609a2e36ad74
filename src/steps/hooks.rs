//! The `before` and `after` steps of startup, shutdown, backup and restore
//! (e.g. maintenance mode on before a restore, off after it). They run as
//! part of the command the operator chose, so they do not ask again; a
//! failing `before` step stops the command before it changes anything.

use crate::grade::Status;
use crate::render::{Block, Report};
use crate::runbook::model::Step;

use super::{Setup, report};

/// Runs `steps` (the hook `stage`, like `restore.before`) into `report`;
/// whether every step passed (a pending note counts as passed).
pub async fn run(setup: Setup<'_>, stage: &str, steps: &[Step], report: &mut Report) -> bool {
    if steps.is_empty() {
        return true;
    }
    setup.progress.say(format!(
        "{stage}: {}",
        crate::ui::human::count(steps.len(), "step")
    ));
    // Part of the command the operator chose: no step asks again.
    let setup = Setup { yes: true, ..setup };
    let Ok((outcomes, interrupted)) = super::run(setup, steps, stage, |_| {}).await else {
        return false;
    };
    let ending = report::ending(&outcomes, steps.len(), interrupted);
    // Only the results: the command's own view stays the report's table.
    let mut hook = Report::new(&report.command, &report.runbook, report.started_at);
    report::outcomes(&mut hook, "hook", &format!("{stage} "), steps, &outcomes);
    report.results.extend(hook.results);
    report
        .blocks
        .push(Block::Line(format!("{stage}: {ending}")));
    outcomes.len() == steps.len()
        && outcomes
            .iter()
            .all(|o| !matches!(o.status, Status::Crit | Status::Unknown))
}
