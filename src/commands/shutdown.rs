//! `opsbook shutdown`: stop the deployment in reverse dependency order, each
//! service with `shutdown.grace` before Docker kills it, and check that
//! everything stopped. `--emergency` kills every container at once.
//! Disruptive: asks on a terminal, needs `--yes` without one.

use std::time::Duration;

use serde_json::json;

use crate::commands::backup::AsStep;
use crate::deploy;
use crate::deploy::lifecycle::Lifecycle;
use crate::docker::{ContainerRef, Deployment};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::runbook::units;
use crate::steps::hooks;
use crate::ui::confirm::confirm;
use crate::ui::progress::Progress;

pub struct Options {
    pub emergency: bool,
    /// Back up first, and abort the shutdown if that fails (unless `force`).
    pub backup: bool,
    pub force: bool,
    pub dry_run: bool,
    pub yes: bool,
    pub state_dir: std::path::PathBuf,
}

pub async fn run(
    runbook: &Runbook,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let project = runbook.require_project("shutdown")?;
    let backups = AsStep {
        runbook,
        state_dir: &options.state_dir,
        progress,
    };
    let hook_setup = backups.setup(true);
    let grace = runbook.plan.grace;
    let deployment = Deployment::connect(Some(project.clone())).await?;
    if deploy::resolve(runbook, &deployment).await?.is_swarm() {
        let deployment = deploy::into_stack(deployment);
        return super::stack::shutdown(runbook, &deployment, hook_setup, options, progress, report)
            .await;
    }
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
        show_plan(&tiers, options.emergency, grace, report);
        return Ok(());
    }
    if running == 0 {
        for tier in &tiers {
            for service in tier {
                report.results.push(CheckResult::new(
                    "shutdown",
                    service,
                    Status::Ok,
                    "already stopped",
                ));
            }
        }
        return Ok(());
    }
    let verb = if options.emergency { "kill" } else { "stop" };
    if !confirm(
        &format!(
            "{verb} {} of `{project}`",
            crate::ui::human::count(running, "running container")
        ),
        options.yes,
    )? {
        return Err(Error::Usage(
            "shutdown cancelled: nothing was stopped".into(),
        ));
    }

    if options.backup && !backup_first(runbook, options, progress, report).await? {
        return Ok(());
    }

    // The hooks belong to an orderly shutdown; an emergency kill waits for nothing.
    let hooks = runbook
        .model
        .shutdown
        .as_ref()
        .filter(|_| !options.emergency);
    let before = hooks.map(|h| h.before.as_slice()).unwrap_or_default();
    if !hooks::run(hook_setup, "shutdown.before", before, report).await {
        report.results.push(CheckResult::new(
            "shutdown",
            "aborted",
            Status::Crit,
            "a shutdown.before step failed, so nothing was stopped",
        ));
        return Ok(());
    }
    let containers = if before.is_empty() {
        containers
    } else {
        deployment.list().await?
    };
    let lifecycle = Lifecycle::listening(&deployment, progress, "shutdown");
    let interrupt = lifecycle.interrupt.clone();
    if options.emergency {
        report.results.extend(lifecycle.kill_all(&containers).await);
    } else {
        report
            .results
            .extend(lifecycle.stop(&tiers, &containers, grace).await);
    }
    if interrupt.is_raised() {
        report.results.push(CheckResult::interrupted("shutdown"));
    } else {
        let after = hooks.map(|h| h.after.as_slice()).unwrap_or_default();
        hooks::run(hook_setup, "shutdown.after", after, report).await;
    }
    // Verify: nothing of the project runs any more.
    let after = deployment.list().await?;
    report.results.push(verify(&project, &after));
    Ok(())
}

/// The dry run: the tiers in stopping order and what happens to each.
fn show_plan(tiers: &[Vec<String>], emergency: bool, grace: Duration, report: &mut Report) {
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
    report.results.push(CheckResult::new(
        "shutdown",
        "dry-run",
        Status::Ok,
        "dry run: nothing was changed",
    ));
}

/// `--backup`: a backup before anything stops; whether the shutdown goes on
/// (it does not when the backup failed, unless `--force`).
pub(super) async fn backup_first(
    runbook: &Runbook,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<bool, Error> {
    let mut backup = Report::new("backup", &report.runbook, jiff::Timestamp::now());
    super::backup::create(runbook, false, &options.state_dir, progress, &mut backup).await?;
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
