//! The operators' startup page as one operation, on compose or a stack.
//! Pre-flight (free memory and disk, config files, Docker), create missing
//! services with `startup.up`, start the services tier by tier waiting for
//! each to be ready (containers started, or a stack's services scaled up
//! and converged), then the `startup.verify` checks, the success criteria
//! and `startup.after`. Services already running are left alone.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::check::{self, preflight};
use crate::docker::{ContainerRef, Deployment, Stack, State, SwarmMode, standing};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::host::command;
use crate::interrupt::Interrupt;
use crate::redact::Redactor;
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

use super::Hooks;
use super::dry_run;
use super::lifecycle::Lifecycle;
use super::scale::SwarmLifecycle;

const UP_EXAMPLE: &str = "[docker, compose, up, -d, --no-start]";

pub(crate) struct Options {
    pub skip_preflight: bool,
    pub dry_run: bool,
}

/// Starts the runbook's deployment. Pre-flight results come first; a
/// failed pre-flight, a failed `startup.before` step or a failed
/// `startup.up` starts nothing.
pub(crate) async fn run(
    runbook: &Runbook,
    options: &Options,
    hooks: &dyn Hooks,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let project = runbook.require_project("startup")?;
    let deadline = Instant::now() + runbook.plan.startup_timeout;
    let connected = Deployment::connect(Some(project)).await;
    if !options.skip_preflight {
        let checks = preflight::preflight(runbook, connected.as_ref().err()).await;
        let failed = checks.iter().any(|r| r.status != Status::Ok);
        report.results.extend(checks);
        // A dry run goes on to show the plan; the exit code still says the
        // real startup would stop here.
        if failed && !options.dry_run {
            progress.say("pre-flight failed: nothing was started");
            return Ok(());
        }
    }
    let deployment = connected?;
    let startup = runbook.model.startup.as_ref();
    let before = startup.map(|s| s.before.as_slice()).unwrap_or_default();
    if !options.dry_run && !hooks.run("startup.before", before, report).await {
        progress.say("a startup.before step failed: nothing was started");
        return Ok(());
    }
    let deployment = super::as_deployed(runbook, deployment).await?;
    let Some(deployment) = create_missing(runbook, deployment, options, progress, report).await?
    else {
        return Ok(());
    };
    let started = if deployment.is_stack() {
        start_stack(
            runbook,
            &deployment,
            options.dry_run,
            deadline,
            progress,
            report,
        )
        .await?
    } else {
        start_compose(
            runbook,
            &deployment,
            options.dry_run,
            deadline,
            progress,
            report,
        )
        .await?
    };
    if started && !options.dry_run {
        verify(runbook, &deployment, hooks, report).await?;
    }
    Ok(())
}

/// Runs `startup.up` when a service the runbook lists has no container
/// (or, in a stack, no service) yet; the deployment as it is after, or
/// `None` when nothing may start (no `startup.up`, or it failed).
async fn create_missing(
    runbook: &Runbook,
    mut deployment: Deployment,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<Option<Deployment>, Error> {
    let missing = missing_services(runbook, &deployment).await?;
    if missing.is_empty() {
        return Ok(Some(deployment));
    }
    let startup = runbook.model.startup.as_ref();
    let Some(up) = startup.and_then(|s| s.up.as_ref()) else {
        for service in &missing {
            let message = format!(
                "no container for this service: create it first, or add `startup.up` (e.g. {UP_EXAMPLE}) to the runbook"
            );
            report
                .results
                .push(CheckResult::new("startup", service, Status::Crit, message));
        }
        progress.say("nothing was started");
        return Ok(None);
    };
    if options.dry_run {
        report.blocks.push(Block::Line(format!(
            "would run `{up}` in {} to create: {}",
            runbook.dir.display(),
            missing.join(", ")
        )));
        return Ok(Some(deployment));
    }
    progress.say(format!("creating {}: {up}", missing.join(", ")));
    let timeout = runbook.plan.startup_timeout;
    let result = run_up(runbook, &up.argv(), timeout, runbook.redactor()).await;
    let failed = result.status != Status::Ok;
    report.results.push(result);
    if failed {
        return Ok(None);
    }
    // `startup.up` may have been `docker stack deploy`.
    if !deployment.is_stack() && super::resolve(runbook, &deployment).await?.is_swarm() {
        deployment = super::into_stack(deployment);
    }
    Ok(Some(deployment))
}

/// The services the runbook lists that have no container (or, in a stack,
/// no service) yet.
async fn missing_services(
    runbook: &Runbook,
    deployment: &Deployment,
) -> Result<Vec<String>, Error> {
    let deployed: Vec<String> = if deployment.is_stack() {
        Stack::read(deployment).await?.names()
    } else {
        let containers = deployment.list().await?;
        containers.iter().map(|c| c.service.clone()).collect()
    };
    Ok(runbook
        .model
        .services
        .keys()
        .filter(|service| !deployed.contains(service))
        .cloned()
        .collect())
}

/// Runs `startup.up` in the runbook's folder; its output goes into the report.
async fn run_up(
    runbook: &Runbook,
    argv: &[String],
    timeout: Duration,
    redactor: &Redactor,
) -> CheckResult {
    let (status, message) =
        command::run(argv, &runbook.dir, timeout)
            .await
            .graded(&argv.join(" "), timeout, redactor);
    CheckResult::new("startup", "up", status, message)
}

/// The compose containers started tier by tier; whether all are ready (a
/// dry run shows the plan and says so too).
async fn start_compose(
    runbook: &Runbook,
    deployment: &Deployment,
    dry_run: bool,
    deadline: Instant,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<bool, Error> {
    let containers = deployment.list().await?;
    let deployed: Vec<String> = containers.iter().map(|c| c.service.clone()).collect();
    let tiers = runbook.plan.tiers_with(&deployed);
    if dry_run {
        compose_plan(runbook, &tiers, &containers, report);
        return Ok(true);
    }
    let lifecycle = Lifecycle::listening(deployment, progress, "startup");
    let started = lifecycle
        .start(&tiers, &runbook.plan.depends_on, &containers, deadline)
        .await;
    let all_ready = started.iter().all(|r| r.status == Status::Ok);
    report.results.extend(started);
    if lifecycle.interrupt.is_raised() {
        report.results.push(CheckResult::interrupted("startup"));
        return Ok(false);
    }
    if !all_ready {
        progress.say("the services that started are left running");
    }
    Ok(all_ready)
}

/// A stack whose services exist: each tier scaled up to its replicas and
/// waited for. Whether every service converged.
async fn start_stack(
    runbook: &Runbook,
    deployment: &Deployment,
    dry_run: bool,
    deadline: Instant,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<bool, Error> {
    let stack = Stack::read(deployment).await?;
    let tiers = runbook.plan.tiers_with(&stack.names());
    if dry_run {
        let rows = dry_run::rows(&tiers, |name| match stack.service(name) {
            None => "missing: create it (startup.up)".into(),
            Some(s) if s.mode == SwarmMode::Replicated(0) => match s.remembered {
                Some(n) => format!("scale to {n}, wait until converged"),
                None => "scaled to 0, nothing remembered: left at 0".into(),
            },
            Some(s) if standing(&stack, s, None).converged => "converged: leave alone".into(),
            Some(_) => "wait until converged".into(),
        });
        dry_run::stack_plan(report, "startup", &tiers, rows);
        return Ok(true);
    }
    let lifecycle = SwarmLifecycle {
        deployment,
        progress,
        interrupt: Interrupt::listen(),
        section: "startup",
    };
    let started = lifecycle
        .start(&tiers, &runbook.plan.depends_on, deadline)
        .await;
    let all = started.iter().all(|r| r.status == Status::Ok);
    report.results.extend(started);
    if lifecycle.interrupt.is_raised() {
        report.results.push(CheckResult::interrupted("startup"));
        return Ok(false);
    }
    Ok(all)
}

/// The runbook's checks, then the success criteria, then `startup.after`.
async fn verify(
    runbook: &Runbook,
    deployment: &Deployment,
    hooks: &dyn Hooks,
    report: &mut Report,
) -> Result<(), Error> {
    report
        .results
        .extend(check::verify_checks(runbook, deployment).await?);
    let containers = deployment.list().await?;
    report
        .results
        .extend(preflight::success_criteria(runbook, &containers).await);
    let startup = runbook.model.startup.as_ref();
    let after = startup.map(|s| s.after.as_slice()).unwrap_or_default();
    hooks.run("startup.after", after, report).await;
    Ok(())
}

/// The compose plan: each tier with what would happen to each service.
fn compose_plan(
    runbook: &Runbook,
    tiers: &[Vec<String>],
    containers: &[ContainerRef],
    report: &mut Report,
) {
    let rows = dry_run::rows(tiers, |service| {
        let mine: Vec<&ContainerRef> = containers
            .iter()
            .filter(|c| c.service == *service)
            .collect();
        if mine.is_empty() {
            "create (startup.up), start, wait until ready"
        } else if mine.iter().all(|c| c.state == State::Running) {
            "already running: leave alone"
        } else {
            "start, wait until ready"
        }
        .to_string()
    });
    let verify: Vec<String> = runbook
        .model
        .startup
        .as_ref()
        .map(|s| s.verify.iter().map(|v| v.value.clone()).collect())
        .unwrap_or_default();
    report
        .extra
        .insert("plan".into(), json!({"tiers": tiers, "verify": verify}));
    report.blocks.push(dry_run::table(rows));
    if !verify.is_empty() {
        report
            .blocks
            .push(Block::Line(format!("then verify: {}", verify.join(", "))));
    }
    report.results.push(CheckResult::dry_run("startup"));
}
