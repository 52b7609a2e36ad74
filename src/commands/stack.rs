//! `startup`, `shutdown`, `restart`, `update` and `rollback` when the
//! project is a Swarm stack (`swarm::resolve`): the same commands, the same
//! confirmation, dry run, hooks and results, done on Swarm's own
//! mechanisms: scaling services, a forced update for a restart, Swarm's
//! rolling update and rollback, tier by tier, each tier waiting until Swarm
//! has converged (`swarm::lifecycle`, `swarm::update`).

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use crate::check;
use crate::commands::backup::AsStep;
use crate::deploy::gated::Wanted;
use crate::deploy::rolling::SwarmUpdate;
use crate::deploy::scale::SwarmLifecycle;
use crate::docker::Stack;
use crate::docker::standing;
use crate::docker::{Deployment, SwarmMode};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::steps::{self, Setup, TakeBackup};
use crate::ui::confirm::confirm;
use crate::ui::progress::Progress;

/// Startup of a stack whose services exist (`startup.up` has run when any
/// were missing): each tier scaled up to its replicas and waited for.
/// Whether every service converged.
pub async fn startup(
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
        let rows = rows(&tiers, |name| match stack.service(name) {
            None => "missing: create it (startup.up)".into(),
            Some(s) if s.mode == SwarmMode::Replicated(0) => match s.remembered {
                Some(n) => format!("scale to {n}, wait until converged"),
                None => "scaled to 0, nothing remembered: left at 0".into(),
            },
            Some(s) if standing(&stack, s, None).converged => "converged: leave alone".into(),
            Some(_) => "wait until converged".into(),
        });
        plan(report, "startup", &tiers, rows);
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

/// Shutdown of a stack: each tier (reverse order) scaled to zero, its
/// replicas remembered on the service, waited until no task runs.
pub async fn shutdown(
    runbook: &Runbook,
    deployment: &Deployment,
    hook_setup: Setup<'_>,
    options: &super::shutdown::Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let (dry_run, yes) = (options.dry_run, options.yes);
    let project = runbook.require_project("shutdown")?;
    let stack = Stack::read(deployment).await?;
    let tiers: Vec<Vec<String>> = runbook
        .plan
        .tiers_with(&stack.names())
        .into_iter()
        .rev()
        .collect();
    let up: Vec<&str> = stack
        .services
        .iter()
        .filter(|s| s.mode != SwarmMode::Replicated(0))
        .map(|s| s.service.as_str())
        .collect();
    if dry_run {
        let rows = rows(&tiers, |name| match stack.service(name) {
            Some(s) => match s.mode {
                SwarmMode::Replicated(0) => "already at 0: leave alone".into(),
                SwarmMode::Replicated(n) => format!("scale {n} → 0, remember {n}"),
                SwarmMode::Global => "global: cannot be scaled (refused)".into(),
                SwarmMode::Job => "a job: leave alone".into(),
            },
            None => "missing: nothing to do".into(),
        });
        plan(report, "shutdown", &tiers, rows);
        return Ok(());
    }
    if up.is_empty() {
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
    if !confirm(
        &format!(
            "scale {} of stack `{project}` to 0",
            crate::ui::human::count(up.len(), "service")
        ),
        yes,
    )? {
        return Err(Error::Usage(
            "shutdown cancelled: nothing was stopped".into(),
        ));
    }
    if options.backup && !super::shutdown::backup_first(runbook, options, progress, report).await? {
        return Ok(());
    }
    let hooks = runbook.model.shutdown.as_ref();
    let before = hooks.map(|h| h.before.as_slice()).unwrap_or_default();
    if !steps::hooks::run(hook_setup, "shutdown.before", before, report).await {
        report.results.push(CheckResult::new(
            "shutdown",
            "aborted",
            Status::Crit,
            "a shutdown.before step failed, so nothing was stopped",
        ));
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
    if lifecycle.interrupt.is_raised() {
        report.results.push(CheckResult::interrupted("shutdown"));
    } else {
        let after = hooks.map(|h| h.after.as_slice()).unwrap_or_default();
        steps::hooks::run(hook_setup, "shutdown.after", after, report).await;
    }
    Ok(())
}

/// Restart of a stack's `targets` (already resolved by `restart`): a
/// forced update of each tier, waiting until Swarm has rolled it.
pub async fn restart(
    runbook: &Runbook,
    deployment: &Deployment,
    targets: &[String],
    dry_run: bool,
    yes: bool,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let project = runbook.require_project("restart")?;
    let tiers = runbook.plan.start_order(targets);
    if dry_run {
        let rows = rows(&tiers, |_| {
            "forced update (Swarm rolls its tasks), wait until converged".into()
        });
        plan(report, "restart", &tiers, rows);
        return Ok(());
    }
    if !confirm(
        &format!(
            "redeploy {} of stack `{project}`",
            crate::ui::human::count(targets.len(), "service")
        ),
        yes,
    )? {
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

/// How an update of a stack is asked for: by `update` or `rollback`.
pub struct Asked<'a> {
    pub section: &'static str,
    pub wanted: &'a [Wanted],
    pub dry_run: bool,
    pub yes: bool,
    /// The state folder of a backup taken first (`update.backup`).
    pub backup_first: Option<&'a Path>,
}

/// Update of a stack's services (`wanted`, known to be its): Swarm's
/// rolling update tier by tier, all or nothing (`swarm::update`).
pub async fn update(
    runbook: &Runbook,
    deployment: &Deployment,
    asked: Asked<'_>,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let Asked {
        section,
        wanted,
        dry_run,
        yes,
        backup_first,
    } = asked;
    let project = runbook.require_project(section)?;
    let stack = Stack::read(deployment).await?;
    let names: Vec<String> = wanted.iter().map(|w| w.service.clone()).collect();
    let tiers = runbook.plan.start_order(&names);
    let to = |name: &str| {
        let now = stack.service(name).map_or("-", |s| s.image.as_str());
        let image = wanted
            .iter()
            .find(|w| w.service == name)
            .and_then(|w| w.image.as_deref());
        match image {
            Some(image) => {
                format!("{now} → {image} (Swarm's rolling update), wait until converged")
            }
            None => format!(
                "{now} again (a forced update, the name resolved anew), wait until converged"
            ),
        }
    };
    if dry_run {
        let rows = rows(&tiers, to);
        plan(report, section, &tiers, rows);
        return Ok(());
    }
    let lines: Vec<String> = tiers
        .iter()
        .flatten()
        .map(|n| format!("{n}: {}", to(n)))
        .collect();
    if !confirm(
        &format!("{section} on stack `{project}`: {}", lines.join("; ")),
        yes,
    )? {
        return Err(Error::Usage(format!(
            "{section} cancelled: nothing was changed"
        )));
    }
    if let Some(state_dir) = backup_first {
        let backups = AsStep {
            runbook,
            state_dir,
            progress,
        };
        let (status, message) = backups.take().await;
        if status != Status::Ok {
            report.results.push(CheckResult::new(
                section,
                "backup first",
                Status::Crit,
                format!("{message}: nothing was changed"),
            ));
            return Ok(());
        }
        report.results.push(CheckResult::new(
            section,
            "backup first",
            Status::Ok,
            message,
        ));
    }
    let updater = SwarmUpdate {
        deployment,
        progress,
        interrupt: Interrupt::listen(),
        section,
    };
    let pairs: Vec<(String, Option<String>)> = wanted
        .iter()
        .map(|w| (w.service.clone(), w.image.clone()))
        .collect();
    let updated = updater.run(&runbook.plan, &pairs).await;
    let all = updated.iter().all(|r| r.status == Status::Ok);
    report.results.extend(updated);
    if updater.interrupt.is_raised() {
        report.results.push(CheckResult::interrupted(section));
        return Ok(());
    }
    // Converged is not yet right: the verify checks, as after a compose
    // update, and a failed one rolls back what this update changed.
    if all {
        let checks = check::verify_checks(runbook, deployment).await?;
        let failed = checks.iter().any(|r| r.status != Status::Ok);
        report.results.extend(checks);
        if failed {
            let names: Vec<String> = pairs.into_iter().map(|(name, _)| name).collect();
            report
                .results
                .extend(updater.roll_back_all(&runbook.plan, &names).await);
        }
    }
    Ok(())
}

/// `rollback SERVICE` (to `previous`) of a stack: Swarm's own rollback to
/// the spec before the service's last update, waited for.
pub async fn roll_back(
    runbook: &Runbook,
    deployment: &Deployment,
    service: &str,
    dry_run: bool,
    yes: bool,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let project = runbook.require_project("rollback")?;
    let stack = Stack::read(deployment).await?;
    if stack.service(service).is_none() {
        return Err(Error::Usage(format!(
            "unknown service `{service}` (services are: {})",
            stack.names().join(", ")
        )));
    }
    let tiers = vec![vec![service.to_string()]];
    if dry_run {
        let rows = rows(&tiers, |_| {
            "Swarm's rollback to the spec before its last update, wait until converged".into()
        });
        plan(report, "rollback", &tiers, rows);
        return Ok(());
    }
    if !confirm(
        &format!("roll `{service}` of stack `{project}` back to its spec before its last update"),
        yes,
    )? {
        return Err(Error::Usage(
            "rollback cancelled: nothing was changed".into(),
        ));
    }
    let updater = SwarmUpdate {
        deployment,
        progress,
        interrupt: Interrupt::listen(),
        section: "rollback",
    };
    report
        .results
        .extend(updater.roll_back(&runbook.plan, service).await);
    Ok(())
}

fn rows(tiers: &[Vec<String>], action: impl Fn(&str) -> String) -> Vec<Vec<String>> {
    tiers
        .iter()
        .enumerate()
        .flat_map(|(n, tier)| {
            let action = &action;
            tier.iter()
                .map(move |s| vec![(n + 1).to_string(), s.clone(), action(s)])
        })
        .collect()
}

/// A dry run's table and plan, and the result saying nothing changed.
fn plan(report: &mut Report, section: &str, tiers: &[Vec<String>], rows: Vec<Vec<String>>) {
    report
        .extra
        .insert("plan".into(), json!({"tiers": tiers, "mode": "swarm"}));
    report.blocks.push(Block::Table {
        header: vec!["tier", "service", "action"],
        rows,
    });
    report.results.push(CheckResult::new(
        section,
        "dry-run",
        Status::Ok,
        "dry run: nothing was changed",
    ));
}
