//! The status look (`opsbook status`): the project's containers (or a
//! stack's services) and the host's figures at a glance (`docker compose ps` plus `docker stats --no-stream`, `free`,
//! `uptime`, `df`), graded. Resource use is shown, not graded: daily-check
//! grades it.

use std::collections::BTreeSet;

use serde_json::json;

use crate::check::containers;
use crate::check::resources::{self, Resources};
use std::future::Future;

use crate::docker::Stack;
use crate::docker::{Container, Deployment, Usage};
use crate::error::Error;
use crate::grade::CheckResult;
use crate::host::HostSnapshot;
use crate::render::{Block, Report};
use crate::runbook::Runbook;

/// Looks at the deployment `connected` gives (compose or stack, resolved
/// above check/: `deploy::look`) while the host is read.
pub(crate) async fn run(
    runbook: &Runbook,
    connected: impl Future<Output = Result<Deployment, Error>>,
    report: &mut Report,
) -> Result<(), Error> {
    let disk_paths = runbook
        .plan
        .thresholds
        .disk_paths
        .iter()
        .map(Into::into)
        .collect::<Vec<_>>();
    // The host is read (here, or on the engine's host) while Docker answers.
    let host = tokio::spawn(HostSnapshot::measure(disk_paths, None));
    let deployment = connected.await?;
    if deployment.is_stack() {
        let stack = Stack::read(&deployment).await?;
        show_stack(runbook, &stack, report);
        show_host(runbook, host.await.ok(), report);
        return Ok(());
    }
    let mut containers = deployment.containers().await?;
    report
        .secrets
        .extend(containers.iter().flat_map(|c| c.secrets.clone()));
    let usage: Vec<(String, Usage)> = resources::sample(&deployment, &containers)
        .await
        .into_iter()
        .filter_map(|(id, usage)| Some((id, usage?)))
        .collect();
    let host = host.await.ok();
    // In startup order, as an operator reads the deployment; unlisted services last.
    let order: Vec<&String> = runbook.plan.startup.iter().flatten().collect();
    containers.sort_by_key(|c| {
        order
            .iter()
            .position(|s| **s == c.service)
            .unwrap_or(order.len())
    });

    let (rows, measured) = rows(runbook, &containers, &usage, report);
    show_table(runbook, &deployment, rows, report);
    report.extra.insert("containers".into(), json!(containers));
    report.extra.insert("resources".into(), json!(measured));
    show_host(runbook, host, report);
    Ok(())
}

/// One row per container (and per listed service without one), each
/// graded into `report`; the resource figures measured.
fn rows(
    runbook: &Runbook,
    containers: &[Container],
    usage: &[(String, Usage)],
    report: &mut Report,
) -> (Vec<Vec<String>>, Vec<Resources>) {
    let all_projects = runbook.plan.project.is_none();
    let now = jiff::Timestamp::now();
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    let mut measured = Vec::new();
    for container in containers {
        seen.insert(container.service.as_str());
        let (status, message) =
            containers::grade(container, runbook.is_critical(&container.service));
        let name = containers::result_name(container, all_projects);
        let figures = usage
            .iter()
            .find(|(id, _)| *id == container.id)
            .map(|(_, usage)| Resources::new(name.clone(), container, *usage));
        let cells = figures.as_ref().map_or_else(
            || ["-".to_string(), "-".into(), "-".into(), "-".into()],
            Resources::cells,
        );
        measured.extend(figures);
        let [cpu, memory, memory_percent, pids] = cells;
        rows.push(vec![
            name.clone(),
            container.name.clone(),
            status.to_string(),
            containers::state_word(container.state).to_string(),
            health_word(container),
            container.restart_count.to_string(),
            uptime(container, now),
            cpu,
            memory,
            memory_percent,
            pids,
            container.image.clone(),
        ]);
        report
            .results
            .push(CheckResult::new("containers", name, status, message));
    }
    for service in runbook.model.services.keys() {
        if !seen.contains(service.as_str()) {
            let (status, message) = containers::missing(runbook.is_critical(service));
            rows.push(vec![
                service.clone(),
                "-".into(),
                status.to_string(),
                "missing".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
            report
                .results
                .push(CheckResult::new("containers", service, status, message));
        }
    }

    (rows, measured)
}

fn show_host(runbook: &Runbook, host: Option<HostSnapshot>, report: &mut Report) {
    if let Some(host) = host {
        report.blocks.push(Block::Line(host.summary()));
        report
            .results
            .extend(crate::check::host::host(&host, &runbook.plan.thresholds));
        report.extra.insert("host".into(), json!(host));
    }
}

/// A stack's services (`docker stack services` plus `docker stack ps`):
/// replicas running against wanted, their tasks' states and nodes, tasks
/// that failed in the last 24 hours, graded.
fn show_stack(runbook: &Runbook, stack: &Stack, report: &mut Report) {
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    // Failed tasks of the last day: Swarm keeps older ones in its history.
    let day_ago = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24))
        .ok();
    for (line, result) in
        crate::check::tasks::services(runbook, stack, day_ago, "in the last 24 hours")
    {
        let row = match &line {
            Some(line) => vec![
                line.service.clone(),
                result.status.to_string(),
                match line.wanted {
                    Some(n) => format!("{}/{n}", line.running),
                    None => format!("{} (global)", line.running),
                },
                line.tasks.clone(),
                if line.nodes.is_empty() {
                    "-".into()
                } else {
                    line.nodes.join(", ")
                },
                line.failed.to_string(),
                line.image.clone(),
            ],
            None => {
                let mut row = vec![result.name.clone(), result.status.to_string()];
                row.extend(["missing", "-", "-", "-", "-"].map(String::from));
                row
            }
        };
        rows.push(row);
        lines.extend(line);
        report.results.push(result);
    }
    if rows.is_empty() {
        report.blocks.push(Block::Line(format!(
            "no services in stack `{}`",
            runbook.plan.project.as_deref().unwrap_or_default()
        )));
    } else {
        report.blocks.push(Block::Table {
            header: vec![
                "service", "status", "replicas", "tasks", "nodes", "failed", "image",
            ],
            rows,
        });
    }
    report.extra.insert("mode".into(), json!("swarm"));
    report.extra.insert("services".into(), json!(lines));
    report.extra.insert("tasks".into(), json!(stack.tasks));
}

/// The containers' table, or a line saying there are none.
fn show_table(
    runbook: &Runbook,
    deployment: &Deployment,
    rows: Vec<Vec<String>>,
    report: &mut Report,
) {
    if rows.is_empty() {
        report.blocks.push(Block::Line(match &runbook.plan.project {
            Some(project) => format!(
                "no containers of project `{project}` on {}",
                deployment.endpoint()
            ),
            None => format!("no compose containers on {}", deployment.endpoint()),
        }));
    } else {
        report.blocks.push(Block::Table {
            header: vec![
                "service",
                "container",
                "status",
                "state",
                "health",
                "restarts",
                "uptime",
                "cpu %",
                "mem",
                "mem %",
                "pids",
                "image",
            ],
            rows,
        });
    }
}

fn health_word(container: &Container) -> String {
    serde_json::to_value(container.health)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// How long a running container has been up: `3h 12m`.
fn uptime(container: &Container, now: jiff::Timestamp) -> String {
    match (container.state, container.started_at) {
        (crate::docker::State::Running, Some(started)) => {
            let seconds = now.as_second().saturating_sub(started.as_second()).max(0);
            crate::ui::human::seconds(seconds.unsigned_abs())
        }
        _ => "-".into(),
    }
}
