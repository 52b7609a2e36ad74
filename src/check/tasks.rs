//! How a stack's services grade: every task its spec wants running (and
//! so healthy) is OK; none running is crit for a critical service, warn
//! otherwise; fewer than wanted, an update under way or rolled back, and
//! tasks that failed since the last look are warnings. Tasks that failed
//! are Swarm's restarts: it replaces them with new tasks, and keeps the
//! failed ones in the task history, which is where they are counted.

use serde::Serialize;

use crate::docker::{StackService, SwarmMode, Task};
use crate::grade::{CheckResult, Status};
use crate::runbook::Runbook;

use crate::docker::{Stack, running};
use crate::docker::{Standing, standing};

/// One service as `status` and `daily-check` show it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServiceLine {
    pub service: String,
    pub name: String,
    pub mode: SwarmMode,
    pub running: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wanted: Option<u64>,
    pub nodes: Vec<String>,
    /// Its tasks' states, most common first: `2 running, 1 starting`.
    pub tasks: String,
    /// Tasks that failed (or were rejected) since the last look.
    pub failed: usize,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_state: Option<String>,
}

/// Each service of the stack graded (runbook order first), then every
/// service the runbook lists that the stack does not have. `since`: where
/// failed tasks start to count, else all Swarm keeps; `span` says so in
/// words (`since the last check`).
pub(crate) fn services(
    runbook: &Runbook,
    stack: &Stack,
    since: Option<jiff::Timestamp>,
    span: &str,
) -> Vec<(Option<ServiceLine>, CheckResult)> {
    let mut ordered: Vec<&StackService> = stack.services.iter().collect();
    ordered.sort_by_key(|s| runbook.plan.startup_position(&s.service));
    let mut graded = Vec::new();
    for service in ordered {
        let critical = runbook.is_critical(&service.service);
        let standing = standing(stack, service, None);
        let failed: Vec<&Task> = stack
            .tasks_of(service)
            .filter(|t| t.state.is_failure())
            .filter(|t| since.is_none_or(|s| t.at.is_some_and(|at| at > s)))
            .collect();
        let (status, message) = grade_one(service, &standing, &failed, critical, span);
        let line = ServiceLine {
            service: service.service.clone(),
            name: service.name.clone(),
            mode: service.mode,
            running: running(stack, service).len(),
            wanted: standing.wanted,
            nodes: standing.nodes.clone(),
            tasks: task_states(stack, service),
            failed: failed.len(),
            image: service.image.clone(),
            update_state: service.update_state.clone(),
        };
        graded.push((
            Some(line),
            CheckResult::new("services", &service.service, status, message)
                .with_value(failed.len() as f64, "count"),
        ));
    }
    for name in runbook.model.services.keys() {
        if stack.service(name).is_none() {
            let status = if runbook.is_critical(name) {
                Status::Crit
            } else {
                Status::Warn
            };
            let message = format!(
                "no service `{name}` in stack `{}`",
                runbook.plan.project.as_deref().unwrap_or_default()
            );
            graded.push((None, CheckResult::new("services", name, status, message)));
        }
    }
    graded
}

fn grade_one(
    service: &StackService,
    standing: &Standing,
    failed: &[&Task],
    critical: bool,
    span: &str,
) -> (Status, String) {
    let bad = if critical { Status::Crit } else { Status::Warn };
    let summary = standing.summary();
    let (mut status, mut message) = match (service.mode, standing.running) {
        (SwarmMode::Job, _) => (Status::Ok, "a job: runs to completion".to_string()),
        (SwarmMode::Replicated(0), _) => match service.remembered {
            Some(n) => (
                bad,
                format!(
                    "scaled to 0 by opsbook shutdown ({} to start again)",
                    crate::ui::human::count(n as usize, "replica")
                ),
            ),
            None => (bad, "scaled to 0 replicas".to_string()),
        },
        (_, 0) => (bad, format!("{summary}: no task runs")),
        _ if standing.converged => (Status::Ok, summary),
        (SwarmMode::Replicated(n), up) if (up as u64) < n => (
            Status::Warn,
            format!("{summary}: {} missing", n - up as u64),
        ),
        _ => (Status::Warn, format!("{summary}: not converged")),
    };
    if let Some(trouble) = standing.trouble.as_ref().filter(|_| status != Status::Ok) {
        message.push_str(&format!(" ({trouble})"));
    }
    match service.update_state.as_deref() {
        Some("updating" | "rollback_started") => {
            status = status.max(Status::Warn);
            message.push_str("; an update is rolling");
        }
        Some("rollback_completed" | "paused" | "rollback_paused") => {
            status = status.max(Status::Warn);
            message.push_str(&format!(
                "; the last update was {}: {}",
                if service.update_state.as_deref() == Some("paused") {
                    "paused"
                } else {
                    "rolled back"
                },
                service
                    .update_message
                    .as_deref()
                    .unwrap_or("no reason given")
            ));
        }
        _ => {}
    }
    if let Some(latest) = failed.iter().max_by_key(|t| t.at) {
        status = status.max(Status::Warn);
        let why = latest.error.as_deref().unwrap_or(&latest.message);
        message.push_str(&format!(
            "; {} failed {span} (latest: {} on {}: {why})",
            crate::ui::human::count(failed.len(), "task"),
            latest.name(service),
            latest.node
        ));
    }
    (status, message)
}

/// The states of the tasks Swarm wants running, most common first.
fn task_states(stack: &Stack, service: &StackService) -> String {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for task in stack.tasks_of(service).filter(|t| !t.state.is_over()) {
        let word = task.state.word();
        match counts.iter_mut().find(|(w, _)| *w == word) {
            Some((_, n)) => *n += 1,
            None => counts.push((word, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    if counts.is_empty() {
        return "-".into();
    }
    counts
        .iter()
        .map(|(word, n)| format!("{n} {word}"))
        .collect::<Vec<_>>()
        .join(", ")
}
