//! Restarting services, on compose or a stack: compose containers stopped
//! (reverse dependency order) and started again (dependency order, waiting
//! until ready, not after a signal); a stack's services redeployed by a
//! forced update, tier by tier, each waited for until Swarm has rolled it.
//! `with_dependents` takes along everything that depends on them. A compose
//! service that was not running is left alone.

use std::time::Instant;

use serde_json::json;

use crate::docker::{self, Deployment, Stack};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::ui::confirm::confirm;
use crate::ui::progress::Progress;

use super::dry_run;
use super::lifecycle::Lifecycle;
use super::scale::SwarmLifecycle;

pub(crate) struct Options {
    pub services: Vec<String>,
    pub with_dependents: bool,
    pub dry_run: bool,
    pub yes: bool,
}

pub(crate) async fn run(
    runbook: &Runbook,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let deployment = super::connect(runbook, "restart").await?;
    if deployment.is_stack() {
        return stack(runbook, &deployment, options, progress, report).await;
    }
    let project = runbook.require_project("restart")?;
    let containers = deployment.list().await?;
    let deployed: Vec<String> = containers.iter().map(|c| c.service.clone()).collect();
    let all_tiers = runbook.plan.tiers_with(&deployed);
    let known: Vec<&String> = all_tiers.iter().flatten().collect();

    let targets = targets(runbook, options, &known)?;
    // A restart touches only what runs: a service whose containers had all
    // exited is reported and left alone (what it stops it starts again).
    let running = docker::running_services(&containers, &targets);
    let idle: Vec<String> = targets
        .iter()
        .filter(|s| !running.contains(s))
        .cloned()
        .collect();
    let targets = running;
    let start_tiers = runbook.plan.start_order(&targets);
    let stop_tiers = runbook.plan.stop_order(&targets);
    let left_alone = |report: &mut Report| {
        for service in &idle {
            report.results.push(CheckResult::new(
                "restart",
                service,
                Status::Ok,
                "not running before the restart: left alone (`opsbook startup` starts it)",
            ));
        }
    };

    if options.dry_run {
        show_plan(&stop_tiers, &start_tiers, &idle, report);
        left_alone(report);
        report.results.push(CheckResult::dry_run("restart"));
        return Ok(());
    }
    let count: usize = start_tiers.iter().map(Vec::len).sum();
    if !confirm(
        &format!(
            "restart {} of `{project}`",
            crate::ui::human::count(count, "service")
        ),
        options.yes,
    )? {
        return Err(Error::Usage(
            "restart cancelled: nothing was changed".into(),
        ));
    }

    // What was stopped starts again, even after Ctrl-C or SIGTERM or a
    // failed stop: a restart must not leave the deployment down.
    let lifecycle = Lifecycle::listening(&deployment, progress, "restart");
    let interrupt = lifecycle.interrupt.clone();
    let done = lifecycle
        .while_stopped(&runbook.plan, &targets, |_| async {})
        .await;
    let (stopped, started) = (done.stopped, done.started);
    // One result per service: how it stopped and how it started.
    for service in start_tiers.iter().flatten() {
        let stop = stopped.iter().find(|r| r.name == *service);
        let start = started.iter().find(|r| r.name == *service);
        let status = Status::worst(stop.iter().chain(start.iter()).map(|r| r.status));
        let message = [stop, start]
            .iter()
            .flatten()
            .map(|r| r.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        report
            .results
            .push(CheckResult::new("restart", service, status, message));
    }
    left_alone(report);
    if interrupt.is_raised() {
        report.results.push(CheckResult::interrupted("restart"));
    }
    Ok(())
}

/// A stack's services (the runbook's names the stack has) redeployed: a
/// forced update of each tier, waiting until Swarm has rolled it.
async fn stack(
    runbook: &Runbook,
    deployment: &Deployment,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let names = Stack::read(deployment).await?.names();
    let all_tiers = runbook.plan.tiers_with(&names);
    let known: Vec<&String> = all_tiers.iter().flatten().collect();
    let targets = targets(runbook, options, &known)?;
    let project = runbook.require_project("restart")?;
    let tiers = runbook.plan.start_order(&targets);
    if options.dry_run {
        let rows = dry_run::rows(&tiers, |_| {
            "forced update (Swarm rolls its tasks), wait until converged".into()
        });
        dry_run::stack_plan(report, "restart", &tiers, rows);
        return Ok(());
    }
    let question = format!(
        "redeploy {} of stack `{project}`",
        crate::ui::human::count(targets.len(), "service")
    );
    if !confirm(&question, options.yes)? {
        return Err(Error::Usage(
            "restart cancelled: nothing was changed".into(),
        ));
    }
    let lifecycle = SwarmLifecycle {
        deployment,
        progress,
        interrupt: Interrupt::listen(),
        section: "restart",
    };
    let deadline = Instant::now() + runbook.plan.startup_timeout;
    report.results.extend(
        lifecycle
            .redeploy(&tiers, &runbook.plan.depends_on, deadline)
            .await,
    );
    if lifecycle.interrupt.is_raised() {
        report.results.push(CheckResult::interrupted("restart"));
    }
    Ok(())
}

/// The services named (with their dependents under `--with-dependents`),
/// or every known one; an unknown name is refused, naming the known ones.
fn targets(runbook: &Runbook, options: &Options, known: &[&String]) -> Result<Vec<String>, Error> {
    let mut targets: Vec<String> = Vec::new();
    for service in &options.services {
        if !known.contains(&service) {
            let names: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
            return Err(Error::Usage(format!(
                "unknown service `{service}` (services are: {})",
                names.join(", ")
            )));
        }
        targets.push(service.clone());
        if options.with_dependents {
            targets.extend(runbook.plan.dependents_of(service));
        }
    }
    if options.services.is_empty() {
        targets = known.iter().map(|s| s.to_string()).collect();
    }
    Ok(targets)
}

/// The dry run: the stop and start order, and what is left alone.
fn show_plan(
    stop_tiers: &[Vec<String>],
    start_tiers: &[Vec<String>],
    idle: &[String],
    report: &mut Report,
) {
    report.extra.insert(
        "plan".into(),
        json!({"stop": stop_tiers, "start": start_tiers}),
    );
    let line = |tiers: &[Vec<String>]| {
        tiers
            .iter()
            .enumerate()
            .map(|(n, t)| format!("{}. {}", n + 1, t.join(", ")))
            .collect::<Vec<_>>()
            .join("   ")
    };
    report
        .blocks
        .push(Block::Line(format!("stop   {}", line(stop_tiers))));
    report
        .blocks
        .push(Block::Line(format!("start  {}", line(start_tiers))));
    if !idle.is_empty() {
        report.extra.insert("left_alone".into(), json!(idle));
    }
}
