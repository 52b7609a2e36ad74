//! Where a stack's data lives. A Swarm volume is local to a node: the
//! engine of the node whose task mounts it made it there, and only that
//! engine can read or write it. A dump runs in a task's container, on
//! whichever node Swarm placed it. Both are found from the stack's tasks
//! before anything stops, so that a volume whose node cannot be reached
//! refuses the backup or restore with nothing changed.

use std::sync::Arc;

use crate::docker::{Deployment, SwarmRole, Task, TaskState};
use crate::error::Error;

use crate::docker::Stack;

/// The engine that holds a volume or runs a task: this one (the
/// manager's), or another node's.
#[derive(Clone)]
pub(crate) struct Home {
    /// The node's host name.
    pub node: String,
    /// Its engine, when it is not this one.
    pub engine: Option<Arc<Deployment>>,
}

impl Home {
    /// The engine to use, `here` when the home is this engine.
    pub(crate) fn engine<'a>(&'a self, here: &'a Deployment) -> &'a Deployment {
        self.engine.as_deref().unwrap_or(here)
    }
}

/// A volume of the stack: its full name and where it lives.
#[derive(Clone)]
pub(crate) struct VolumeHome {
    pub full: String,
    pub home: Home,
}

/// Finds the stack's tasks' homes, through `deployment` (a manager).
pub(crate) struct Homes<'a> {
    deployment: &'a Deployment,
    stack: Stack,
    /// This engine's node id.
    here: String,
}

impl<'a> Homes<'a> {
    pub(crate) async fn read(deployment: &'a Deployment) -> Result<Homes<'a>, Error> {
        let SwarmRole::Manager { node_id } = deployment.swarm_role().await? else {
            return Err(Error::Usage(format!(
                "the engine at {} is not a swarm manager: a stack's volumes and tasks are found through a manager",
                deployment.endpoint()
            )));
        };
        Ok(Homes {
            deployment,
            stack: Stack::read(deployment).await?,
            here: node_id,
        })
    }

    /// Volume `name` of the runbook (`STACK_name` as `docker stack
    /// deploy` names it, or its name as given for an external one): on
    /// the node of the tasks that mount it (those running, else the last
    /// that ran), or on this engine when no task mounts it. `None` when it
    /// is nowhere. Tasks on two nodes mean two different volumes of that
    /// name, which is refused; so is a node opsbook cannot reach.
    pub(crate) async fn volume(
        &self,
        name: &str,
        field: &str,
    ) -> Result<Option<VolumeHome>, Error> {
        let project = self.deployment.project().unwrap_or_default();
        let names = [format!("{project}_{name}"), name.to_string()];
        let chosen = match mounted_by(&self.stack.tasks, &names) {
            Ok(chosen) => chosen,
            Err(nodes) => {
                return Err(Error::Usage(format!(
                    "volume `{name}` ({field}) is mounted by tasks on nodes {}: each node has a volume of its own by that name; give the service a placement constraint so that its data lives on one node",
                    nodes.join(", ")
                )));
            }
        };
        let Some(task) = chosen else {
            // No task mounts it: a volume of this engine's, if any.
            for full in &names {
                if let Some(found) = self.deployment.find_volume(full).await? {
                    return Ok(Some(VolumeHome {
                        full: found,
                        home: self.home_of_here(),
                    }));
                }
            }
            return Ok(None);
        };
        let full = task
            .volumes
            .iter()
            .find(|v| names.contains(v))
            .cloned()
            .unwrap_or_else(|| names[0].clone());
        let home = self.home_of(task).await.map_err(|why| {
            Error::Usage(format!(
                "volume `{name}` ({field}) lives on swarm node `{}`, where its service's task runs, and cannot be reached: {why}",
                task.node
            ))
        })?;
        Ok(Some(VolumeHome { full, home }))
    }

    /// A running task of the runbook's service `service` and where it
    /// runs: what a dump is exec'd in. `None` when none runs.
    pub(crate) async fn running_task(
        &self,
        service: &str,
    ) -> Result<Option<(Home, String)>, String> {
        let Some(found) = self.stack.service(service) else {
            return Ok(None);
        };
        let Some(task) = crate::docker::running(&self.stack, found)
            .into_iter()
            .find(|t| t.container_id.is_some())
        else {
            return Ok(None);
        };
        let home = self.home_of(task).await?;
        Ok(task.container_id.clone().map(|id| (home, id)))
    }

    fn home_of_here(&self) -> Home {
        Home {
            node: self.here.clone(),
            engine: None,
        }
    }

    /// The stack as read for these homes.
    pub(crate) fn stack(&self) -> &Stack {
        &self.stack
    }

    /// Where `task` runs: this engine, or its node's (why not, when that
    /// node is down or opsbook was not told how to reach it).
    pub(crate) async fn home_of(&self, task: &Task) -> Result<Home, String> {
        if task.node_id == self.here {
            return Ok(Home {
                node: task.node.clone(),
                engine: None,
            });
        }
        if !task.node_up {
            return Err(format!("node `{}` is down", task.node));
        }
        let engine = self.deployment.on_node(&task.node).await?;
        Ok(Home {
            node: task.node.clone(),
            engine: Some(engine),
        })
    }
}

/// The task whose node holds a volume named one of `names`: one of those
/// that mount it and run (all on one node), else the last that ran; the
/// nodes, when the running ones are on more than one.
fn mounted_by<'a>(tasks: &'a [Task], names: &[String]) -> Result<Option<&'a Task>, Vec<String>> {
    let mounting: Vec<&Task> = tasks
        .iter()
        .filter(|t| t.volumes.iter().any(|v| names.contains(v)))
        .collect();
    let running: Vec<&Task> = mounting
        .iter()
        .copied()
        .filter(|t| t.desired == TaskState::Running && t.state == TaskState::Running)
        .collect();
    if running.is_empty() {
        return Ok(mounting.into_iter().max_by_key(|t| t.at));
    }
    let nodes = crate::docker::nodes_of(&running);
    if nodes.len() > 1 {
        return Err(nodes);
    }
    Ok(running.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(node: &str, state: TaskState, at: i64, volumes: &[&str]) -> Task {
        Task {
            id: format!("t-{node}-{at}"),
            service_id: "svc".into(),
            slot: Some(1),
            node_id: node.into(),
            node: node.into(),
            node_up: true,
            desired: state,
            state,
            message: String::new(),
            error: None,
            at: jiff::Timestamp::from_second(at).ok(),
            container_id: Some(format!("c-{node}-{at}")),
            exit_code: None,
            image: "img".into(),
            force_update: 0,
            secrets: Vec::new(),
            volumes: volumes.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn names() -> Vec<String> {
        vec!["shop_data".into(), "data".into()]
    }

    #[test]
    fn a_running_task_that_mounts_it_tells_its_node() {
        let tasks = [
            task("w1", TaskState::Shutdown, 100, &["shop_data"]),
            task("w2", TaskState::Running, 50, &["shop_data"]),
            task("w3", TaskState::Running, 200, &["shop_other"]),
        ];
        let chosen = mounted_by(&tasks, &names()).map(|t| t.map(|t| t.node.clone()));
        assert_eq!(chosen, Ok(Some("w2".to_string())));
    }

    #[test]
    fn with_none_running_the_last_that_ran_tells_it() {
        let tasks = [
            task("w1", TaskState::Shutdown, 100, &["data"]),
            task("w2", TaskState::Shutdown, 300, &["shop_data"]),
            task("w3", TaskState::Failed, 200, &["shop_data"]),
        ];
        let chosen = mounted_by(&tasks, &names()).map(|t| t.map(|t| t.node.clone()));
        assert_eq!(chosen, Ok(Some("w2".to_string())));
    }

    #[test]
    fn running_on_two_nodes_is_two_volumes_and_refused() {
        let tasks = [
            task("w1", TaskState::Running, 100, &["shop_data"]),
            task("w2", TaskState::Running, 100, &["shop_data"]),
        ];
        assert_eq!(
            mounted_by(&tasks, &names()).map(|t| t.is_some()),
            Err(vec!["w1".to_string(), "w2".to_string()])
        );
    }

    #[test]
    fn mounted_by_no_task_is_none() {
        let tasks = [task("w1", TaskState::Running, 100, &["shop_other"])];
        assert!(matches!(mounted_by(&tasks, &names()), Ok(None)));
    }
}
