//! One look at a stack (its services and every task Swarm keeps), and how
//! each service stands against its spec. A service has converged when
//! exactly the tasks its mode wants run on its current spec (image and
//! forced update), none is still on its way and no task of an older spec
//! still runs. A task with a healthcheck is `running` only once it is
//! healthy (Swarm holds it in `starting` until then), so converged means
//! healthy too.

use std::collections::HashSet;

use super::{StackService, SwarmMode, Task, TaskState};
use crate::docker::{ContainerRef, Deployment, State};
use crate::error::Error;

/// One look at the stack: its services and every task Swarm keeps.
#[derive(Debug, Clone)]
pub(crate) struct Stack {
    pub services: Vec<StackService>,
    pub tasks: Vec<Task>,
}

impl Stack {
    pub(crate) async fn read(deployment: &Deployment) -> Result<Stack, Error> {
        let services = deployment.stack_services().await?;
        let tasks = deployment.stack_tasks(&services).await?;
        Ok(Stack { services, tasks })
    }

    /// The service the runbook calls `name`.
    pub(crate) fn service(&self, name: &str) -> Option<&StackService> {
        self.services.iter().find(|s| s.service == name)
    }

    pub(crate) fn tasks_of<'a>(
        &'a self,
        service: &'a StackService,
    ) -> impl Iterator<Item = &'a Task> {
        self.tasks
            .iter()
            .filter(move |t| t.service_id == service.id)
    }

    /// The runbook's names of the stack's services.
    pub(crate) fn names(&self) -> Vec<String> {
        self.services.iter().map(|s| s.service.clone()).collect()
    }
}

/// The tasks of `service` that run now, on the spec it has now.
pub(crate) fn running<'a>(stack: &'a Stack, service: &'a StackService) -> Vec<&'a Task> {
    stack
        .tasks_of(service)
        .filter(|t| {
            t.desired == TaskState::Running
                && t.state == TaskState::Running
                && t.is_current(service)
        })
        .collect()
}

/// The nodes `tasks` run on, each once, in order.
pub(crate) fn nodes_of(tasks: &[&Task]) -> Vec<String> {
    let mut seen = HashSet::new();
    tasks
        .iter()
        .filter(|t| seen.insert(t.node.clone()))
        .map(|t| t.node.clone())
        .collect()
}

/// How a service stands against its spec.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Standing {
    pub converged: bool,
    /// Tasks running on the current spec.
    pub running: usize,
    /// How many it wants (`None`: one per eligible node).
    pub wanted: Option<u64>,
    pub nodes: Vec<String>,
    /// Swarm gave up: the update was rolled back or paused.
    pub given_up: Option<String>,
    /// The latest trouble of a task (failed, rejected, or not placed).
    pub trouble: Option<String>,
}

impl Standing {
    /// `2/3 running on n1, n2`.
    pub(crate) fn summary(&self) -> String {
        let wanted = self
            .wanted
            .map_or_else(|| "global".to_string(), |n| n.to_string());
        let on = if self.nodes.is_empty() {
            String::new()
        } else {
            format!(" on {}", self.nodes.join(", "))
        };
        format!("{}/{wanted} running{on}", self.running)
    }
}

/// What a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Awaited {
    /// A change opsbook made: Swarm rolling it back is giving it up.
    Change,
    /// Swarm's rollback: its end is the point.
    Rollback,
}

/// How `service` stands in `stack`; trouble counts only from `since` on.
pub(crate) fn standing(
    stack: &Stack,
    service: &StackService,
    since: Option<jiff::Timestamp>,
) -> Standing {
    standing_for(stack, service, since, Awaited::Change)
}

pub(crate) fn standing_for(
    stack: &Stack,
    service: &StackService,
    since: Option<jiff::Timestamp>,
    awaited: Awaited,
) -> Standing {
    let up = running(stack, service);
    let tasks: Vec<_> = stack.tasks_of(service).collect();
    // Wanted (Swarm holds a replacement at `ready` through its restart
    // delay) but not running yet.
    let on_the_way = tasks
        .iter()
        .any(|t| t.is_wanted() && t.state != TaskState::Running && !t.state.is_over());
    // Tasks of an older spec, or told to stop, that still run; a down
    // node's tasks are not waited for (it cannot say they stopped).
    let lingering = tasks.iter().any(|t| {
        t.node_up
            && !t.state.is_over()
            && (t.desired != TaskState::Running || !t.is_current(service))
    });
    let (wanted, enough) = match service.mode {
        SwarmMode::Replicated(n) => (Some(n), up.len() as u64 == n),
        SwarmMode::Global => (None, !up.is_empty()),
        SwarmMode::Job => (Some(0), true),
    };
    // An update that ended before this wait (a scale does not start one)
    // is not this wait's; two seconds allow for the manager's clock.
    let margin = jiff::SignedDuration::from_secs(2);
    let stale = match (since, service.update_started) {
        (Some(since), Some(started)) => started < since.checked_sub(margin).unwrap_or(since),
        (Some(_), None) => true,
        (None, _) => false,
    };
    let update = service.update_state.as_deref().filter(|_| !stale);
    let given_up = match (update, awaited) {
        (Some("rollback_completed"), Awaited::Rollback) => None,
        (Some("rollback_completed" | "rollback_paused" | "paused"), _) => Some(format!(
            "Swarm {}: {}",
            match update {
                Some("paused") => "paused the update",
                _ => "rolled the update back",
            },
            service
                .update_message
                .as_deref()
                .unwrap_or("no reason given")
        )),
        _ => None,
    };
    let updating = matches!(update, Some("updating" | "rollback_started"));
    let trouble = tasks
        .iter()
        .filter(|t| since.is_none_or(|s| t.at.is_some_and(|at| at >= s)))
        .filter(|t| t.state.is_failure() || (t.is_wanted() && t.error.is_some()))
        .max_by_key(|t| t.at)
        .map(|t| {
            let why = t.error.as_deref().unwrap_or(&t.message);
            format!(
                "{} {} on {}: {why}",
                t.name(service),
                t.state.word(),
                t.node
            )
        });
    Standing {
        converged: enough && !on_the_way && !lingering && !updating,
        running: up.len(),
        wanted,
        nodes: nodes_of(&up),
        given_up,
        trouble,
    }
}

/// The deployment's containers as `list` gives them, and on a stack a
/// reference to every running task's container on another node too
/// (`with_remote_tasks`): what a dump is exec'd in, wherever it runs.
pub(crate) async fn containers_with_tasks(
    deployment: &Deployment,
) -> Result<Vec<ContainerRef>, Error> {
    let local = deployment.list().await?;
    if !deployment.is_stack() {
        return Ok(local);
    }
    let stack = Stack::read(deployment).await?;
    let project = deployment.project().unwrap_or_default();
    Ok(with_remote_tasks(&stack, &local, project))
}

/// `local` (this engine's containers of the stack), then a reference to
/// every running task's container on another node, which an exec check
/// reaches through that node's engine.
pub(crate) fn with_remote_tasks(
    stack: &Stack,
    local: &[ContainerRef],
    project: &str,
) -> Vec<ContainerRef> {
    let mut refs = local.to_vec();
    for service in &stack.services {
        for task in running(stack, service) {
            let Some(id) = &task.container_id else {
                continue;
            };
            if local.iter().any(|c| c.id == *id) {
                continue;
            }
            refs.push(ContainerRef {
                id: id.clone(),
                name: task.name(service),
                project: project.to_string(),
                service: service.service.clone(),
                state: State::Running,
                node: Some(task.node.clone()),
            });
        }
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::Task;

    fn service(mode: SwarmMode) -> StackService {
        StackService {
            id: "svc".into(),
            name: "shop_web".into(),
            service: "web".into(),
            mode,
            remembered: None,
            image: "web:2".into(),
            force_update: 1,
            secrets: Vec::new(),
            update_state: None,
            update_message: None,
            update_started: None,
        }
    }

    fn task(slot: u64, node: &str, desired: TaskState, state: TaskState, image: &str) -> Task {
        Task {
            id: format!("t{slot}{node}"),
            service_id: "svc".into(),
            slot: Some(slot),
            node_id: node.into(),
            node: node.into(),
            node_up: true,
            desired,
            state,
            message: String::new(),
            error: None,
            at: None,
            container_id: None,
            exit_code: None,
            image: image.into(),
            force_update: 1,
            secrets: Vec::new(),
            volumes: Vec::new(),
        }
    }

    fn stack(service: StackService, tasks: Vec<Task>) -> Stack {
        Stack {
            services: vec![service],
            tasks,
        }
    }

    use TaskState::{Failed, Running, Shutdown, Starting};

    #[test]
    fn every_wanted_task_running_on_the_current_spec_is_converged() {
        let s = stack(
            service(SwarmMode::Replicated(2)),
            vec![
                task(1, "n1", Running, Running, "web:2"),
                task(2, "n2", Running, Running, "web:2"),
                task(1, "n1", Shutdown, Shutdown, "web:1"),
            ],
        );
        let standing = standing(&s, &s.services[0], None);
        assert!(standing.converged);
        assert_eq!(standing.summary(), "2/2 running on n1, n2");
    }

    #[test]
    fn a_task_still_starting_or_an_old_one_still_running_is_not_converged() {
        let starting = stack(
            service(SwarmMode::Replicated(2)),
            vec![
                task(1, "n1", Running, Running, "web:2"),
                task(2, "n1", Running, Starting, "web:2"),
            ],
        );
        assert!(!standing(&starting, &starting.services[0], None).converged);
        let old = stack(
            service(SwarmMode::Replicated(1)),
            vec![
                task(1, "n1", Running, Running, "web:2"),
                task(1, "n2", Shutdown, Running, "web:1"),
            ],
        );
        assert!(!standing(&old, &old.services[0], None).converged);
        // ...unless the old one is on a node that is down.
        let mut down = old.clone();
        down.tasks[1].node_up = false;
        assert!(standing(&down, &down.services[0], None).converged);
    }

    #[test]
    fn scaled_to_zero_is_converged_once_no_task_runs() {
        let s = stack(
            service(SwarmMode::Replicated(0)),
            vec![task(1, "n1", Shutdown, Running, "web:2")],
        );
        assert!(!standing(&s, &s.services[0], None).converged);
        let s = stack(
            service(SwarmMode::Replicated(0)),
            vec![task(1, "n1", Shutdown, Shutdown, "web:2")],
        );
        assert!(standing(&s, &s.services[0], None).converged);
    }

    #[test]
    fn a_rollback_of_this_wait_is_given_up_but_an_old_one_is_not() {
        let now = jiff::Timestamp::now();
        let mut rolled = service(SwarmMode::Replicated(1));
        rolled.update_state = Some("rollback_completed".into());
        rolled.update_message = Some("update rolled back due to failure".into());
        rolled.update_started = Some(now);
        let s = stack(
            rolled.clone(),
            vec![task(1, "n1", Running, Running, "web:2")],
        );
        let fresh = standing(&s, &s.services[0], Some(now));
        assert_eq!(
            fresh.given_up.as_deref(),
            Some("Swarm rolled the update back: update rolled back due to failure")
        );
        // Waiting for a rollback, its end is no failure.
        let wanted = standing_for(&s, &s.services[0], Some(now), Awaited::Rollback);
        assert!(wanted.given_up.is_none() && wanted.converged);
        // One from an hour before this wait belongs to another run.
        if let Ok(later) = now.checked_add(jiff::SignedDuration::from_hours(1)) {
            assert!(standing(&s, &s.services[0], Some(later)).given_up.is_none());
        }
    }

    #[test]
    fn the_latest_failed_task_is_the_trouble() {
        let mut failed = task(1, "n2", Shutdown, Failed, "web:2");
        failed.error = Some("task: non-zero exit (3)".into());
        failed.at = Some(jiff::Timestamp::now());
        let s = stack(service(SwarmMode::Replicated(1)), vec![failed]);
        let standing = standing(&s, &s.services[0], None);
        assert_eq!(
            standing.trouble.as_deref(),
            Some("shop_web.1 failed on n2: task: non-zero exit (3)")
        );
        assert_eq!(standing.summary(), "0/1 running");
    }
}
