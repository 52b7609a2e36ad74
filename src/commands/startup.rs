//! `opsbook startup`: the operators' startup page in one command. Pre-flight
//! (free memory and disk, config files, Docker), create missing containers
//! with `startup.up`, start the services tier by tier waiting for each to be
//! ready, then the `startup.verify` checks and the success criteria.
//! Services already running are left alone.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::check;
use crate::commands::backup::AsStep;
use crate::deploy;
use crate::deploy::lifecycle::Lifecycle;
use crate::docker::Stack;
use crate::docker::{ContainerRef, Deployment, State};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::host::command;
use crate::host::{DiskUsage, HostSnapshot};
use crate::redact::Redactor;
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::steps::hooks;
use crate::ui::progress::Progress;

use super::stack;

const UP_EXAMPLE: &str = "[docker, compose, up, -d, --no-start]";

pub struct Options {
    pub skip_preflight: bool,
    pub dry_run: bool,
    pub state_dir: std::path::PathBuf,
}

pub async fn run(
    runbook: &Runbook,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let project = runbook.require_project("startup")?;
    let backups = AsStep {
        runbook,
        state_dir: &options.state_dir,
        progress,
    };
    let hook_setup = backups.setup(true);
    let startup = runbook.model.startup.as_ref();
    let timeout = runbook.plan.startup_timeout;
    let deadline = Instant::now() + timeout;
    let redactor = runbook.redactor();

    let connected = Deployment::connect(Some(project.clone())).await;
    if !options.skip_preflight {
        let checks = preflight(runbook, connected.as_ref().err()).await;
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
    let before = startup.map(|s| s.before.as_slice()).unwrap_or_default();
    if !options.dry_run && !hooks::run(hook_setup, "startup.before", before, report).await {
        progress.say("a startup.before step failed: nothing was started");
        return Ok(());
    }
    let mut deployment = deployment;
    let mut swarm = deploy::resolve(runbook, &deployment).await?.is_swarm();
    if swarm {
        deployment = deploy::into_stack(deployment);
    }
    let mut containers = deployment.list().await?;
    let stack_names = if swarm {
        Stack::read(&deployment).await?.names()
    } else {
        Vec::new()
    };

    // Create: services the runbook lists that have no container (or, in a
    // stack, no service) yet.
    let missing = if swarm {
        runbook
            .model
            .services
            .keys()
            .filter(|s| !stack_names.contains(s))
            .cloned()
            .collect()
    } else {
        missing_services(runbook, &containers)
    };
    if !missing.is_empty() {
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
            return Ok(());
        };
        if options.dry_run {
            report.blocks.push(Block::Line(format!(
                "would run `{up}` in {} to create: {}",
                runbook.dir.display(),
                missing.join(", ")
            )));
        } else {
            progress.say(format!("creating {}: {up}", missing.join(", ")));
            let result = run_up(runbook, &up.argv(), timeout, redactor).await;
            let failed = result.status != Status::Ok;
            report.results.push(result);
            if failed {
                return Ok(());
            }
            // `startup.up` may have been `docker stack deploy`.
            if !swarm && deploy::resolve(runbook, &deployment).await?.is_swarm() {
                swarm = true;
                deployment = deploy::into_stack(deployment);
            }
            containers = deployment.list().await?;
        }
    }
    if swarm {
        let converged = stack::startup(
            runbook,
            &deployment,
            options.dry_run,
            deadline,
            progress,
            report,
        )
        .await?;
        if converged && !options.dry_run {
            verify(runbook, &deployment, hook_setup, report).await?;
        }
        return Ok(());
    }

    let deployed: Vec<String> = containers.iter().map(|c| c.service.clone()).collect();
    let tiers = runbook.plan.tiers_with(&deployed);
    if options.dry_run {
        dry_run(runbook, &tiers, &containers, report);
        return Ok(());
    }

    let lifecycle = Lifecycle::listening(&deployment, progress, "startup");
    let interrupt = lifecycle.interrupt.clone();
    let started = lifecycle
        .start(&tiers, &runbook.plan.depends_on, &containers, deadline)
        .await;
    let all_ready = started.iter().all(|r| r.status == Status::Ok);
    report.results.extend(started);
    if interrupt.is_raised() {
        report.results.push(CheckResult::interrupted("startup"));
        return Ok(());
    }
    if !all_ready {
        progress.say("the services that started are left running");
        return Ok(());
    }

    verify(runbook, &deployment, hook_setup, report).await
}

/// The runbook's checks, then the success criteria, then `startup.after`.
async fn verify(
    runbook: &Runbook,
    deployment: &Deployment,
    hook_setup: crate::steps::Setup<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    report
        .results
        .extend(check::verify_checks(runbook, deployment).await?);
    let containers = deployment.list().await?;
    report
        .results
        .extend(success_criteria(runbook, &containers).await);
    let startup = runbook.model.startup.as_ref();
    let after = startup.map(|s| s.after.as_slice()).unwrap_or_default();
    hooks::run(hook_setup, "startup.after", after, report).await;
    Ok(())
}

/// Free memory and disk, the listed files, and Docker: all must pass before anything starts.
async fn preflight(runbook: &Runbook, docker_error: Option<&Error>) -> Vec<CheckResult> {
    let preflight = runbook
        .model
        .startup
        .as_ref()
        .and_then(|s| s.preflight.as_ref());
    let mut results = Vec::new();
    results.push(match docker_error {
        None => CheckResult::new("preflight", "docker", Status::Ok, "Docker answers"),
        Some(e) => CheckResult::new("preflight", "docker", Status::Crit, e.to_string()),
    });
    let Some(preflight) = preflight else {
        return results;
    };
    let folders = runbook.data_folders();
    let (min_memory, min_disk) = (preflight.min_free_memory, preflight.min_free_disk);
    let measured = tokio::task::spawn_blocking(move || {
        let host = HostSnapshot::read(&[]);
        let disks: Vec<DiskUsage> = folders
            .iter()
            .map(|f| DiskUsage::read(&crate::state::files::nearest_existing(f)))
            .collect();
        (host, folders, disks)
    })
    .await;
    if let Ok((host, folders, disks)) = measured {
        if let Some(min) = min_memory {
            let free = host.memory.map(|m| m.free());
            results.push(enough("memory", free, min.0, "cannot read free memory"));
        }
        if let Some(min) = min_disk {
            for (folder, disk) in folders.iter().zip(disks) {
                let free = disk.usage.map(|u| u.free());
                let unreadable = disk.error.unwrap_or_default();
                results.push(enough(
                    &format!("disk {}", folder.display()),
                    free,
                    min.0,
                    &unreadable,
                ));
            }
        }
    }
    for file in &preflight.files {
        let path = runbook.resolve(&file.value);
        let name = format!("file {}", file.value);
        results.push(match std::fs::File::open(&path) {
            Ok(_) if path.is_file() => {
                CheckResult::new("preflight", name, Status::Ok, "present and readable")
            }
            Ok(_) => CheckResult::new(
                "preflight",
                name,
                Status::Crit,
                format!("`{}` is not a file", path.display()),
            ),
            Err(e) => CheckResult::new(
                "preflight",
                name,
                Status::Crit,
                format!("`{}`: {e}", path.display()),
            ),
        });
    }
    results
}

/// Crit unless `free` bytes reach `min`.
fn enough(name: &str, free: Option<u64>, min: u64, unreadable: &str) -> CheckResult {
    match free {
        Some(free) => {
            let status = if free >= min {
                Status::Ok
            } else {
                Status::Crit
            };
            let message = format!(
                "{} free, {} needed",
                crate::ui::human::bytes(free),
                crate::ui::human::bytes(min)
            );
            CheckResult::new("preflight", name, status, message)
        }
        None => CheckResult::new("preflight", name, Status::Crit, unreadable),
    }
}

fn missing_services(runbook: &Runbook, containers: &[ContainerRef]) -> Vec<String> {
    runbook
        .model
        .services
        .keys()
        .filter(|service| !containers.iter().any(|c| c.service == **service))
        .cloned()
        .collect()
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

/// Host memory below its crit threshold; no service restarting.
async fn success_criteria(runbook: &Runbook, containers: &[ContainerRef]) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let limits = runbook.plan.thresholds.memory;
    if let Ok(host) = tokio::task::spawn_blocking(|| HostSnapshot::read(&[])).await {
        results.push(match host.memory {
            Some(memory) if memory.percent() > limits.crit => CheckResult::new(
                "criteria",
                "memory",
                Status::Crit,
                format!(
                    "memory {:.1}% used, above crit {}%",
                    memory.percent(),
                    limits.crit
                ),
            ),
            Some(memory) => CheckResult::new(
                "criteria",
                "memory",
                Status::Ok,
                format!(
                    "memory {:.1}% used, below crit {}%",
                    memory.percent(),
                    limits.crit
                ),
            ),
            None => CheckResult::new(
                "criteria",
                "memory",
                Status::Unknown,
                "cannot read memory figures",
            ),
        });
    }
    let restarting: Vec<&str> = containers
        .iter()
        .filter(|c| c.state == State::Restarting)
        .map(|c| c.service.as_str())
        .collect();
    results.push(if restarting.is_empty() {
        CheckResult::new(
            "criteria",
            "restarting",
            Status::Ok,
            "no service is restarting",
        )
    } else {
        CheckResult::new(
            "criteria",
            "restarting",
            Status::Crit,
            format!("restarting: {}", restarting.join(", ")),
        )
    });
    results
}

/// The plan: each tier with what would happen to each service.
fn dry_run(
    runbook: &Runbook,
    tiers: &[Vec<String>],
    containers: &[ContainerRef],
    report: &mut Report,
) {
    let mut rows = Vec::new();
    for (n, tier) in tiers.iter().enumerate() {
        for service in tier {
            let mine: Vec<&ContainerRef> = containers
                .iter()
                .filter(|c| c.service == *service)
                .collect();
            let action = if mine.is_empty() {
                "create (startup.up), start, wait until ready"
            } else if mine.iter().all(|c| c.state == State::Running) {
                "already running: leave alone"
            } else {
                "start, wait until ready"
            };
            rows.push(vec![
                (n + 1).to_string(),
                service.clone(),
                action.to_string(),
            ]);
        }
    }
    let verify: Vec<String> = runbook
        .model
        .startup
        .as_ref()
        .map(|s| s.verify.iter().map(|v| v.value.clone()).collect())
        .unwrap_or_default();
    report
        .extra
        .insert("plan".into(), json!({"tiers": tiers, "verify": verify}));
    report.blocks.push(Block::Table {
        header: vec!["tier", "service", "action"],
        rows,
    });
    if !verify.is_empty() {
        report
            .blocks
            .push(Block::Line(format!("then verify: {}", verify.join(", "))));
    }
    report.results.push(CheckResult::new(
        "startup",
        "dry-run",
        Status::Ok,
        "dry run: nothing was changed",
    ));
}
