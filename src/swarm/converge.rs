//! Whether Swarm has done what a service's spec asks, and waiting until it
//! has. A service has converged when exactly the tasks its mode wants run
//! on its current spec (image and forced update), none is still on its way
//! and no task of an older spec still runs. A task with a healthcheck is
//! `running` only once it is healthy (Swarm holds it in `starting` until
//! then), so converged means healthy too.
//!
//! The docker CLI's own wait (`--detach=false`) polls the same way but has
//! no deadline and never ends for a service that completes; this one ends
//! at the deadline, at a signal, or as soon as Swarm gives the update up.

use std::time::{Duration, Instant};

use crate::docker::{Deployment, StackService, SwarmMode, TaskState};
use crate::interrupt::Interrupt;

use super::{Stack, nodes_of, running};

const POLL: Duration = Duration::from_millis(500);

/// How a service stands against its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
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
    pub fn summary(&self) -> String {
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

/// How `service` stands in `stack`; trouble counts only from `since` on.
pub fn standing(stack: &Stack, service: &StackService, since: Option<jiff::Timestamp>) -> Standing {
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
    let update = service.update_state.as_deref();
    let given_up = match update {
        Some("rollback_completed" | "rollback_paused" | "paused") => Some(format!(
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

/// How the wait for one service ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Converged {
        standing: Standing,
        took: Duration,
    },
    /// Swarm rolled back or paused the update.
    GivenUp {
        standing: Standing,
    },
    TimedOut {
        standing: Standing,
    },
    Interrupted {
        standing: Standing,
    },
    /// The service is gone, or the stack could not be read.
    Unseen {
        why: String,
    },
}

/// Waits until each of `services` (the runbook's names) has converged,
/// Swarm has given it up, `deadline` passes or a signal comes. Outcomes
/// are in the order of `services`.
pub async fn wait(
    deployment: &Deployment,
    services: &[String],
    deadline: Instant,
    interrupt: &Interrupt,
) -> Vec<(String, Outcome)> {
    let began = Instant::now();
    let since = jiff::Timestamp::now();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; services.len()];
    loop {
        let stack = Stack::read(deployment).await;
        for (name, slot) in services.iter().zip(outcomes.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            let stack = match &stack {
                Ok(stack) => stack,
                Err(e) if Instant::now() >= deadline => {
                    *slot = Some(Outcome::Unseen { why: e.to_string() });
                    continue;
                }
                Err(_) => continue,
            };
            let Some(service) = stack.service(name) else {
                *slot = Some(Outcome::Unseen {
                    why: "no such service in the stack".into(),
                });
                continue;
            };
            let standing = standing(stack, service, Some(since));
            *slot = if standing.converged {
                Some(Outcome::Converged {
                    standing,
                    took: began.elapsed(),
                })
            } else if standing.given_up.is_some() {
                Some(Outcome::GivenUp { standing })
            } else if Instant::now() >= deadline {
                Some(Outcome::TimedOut { standing })
            } else if interrupt.is_raised() {
                Some(Outcome::Interrupted { standing })
            } else {
                None
            };
        }
        if outcomes.iter().all(Option::is_some) {
            break;
        }
        tokio::select! {
            biased;
            () = interrupt.raised() => {}
            () = tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))) => {}
        }
    }
    services
        .iter()
        .cloned()
        .zip(outcomes.into_iter().flatten())
        .collect()
}
