//! `update` and `rollback` of a stack on Swarm's own rolling update: each
//! tier's services are given their new image (or a forced update, to take
//! whatever their image name points to now) and Swarm rolls their tasks
//! with each service's `update_config`, its health gate included; the tier
//! is waited for until it has converged.
//!
//! All or nothing, as on compose: when a service does not converge (Swarm
//! rolled it back or paused it, the timeout passed, or a signal came), no
//! further tier is touched, and every service this run changed that Swarm
//! has not already rolled back is rolled back with Swarm's own rollback
//! (`docker service rollback`, the spec before the update) and waited for.

use std::time::Instant;

use crate::docker::Deployment;
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;
use crate::runbook::Plan;
use crate::ui::human;
use crate::ui::progress::Progress;

use super::converge::{self, Outcome};
use crate::docker::{Awaited, Stack};

pub(crate) struct SwarmUpdate<'a> {
    pub deployment: &'a Deployment,
    pub progress: Progress<'a>,
    pub interrupt: Interrupt,
    /// `update` or `rollback`.
    pub section: &'static str,
}

impl SwarmUpdate<'_> {
    /// Updates each service of `wanted` to its image (`None`: its own
    /// image name, again) tier by tier (the plan's startup order), putting
    /// back what it changed when one fails.
    pub(crate) async fn run(
        &self,
        plan: &Plan,
        wanted: &[(String, Option<String>)],
    ) -> Vec<CheckResult> {
        let names: Vec<String> = wanted.iter().map(|(service, _)| service.clone()).collect();
        let deadline = Instant::now() + plan.startup_timeout;
        let mut results = Vec::new();
        // What this run changed and Swarm still runs as changed.
        let mut changed: Vec<String> = Vec::new();
        let mut failed = false;
        for tier in plan.start_order(&names) {
            if failed || self.interrupt.is_raised() {
                for name in &tier {
                    results.push(self.result(
                        name,
                        Status::Crit,
                        "not updated: the update stopped",
                    ));
                }
                continue;
            }
            failed = !self
                .update_tier(&tier, wanted, deadline, &mut changed, &mut results)
                .await;
        }
        if failed && !changed.is_empty() {
            results.extend(self.put_back(&changed, plan, "put back").await);
        }
        results
    }

    /// One tier: its services given their images, then waited for until
    /// they have converged; whether every one did.
    async fn update_tier(
        &self,
        tier: &[String],
        wanted: &[(String, Option<String>)],
        deadline: Instant,
        changed: &mut Vec<String>,
        results: &mut Vec<CheckResult>,
    ) -> bool {
        let stack = match Stack::read(self.deployment).await {
            Ok(stack) => stack,
            Err(e) => {
                for name in tier {
                    results.push(self.result(name, Status::Crit, e.to_string()));
                }
                return false;
            }
        };
        let (waiting, mut failed) = self
            .set_images(&stack, tier, wanted, changed, results)
            .await;
        let names: Vec<String> = waiting.iter().map(|(n, _, _)| n.clone()).collect();
        let outcomes = converge::wait(self.deployment, &names, deadline, &self.interrupt).await;
        for ((name, outcome), (_, from, to)) in outcomes.into_iter().zip(&waiting) {
            let (status, message) = updated(&name, outcome, from, to, changed);
            failed |= status != Status::Ok;
            results.push(self.result(&name, status, message));
        }
        !failed
    }

    /// Each service of `tier` given its new image (Swarm's rolling update
    /// starts): those now updating, as name, image before and image after;
    /// and whether one failed.
    async fn set_images(
        &self,
        stack: &Stack,
        tier: &[String],
        wanted: &[(String, Option<String>)],
        changed: &mut Vec<String>,
        results: &mut Vec<CheckResult>,
    ) -> (Vec<(String, String, String)>, bool) {
        let mut failed = false;
        let mut waiting = Vec::new();
        for name in tier {
            let Some(service) = stack.service(name) else {
                results.push(self.result(name, Status::Crit, "no such service in the stack"));
                failed = true;
                continue;
            };
            let image = wanted
                .iter()
                .find(|(service, _)| service == name)
                .and_then(|(_, image)| image.clone());
            let shown = image.clone().unwrap_or_else(|| service.image.clone());
            self.progress
                .say(format!("{name}: {} → {shown}", service.image));
            match self.deployment.set_image(service, image.as_deref()).await {
                Ok(()) => {
                    changed.push(name.clone());
                    waiting.push((name.clone(), service.image.clone(), shown));
                }
                Err(e) => {
                    results.push(self.result(name, Status::Crit, format!("not updated: {e}")));
                    failed = true;
                }
            }
        }
        (waiting, failed)
    }

    /// Swarm's own rollback of `service` to its spec before the last
    /// update, waited for.
    pub(crate) async fn roll_back(&self, plan: &Plan, service: &str) -> Vec<CheckResult> {
        self.put_back(&[service.to_string()], plan, self.section)
            .await
    }

    /// Swarm's own rollback of each of `services`, all at once, waited for.
    pub(crate) async fn roll_back_all(&self, plan: &Plan, services: &[String]) -> Vec<CheckResult> {
        self.put_back(services, plan, "put back").await
    }

    /// Swarm's rollback of each of `changed`, all at once, waited for
    /// (signal or not: it is what leaves the stack as it was).
    async fn put_back(
        &self,
        changed: &[String],
        plan: &Plan,
        section: &'static str,
    ) -> Vec<CheckResult> {
        let mut results = Vec::new();
        let stack = match Stack::read(self.deployment).await {
            Ok(stack) => stack,
            Err(e) => {
                return changed
                    .iter()
                    .map(|name| {
                        CheckResult::new(
                            section,
                            name,
                            Status::Crit,
                            format!("not rolled back: {e}"),
                        )
                    })
                    .collect();
            }
        };
        let mut waiting = Vec::new();
        for name in changed {
            let Some(service) = stack.service(name) else {
                continue;
            };
            self.progress.say(format!("{name}: rolling back"));
            match self.deployment.roll_back(service).await {
                Ok(()) => waiting.push(name.clone()),
                Err(e) => results.push(CheckResult::new(
                    section,
                    name,
                    Status::Crit,
                    format!("not rolled back: {e}"),
                )),
            }
        }
        let deadline = Instant::now() + plan.startup_timeout;
        for (name, outcome) in converge::wait_for(
            self.deployment,
            &waiting,
            deadline,
            &Interrupt::never(),
            Awaited::Rollback,
        )
        .await
        {
            let (status, message) = match outcome {
                Outcome::Converged { standing, took } => (
                    Status::Ok,
                    format!(
                        "rolled back (Swarm's rollback): {} ({})",
                        standing.summary(),
                        human::duration(took)
                    ),
                ),
                Outcome::GivenUp { standing }
                | Outcome::TimedOut { standing }
                | Outcome::Interrupted { standing } => (
                    Status::Crit,
                    format!("rolled back, but not converged: {}", standing.summary()),
                ),
                Outcome::Unseen { why } => (Status::Crit, why),
            };
            results.push(CheckResult::new(section, &name, status, message));
        }
        results
    }

    fn result(&self, service: &str, status: Status, message: impl Into<String>) -> CheckResult {
        CheckResult::new(self.section, service, status, message)
    }
}

/// How the update of `name` from image `from` to `to` ended, as a status
/// and message. A service Swarm rolled back itself is taken off `changed`:
/// nothing is left to put back.
fn updated(
    name: &str,
    outcome: Outcome,
    from: &str,
    to: &str,
    changed: &mut Vec<String>,
) -> (Status, String) {
    match outcome {
        Outcome::Converged { standing, took } => (
            Status::Ok,
            format!(
                "{from} → {to}: {} ({})",
                standing.summary(),
                human::duration(took)
            ),
        ),
        Outcome::GivenUp { standing } => {
            // Swarm rolled it back itself: nothing left to put back.
            if standing
                .given_up
                .as_deref()
                .is_some_and(|g| g.starts_with("Swarm rolled"))
            {
                changed.retain(|c| *c != name);
            }
            (
                Status::Crit,
                format!(
                    "{from} → {to} failed: {}",
                    standing.given_up.clone().unwrap_or_default()
                ),
            )
        }
        Outcome::TimedOut { standing } => (
            Status::Crit,
            format!(
                "{from} → {to} did not converge within the timeout: {}{}",
                standing.summary(),
                standing
                    .trouble
                    .map(|t| format!("; {t}"))
                    .unwrap_or_default()
            ),
        ),
        Outcome::Interrupted { standing } => (
            Status::Crit,
            format!("{from} → {to} interrupted: {}", standing.summary()),
        ),
        Outcome::Unseen { why } => (Status::Crit, why),
    }
}
