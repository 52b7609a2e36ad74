//! The only code that talks to Docker (bollard). Everything else sees a
//! `Deployment` (the containers of one compose project, or of every project)
//! and opsbook's own `Container` type, built here at the boundary.
//!
//! Connections negotiate the API version: field engines range from Debian's
//! 20.10 (API 1.41) upwards, and opsbook never assumes a newer API.
//!
//! `Deployment` is here; connecting to an engine, its containers, their
//! lifecycle, exec (and ending one that outlived its time) and logs are
//! files of their own, as are volumes, stats, disk use, recreating on
//! another image, the drill's scratch copies, Swarm, a container's
//! processes (`docker top`) and the survey `opsbook init` writes a runbook from.

use std::collections::HashMap;
use std::sync::Arc;

use bollard::Docker;

use crate::error::Error;

mod cgroup;
mod connect;
mod containers;
mod disk;
mod engine;
mod exec;
mod exec_end;
mod host_look;
mod images;
mod labels;
mod lifecycle;
mod logs;
mod recreate;
mod scratch;
mod secret;
mod ssh;
mod stats;
mod survey;
mod swarm;
mod top;
mod volume;
pub(crate) use containers::{Container, ContainerRef, Health, State, running_of, running_services};
pub(crate) use disk::{DiskUse, KindUse};
pub(crate) use engine::{Engine, engine_is_remote};
pub(crate) use exec::Timed;
pub(crate) use exec_end::Ending;
pub(crate) use images::StoredImage;
pub(crate) use labels::{PROJECT_LABEL, STACK_LABEL, VOLUME_LABEL};
pub(crate) use recreate::{ImageRef, Snapshot, short_id};
pub(crate) use scratch::{Remap, Removed, ScratchDrill};
pub(crate) use secret::SwarmSecret;
pub(crate) use stats::Usage;
pub(crate) use survey::{Mounted, Published, Running, Surveyed};
pub(crate) use swarm::{
    Awaited, Stack, StackService, Standing, SwarmMode, SwarmRole, Task, TaskState,
    containers_with_tasks, nodes_of, running, standing, standing_for, with_remote_tasks,
};
pub(crate) use volume::RESTORE_ROOT;

use labels::Labels;

/// The containers of one compose project (or of every project, when the
/// runbook names none) on one Docker engine.
pub(crate) struct Deployment {
    docker: Docker,
    endpoint: String,
    project: Option<String>,
    labels: Labels,
    /// The engines of the swarm's other nodes, by host name (a stack's).
    nodes: Arc<swarm::Nodes>,
    /// The ssh login an `ssh://` engine is reached through (shared by this
    /// process's deployments of that host), closed with the last of them.
    _login: Option<Arc<ssh::SshEngine>>,
}

impl Deployment {
    /// The same engine, its containers seen as the tasks of the Swarm
    /// stack named as the project: `list`, `inspect`, logs and exec then
    /// work on the stack's containers on this node.
    pub(crate) fn into_stack(self) -> Deployment {
        Deployment {
            labels: Labels::Stack,
            ..self
        }
    }

    /// `into_stack`, with the engines of the swarm's other nodes by host
    /// name: what a task elsewhere is exec'd in and its volumes read through.
    pub(crate) fn into_stack_with(self, nodes: HashMap<String, Engine>) -> Deployment {
        Deployment {
            labels: Labels::Stack,
            nodes: Arc::new(swarm::Nodes::new(nodes)),
            ..self
        }
    }

    /// Whether this deployment is a Swarm stack's (`into_stack`).
    pub(crate) fn is_stack(&self) -> bool {
        self.labels == Labels::Stack
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The project (or stack) this deployment is of.
    pub(crate) fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// Whether `image` is on the engine's host (no registry is asked).
    pub(crate) async fn image_exists(&self, image: &str) -> Result<bool, Error> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(self.failed("inspecting an image", e)),
        }
    }

    fn failed(&self, action: &str, source: bollard::errors::Error) -> Error {
        Error::Docker {
            endpoint: self.endpoint.clone(),
            action: action.to_string(),
            source,
        }
    }
}
