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

use crate::docker::Deployment;
use crate::interrupt::Interrupt;

use crate::docker::{Awaited, Stack, Standing, standing_for};

const POLL: Duration = Duration::from_millis(500);

/// How the wait for one service ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
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
pub(crate) async fn wait(
    deployment: &Deployment,
    services: &[String],
    deadline: Instant,
    interrupt: &Interrupt,
) -> Vec<(String, Outcome)> {
    wait_for(deployment, services, deadline, interrupt, Awaited::Change).await
}

/// `wait`, for what `awaited` says.
pub(crate) async fn wait_for(
    deployment: &Deployment,
    services: &[String],
    deadline: Instant,
    interrupt: &Interrupt,
    awaited: Awaited,
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
            let standing = standing_for(stack, service, Some(since), awaited);
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
