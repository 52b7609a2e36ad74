//! Docker Swarm as opsbook sees it: the services of one stack (the
//! runbook's project, `com.docker.stack.namespace`), their tasks with the
//! node each runs on, and the two changes opsbook makes to a service,
//! scaling it and forcing it to redeploy its tasks. Swarm does the work
//! (placement, rolling, health gates); callers wait for it to converge.
//!
//! A service's spec is changed the way the docker CLI changes it: inspected,
//! edited, sent back with the version it was read at. A spec changed by
//! someone else in between is read again and the change made once more.

use std::collections::HashMap;
use std::sync::Arc;

use bollard::models::{Node, Service, TaskState as Wire};
use bollard::query_parameters::{
    ListNodesOptions, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
};
use serde::Serialize;

mod spec;
mod stack;

pub(crate) use stack::{
    Awaited, Stack, Standing, containers_with_tasks, nodes_of, running, standing, standing_for,
    with_remote_tasks,
};

use super::containers::timestamp;
use super::{Deployment, Engine, STACK_LABEL};
use crate::error::Error;

/// The label a scaled-down service keeps its replicas in, for the startup
/// that scales it up again (kept on the service itself, so any manager,
/// and any machine opsbook runs on, finds it).
pub(crate) const REPLICAS_LABEL: &str = "opsbook.replicas";

/// The engines of a swarm's other nodes, by host name, connected to on
/// first use and kept for the rest of the run.
#[derive(Default)]
pub(super) struct Nodes {
    engines: HashMap<String, Engine>,
    connected: tokio::sync::Mutex<HashMap<String, Arc<Deployment>>>,
}

impl Nodes {
    pub(super) fn new(engines: HashMap<String, Engine>) -> Nodes {
        Nodes {
            engines,
            connected: Default::default(),
        }
    }
}

/// How a service places its tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SwarmMode {
    /// This many tasks, wherever they fit.
    Replicated(u64),
    /// One task on every node that may run it.
    Global,
    /// A job (`replicated-job`, `global-job`): runs to completion.
    Job,
}

/// One service of the stack.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StackService {
    pub id: String,
    /// Swarm's name for it: `STACK_SERVICE`.
    pub name: String,
    /// The runbook's name for it: without the stack's prefix.
    pub service: String,
    pub mode: SwarmMode,
    /// The replicas it had before opsbook scaled it to zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remembered: Option<u64>,
    pub image: String,
    /// Bumped to make Swarm redeploy every task (a forced update).
    #[serde(skip)]
    pub force_update: u64,
    /// The ids of the secrets its tasks are given.
    #[serde(skip)]
    pub secrets: Vec<String>,
    /// Swarm's rolling update, while one runs or after it ended:
    /// `updating`, `completed`, `rollback_completed`…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_message: Option<String>,
    /// When that update began (the manager's clock).
    #[serde(skip)]
    pub update_started: Option<jiff::Timestamp>,
}

/// A task's state, as Swarm names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TaskState {
    New,
    Allocated,
    Pending,
    Assigned,
    Accepted,
    Preparing,
    Ready,
    Starting,
    Running,
    Complete,
    Shutdown,
    Failed,
    Rejected,
    Remove,
    Orphaned,
    Unknown,
}

impl TaskState {
    /// Whether a task in this state is over and will not run again.
    pub(crate) fn is_over(self) -> bool {
        matches!(
            self,
            TaskState::Complete
                | TaskState::Shutdown
                | TaskState::Failed
                | TaskState::Rejected
                | TaskState::Remove
                | TaskState::Orphaned
        )
    }

    /// Whether it ended badly: what Swarm's "restarts" are.
    pub(crate) fn is_failure(self) -> bool {
        matches!(self, TaskState::Failed | TaskState::Rejected)
    }

    pub(crate) fn word(self) -> &'static str {
        match self {
            TaskState::New => "new",
            TaskState::Allocated => "allocated",
            TaskState::Pending => "pending",
            TaskState::Assigned => "assigned",
            TaskState::Accepted => "accepted",
            TaskState::Preparing => "preparing",
            TaskState::Ready => "ready",
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Complete => "complete",
            TaskState::Shutdown => "shutdown",
            TaskState::Failed => "failed",
            TaskState::Rejected => "rejected",
            TaskState::Remove => "remove",
            TaskState::Orphaned => "orphaned",
            TaskState::Unknown => "unknown",
        }
    }
}

/// One task of a service: a slot (or a node, for a global service) and
/// the container Swarm runs for it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Task {
    pub id: String,
    pub service_id: String,
    /// Its slot, for a replicated service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<u64>,
    pub node_id: String,
    /// The node's host name (its id when the node is gone).
    pub node: String,
    /// Whether its node is up (`ready`): a down node's tasks are in
    /// whatever state it last reported, which is no longer true.
    #[serde(skip)]
    pub node_up: bool,
    /// What Swarm wants it to be (`running`, `shutdown`).
    pub desired: TaskState,
    pub state: TaskState,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it entered its state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    pub image: String,
    #[serde(skip)]
    pub force_update: u64,
    #[serde(skip)]
    pub secrets: Vec<String>,
    /// The named volumes its container mounts (their full names).
    #[serde(skip)]
    pub volumes: Vec<String>,
}

impl Task {
    /// Whether Swarm wants it to run (`running`, or `ready` while it
    /// waits out the restart delay).
    pub(crate) fn is_wanted(&self) -> bool {
        matches!(self.desired, TaskState::Running | TaskState::Ready)
    }

    /// Whether it runs the service's current spec (its image, its
    /// secrets, and the forced update it was made for).
    pub(crate) fn is_current(&self, service: &StackService) -> bool {
        self.image == service.image
            && self.force_update == service.force_update
            && self.secrets == service.secrets
    }

    /// Swarm's name for it: `STACK_SERVICE.SLOT`, or `.NODE` for a global task.
    pub(crate) fn name(&self, service: &StackService) -> String {
        match self.slot {
            Some(slot) => format!("{}.{slot}", service.name),
            None => format!("{}.{}", service.name, self.node),
        }
    }
}

/// This engine's place in a swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SwarmRole {
    /// Not in a swarm.
    None,
    /// A worker: it runs tasks, but cannot see or change services.
    Worker,
    /// A manager: services can be listed and changed through it.
    Manager { node_id: String },
}

impl Deployment {
    /// The stack on swarm node `node` (its host name), through that node's
    /// own engine; why not, when opsbook was not told how to reach it.
    pub(crate) async fn on_node(&self, node: &str) -> Result<Arc<Deployment>, String> {
        let mut connected = self.nodes.connected.lock().await;
        if let Some(deployment) = connected.get(node) {
            return Ok(deployment.clone());
        }
        let Some(engine) = self.nodes.engines.get(node) else {
            return Err(format!(
                "it runs on swarm node `{node}`, whose engine opsbook cannot reach: list `{node}` in the fleet file ($OPSBOOK_FLEET) to reach it"
            ));
        };
        let deployment = Deployment::connect_to(engine, self.project.clone())
            .await
            .map_err(|e| format!("it runs on swarm node `{node}`: {e}"))?
            .into_stack();
        let deployment = Arc::new(deployment);
        connected.insert(node.to_string(), deployment.clone());
        Ok(deployment)
    }

    /// Whether this engine is in a swarm, and as what.
    pub(crate) async fn swarm_role(&self) -> Result<SwarmRole, Error> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| self.failed("reading the engine's info", e))?;
        let Some(swarm) = info.swarm else {
            return Ok(SwarmRole::None);
        };
        let active = swarm
            .local_node_state
            .is_some_and(|s| s == bollard::models::LocalNodeState::ACTIVE);
        Ok(match (active, swarm.control_available, swarm.node_id) {
            (true, Some(true), Some(node_id)) => SwarmRole::Manager { node_id },
            (true, _, _) => SwarmRole::Worker,
            _ => SwarmRole::None,
        })
    }

    /// The services of the stack named as the project, by name.
    pub(crate) async fn stack_services(&self) -> Result<Vec<StackService>, Error> {
        let Some(stack) = &self.project else {
            return Ok(Vec::new());
        };
        let filters = HashMap::from([("label", vec![format!("{STACK_LABEL}={stack}")])]);
        let options = ListServicesOptionsBuilder::new().filters(&filters).build();
        let services = self
            .docker
            .list_services(Some(options))
            .await
            .map_err(|e| self.failed("listing the stack's services", e))?;
        let mut services: Vec<StackService> = services
            .into_iter()
            .filter_map(|s| service_from(s, stack))
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(services)
    }

    /// Every task of `services` Swarm still keeps (its task history
    /// included), with the host name of its node.
    pub(crate) async fn stack_tasks(&self, services: &[StackService]) -> Result<Vec<Task>, Error> {
        if services.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = services.iter().map(|s| s.id.clone()).collect();
        let filters = HashMap::from([("service", ids)]);
        let options = ListTasksOptionsBuilder::new().filters(&filters).build();
        let (tasks, nodes) = tokio::join!(
            self.docker.list_tasks(Some(options)),
            self.docker.list_nodes(None::<ListNodesOptions>)
        );
        let tasks = tasks.map_err(|e| self.failed("listing the stack's tasks", e))?;
        let names: HashMap<String, (String, bool)> = nodes
            .map_err(|e| self.failed("listing the swarm's nodes", e))?
            .into_iter()
            .filter_map(node_name)
            .collect();
        let mut tasks: Vec<Task> = tasks
            .into_iter()
            .filter_map(|t| task_from(t, &names))
            .collect();
        tasks.sort_by_key(|t| (t.service_id.clone(), t.slot, t.node.clone(), t.at));
        Ok(tasks)
    }

    /// Streams the log of every task of a service (on every node, through
    /// this manager) written since `since`, chunk by chunk.
    pub(crate) async fn scan_service_logs(
        &self,
        service_id: &str,
        since: jiff::Timestamp,
        on_chunk: impl FnMut(&[u8]),
    ) -> Result<(), Error> {
        let stream = self
            .docker
            .service_logs(service_id, Some(super::logs::logs_since(since)));
        self.drain_logs(stream, "reading a service's logs", on_chunk)
            .await
    }

    /// The last `lines` lines the tasks of a service logged (every node,
    /// through this manager), at most `cap` bytes of them.
    pub(crate) async fn tail_service_logs(
        &self,
        service_id: &str,
        lines: u32,
        cap: usize,
    ) -> Result<Vec<u8>, Error> {
        let options = bollard::query_parameters::LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let stream = self.docker.service_logs(service_id, Some(options));
        let mut kept = Vec::new();
        self.drain_logs(stream, "reading a service's logs", |bytes| {
            let room = cap.saturating_sub(kept.len());
            kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        })
        .await?;
        Ok(kept)
    }
}

fn service_from(service: Service, stack: &str) -> Option<StackService> {
    let spec = service.spec?;
    let name = spec.name.clone()?;
    let labels = spec.labels.unwrap_or_default();
    let mode = match &spec.mode {
        Some(m) if m.global.is_some() => SwarmMode::Global,
        Some(m) if m.replicated_job.is_some() || m.global_job.is_some() => SwarmMode::Job,
        Some(m) => SwarmMode::Replicated(
            m.replicated
                .as_ref()
                .and_then(|r| r.replicas)
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(1),
        ),
        None => SwarmMode::Replicated(1),
    };
    let template = spec.task_template.unwrap_or_default();
    let update = service.update_status;
    Some(StackService {
        id: service.id?,
        service: name
            .strip_prefix(&format!("{stack}_"))
            .unwrap_or(&name)
            .to_string(),
        name,
        mode,
        remembered: labels.get(REPLICAS_LABEL).and_then(|n| n.parse().ok()),
        image: template
            .container_spec
            .as_ref()
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        force_update: template.force_update.unwrap_or(0),
        secrets: secret_ids(template.container_spec.as_ref()),
        update_state: update
            .as_ref()
            .and_then(|u| u.state)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty()),
        update_started: update
            .as_ref()
            .and_then(|u| timestamp(u.started_at.as_deref())),
        update_message: update.and_then(|u| u.message),
    })
}

/// A node's id, host name and whether it is up.
fn node_name(node: Node) -> Option<(String, (String, bool))> {
    let id = node.id?;
    let name = node
        .description
        .and_then(|d| d.hostname)
        .unwrap_or_else(|| id.clone());
    let up = node
        .status
        .and_then(|s| s.state)
        .is_some_and(|s| s == bollard::models::NodeState::READY);
    Some((id, (name, up)))
}

fn task_from(task: bollard::models::Task, nodes: &HashMap<String, (String, bool)>) -> Option<Task> {
    let status = task.status.unwrap_or_default();
    let spec = task.spec.unwrap_or_default();
    let node_id = task.node_id.unwrap_or_default();
    let container = status.container_status.unwrap_or_default();
    Some(Task {
        id: task.id?,
        service_id: task.service_id.unwrap_or_default(),
        slot: task.slot.and_then(|s| u64::try_from(s).ok()),
        node: nodes
            .get(&node_id)
            .map_or_else(|| node_id.clone(), |(name, _)| name.clone()),
        node_up: nodes.get(&node_id).is_some_and(|(_, up)| *up),
        node_id,
        desired: task.desired_state.map_or(TaskState::Unknown, state_from),
        state: status.state.map_or(TaskState::Unknown, state_from),
        message: status.message.unwrap_or_default(),
        error: status.err.filter(|e| !e.is_empty()),
        at: timestamp(status.timestamp.as_deref()),
        container_id: container.container_id.filter(|c| !c.is_empty()),
        exit_code: container.exit_code,
        secrets: secret_ids(spec.container_spec.as_ref()),
        volumes: volume_names(spec.container_spec.as_ref()),
        image: spec
            .container_spec
            .and_then(|c| c.image)
            .unwrap_or_default(),
        force_update: spec.force_update.unwrap_or(0),
    })
}

/// The ids of the secrets a container spec names, sorted.
fn secret_ids(spec: Option<&bollard::models::TaskSpecContainerSpec>) -> Vec<String> {
    let mut ids: Vec<String> = spec
        .and_then(|c| c.secrets.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|r| r.secret_id.clone())
        .collect();
    ids.sort();
    ids
}

/// The volumes a container spec mounts, by name.
fn volume_names(spec: Option<&bollard::models::TaskSpecContainerSpec>) -> Vec<String> {
    spec.and_then(|c| c.mounts.as_ref())
        .into_iter()
        .flatten()
        .filter(|m| m.typ == Some(bollard::models::MountType::VOLUME))
        .filter_map(|m| m.source.clone())
        .collect()
}

fn state_from(state: Wire) -> TaskState {
    match state {
        Wire::NEW => TaskState::New,
        Wire::ALLOCATED => TaskState::Allocated,
        Wire::PENDING => TaskState::Pending,
        Wire::ASSIGNED => TaskState::Assigned,
        Wire::ACCEPTED => TaskState::Accepted,
        Wire::PREPARING => TaskState::Preparing,
        Wire::READY => TaskState::Ready,
        Wire::STARTING => TaskState::Starting,
        Wire::RUNNING => TaskState::Running,
        Wire::COMPLETE => TaskState::Complete,
        Wire::SHUTDOWN => TaskState::Shutdown,
        Wire::FAILED => TaskState::Failed,
        Wire::REJECTED => TaskState::Rejected,
        Wire::REMOVE => TaskState::Remove,
        Wire::ORPHANED => TaskState::Orphaned,
    }
}
