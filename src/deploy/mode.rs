//! Compose or Swarm: how opsbook decides that the runbook's project is a
//! stack (`mode:`, or `auto` by asking the engine), and the deployment
//! seen as a stack, with the engines of the swarm's other nodes from the
//! fleet file. A project deployed with `docker stack deploy` is a stack of
//! services whose tasks Swarm places on nodes.

use std::collections::HashMap;

use crate::docker::{Deployment, SwarmRole};
use crate::error::Error;
use crate::runbook::Runbook;
use crate::runbook::model::Mode;

/// How the project turned out to be deployed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    Compose { why: String },
    Swarm { why: String },
}

impl Resolved {
    pub(crate) fn is_swarm(&self) -> bool {
        matches!(self, Resolved::Swarm { .. })
    }

    /// `compose` or `swarm`, then why: what `validate` shows.
    pub(crate) fn describe(&self) -> String {
        match self {
            Resolved::Compose { why } => format!("compose ({why})"),
            Resolved::Swarm { why } => format!("swarm ({why})"),
        }
    }
}

/// Decides the runbook's mode against the engine: `mode: compose` and
/// `mode: swarm` as written (swarm needs a manager to talk to), `auto` by
/// whether the engine is a swarm manager with services of a stack named as
/// the project.
pub(crate) async fn resolve(runbook: &Runbook, deployment: &Deployment) -> Result<Resolved, Error> {
    let endpoint = deployment.endpoint();
    let project = runbook.plan.project.as_deref();
    match (runbook.plan.mode, project) {
        (Mode::Compose, _) => Ok(Resolved::Compose {
            why: "mode: compose".into(),
        }),
        (Mode::Auto, None) => Ok(Resolved::Compose {
            why: "no project: every compose project".into(),
        }),
        (Mode::Swarm, _) => match deployment.swarm_role().await? {
            SwarmRole::Manager { .. } => Ok(Resolved::Swarm {
                why: "mode: swarm".into(),
            }),
            role => Err(Error::Usage(format!(
                "the runbook `{}` says `mode: swarm`, but the engine at {endpoint} is {}: point DOCKER_HOST (or the fleet's host) at a manager of the swarm",
                runbook.display,
                not_a_manager(&role)
            ))),
        },
        (Mode::Auto, Some(project)) => match deployment.swarm_role().await? {
            SwarmRole::Manager { .. } => {
                let services = deployment.stack_services().await?;
                Ok(if services.is_empty() {
                    Resolved::Compose {
                        why: format!("auto: no swarm stack `{project}` on {endpoint}"),
                    }
                } else {
                    Resolved::Swarm {
                        why: format!(
                            "auto: stack `{project}` has {} services on {endpoint}",
                            services.len()
                        ),
                    }
                })
            }
            role => Ok(Resolved::Compose {
                why: format!("auto: the engine at {endpoint} is {}", not_a_manager(&role)),
            }),
        },
    }
}

fn not_a_manager(role: &SwarmRole) -> &'static str {
    match role {
        SwarmRole::Worker => "a swarm worker, not a manager",
        _ => "not in a swarm",
    }
}

/// Refuses `command` on a project that is a stack: it works on compose
/// containers and volumes, which a stack does not have, so it would find
/// nothing (or the wrong thing) and say so as if it were done.
pub(crate) async fn refuse_on_stack(
    runbook: &Runbook,
    deployment: &Deployment,
    command: &str,
) -> Result<(), Error> {
    match resolve(runbook, deployment).await? {
        Resolved::Swarm { why } => Err(Error::Usage(format!(
            "`{command}` does not work on a Swarm stack yet, and `{}` is one ({why}): nothing was changed",
            runbook.plan.project.as_deref().unwrap_or_default()
        ))),
        Resolved::Compose { .. } => Ok(()),
    }
}

/// The deployment as the project is deployed: seen as the stack
/// (`into_stack`) when `resolve` says it is one, else as it is.
pub(crate) async fn as_deployed(
    runbook: &Runbook,
    deployment: Deployment,
) -> Result<Deployment, Error> {
    Ok(match resolve(runbook, &deployment).await?.is_swarm() {
        true => into_stack(deployment),
        false => deployment,
    })
}

/// The deployment seen as the stack, with the engines of the swarm's
/// other nodes: every host of the fleet file (`$OPSBOOK_FLEET`) by name,
/// matched to a node by its host name. A fleet file that cannot be read
/// leaves the other nodes unreachable, and says why once.
pub(crate) fn into_stack(deployment: Deployment) -> Deployment {
    let mut nodes = HashMap::new();
    if let Some(path) = crate::fleet::discover(None) {
        match crate::fleet::load(&path) {
            Ok(fleet) => {
                for host in fleet.hosts {
                    nodes.insert(host.name.clone(), host.engine());
                }
            }
            Err(e) => tracing::warn!("the swarm's other nodes are not reached: {e}"),
        }
    }
    deployment.into_stack_with(nodes)
}

/// The mode, decided against the engine when the runbook leaves it to
/// `auto` or says `swarm`; written as decided, or why it was not.
pub(crate) async fn describe(runbook: &Runbook) -> String {
    let plan = &runbook.plan;
    if plan.mode == Mode::Compose || plan.project.is_none() {
        return Resolved::Compose {
            why: if plan.mode == Mode::Compose {
                "mode: compose".into()
            } else {
                "no project: every compose project".into()
            },
        }
        .describe();
    }
    let written = if plan.mode == Mode::Swarm {
        "swarm"
    } else {
        "auto"
    };
    match Deployment::connect(plan.project.clone()).await {
        Ok(deployment) => match resolve(runbook, &deployment).await {
            Ok(resolved) => resolved.describe(),
            Err(e) => format!("{written}: {e}"),
        },
        Err(e) => format!("{written}: not decided, as Docker did not answer ({e})"),
    }
}
