//! Self-healing that cannot loop. Docker never restarts an unhealthy
//! container (moby#28400); `heal:` lets `opsbook serve` do it, carefully:
//! - only a running container Docker reports `unhealthy` with at least
//!   `after` failed probes in a row: never one still `starting` (its start
//!   period), restarting, stopped (an operator's shutdown), or one whose
//!   restart is already under way;
//! - at most `max_restarts` per `window`, each after a back-off that
//!   doubles (`backoff`, 2×, 4×…), counted across agent restarts (the
//!   restart times are kept in the state folder);
//! - when the cap is reached and it is still unhealthy: no more restarts,
//!   an incident opened (with its evidence) and the `heal` targets told,
//!   once, until Docker reports the service healthy again;
//! - nothing at all during a maintenance window.
//!
//! The decisions are made here; the agent carries them out as the
//! one-shot commands (`restart SERVICE --yes`, `incident open`), so each is
//! on the history with its locks and notifications. Every action is also
//! a line of `<state>/history/<key>-heal.jsonl` and a `/metrics` counter.
//!
//! The looks at the engine and the announcement run as tasks of their own
//! (`background`), each Docker call under a deadline: an engine that does
//! not answer delays neither a due run nor a stop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Ran;
use super::schedule::Job;
use crate::docker::{Container, Deployment, Health, State};
use crate::runbook::Runbook;

/// How often the agent looks at the services' health.
pub(crate) const LOOK_EVERY: Duration = Duration::from_secs(2);
/// How long each call of a look may take: the engine's other answers come
/// in milliseconds, and one that does not answer must not stop heal from
/// looking again.
const LOOK_DEADLINE: Duration = Duration::from_secs(10);

/// `heal:` with its defaults filled in.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub services: Vec<String>,
    pub after: u64,
    pub max_restarts: usize,
    pub window: Duration,
    pub backoff: Duration,
    pub severity: String,
}

impl Policy {
    pub(crate) fn of(runbook: &Runbook) -> Option<Policy> {
        let heal = runbook.model.heal.as_ref()?;
        let second_severity = runbook
            .plan
            .severities
            .get(1)
            .or(runbook.plan.severities.first())
            .map(|(name, _)| name.clone())
            .unwrap_or_else(|| "P2".to_string());
        Some(Policy {
            services: heal.services.iter().map(|s| s.value.clone()).collect(),
            after: heal.after.as_ref().map_or(3, |a| u64::from(a.value.max(1))),
            max_restarts: heal
                .max_restarts
                .as_ref()
                .map_or(3, |m| m.value.max(1) as usize),
            window: heal.window.map_or(Duration::from_secs(3600), |w| w.std()),
            backoff: heal.backoff.map_or(Duration::from_secs(60), |b| b.std()),
            severity: heal
                .severity
                .as_ref()
                .map_or(second_severity, |s| s.value.clone()),
        })
    }
}

/// What heal does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Restart the service (the n-th restart in the window).
    Restart { service: String, nth: usize },
    /// The cap is reached: open an incident and tell the targets.
    GiveUp { service: String, restarts: usize },
}

/// One service as heal remembers it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Memory {
    /// When heal restarted it, within the window.
    #[serde(default)]
    pub restarts: Vec<Timestamp>,
    /// Heal gave up on it; cleared when it is healthy again.
    #[serde(default)]
    pub gave_up: bool,
}

/// What the agent knows of one service this look.
#[derive(Debug, Clone)]
pub(crate) struct Look {
    pub service: String,
    pub container: Option<Container>,
    /// A heal run (restart, incident) of it is under way.
    pub in_hand: bool,
}

/// Heal's memory of every service, kept in the state folder.
pub(crate) struct Healer {
    pub policy: Policy,
    pub memory: BTreeMap<String, Memory>,
    path: PathBuf,
    history: PathBuf,
}

impl Healer {
    pub(crate) fn new(policy: Policy, state_dir: &Path, key: &str) -> Healer {
        let path = state_dir.join("heal").join(format!("{key}.json"));
        let memory = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Healer {
            policy,
            memory,
            path,
            history: state_dir.join("history").join(format!("{key}-heal.jsonl")),
        }
    }

    /// Decides this look's actions and remembers them (kept on disk at once).
    pub(crate) fn decide(
        &mut self,
        looks: &[Look],
        now: Timestamp,
        in_maintenance: bool,
    ) -> Vec<Action> {
        let actions = decide(&self.policy, &mut self.memory, looks, now, in_maintenance);
        if !actions.is_empty() || looks.iter().any(|l| healthy(l.container.as_ref())) {
            self.keep();
        }
        for action in &actions {
            self.record(action, now);
        }
        actions
    }

    fn keep(&self) {
        let kept = serde_json::to_vec(&self.memory)
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::state::files::write_private(&self.path, &bytes));
        if let Err(e) = kept {
            tracing::warn!("heal's restart counts were not kept: {e}");
        }
    }

    fn record(&self, action: &Action, now: Timestamp) {
        let line = match action {
            Action::Restart { service, nth } => {
                serde_json::json!({"at": now, "service": service, "action": "restart", "restarts_in_window": nth})
            }
            Action::GiveUp { service, restarts } => {
                serde_json::json!({"at": now, "service": service, "action": "gave-up", "restarts_in_window": restarts})
            }
        };
        let mut bytes = line.to_string().into_bytes();
        bytes.push(b'\n');
        if let Err(e) = crate::state::files::append_private(&self.history, &bytes) {
            tracing::warn!("heal's action was not recorded: {e}");
        }
    }
}

fn healthy(container: Option<&Container>) -> bool {
    container.is_some_and(|c| c.health == Health::Healthy)
}

fn decide(
    policy: &Policy,
    memory: &mut BTreeMap<String, Memory>,
    looks: &[Look],
    now: Timestamp,
    in_maintenance: bool,
) -> Vec<Action> {
    let window = SignedDuration::try_from(policy.window).unwrap_or(SignedDuration::MAX);
    let mut actions = Vec::new();
    for look in looks {
        let remembered = memory.entry(look.service.clone()).or_default();
        remembered
            .restarts
            .retain(|at| now.duration_since(*at) < window);
        let Some(container) = &look.container else {
            continue;
        };
        if container.health == Health::Healthy {
            remembered.gave_up = false;
            continue;
        }
        let unhealthy = container.state == State::Running
            && container.health == Health::Unhealthy
            && container.failing_streak >= policy.after;
        if in_maintenance || look.in_hand || remembered.gave_up || !unhealthy {
            continue;
        }
        let done = remembered.restarts.len();
        if done >= policy.max_restarts {
            remembered.gave_up = true;
            actions.push(Action::GiveUp {
                service: look.service.clone(),
                restarts: done,
            });
            continue;
        }
        if let Some(last) = remembered.restarts.last() {
            let pause = policy.backoff.saturating_mul(1 << (done - 1).min(16));
            let pause = SignedDuration::try_from(pause).unwrap_or(SignedDuration::MAX);
            if now.duration_since(*last) < pause {
                continue;
            }
        }
        remembered.restarts.push(now);
        actions.push(Action::Restart {
            service: look.service.clone(),
            nth: done + 1,
        });
    }
    actions
}

/// What the agent knows of each service heal watches: its container (of
/// a scaled service, the unhealthy one if any), and whether a heal run of
/// it is `in_hand`.
fn looks(policy: &Policy, containers: &[Container], in_hand: &[Job]) -> Vec<Look> {
    policy
        .services
        .iter()
        .map(|service| Look {
            service: service.clone(),
            // Of a scaled service, the unhealthy container if any.
            container: containers
                .iter()
                .filter(|c| &c.service == service)
                .max_by_key(|c| c.health == crate::docker::Health::Unhealthy)
                .cloned(),
            in_hand: in_hand.iter().any(|job| match job {
                Job::HealRestart(s) | Job::HealIncident { service: s, .. } => s == service,
                _ => false,
            }),
        })
        .collect()
}

/// What one look at the engine found, handed back to the scheduler.
pub(crate) struct Looked {
    /// The heal it was made for (a reload makes another).
    generation: u64,
    found: Result<(Arc<Deployment>, Vec<Container>), LookFailed>,
}

enum LookFailed {
    /// The deployment is a Swarm stack: heal is not used there.
    Swarm,
    /// The engine could not be reached or did not answer in time.
    Cannot(String),
}

/// Looks at the engine: connected (within the connection's own time
/// limits) unless `deployment` is, then each call under `LOOK_DEADLINE`.
async fn look_at(
    engine: &crate::docker::Engine,
    runbook: &Runbook,
    deployment: Option<Arc<Deployment>>,
) -> Result<(Arc<Deployment>, Vec<Container>), LookFailed> {
    let cannot = |e: crate::error::Error| LookFailed::Cannot(e.to_string());
    let deployment = match deployment {
        Some(deployment) => deployment,
        None => {
            let deployment = Deployment::connect_to(engine, runbook.plan.project.clone())
                .await
                .map_err(cannot)?;
            let resolved =
                within(&deployment, crate::deploy::resolve(runbook, &deployment)).await?;
            if resolved.is_ok_and(|r| r.is_swarm()) {
                return Err(LookFailed::Swarm);
            }
            Arc::new(deployment)
        }
    };
    let containers = within(&deployment, deployment.containers())
        .await?
        .map_err(cannot)?;
    Ok((deployment, containers))
}

/// `call` to the engine of `deployment`, cut off at `LOOK_DEADLINE`.
async fn within<T>(
    deployment: &Deployment,
    call: impl std::future::Future<Output = T>,
) -> Result<T, LookFailed> {
    tokio::time::timeout(LOOK_DEADLINE, call)
        .await
        .map_err(|_| {
            LookFailed::Cannot(format!(
                "the engine at {} did not answer within {}s",
                deployment.endpoint(),
                LOOK_DEADLINE.as_secs()
            ))
        })
}

/// The agent's side: looking at the engine, and what heal decides turned
/// into runs.
impl super::agent::Agent {
    /// Starts one look at the services heal watches, as a task of its own:
    /// what it finds comes back on `looked`, and the scheduler never waits
    /// for the engine.
    pub(super) fn look(&self, looked: mpsc::Sender<Looked>) -> JoinHandle<()> {
        let engine = self.engine.clone();
        let runbook = self.runbook.clone();
        let deployment = self.deployment.clone();
        let generation = self.heal_generation;
        tokio::spawn(async move {
            let found = look_at(&engine, &runbook, deployment).await;
            let _ = looked.send(Looked { generation, found }).await;
        })
    }

    /// What a look found: the runs heal decides on.
    pub(super) fn heal(&mut self, looked: Looked, in_hand: &[Job]) -> Vec<Job> {
        if self.healer.is_none() || looked.generation != self.heal_generation {
            return Vec::new();
        }
        let containers = match looked.found {
            Ok((deployment, containers)) => {
                self.deployment = Some(deployment);
                containers
            }
            Err(LookFailed::Swarm) => {
                tracing::warn!(
                    host = self.host.as_deref(),
                    "heal: is not used on a Swarm stack: Swarm itself replaces a task whose healthcheck fails (the service's restart_policy)"
                );
                self.healer = None;
                return Vec::new();
            }
            Err(LookFailed::Cannot(why)) => {
                tracing::info!(host = self.host.as_deref(), "heal cannot look: {why}");
                self.deployment = None;
                return Vec::new();
            }
        };
        let Some(healer) = &mut self.healer else {
            return Vec::new();
        };
        let looks = looks(&healer.policy, &containers, in_hand);
        let now = Timestamp::now();
        let maintenance =
            crate::notify::maintenance::active(&self.runbook, &self.state_dir, now).is_some();
        let actions = healer.decide(&looks, now, maintenance);
        let window = humantime::format_duration(healer.policy.window).to_string();
        let severity = healer.policy.severity.clone();
        let memory = healer.memory.clone();
        let jobs = self.heal_jobs(actions, &window, &severity);
        self.shared.cache().heal_memory(&memory);
        jobs
    }

    /// Heal's actions as the runs that carry them out, each logged and
    /// counted as it is decided.
    fn heal_jobs(&self, actions: Vec<Action>, window: &str, severity: &str) -> Vec<Job> {
        let mut jobs = Vec::new();
        for action in actions {
            match action {
                Action::Restart { service, nth } => {
                    self.logger.event(
                        "heal",
                        &[
                            ("service", service.clone()),
                            ("action", "restart".into()),
                            ("restarts_in_window", nth.to_string()),
                        ],
                    );
                    self.shared.cache().healed(&service, "restart");
                    jobs.push(Job::HealRestart(service));
                }
                Action::GiveUp { service, restarts } => {
                    self.logger.event(
                        "heal",
                        &[("service", service.clone()), ("action", "gave-up".into())],
                    );
                    self.shared.cache().healed(&service, "gave-up");
                    let title = format!(
                        "heal gave up on {service}: still unhealthy after {} in {window}",
                        crate::ui::human::count(restarts, "restart")
                    );
                    jobs.push(Job::HealIncident {
                        service,
                        severity: severity.to_string(),
                        title,
                    });
                }
            }
        }
        jobs
    }

    /// Heal gave up and its incident is open: the `heal` targets are
    /// told, by a task of its own (None when no target hears `heal`).
    pub(super) fn gave_up(&self, service: &str, title: &str, ran: &Ran) -> Option<JoinHandle<()>> {
        let notifier = crate::notify::Notifier::new(&self.runbook, "heal", &self.state_dir)?;
        let incident = ran
            .report
            .as_ref()
            .and_then(|r| r["incident"]["id"].as_str())
            .map_or_else(
                || "no incident could be opened".to_string(),
                |id| format!("incident {id} opened"),
            );
        let result = crate::grade::CheckResult::new(
            "heal",
            service.to_string(),
            crate::grade::Status::Crit,
            format!("{title}; {incident}; no more restarts until it is healthy again"),
        );
        let summary = crate::notify::summarize(
            "heal",
            &self.runbook,
            &[result],
            ran.last.at,
            ran.last.took,
            None,
        );
        Some(tokio::spawn(async move {
            notifier.announce(&summary).await;
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            services: vec!["api".into()],
            after: 3,
            max_restarts: 2,
            window: Duration::from_secs(3600),
            backoff: Duration::from_secs(60),
            severity: "P2".into(),
        }
    }

    fn look(state: State, health: Health, streak: u64) -> Look {
        Look {
            service: "api".into(),
            container: Some(Container {
                secrets: Vec::new(),
                id: "c".into(),
                name: "api-1".into(),
                project: "shop".into(),
                service: "api".into(),
                state,
                health,
                health_output: None,
                failing_streak: streak,
                restart_count: 0,
                exit_code: None,
                image: "img".into(),
                started_at: None,
                finished_at: None,
                memory_limit: None,
                cpu_limit: None,
                pid: None,
                task: None,
            }),
            in_hand: false,
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("a time")
    }

    fn restart(nth: usize) -> Vec<Action> {
        vec![Action::Restart {
            service: "api".into(),
            nth,
        }]
    }

    #[test]
    fn restarts_after_the_streak_backs_off_and_gives_up_once_at_the_cap() {
        let policy = Policy {
            max_restarts: 3,
            ..policy()
        };
        let mut memory = BTreeMap::new();
        let sick = [look(State::Running, Health::Unhealthy, 3)];
        let mut decide_at =
            |s: i64, looks: &[Look]| decide(&policy, &mut memory, looks, at(s), false);
        let short = [look(State::Running, Health::Unhealthy, 2)];
        assert_eq!(decide_at(0, &short), vec![], "streak too short");
        assert_eq!(decide_at(1, &sick), restart(1));
        assert_eq!(decide_at(30, &sick), vec![], "backing off 60 s");
        assert_eq!(decide_at(61, &sick), restart(2));
        assert_eq!(decide_at(100, &sick), vec![], "the back-off doubled: 120 s");
        assert_eq!(decide_at(182, &sick), restart(3));
        assert_eq!(
            decide_at(200, &sick),
            vec![Action::GiveUp {
                service: "api".into(),
                restarts: 3
            }],
            "the cap reached and still unhealthy"
        );
        assert_eq!(decide_at(300, &sick), vec![], "given up: once");
        let well = [look(State::Running, Health::Healthy, 0)];
        assert_eq!(decide_at(400, &well), vec![]);
        assert_eq!(
            decide_at(4000, &sick),
            restart(1),
            "healthy again, and the window has passed"
        );
    }

    #[test]
    fn never_in_the_start_period_while_restarting_stopped_in_hand_or_in_maintenance() {
        let policy = policy();
        let mut memory = BTreeMap::new();
        for quiet in [
            look(State::Running, Health::Starting, 5),
            look(State::Restarting, Health::Unhealthy, 5),
            look(State::Exited, Health::Unhealthy, 5),
        ] {
            assert_eq!(decide(&policy, &mut memory, &[quiet], at(0), false), vec![]);
        }
        let mut in_hand = look(State::Running, Health::Unhealthy, 5);
        in_hand.in_hand = true;
        assert_eq!(
            decide(&policy, &mut memory, &[in_hand], at(0), false),
            vec![]
        );
        let sick = look(State::Running, Health::Unhealthy, 5);
        assert_eq!(
            decide(
                &policy,
                &mut memory,
                std::slice::from_ref(&sick),
                at(0),
                true
            ),
            vec![]
        );
        assert_eq!(
            decide(&policy, &mut memory, &[sick], at(0), false),
            restart(1)
        );
    }
}
