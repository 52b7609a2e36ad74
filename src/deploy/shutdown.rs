//! Shutting the deployment down, on compose or a stack: each tier in
//! reverse dependency order, a compose service stopped with
//! `shutdown.grace` before Docker kills it (or every container killed at
//! once in an emergency), a stack's services scaled to zero with their
//! replicas remembered; then a check that nothing runs any more. An
//! optional backup first, the `shutdown.before` and `.after` steps around.
//! Disruptive: asks on a terminal, needs `--yes` without one.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::docker::{ContainerRef, Deployment, Stack, SwarmMode};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::runbook::model::Step;
use crate::runbook::units;
use crate::ui::confirm::confirm;
use crate::ui::progress::Progress;

use super::Hooks;
use super::dry_run;
use super::lifecycle::Lifecycle;
use super::scale::SwarmLifecycle;

pub(crate) struct Options {
    pub emergency: bool,
    /// Back up first, and abort the shutdown if that fails (unless `force`).
    pub backup: bool,
    pub force: bool,
    pub dry_run: bool,
    pub yes: bool,
}

/// Shuts the runbook's deployment down.
pub(crate) async fn run(
    runbook: &Runbook,
    options: &Options,
    hooks: &dyn Hooks,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let deployment = super::connect(runbook, "shutdown").await?;
    if deployment.is_stack() {
        return stack(runbook, &deployment, options, hooks, progress, report).await;
    }
    let project = runbook.require_project("shutdown")?;
    let grace = runbook.plan.grace;
    let containers = deployment.list().await?;
    let deployed: Vec<String> = containers.iter().map(|c| c.service.clone()).collect();
    let tiers: Vec<Vec<String>> = runbook
        .plan
        .tiers_with(&deployed)
        .into_iter()
        .rev()
        .collect();
    let running = containers.iter().filter(|c| c.state.is_up()).count();
    if options.dry_run {
        compose_plan(&tiers, options.emergency, grace, report);
        return Ok(());
    }
    if running == 0 {
        for service in tiers.iter().flatten() {
            report.results.push(CheckResult::new(
                "shutdown",
                service,
                Status::Ok,
                "already stopped",
            ));
        }
        return Ok(());
    }
    let verb = if options.emergency { "kill" } else { "stop" };
    let question = format!(
        "{verb} {} of `{project}`",
        crate::ui::human::count(running, "running container")
    );
    if !confirm(&question, options.yes)? {
        return Err(cancelled());
    }
    if options.backup && !backup_first(runbook, options, hooks, report).await? {
        return Ok(());
    }
    // The hooks belong to an orderly shutdown; an emergency kill waits for nothing.
    let steps = runbook
        .model
        .shutdown
        .as_ref()
        .filter(|_| !options.emergency);
    let before = steps.map(|h| h.before.as_slice()).unwrap_or_default();
    if !before_steps(hooks, before, report).await {
        return Ok(());
    }
    let containers = if before.is_empty() {
        containers
    } else {
        deployment.list().await?
    };
    let lifecycle = Lifecycle::listening(&deployment, progress, "shutdown");
    if options.emergency {
        report.results.extend(lifecycle.kill_all(&containers).await);
    } else {
        report
            .results
            .extend(lifecycle.stop(&tiers, &containers, grace).await);
    }
    let after = steps.map(|h| h.after.as_slice()).unwrap_or_default();
    after_steps(&lifecycle.interrupt, hooks, after, report).await;
    // Verify: nothing of the project runs any more.
    let after = deployment.list().await?;
    report.results.push(verify(&project, &after));
    Ok(())
}

/// A stack: each tier (reverse order) scaled to zero, its replicas
/// remembered on the service, waited until no task runs.
async fn stack(
    runbook: &Runbook,
    deployment: &Deployment,
    options: &Options,
    hooks: &dyn Hooks,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let project = runbook.require_project("shutdown")?;
    let stack = Stack::read(deployment).await?;
    let tiers: Vec<Vec<String>> = runbook
        .plan
        .tiers_with(&stack.names())
        .into_iter()
        .rev()
        .collect();
    let up = stack
        .services
        .iter()
        .filter(|s| s.mode != SwarmMode::Replicated(0))
        .count();
    if options.dry_run {
        let rows = dry_run::rows(&tiers, |name| match stack.service(name) {
            Some(s) => match s.mode {
                SwarmMode::Replicated(0) => "already at 0: leave alone".into(),
                SwarmMode::Replicated(n) => format!("scale {n} → 0, remember {n}"),
                SwarmMode::Global => "global: cannot be scaled (refused)".into(),
                SwarmMode::Job => "a job: leave alone".into(),
            },
            None => "missing: nothing to do".into(),
        });
        dry_run::stack_plan(report, "shutdown", &tiers, rows);
        return Ok(());
    }
    if up == 0 {
        for service in tiers.iter().flatten() {
            report.results.push(CheckResult::new(
                "shutdown",
                service,
                Status::Ok,
                "already scaled to 0",
            ));
        }
        return Ok(());
    }
    let question = format!(
        "scale {} of stack `{project}` to 0",
        crate::ui::human::count(up, "service")
    );
    if !confirm(&question, options.yes)? {
        return Err(cancelled());
    }
    if options.backup && !backup_first(runbook, options, hooks, report).await? {
        return Ok(());
    }
    let steps = runbook.model.shutdown.as_ref();
    let before = steps.map(|h| h.before.as_slice()).unwrap_or_default();
    if !before_steps(hooks, before, report).await {
        return Ok(());
    }
    let lifecycle = SwarmLifecycle {
        deployment,
        progress,
        interrupt: Interrupt::listen(),
        section: "shutdown",
    };
    let deadline = Instant::now() + runbook.plan.startup_timeout;
    report
        .results
        .extend(lifecycle.stop(&tiers, deadline).await);
    let after = steps.map(|h| h.after.as_slice()).unwrap_or_default();
    after_steps(&lifecycle.interrupt, hooks, after, report).await;
    Ok(())
}

fn cancelled() -> Error {
    Error::Usage("shutdown cancelled: nothing was stopped".into())
}

/// `shutdown.before`; whether the shutdown goes on (a failed step stops it).
async fn before_steps(hooks: &dyn Hooks, before: &[Step], report: &mut Report) -> bool {
    if hooks.run("shutdown.before", before, report).await {
        return true;
    }
    report.results.push(CheckResult::new(
        "shutdown",
        "aborted",
        Status::Crit,
        "a shutdown.before step failed, so nothing was stopped",
    ));
    false
}

/// `shutdown.after`, unless a signal cut the shutdown short (then that is
/// said instead).
async fn after_steps(
    interrupt: &Interrupt,
    hooks: &dyn Hooks,
    after: &[Step],
    report: &mut Report,
) {
    if interrupt.is_raised() {
        report.results.push(CheckResult::interrupted("shutdown"));
    } else {
        hooks.run("shutdown.after", after, report).await;
    }
}

/// `--backup`: a backup before anything stops; whether the shutdown goes on
/// (it does not when the backup failed, unless `--force`).
async fn backup_first(
    runbook: &Runbook,
    options: &Options,
    hooks: &dyn Hooks,
    report: &mut Report,
) -> Result<bool, Error> {
    let mut backup = Report::new("backup", &runbook.display, jiff::Timestamp::now());
    hooks.backup_into(&mut backup).await?;
    let failed = matches!(backup.status(), Status::Crit | Status::Unknown);
    report.results.extend(backup.results);
    if failed && !options.force {
        report.results.push(CheckResult::new(
            "shutdown",
            "aborted",
            Status::Crit,
            "the backup failed, so nothing was stopped (--force shuts down anyway)",
        ));
        return Ok(false);
    }
    Ok(true)
}

/// The compose dry run: the tiers in stopping order and what happens to each.
fn compose_plan(tiers: &[Vec<String>], emergency: bool, grace: Duration, report: &mut Report) {
    let how = if emergency {
        "kill at once, no order, no grace".to_string()
    } else {
        format!("stop with {} grace", units::Duration(grace))
    };
    report.extra.insert(
        "plan".into(),
        json!({"tiers": tiers, "emergency": emergency}),
    );
    report.blocks.push(Block::Table {
        header: vec!["order", "services", "action"],
        rows: tiers
            .iter()
            .enumerate()
            .map(|(n, tier)| vec![(n + 1).to_string(), tier.join(", "), how.clone()])
            .collect(),
    });
    report.results.push(CheckResult::dry_run("shutdown"));
}

/// Nothing of the project runs any more.
fn verify(project: &str, containers: &[ContainerRef]) -> CheckResult {
    let still: Vec<&str> = containers
        .iter()
        .filter(|c| c.state.is_up())
        .map(|c| c.name.as_str())
        .collect();
    if still.is_empty() {
        CheckResult::new(
            "shutdown",
            "verify",
            Status::Ok,
            format!("no container of `{project}` is running"),
        )
    } else {
        CheckResult::new(
            "shutdown",
            "verify",
            Status::Crit,
            format!("still running: {}", still.join(", ")),
        )
    }
}
