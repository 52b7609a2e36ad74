//! The `before` and `after` steps of startup, shutdown, backup and restore
//! (e.g. maintenance mode on before a restore, off after it). They run as
//! part of the command the operator chose, so they do not ask again; a
//! failing `before` step stops the command before it changes anything.

use futures_util::future::LocalBoxFuture;

use crate::deploy::Hooks;
use crate::error::Error;
use crate::grade::Status;
use crate::render::{Block, Report};
use crate::runbook::model::Step;

use super::{Setup, report};

/// Runs `steps` (the hook `stage`, like `restore.before`) into `report`;
/// whether every step passed (a pending note counts as passed).
pub(crate) async fn run(
    setup: Setup<'_>,
    stage: &str,
    steps: &[Step],
    report: &mut Report,
) -> bool {
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

/// What the operations of deploy/ run around their work: these hooks, and
/// the backup command behind `backups`.
impl Hooks for Setup<'_> {
    fn run<'a>(
        &'a self,
        stage: &'a str,
        steps: &'a [Step],
        report: &'a mut Report,
    ) -> LocalBoxFuture<'a, bool> {
        Box::pin(run(*self, stage, steps, report))
    }

    fn take_backup(&self) -> LocalBoxFuture<'_, (Status, String)> {
        match self.backups {
            Some(backups) => backups.take(),
            None => Box::pin(async { (Status::Unknown, NO_BACKUP.to_string()) }),
        }
    }

    fn backup_into<'a>(&'a self, report: &'a mut Report) -> LocalBoxFuture<'a, Result<(), Error>> {
        match self.backups {
            Some(backups) => backups.backup_into(report),
            None => Box::pin(async { Err(Error::Usage(NO_BACKUP.to_string())) }),
        }
    }
}

/// A backup asked for where none can run (inside a backup's own hooks).
const NO_BACKUP: &str = "a backup cannot be taken here";
