//! Steps on containers beyond start and stop: `pause` / `unpause` (and
//! letting go of what steps that ended early paused), and `scale` through
//! compose.

use std::time::{Duration, Instant};

use crate::docker;
use crate::grade::Status;
use crate::host::command;

use super::Outcome;
use super::engine::Engine;

impl Engine<'_> {
    /// Sets the number of containers of `service` through compose (the
    /// command `startup.up` starts with, else `docker-compose` or `docker
    /// compose`), then waits until that many run.
    pub(super) async fn scale(
        &self,
        service: &str,
        replicas: u32,
        timeout: Duration,
    ) -> (Status, String) {
        let runbook = self.setup.runbook;
        let deployment = match self.deployment() {
            Ok(d) => d,
            Err(e) => return e,
        };
        let Some(project) = runbook.plan.project.clone() else {
            return (
                Status::Crit,
                "scaling needs the runbook's `project`".to_string(),
            );
        };
        let mut argv = compose_command(runbook);
        argv.extend([
            "-p".into(),
            project,
            "up".into(),
            "-d".into(),
            "--no-recreate".into(),
        ]);
        argv.extend([
            "--scale".into(),
            format!("{service}={replicas}"),
            service.to_string(),
        ]);
        let outcome = command::run(&argv, &runbook.dir, timeout).await;
        let shown = argv.join(" ");
        let (status, message) = outcome.graded(&shown, timeout, self.redactor);
        if status != Status::Ok {
            return (status, message);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let running = match deployment.list().await {
                Ok(list) => list
                    .iter()
                    .filter(|c| c.service == service && c.state == docker::State::Running)
                    .count(),
                Err(e) => return (Status::Crit, e.to_string()),
            };
            if running == replicas as usize {
                let noun = crate::ui::human::count(running, "container");
                return (Status::Ok, format!("{service}: {noun} running"));
            }
            if Instant::now() >= deadline {
                return (
                    Status::Crit,
                    format!(
                        "{service}: {running} running, not {replicas}, after {}",
                        crate::ui::human::duration(timeout)
                    ),
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Pauses (or unpauses) the running containers of `targets` (`all`:
    /// every service of the runbook, or every container of the project).
    pub(super) async fn freeze(&self, targets: &[String], pause: bool) -> (Status, String) {
        let deployment = match self.deployment() {
            Ok(d) => d,
            Err(e) => return e,
        };
        let containers = match deployment.list().await {
            Ok(containers) => containers,
            Err(e) => return (Status::Crit, e.to_string()),
        };
        let all = targets.iter().any(|t| t == "all");
        let chosen: Vec<&docker::ContainerRef> = containers
            .iter()
            .filter(|c| all || targets.contains(&c.service))
            .filter(|c| {
                if pause {
                    c.state == docker::State::Running
                } else {
                    c.state == docker::State::Paused
                }
            })
            .collect();
        let verb = if pause { "paused" } else { "unpaused" };
        if chosen.is_empty() {
            let wanted = if pause { "running" } else { "paused" };
            return (
                Status::Crit,
                format!("no {wanted} container of {}", targets.join(", ")),
            );
        }
        for container in &chosen {
            let done = if pause {
                deployment.pause(&container.id).await
            } else {
                deployment.unpause(&container.id).await
            };
            if let Err(e) = done {
                return (Status::Crit, format!("{}: {e}", container.service));
            }
            if let Ok(mut paused) = self.paused.lock() {
                if pause {
                    paused.push((container.id.clone(), container.service.clone()));
                } else {
                    paused.retain(|(id, _)| *id != container.id);
                }
            }
        }
        let mut services: Vec<&str> = chosen.iter().map(|c| c.service.as_str()).collect();
        services.dedup();
        (Status::Ok, format!("{verb} {}", services.join(", ")))
    }

    /// Unpauses what a `pause` step froze when the steps ended before its
    /// `unpause`: a failed procedure leaves no service frozen.
    pub(super) async fn unpause_left(&self, number: usize) -> Option<Outcome> {
        let left = std::mem::take(&mut *self.paused.lock().ok()?);
        let deployment = self.deployment?;
        if left.is_empty() {
            return None;
        }
        let started_at = jiff::Timestamp::now();
        let clock = Instant::now();
        let mut failed = Vec::new();
        for (id, service) in &left {
            if let Err(e) = deployment.unpause(id).await {
                failed.push(format!("{service}: {e}"));
            }
        }
        let mut services: Vec<&str> = left.iter().map(|(_, s)| s.as_str()).collect();
        services.dedup();
        let (status, message) = if failed.is_empty() {
            (
                Status::Warn,
                format!(
                    "the steps ended before their unpause: {} unpaused again",
                    services.join(", ")
                ),
            )
        } else {
            (Status::Crit, format!("still paused: {}", failed.join("; ")))
        };
        self.setup
            .progress
            .say(format!("unpause: {status}: {message}"));
        Some(Outcome {
            number,
            step: format!("unpause: {}", services.join(", ")),
            status,
            message,
            started_at,
            took: clock.elapsed(),
        })
    }
}

/// The compose command: what `startup.up` runs before its `up`, else
/// `docker-compose` when it is installed, else `docker compose`.
fn compose_command(runbook: &crate::runbook::Runbook) -> Vec<String> {
    let from_up = runbook
        .model
        .startup
        .as_ref()
        .and_then(|s| s.up.as_ref())
        .map(|up| up.argv())
        .and_then(|argv| {
            let at = argv.iter().position(|a| a == "up")?;
            Some(argv[..at].to_vec())
        })
        .filter(|prefix| !prefix.is_empty());
    if let Some(prefix) = from_up {
        return prefix;
    }
    let v1 = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| d.join("docker-compose").is_file())
    });
    if v1 {
        vec!["docker-compose".into()]
    } else {
        vec!["docker".into(), "compose".into()]
    }
}
