//! How a container's state grades: running and healthy is OK; down,
//! restarting or unhealthy is crit for a critical service, warn otherwise.

use crate::docker::{Container, Health, State};
use crate::grade::{CheckResult, Status};
use crate::runbook::Runbook;

/// The status and a short description of one container.
pub(crate) fn grade(container: &Container, critical: bool) -> (Status, String) {
    let bad = if critical { Status::Crit } else { Status::Warn };
    match (container.state, container.health) {
        (State::Running, Health::Healthy) => (Status::Ok, "running, healthy".into()),
        (State::Running, Health::None) => (Status::Ok, "running".into()),
        (State::Running, Health::Starting) => {
            (Status::Warn, "running, health check starting".into())
        }
        (State::Running, Health::Unhealthy) => {
            let output = container
                .health_output
                .as_deref()
                .map(|o| format!(": {}", first_line(o)))
                .unwrap_or_default();
            (bad, format!("running but unhealthy{output}"))
        }
        (State::Restarting, _) => (
            bad,
            format!("restarting (restarted {} times)", container.restart_count),
        ),
        (State::Exited, _) | (State::Dead, _) => {
            let code = container
                .exit_code
                .map(|c| format!(" with code {c}"))
                .unwrap_or_default();
            (bad, format!("{}{code}", state_word(container.state)))
        }
        (state, _) => (bad, format!("{} (not running)", state_word(state))),
    }
}

/// The service name, or `project/service` when looking at every project;
/// a Swarm task's container by its task (`web.1`), as a service has many.
pub(crate) fn result_name(container: &Container, all_projects: bool) -> String {
    if let Some(task) = &container.task {
        return task.clone();
    }
    let service = if container.service.is_empty() {
        container.name.as_str()
    } else {
        container.service.as_str()
    };
    if all_projects {
        format!("{}/{service}", container.project)
    } else {
        service.to_string()
    }
}

/// The grade of a service the runbook lists that has no container at all.
pub(crate) fn missing(critical: bool) -> (Status, String) {
    let status = if critical { Status::Crit } else { Status::Warn };
    (status, "no container for this service".into())
}

pub(crate) fn state_word(state: State) -> &'static str {
    match state {
        State::Created => "created",
        State::Running => "running",
        State::Paused => "paused",
        State::Restarting => "restarting",
        State::Removing => "removing",
        State::Exited => "exited",
        State::Dead => "dead",
        State::Unknown => "unknown",
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// Every listed service must have a running (and, with a healthcheck,
/// healthy) container whose restart count has not grown since the last run;
/// containers the runbook does not list are held to the same.
pub(crate) fn grade_all(
    runbook: &Runbook,
    containers: &[Container],
    previous: Option<&crate::state::Record>,
) -> Vec<CheckResult> {
    let all_projects = runbook.plan.project.is_none();
    let mut results = Vec::new();
    for container in containers {
        let critical = runbook.is_critical(&container.service);
        let (mut status, mut message) = grade(container, critical);
        let before = previous
            .and_then(|p| p.restarts.get(&container.name))
            .copied();
        if let Some(before) = before
            && container.restart_count > before
        {
            status = status.max(Status::Warn);
            message.push_str(&format!(
                "; restarted {} times since the last check",
                container.restart_count - before
            ));
        }
        let name = result_name(container, all_projects);
        results.push(
            CheckResult::new("containers", name, status, message)
                .with_value(container.restart_count as f64, "count"),
        );
    }
    for service in runbook.model.services.keys() {
        if !containers.iter().any(|c| c.service == *service) {
            let (status, message) = missing(runbook.is_critical(service));
            results.push(CheckResult::new("containers", service, status, message));
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(state: State, health: Health) -> Container {
        Container {
            secrets: Vec::new(),
            id: "id".into(),
            name: "shop-db-1".into(),
            project: "shop".into(),
            service: "db".into(),
            state,
            health,
            health_output: Some("pg_isready: no response\nmore".into()),
            failing_streak: 0,
            restart_count: 3,
            exit_code: Some(137),
            image: "postgres".into(),
            started_at: None,
            finished_at: None,
            memory_limit: None,
            cpu_limit: None,
            pid: None,
            task: None,
        }
    }

    #[test]
    fn critical_services_are_crit_when_down() {
        let down = container(State::Exited, Health::None);
        assert_eq!(
            grade(&down, true),
            (Status::Crit, "exited with code 137".into())
        );
        assert_eq!(grade(&down, false).0, Status::Warn);
    }

    #[test]
    fn unhealthy_quotes_the_healthcheck() {
        let sick = container(State::Running, Health::Unhealthy);
        assert_eq!(
            grade(&sick, true),
            (
                Status::Crit,
                "running but unhealthy: pg_isready: no response".into()
            )
        );
    }

    #[test]
    fn running_is_ok_with_or_without_a_healthcheck() {
        assert_eq!(
            grade(&container(State::Running, Health::Healthy), true).0,
            Status::Ok
        );
        assert_eq!(
            grade(&container(State::Running, Health::None), true).0,
            Status::Ok
        );
        assert_eq!(missing(true).0, Status::Crit);
    }
}
