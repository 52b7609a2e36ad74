//! The labels that tell which project and service a container is of:
//! compose's, or a Swarm stack's (its service named without the stack's
//! prefix, and its task as `web.1`).

use std::collections::HashMap;

pub(crate) const PROJECT_LABEL: &str = "com.docker.compose.project";
pub(crate) const SERVICE_LABEL: &str = "com.docker.compose.service";
pub(crate) const VOLUME_LABEL: &str = "com.docker.compose.volume";
/// The stack a Swarm service (and its tasks' containers) belongs to.
pub(crate) const STACK_LABEL: &str = "com.docker.stack.namespace";
/// A Swarm task's container: its service's full name (`STACK_SERVICE`).
const SWARM_SERVICE_LABEL: &str = "com.docker.swarm.service.name";
/// A Swarm task's container: its task's name (`STACK_SERVICE.SLOT.ID`).
const SWARM_TASK_LABEL: &str = "com.docker.swarm.task.name";

/// Which labels tell a container's project and service: compose's, or a
/// Swarm stack's (the service named without its `STACK_` prefix, as the
/// runbook names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Labels {
    Compose,
    Stack,
}

impl Labels {
    pub(super) fn project(self) -> &'static str {
        match self {
            Labels::Compose => PROJECT_LABEL,
            Labels::Stack => STACK_LABEL,
        }
    }

    /// A Swarm task's name without its stack and its id (`web.1`).
    pub(super) fn task(self, labels: &HashMap<String, String>, project: &str) -> Option<String> {
        if self != Labels::Stack {
            return None;
        }
        let full = labels.get(SWARM_TASK_LABEL)?;
        let short = full.strip_prefix(&format!("{project}_")).unwrap_or(full);
        Some(
            short
                .rsplit_once('.')
                .map_or(short, |(task, _)| task)
                .to_string(),
        )
    }

    /// The project and the service of a container with these `labels`.
    pub(super) fn read(self, labels: &HashMap<String, String>) -> (String, String) {
        let project = labels.get(self.project()).cloned().unwrap_or_default();
        let service = match self {
            Labels::Compose => labels.get(SERVICE_LABEL).cloned().unwrap_or_default(),
            Labels::Stack => {
                let full = labels.get(SWARM_SERVICE_LABEL).map_or("", String::as_str);
                full.strip_prefix(&format!("{project}_"))
                    .unwrap_or(full)
                    .to_string()
            }
        };
        (project, service)
    }
}
