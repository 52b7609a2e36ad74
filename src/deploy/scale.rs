//! Startup, shutdown and restart of a stack, tier by tier as the runbook
//! orders its services, each tier waiting until Swarm has converged before
//! the next is touched. Startup scales each service up to its replicas
//! (those shutdown remembered in the service's labels, else the spec's);
//! shutdown scales to zero in reverse order and remembers the replicas;
//! restart is a forced update, which Swarm rolls with the service's own
//! `update_config` (order, parallelism, health gate).
//!
//! A signal stops the tiers: nothing further is changed, and the tier in
//! hand is reported as not waited for. Swarm itself never stops halfway
//! through a spec change, so nothing is left half-done by opsbook.

use std::time::Instant;

use indexmap::IndexMap;

use crate::docker::{Deployment, StackService, SwarmMode};
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;
use crate::ui::human;
use crate::ui::progress::Progress;

use super::converge::{self, Outcome};
use crate::docker::Stack;

/// What a tier does to each of its services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    ScaleUp,
    /// Scaling up what opsbook scaled down for some work (a backup, a
    /// restore): every scale-up is made, signal or not.
    ScaleUpAgain,
    ScaleDown,
    Redeploy,
}

pub(crate) struct SwarmLifecycle<'a> {
    pub deployment: &'a Deployment,
    pub progress: Progress<'a>,
    pub interrupt: Interrupt,
    /// The section results are filed under.
    pub section: &'static str,
}

impl SwarmLifecycle<'_> {
    /// Scales each tier's services up and waits for them; a service whose
    /// dependency did not converge is left as it is.
    pub(crate) async fn start(
        &self,
        tiers: &[Vec<String>],
        depends_on: &IndexMap<String, Vec<String>>,
        deadline: Instant,
    ) -> Vec<CheckResult> {
        self.tiers(tiers, Some(depends_on), deadline, Change::ScaleUp)
            .await
    }

    /// Scales each tier's services up again after some work had them at
    /// zero: after a signal too (then the tiers are not waited for, nor
    /// held back by a dependency that did not converge).
    pub(crate) async fn start_again(
        &self,
        tiers: &[Vec<String>],
        depends_on: &IndexMap<String, Vec<String>>,
        deadline: Instant,
    ) -> Vec<CheckResult> {
        self.tiers(tiers, Some(depends_on), deadline, Change::ScaleUpAgain)
            .await
    }

    /// Scales each tier's services (shutdown order) to zero, remembering
    /// their replicas, and waits until their tasks are gone.
    pub(crate) async fn stop(&self, tiers: &[Vec<String>], deadline: Instant) -> Vec<CheckResult> {
        self.tiers(tiers, None, deadline, Change::ScaleDown).await
    }

    /// A forced update of each tier's services, waiting for each tier.
    pub(crate) async fn redeploy(
        &self,
        tiers: &[Vec<String>],
        depends_on: &IndexMap<String, Vec<String>>,
        deadline: Instant,
    ) -> Vec<CheckResult> {
        self.tiers(tiers, Some(depends_on), deadline, Change::Redeploy)
            .await
    }

    async fn tiers(
        &self,
        tiers: &[Vec<String>],
        depends_on: Option<&IndexMap<String, Vec<String>>>,
        deadline: Instant,
        change: Change,
    ) -> Vec<CheckResult> {
        let mut results = Vec::new();
        let mut failed: Vec<String> = Vec::new();
        for tier in tiers {
            let signalled = self.interrupt.is_raised();
            if signalled && change != Change::ScaleUpAgain {
                for service in tier {
                    results.push(self.result(service, Status::Crit, "not changed: interrupted"));
                }
                continue;
            }
            let stack = match Stack::read(self.deployment).await {
                Ok(stack) => stack,
                Err(e) => {
                    for service in tier {
                        results.push(self.result(service, Status::Crit, e.to_string()));
                    }
                    failed.extend(tier.iter().cloned());
                    continue;
                }
            };
            let mut waiting = Vec::new();
            for name in tier {
                let blocked: Vec<&String> = depends_on
                    .filter(|_| !signalled)
                    .and_then(|d| d.get(name))
                    .into_iter()
                    .flatten()
                    .filter(|d| failed.contains(d))
                    .collect();
                if !blocked.is_empty() {
                    let names: Vec<&str> = blocked.iter().map(|s| s.as_str()).collect();
                    results.push(self.result(
                        name,
                        Status::Crit,
                        format!("not changed: {} did not converge", names.join(", ")),
                    ));
                    failed.push(name.clone());
                    continue;
                }
                let Some(service) = stack.service(name) else {
                    if change == Change::ScaleDown {
                        // Nothing of it runs: as the dry run says.
                        results.push(self.result(
                            name,
                            Status::Ok,
                            "not in the stack: nothing to scale down",
                        ));
                        continue;
                    }
                    results.push(self.result(name, Status::Crit, "no such service in the stack"));
                    failed.push(name.clone());
                    continue;
                };
                match self.apply(service, change).await {
                    Ok(Some(note)) => {
                        self.progress.say(format!("{}: {note}", service.service));
                        waiting.push(name.clone());
                    }
                    Ok(None) => waiting.push(name.clone()),
                    Err(message) => {
                        results.push(self.result(name, Status::Crit, message));
                        failed.push(name.clone());
                    }
                }
            }
            for (name, outcome) in
                converge::wait(self.deployment, &waiting, deadline, &self.interrupt).await
            {
                let result = self.graded(&name, outcome, change);
                if result.status != Status::Ok {
                    failed.push(name);
                }
                results.push(result);
            }
        }
        results
    }

    /// Makes the change to one service; what was done, for the progress line.
    async fn apply(
        &self,
        service: &StackService,
        change: Change,
    ) -> Result<Option<String>, String> {
        let fail = |e: crate::error::Error| e.to_string();
        match (change, service.mode) {
            (Change::ScaleUp | Change::ScaleUpAgain, SwarmMode::Replicated(0)) => {
                let Some(replicas) = service.remembered else {
                    return Err(
                        "scaled to 0 replicas, and no shutdown remembered how many it had: scale it (`docker service scale`) or set its replicas in the stack file".into(),
                    );
                };
                self.deployment
                    .scale(service, replicas, None)
                    .await
                    .map_err(fail)?;
                Ok(Some(format!("scaling to {replicas}")))
            }
            (Change::ScaleUp | Change::ScaleUpAgain, _) => Ok(None),
            (Change::ScaleDown, SwarmMode::Replicated(0)) => Ok(None),
            (Change::ScaleDown, SwarmMode::Replicated(n)) => {
                self.deployment
                    .scale(service, 0, Some(n))
                    .await
                    .map_err(fail)?;
                Ok(Some(format!("scaling to 0 (from {n})")))
            }
            (Change::ScaleDown, SwarmMode::Global) => Err(
                "a global service cannot be scaled to zero: Swarm runs one task on every eligible node (remove it with `docker service rm`, or give it a placement constraint no node meets)".into(),
            ),
            (Change::ScaleDown, SwarmMode::Job) | (Change::Redeploy, SwarmMode::Job) => Ok(None),
            (Change::Redeploy, _) => {
                self.deployment.force_update(service).await.map_err(fail)?;
                Ok(Some("redeploying its tasks".into()))
            }
        }
    }

    fn graded(&self, name: &str, outcome: Outcome, change: Change) -> CheckResult {
        let done = match change {
            Change::ScaleUp | Change::ScaleUpAgain => "converged",
            Change::ScaleDown => "scaled to 0",
            Change::Redeploy => "redeployed",
        };
        match outcome {
            Outcome::Converged { standing, took } => {
                let message = if change == Change::ScaleDown {
                    format!("{done}: no task runs ({})", human::duration(took))
                } else {
                    format!("{done}: {} ({})", standing.summary(), human::duration(took))
                };
                self.result(name, Status::Ok, message)
            }
            Outcome::GivenUp { standing } => self.result(
                name,
                Status::Crit,
                format!(
                    "{}; {}",
                    standing.given_up.clone().unwrap_or_default(),
                    standing.summary()
                ),
            ),
            Outcome::TimedOut { standing } => {
                let trouble = standing
                    .trouble
                    .as_ref()
                    .map(|t| format!("; {t}"))
                    .unwrap_or_default();
                self.result(
                    name,
                    Status::Crit,
                    format!(
                        "not {done} within the timeout: {}{trouble}",
                        standing.summary()
                    ),
                )
            }
            Outcome::Interrupted { standing } => self.result(
                name,
                Status::Crit,
                format!(
                    "interrupted while waiting: {} (Swarm goes on converging)",
                    standing.summary()
                ),
            ),
            Outcome::Unseen { why } => self.result(name, Status::Crit, why),
        }
    }

    fn result(&self, service: &str, status: Status, message: impl Into<String>) -> CheckResult {
        CheckResult::new(self.section, service, status, message)
    }
}

/// Those of `names` that have tasks to stop: scaled above zero, or global
/// (which cannot be scaled down, and says so). The rest are left alone,
/// and so are not scaled up after.
pub(crate) fn scaled_up(stack: &Stack, names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|name| {
            stack.service(name).is_some_and(|s| match s.mode {
                SwarmMode::Replicated(n) => n > 0,
                SwarmMode::Global => true,
                SwarmMode::Job => false,
            })
        })
        .cloned()
        .collect()
}
