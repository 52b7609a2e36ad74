//! Starting and stopping services in dependency order, the heart of startup,
//! shutdown and restart, and "while stopped": stop some services, do the
//! work, always start them again (restart, backup, restore, the restart
//! step), so a failure or a signal never leaves the deployment down.
//!
//! A tier's services are handled together; the next tier waits for the
//! whole tier. A started service is ready when it runs and, with a
//! healthcheck, is healthy; without one, when it has kept running for 2 s.
//! A service whose dependency is not ready is not started.
//!
//! On a Swarm stack "while stopped" scales the services to zero and back
//! (`swarm::lifecycle`), so backup and restore keep their meaning there.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use indexmap::IndexMap;

use crate::check::containers::state_word;
use crate::deploy::scale::SwarmLifecycle;
use crate::docker::{Container, ContainerRef, Deployment, Health, State};
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;
use crate::runbook::Plan;
use crate::ui::progress::Progress;

/// How long a container without a healthcheck must keep running to count as ready.
const SETTLE: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(250);
/// How long a stack's services may take to scale to zero, past the grace.
const SWARM_STOP_WAIT: Duration = Duration::from_secs(60);

/// How `start` treats a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Starting {
    /// Startup: a signal starts nothing new.
    Fresh,
    /// Putting back what was stopped: every start is issued, signal or not.
    Again,
}

/// Why a container is not ready: how it stands, and whether a signal cut
/// the wait short.
enum NotReady {
    Failed(String),
    Interrupted(String),
}

/// What `while_stopped` did: how each service stopped, what the work gave,
/// and how each service started again.
pub(crate) struct WhileStopped<T> {
    pub stopped: Vec<CheckResult>,
    pub outcome: T,
    pub started: Vec<CheckResult>,
}

pub(crate) struct Lifecycle<'a> {
    pub deployment: &'a Deployment,
    pub progress: Progress<'a>,
    pub interrupt: Interrupt,
    /// The section results are filed under (`startup`, `shutdown`, `restart`).
    pub section: &'static str,
}

impl<'a> Lifecycle<'a> {
    /// A lifecycle for `section` that listens for Ctrl-C and SIGTERM.
    pub(crate) fn listening(
        deployment: &'a Deployment,
        progress: Progress<'a>,
        section: &'static str,
    ) -> Lifecycle<'a> {
        Lifecycle {
            deployment,
            progress,
            interrupt: Interrupt::listen(),
            section,
        }
    }

    /// The same work on a Swarm stack: services scaled instead of
    /// containers stopped and started.
    fn on_swarm(&self) -> SwarmLifecycle<'a> {
        SwarmLifecycle {
            deployment: self.deployment,
            progress: self.progress,
            interrupt: self.interrupt.clone(),
            section: self.section,
        }
    }

    /// Stops `services` (reverse dependency order, each with the plan's
    /// grace), runs `work` (told whether every one stopped), then starts them
    /// again in dependency order: always, after a failed stop, a failed work
    /// or a signal. A signal stops the stopping (the rest stay up) and is the
    /// work's to heed; the starting again still starts everything, but
    /// once a signal came it no longer waits for readiness.
    pub(crate) async fn while_stopped<T, F>(
        &self,
        plan: &Plan,
        services: &[String],
        work: impl FnOnce(bool) -> F,
    ) -> WhileStopped<T>
    where
        F: Future<Output = T>,
    {
        if self.deployment.is_stack() {
            let swarm = self.on_swarm();
            let deadline = Instant::now() + plan.startup_timeout;
            let stopped = swarm.stop(&plan.stop_order(services), deadline).await;
            let all_stopped = stopped.iter().all(|r| r.status == Status::Ok);
            let outcome = work(all_stopped).await;
            let started = self.start_again(plan, services).await;
            return WhileStopped {
                stopped,
                outcome,
                started,
            };
        }
        let stopped = match self.deployment.list().await {
            Ok(containers) => {
                self.stop(&plan.stop_order(services), &containers, plan.grace)
                    .await
            }
            Err(e) => services
                .iter()
                .map(|s| self.result(s, Status::Crit, format!("not stopped: {e}")))
                .collect(),
        };
        let all_stopped = stopped.iter().all(|r| r.status == Status::Ok);
        let outcome = work(all_stopped).await;
        let started = self.start_again(plan, services).await;
        WhileStopped {
            stopped,
            outcome,
            started,
        }
    }

    /// Starts `services` in dependency order, within the plan's startup
    /// timeout, whatever has been signalled: what opsbook stopped it starts.
    /// After a signal every start is still issued, but no one waits for a
    /// service to be ready (the result says it was not waited for).
    pub(crate) async fn start_again(&self, plan: &Plan, services: &[String]) -> Vec<CheckResult> {
        if self.deployment.is_stack() {
            let deadline = Instant::now() + plan.startup_timeout;
            return self
                .on_swarm()
                .start_again(&plan.start_order(services), &plan.depends_on, deadline)
                .await;
        }
        match self.deployment.list().await {
            Ok(containers) => {
                let deadline = Instant::now() + plan.startup_timeout;
                self.start_tiers(
                    &plan.start_order(services),
                    &plan.depends_on,
                    &containers,
                    deadline,
                    Starting::Again,
                )
                .await
            }
            Err(e) => services
                .iter()
                .map(|s| self.result(s, Status::Crit, format!("not started again: {e}")))
                .collect(),
        }
    }

    /// Starts each tier in turn, waiting until its services are ready or
    /// `deadline` passes. `depends_on` tells which services a service needs:
    /// one whose dependency failed is left alone. A signal starts nothing new.
    pub(crate) async fn start(
        &self,
        tiers: &[Vec<String>],
        depends_on: &IndexMap<String, Vec<String>>,
        containers: &[ContainerRef],
        deadline: Instant,
    ) -> Vec<CheckResult> {
        if self.deployment.is_stack() {
            return self.on_swarm().start(tiers, depends_on, deadline).await;
        }
        self.start_tiers(tiers, depends_on, containers, deadline, Starting::Fresh)
            .await
    }

    async fn start_tiers(
        &self,
        tiers: &[Vec<String>],
        depends_on: &IndexMap<String, Vec<String>>,
        containers: &[ContainerRef],
        deadline: Instant,
        starting: Starting,
    ) -> Vec<CheckResult> {
        let mut results = Vec::new();
        let mut not_ready: HashSet<String> = HashSet::new();
        for tier in tiers {
            let mut jobs = Vec::new();
            for service in tier {
                let blocked = depends_on
                    .get(service)
                    .and_then(|needs| needs.iter().find(|need| not_ready.contains(*need)));
                if let Some(need) = blocked {
                    results.push(self.result(
                        service,
                        Status::Unknown,
                        format!("not started: `{need}` is not ready"),
                    ));
                    not_ready.insert(service.clone());
                } else if starting == Starting::Fresh && self.interrupt.is_raised() {
                    results.push(self.result(service, Status::Unknown, "not started: interrupted"));
                    not_ready.insert(service.clone());
                } else {
                    jobs.push(self.start_service(service, containers, deadline, starting));
                }
            }
            for (result, ready) in join_all(jobs).await {
                if !ready {
                    not_ready.insert(result.name.clone());
                }
                results.push(result);
            }
        }
        results
    }

    /// Starts one service's containers and waits until they are ready; the
    /// result, and whether its dependents may start.
    async fn start_service(
        &self,
        service: &str,
        containers: &[ContainerRef],
        deadline: Instant,
        starting: Starting,
    ) -> (CheckResult, bool) {
        let mine: Vec<&ContainerRef> = containers.iter().filter(|c| c.service == service).collect();
        if mine.is_empty() {
            return (
                self.result(service, Status::Crit, "no container for this service"),
                false,
            );
        }
        let started = Instant::now();
        let mut was_running = true;
        for container in &mine {
            if container.state != State::Running {
                was_running = false;
                self.progress
                    .say(format!("{service}: starting {}", container.name));
                if let Err(e) = self.deployment.start(&container.id).await {
                    let message = format!("cannot start `{}`: {e}", container.name);
                    return (self.result(service, Status::Crit, message), false);
                }
            }
        }
        for container in &mine {
            match self.wait_ready(&container.id, deadline, false).await {
                Ok(()) => {}
                // Putting back after a signal: started, not waited for, and
                // its dependents are started too so nothing stays down.
                Err(NotReady::Interrupted(state)) if starting == Starting::Again => {
                    let message = format!("started again, not waited for (interrupted): {state}");
                    self.progress.say(format!("{service}: {message}"));
                    return (self.result(service, Status::Unknown, message), true);
                }
                Err(NotReady::Interrupted(state)) => {
                    let message = format!("not ready: {state} (interrupted while waiting)");
                    self.progress.say(format!("{service}: {message}"));
                    return (self.result(service, Status::Crit, message), false);
                }
                Err(NotReady::Failed(state)) => {
                    self.progress.say(format!("{service}: not ready: {state}"));
                    let message = format!("not ready: {state}");
                    return (self.result(service, Status::Crit, message), false);
                }
            }
        }
        let message = if was_running {
            "already running".to_string()
        } else {
            format!(
                "started, ready in {}",
                crate::ui::human::took(started.elapsed())
            )
        };
        self.progress.say(format!("{service}: {message}"));
        (self.result(service, Status::Ok, message), true)
    }

    /// An update's health gate: waits until the container `id` is ready,
    /// as startup waits, except that a restart by its restart policy (a
    /// crash) fails at once; the reason it is not ready, also when a signal
    /// cut the wait short.
    pub(crate) async fn gate(&self, id: &str, deadline: Instant) -> Result<(), String> {
        match self.wait_ready(id, deadline, true).await {
            Ok(()) => Ok(()),
            Err(NotReady::Failed(state)) => Err(state),
            Err(NotReady::Interrupted(state)) => {
                Err(format!("{state} (interrupted while waiting)"))
            }
        }
    }

    /// Waits for one container to be ready, until `deadline` or a signal;
    /// `no_restarts`: a container its restart policy restarted has failed.
    async fn wait_ready(
        &self,
        id: &str,
        deadline: Instant,
        no_restarts: bool,
    ) -> Result<(), NotReady> {
        loop {
            let container = self
                .deployment
                .inspect_one(id)
                .await
                .map_err(|e| NotReady::Failed(e.to_string()))?;
            match (container.state, container.health) {
                (State::Running, Health::Healthy) => return Ok(()),
                (State::Running, Health::None) if running_for(&container) >= SETTLE => {
                    return Ok(());
                }
                (State::Exited | State::Dead, _) => {
                    return Err(NotReady::Failed(describe(&container)));
                }
                _ if no_restarts && container.restart_count > 0 => {
                    // The engine resets the exit code to 0 once the restarted
                    // process runs, so it is only worth quoting in between.
                    let exit_code = match (container.state, container.exit_code) {
                        (State::Restarting, Some(code)) => format!("; exit code {code}"),
                        _ => String::new(),
                    };
                    return Err(NotReady::Failed(format!(
                        "crashed and was restarted by its restart policy ({}{exit_code})",
                        crate::ui::human::count(container.restart_count as usize, "restart"),
                    )));
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(NotReady::Failed(format!(
                    "{} (gave up at the startup timeout)",
                    describe(&container)
                )));
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = self.interrupt.raised() => return Err(NotReady::Interrupted(describe(&container))),
            }
        }
    }

    /// Stops each tier in turn (shutdown order), each container with `grace`
    /// before Docker kills it, and checks it did stop.
    pub(crate) async fn stop(
        &self,
        tiers: &[Vec<String>],
        containers: &[ContainerRef],
        grace: Duration,
    ) -> Vec<CheckResult> {
        if self.deployment.is_stack() {
            // Swarm stops each task within its own stop_grace_period.
            let deadline = Instant::now() + grace + SWARM_STOP_WAIT;
            return self.on_swarm().stop(tiers, deadline).await;
        }
        let mut results = Vec::new();
        for tier in tiers {
            if self.interrupt.is_raised() {
                for service in tier {
                    results.push(self.result(service, Status::Unknown, "not stopped: interrupted"));
                }
                continue;
            }
            results.extend(
                join_all(
                    tier.iter()
                        .map(|service| self.stop_service(service, containers, grace)),
                )
                .await,
            );
        }
        results
    }

    async fn stop_service(
        &self,
        service: &str,
        containers: &[ContainerRef],
        grace: Duration,
    ) -> CheckResult {
        let running: Vec<&ContainerRef> = containers
            .iter()
            .filter(|c| c.service == service && c.state.is_up())
            .collect();
        if running.is_empty() {
            return self.result(service, Status::Ok, "already stopped");
        }
        let started = Instant::now();
        for container in &running {
            self.progress
                .say(format!("{service}: stopping {}", container.name));
        }
        let stops = join_all(running.iter().map(|c| self.deployment.stop(&c.id, grace))).await;
        for (container, stopped) in running.iter().zip(stops) {
            if let Err(e) = stopped {
                return self.result(
                    service,
                    Status::Crit,
                    format!("cannot stop `{}`: {e}", container.name),
                );
            }
            match self.deployment.inspect_one(&container.id).await {
                Ok(now) if now.state == State::Running => {
                    return self.result(
                        service,
                        Status::Crit,
                        format!("`{}` is still running after stop", container.name),
                    );
                }
                Ok(_) => {}
                Err(e) => return self.result(service, Status::Crit, e.to_string()),
            }
        }
        let message = format!("stopped in {}", crate::ui::human::took(started.elapsed()));
        self.progress.say(format!("{service}: {message}"));
        self.result(service, Status::Ok, message)
    }

    /// Kills every running container at once: no order, no grace.
    pub(crate) async fn kill_all(&self, containers: &[ContainerRef]) -> Vec<CheckResult> {
        let kills = containers.iter().map(|container| async move {
            if !container.state.is_up() {
                return self.result(
                    &container.service,
                    Status::Ok,
                    format!("`{}` already stopped", container.name),
                );
            }
            match self.deployment.kill(&container.id).await {
                Ok(()) => {
                    self.progress
                        .say(format!("{}: killed {}", container.service, container.name));
                    self.result(
                        &container.service,
                        Status::Ok,
                        format!("`{}` killed", container.name),
                    )
                }
                Err(e) => self.result(
                    &container.service,
                    Status::Crit,
                    format!("cannot kill `{}`: {e}", container.name),
                ),
            }
        });
        join_all(kills).await
    }

    fn result(&self, service: &str, status: Status, message: impl Into<String>) -> CheckResult {
        CheckResult::new(self.section, service, status, message)
    }
}

fn running_for(container: &Container) -> Duration {
    let Some(started) = container.started_at else {
        return Duration::ZERO;
    };
    let seconds = jiff::Timestamp::now().duration_since(started).as_secs_f64();
    Duration::from_secs_f64(seconds.max(0.0))
}

/// `running, health unhealthy: "pg_isready: no response"`, `exited with code 1`.
fn describe(container: &Container) -> String {
    match (container.state, container.health) {
        (State::Exited | State::Dead, _) => format!(
            "{} with code {}",
            state_word(container.state),
            container.exit_code.unwrap_or_default()
        ),
        (state, Health::None) => state_word(state).to_string(),
        (state, health) => {
            let health = match health {
                Health::Starting => "starting",
                Health::Healthy => "healthy",
                Health::Unhealthy => "unhealthy",
                Health::None => "none",
            };
            let output = container
                .health_output
                .as_deref()
                .and_then(|o| o.lines().next())
                .map(|o| format!(": {}", crate::redact::quote(o)))
                .unwrap_or_default();
            format!("{}, health {health}{output}", state_word(state))
        }
    }
}
