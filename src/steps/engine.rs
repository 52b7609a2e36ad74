//! Running steps one by one: each action (start, stop, restart, pause,
//! unpause, run, sh, exec, check, backup, wait, note, rotate, http) done through the shared
//! machinery (lifecycle, host commands, probe, rotate) and turned into one
//! status and message. Whoever shows or records it masks it (progress,
//! report, timeline); command output is masked before it is cut.

use std::time::{Duration, Instant};

use crate::confirm;
use crate::docker::{self, Deployment};
use crate::grade::{CheckResult, Status};
use crate::host_command;
use crate::interrupt::Interrupt;
use crate::lifecycle::Lifecycle;
use crate::probe::Probe;
use crate::redact::Redactor;
use crate::runbook::model::{ExecStep, Rotate, RotateEncoding, Step, WhenStatus};

use super::{Outcome, Setup, describe, is_destructive, rotate, silence};

/// How long a `run`, `sh` or `exec` step may take when it does not say.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How much longer than its `timeout` a command with `on_timeout` may run
/// before its own kill: the step's timeout has fired first.
const ON_TIMEOUT_SLACK: Duration = Duration::from_secs(5);

/// What the steps run against.
pub(super) struct Engine<'a> {
    pub setup: Setup<'a>,
    /// `None` when Docker is unreachable: steps that need it fail.
    pub deployment: Option<&'a Deployment>,
    pub interrupt: Interrupt,
    pub redactor: &'a Redactor,
    /// Containers a `pause` step froze and no `unpause` has let go yet:
    /// steps that end early (a failure, a signal) unpause them.
    pub paused: std::sync::Mutex<Vec<(String, String)>>,
    /// Silences a `silence` step made: expired when the steps end.
    pub silences: tokio::sync::Mutex<Vec<silence::Made>>,
    /// What the steps are ("procedure `x`"), for `notify` messages.
    pub what: String,
    /// The worst status of the steps so far, for `notify` messages.
    pub so_far: std::sync::Mutex<Status>,
}

impl Engine<'_> {
    /// Runs the steps in order, handing each outcome to `record` as soon as
    /// it is known; stops at the first failure (unless the step continues on
    /// error or its `on_failure` steps take over), at a declined step, or at
    /// a signal. Whatever `pause` froze is let go if the steps end early;
    /// `silence`s are expired however they end.
    pub(super) async fn run(
        &self,
        steps: &[Step],
        mut record: impl FnMut(&Outcome),
    ) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        let completed = self.run_list(steps, None, &mut record, &mut outcomes).await;
        // Cleanup outcomes carry the last step's number: they are not steps.
        let last = outcomes.last().map_or(0, |o| o.number);
        if (!completed || self.interrupt.is_raised())
            && let Some(outcome) = self.unpause_left(last).await
        {
            record(&outcome);
            outcomes.push(outcome);
        }
        if let Some(outcome) = self.expire_silences(last).await {
            record(&outcome);
            outcomes.push(outcome);
        }
        outcomes
    }

    /// One list of steps (the top level, or a branch of step `parent`);
    /// whether it ran to its end.
    fn run_list<'s>(
        &'s self,
        steps: &'s [Step],
        branch: Option<(usize, &'static str)>,
        record: &'s mut dyn FnMut(&Outcome),
        outcomes: &'s mut Vec<Outcome>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + 's>> {
        Box::pin(async move {
            let progress = self.setup.progress;
            let total = steps.len();
            for (index, step) in steps.iter().enumerate() {
                if self.interrupt.is_raised() {
                    return false;
                }
                let (number, described) = match branch {
                    None => (index + 1, describe(step)),
                    Some((parent, label)) => {
                        (parent, format!("{label} of {parent}: {}", describe(step)))
                    }
                };
                let shown = match branch {
                    None => format!("step {number}/{total}"),
                    Some((parent, label)) => {
                        format!("step {parent} ({label} {}/{total})", index + 1)
                    }
                };
                let started_at = jiff::Timestamp::now();
                let clock = Instant::now();
                progress.say(format!("{shown}: {described}"));
                let (status, message, timed_out) = self.decide_and_run(step, &described).await;
                let fallback = if timed_out && !step.on_timeout.is_empty() {
                    Some((&step.on_timeout, "on timeout"))
                } else if matches!(status, Status::Crit | Status::Unknown)
                    && !step.on_failure.is_empty()
                {
                    Some((&step.on_failure, "on failure"))
                } else {
                    None
                };
                // A failure its own steps take over is a warning, not the end.
                let (status, message) = match fallback {
                    Some((_, label)) => (
                        Status::Warn,
                        format!("{message}: running its {label} steps"),
                    ),
                    None => (status, message),
                };
                progress.say(format!("{shown}: {status}: {message}"));
                let outcome = Outcome {
                    number,
                    step: described,
                    status,
                    message,
                    started_at,
                    took: clock.elapsed(),
                };
                record(&outcome);
                if let Ok(mut so_far) = self.so_far.lock() {
                    *so_far = so_far.max(status);
                }
                let declined = outcome.message.starts_with("declined by the operator");
                let failed = matches!(status, Status::Crit | Status::Unknown);
                outcomes.push(outcome);
                if let Some((steps, label)) = fallback {
                    if !self
                        .run_list(steps, Some((number, label)), record, outcomes)
                        .await
                    {
                        return false;
                    }
                    continue;
                }
                if declined || (failed && !step.continue_on_error) {
                    return false;
                }
            }
            true
        })
    }

    /// A step's `when` asked, its confirmation, then the step under its
    /// `timeout` when `on_timeout` is given: status, message, timed out.
    async fn decide_and_run(&self, step: &Step, described: &str) -> (Status, String, bool) {
        if let Some(when) = &step.when {
            let runbook = self.setup.runbook;
            let names = [when.check.value.clone()];
            let containers = match self.deployment {
                Some(deployment) => deployment.list().await.ok(),
                None => None,
            };
            let docker = self.deployment.zip(containers.as_deref());
            let result = Probe::new(self.redactor)
                .named(runbook, &names, docker)
                .await;
            let now = result.first().map_or(Status::Unknown, |r| r.status);
            let wanted = match when.is {
                WhenStatus::Ok => now == Status::Ok,
                WhenStatus::Warn => now == Status::Warn,
                WhenStatus::Crit => now == Status::Crit,
                WhenStatus::Unknown => now == Status::Unknown,
                WhenStatus::Failing => now != Status::Ok,
            };
            if !wanted {
                let message = format!(
                    "skipped: check `{}` is {now} (the step runs when it is {})",
                    when.check.value,
                    format!("{:?}", when.is).to_lowercase()
                );
                return (Status::Ok, message, false);
            }
        }
        if is_destructive(step) && !self.confirmed(described) {
            let message = "declined by the operator: the steps stop here".to_string();
            return (Status::Warn, message, false);
        }
        match step.timeout.filter(|_| !step.on_timeout.is_empty()) {
            // The step's own command timeout is set past the limit, so the
            // limit is what ends it and `on_timeout` is what follows.
            Some(limit) => match tokio::time::timeout(
                limit.std(),
                self.run_one(step, limit.std() + ON_TIMEOUT_SLACK),
            )
            .await
            {
                Ok((status, message)) => (status, message, false),
                Err(_) => (Status::Crit, format!("did not finish within {limit}"), true),
            },
            None => {
                let timeout = step.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
                let (status, message) = self.run_one(step, timeout).await;
                (status, message, false)
            }
        }
    }

    /// Expires the silences the steps made, however they ended.
    async fn expire_silences(&self, number: usize) -> Option<Outcome> {
        let made = std::mem::take(&mut *self.silences.lock().await);
        if made.is_empty() {
            return None;
        }
        let started_at = jiff::Timestamp::now();
        let clock = Instant::now();
        let mut failed = Vec::new();
        for silence in &made {
            if let Err(e) = silence::expire(silence).await {
                failed.push(format!("{} ({e})", silence.id));
            }
        }
        let (status, message) = if failed.is_empty() {
            let count = crate::human::count(made.len(), "silence");
            (Status::Ok, format!("{count} expired"))
        } else {
            (
                Status::Warn,
                format!("not expired, it ends by itself: {}", failed.join(", ")),
            )
        };
        self.setup
            .progress
            .say(format!("silence: {status}: {message}"));
        Some(Outcome {
            number,
            step: "expire silences".to_string(),
            status,
            message,
            started_at,
            took: clock.elapsed(),
        })
    }

    /// Unpauses what a `pause` step froze when the steps ended before its
    /// `unpause`: a failed procedure leaves no service frozen.
    async fn unpause_left(&self, number: usize) -> Option<Outcome> {
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

    fn confirmed(&self, described: &str) -> bool {
        // `needs_confirmation` has refused a run that needs a yes it cannot get.
        // The question goes to the terminal: masked like any other line.
        let asked = format!("run `{}`", self.redactor.redact(described));
        confirm::confirm(&asked, self.setup.yes).unwrap_or(false)
    }

    async fn run_one(&self, step: &Step, timeout: Duration) -> (Status, String) {
        if let Some(targets) = &step.start {
            return self.lifecycle(&targets.value.0, false, true).await;
        }
        if let Some(targets) = &step.stop {
            return self.lifecycle(&targets.value.0, true, false).await;
        }
        if let Some(targets) = &step.pause {
            return self.freeze(&targets.value.0, true).await;
        }
        if let Some(targets) = &step.unpause {
            return self.freeze(&targets.value.0, false).await;
        }
        if let Some(targets) = &step.restart {
            return self.lifecycle(&targets.value.0, true, true).await;
        }
        if let Some(command) = &step.run {
            return self.host(&command.argv(), timeout).await;
        }
        if let Some(script) = &step.sh {
            let argv = ["sh".to_string(), "-c".to_string(), script.clone()];
            return self.host(&argv, timeout).await;
        }
        if let Some(exec) = &step.exec {
            return self
                .exec(&exec.service.value, &exec.command.argv(), timeout)
                .await;
        }
        if let Some(targets) = &step.check {
            return self.checks(&targets.value.0).await;
        }
        if step.backup.is_some() {
            return match self.setup.backups {
                Some(backups) => backups.take().await,
                None => (
                    Status::Unknown,
                    "a backup step cannot run inside a backup".to_string(),
                ),
            };
        }
        if let Some(wait) = &step.wait {
            return tokio::select! {
                () = tokio::time::sleep(wait.std()) => (Status::Ok, format!("waited {wait}")),
                () = self.interrupt.raised() => (Status::Crit, "interrupted while waiting".to_string()),
            };
        }
        if let Some(note) = &step.note {
            return match confirm::acknowledge(&self.redactor.redact(note)) {
                Some(true) => (Status::Ok, "confirmed by the operator".to_string()),
                Some(false) => (Status::Warn, "not confirmed by the operator".to_string()),
                None => (
                    Status::Warn,
                    "pending: no terminal to confirm it on; do it and note it".to_string(),
                ),
            };
        }
        if let Some(rotate) = &step.rotate {
            return self.rotate(rotate).await;
        }
        if let Some(scale) = &step.scale {
            return self
                .scale(&scale.service.value, scale.replicas.value, timeout)
                .await;
        }
        if let Some(text) = &step.notify {
            let webhook = self
                .setup
                .runbook
                .model
                .notify
                .as_ref()
                .and_then(|n| n.webhook.as_ref());
            let Some(webhook) = webhook else {
                return (
                    Status::Crit,
                    "the runbook has no `notify.webhook`".to_string(),
                );
            };
            let so_far = self.so_far.lock().map_or(Status::Unknown, |s| *s);
            let sent =
                crate::notify::message(&webhook.url.value, &self.what, text, so_far, self.redactor)
                    .await;
            return match sent {
                Ok(()) => (Status::Ok, "sent to the webhook".to_string()),
                Err(reason) => (Status::Warn, reason),
            };
        }
        if let Some(wanted) = &step.silence {
            return match silence::create(wanted).await {
                Ok(made) => {
                    let message = format!("silence {} until the steps end", made.id);
                    self.silences.lock().await.push(made);
                    (Status::Ok, message)
                }
                Err(reason) => (Status::Crit, reason),
            };
        }
        if let Some(http) = &step.http {
            let runbook = self.setup.runbook;
            let ca = match &http.ca {
                Some(path) => match std::fs::read(runbook.resolve(path)) {
                    Ok(pem) => Some(pem),
                    Err(e) => {
                        return (Status::Crit, format!("cannot read `ca` file `{path}`: {e}"));
                    }
                },
                None => None,
            };
            let result = Probe::new(self.redactor)
                .http("http", http, ca.as_deref(), None, None)
                .await;
            return (result.status, result.message);
        }
        (Status::Unknown, "the step has no action".to_string())
    }

    fn deployment(&self) -> Result<&Deployment, (Status, String)> {
        self.deployment
            .ok_or_else(|| (Status::Unknown, "Docker is unreachable".to_string()))
    }

    /// Sets the number of containers of `service` through compose (the
    /// command `startup.up` starts with, else `docker-compose` or `docker
    /// compose`), then waits until that many run.
    async fn scale(&self, service: &str, replicas: u32, timeout: Duration) -> (Status, String) {
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
        let outcome = host_command::run(&argv, &runbook.dir, timeout).await;
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
                let noun = crate::human::count(running, "container");
                return (Status::Ok, format!("{service}: {noun} running"));
            }
            if Instant::now() >= deadline {
                return (
                    Status::Crit,
                    format!(
                        "{service}: {running} running, not {replicas}, after {}",
                        crate::human::duration(timeout)
                    ),
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Pauses (or unpauses) the running containers of `targets` (`all`:
    /// every service of the runbook, or every container of the project).
    async fn freeze(&self, targets: &[String], pause: bool) -> (Status, String) {
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

    /// Stops and/or starts services (`all`: every service) with the
    /// ordering, grace and health waits of shutdown and startup; a restart
    /// always starts again what it stopped.
    async fn lifecycle(&self, targets: &[String], stop: bool, start: bool) -> (Status, String) {
        let runbook = self.setup.runbook;
        let deployment = match self.deployment() {
            Ok(d) => d,
            Err(e) => return e,
        };
        let containers = match deployment.list().await {
            Ok(containers) => containers,
            Err(e) => return (Status::Unknown, e.to_string()),
        };
        let services: Vec<String> = if targets.iter().any(|t| t == "all") {
            let mut all: Vec<String> = runbook.model.services.keys().cloned().collect();
            for c in &containers {
                if !all.contains(&c.service) {
                    all.push(c.service.clone());
                }
            }
            all
        } else {
            targets.to_vec()
        };
        let lifecycle = Lifecycle {
            deployment,
            progress: self.setup.progress,
            interrupt: self.interrupt.clone(),
            section: "step",
        };
        let plan = &runbook.plan;
        let results: Vec<CheckResult> = match (stop, start) {
            (true, true) => {
                let done = lifecycle.while_stopped(plan, &services, |_| async {}).await;
                done.stopped.into_iter().chain(done.started).collect()
            }
            (true, false) => {
                lifecycle
                    .stop(&plan.stop_order(&services), &containers, plan.grace)
                    .await
            }
            _ => {
                let deadline = Instant::now() + plan.startup_timeout;
                lifecycle
                    .start(
                        &plan.start_order(&services),
                        &plan.depends_on,
                        &containers,
                        deadline,
                    )
                    .await
            }
        };
        summarize(&results, &services.join(", "))
    }

    async fn host(&self, argv: &[String], timeout: Duration) -> (Status, String) {
        let dir = &self.setup.runbook.dir;
        host_command::run(argv, dir, timeout)
            .await
            .graded(&argv.join(" "), timeout, self.redactor)
    }

    /// Runs `argv` in the first running container of `service`.
    async fn exec(&self, service: &str, argv: &[String], timeout: Duration) -> (Status, String) {
        let deployment = match self.deployment() {
            Ok(d) => d,
            Err(e) => return e,
        };
        let containers = match deployment.list().await {
            Ok(containers) => containers,
            Err(e) => return (Status::Unknown, e.to_string()),
        };
        let Some(container) = docker::running_of(&containers, service) else {
            return (
                Status::Crit,
                format!("no running container of service `{service}`"),
            );
        };
        let outcome =
            match tokio::time::timeout(timeout, deployment.exec(&container.id, argv)).await {
                Err(_) => host_command::Outcome::TimedOut,
                Ok(Err(e)) => host_command::Outcome::Failed(e.to_string()),
                Ok(Ok(output)) => {
                    let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
                    said.push_str(&String::from_utf8_lossy(&output.stderr));
                    host_command::Outcome::Exited {
                        code: output.exit_code.and_then(|c| i32::try_from(c).ok()),
                        output: said,
                    }
                }
            };
        outcome.graded(&argv.join(" "), timeout, self.redactor)
    }

    async fn checks(&self, names: &[String]) -> (Status, String) {
        let containers = match self.deployment {
            Some(deployment) => deployment.list().await.ok(),
            None => None,
        };
        let docker = match (self.deployment, containers.as_deref()) {
            (Some(deployment), Some(containers)) => Some((deployment, containers)),
            _ => None,
        };
        let results = Probe::new(self.redactor)
            .named(self.setup.runbook, names, docker)
            .await;
        summarize(&results, &names.join(", "))
    }

    async fn rotate(&self, rotate: &Rotate) -> (Status, String) {
        let path = self.setup.runbook.resolve(&rotate.file);
        let key = rotate.key.clone();
        let bytes = rotate
            .bytes
            .as_ref()
            .map_or(rotate::DEFAULT_BYTES, |b| b.value);
        let encoding = rotate.encoding.unwrap_or(RotateEncoding::Base64url);
        let at = jiff::Timestamp::now();
        let written = path.clone();
        let rotated = tokio::task::spawn_blocking(move || {
            rotate::rotate(&written, &key, bytes, encoding, at)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        let rotated = match rotated {
            Ok(rotated) => rotated,
            Err(reason) => return (Status::Crit, reason),
        };
        let kept_name = rotated
            .kept
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut done = format!(
            "{} in {}: a new {bytes}-byte value; the previous file is kept as {kept_name}",
            rotate.key, rotate.file
        );
        if let Some(apply) = &rotate.apply {
            if let Err(reason) = self.apply_secret(apply, &rotated.new_value).await {
                let back = rotate::replace_file(&path, &rotated.old_text).map_or_else(
                    |e| format!("and the file could not be put back: {e}"),
                    |()| "the file is as it was".into(),
                );
                return (
                    Status::Crit,
                    format!(
                        "{} in {}: applying it in {} failed: {reason}; {back}",
                        rotate.key, rotate.file, apply.service.value
                    ),
                );
            }
            done.push_str(&format!("; applied in {}", apply.service.value));
        }
        let (status, mut message) = if rotate.restart.is_empty() {
            (Status::Ok, done)
        } else {
            let services: Vec<String> = rotate.restart.iter().map(|s| s.value.clone()).collect();
            let (status, restarted) = self.lifecycle(&services, true, true).await;
            (status, format!("{done}; {restarted}"))
        };
        let Some(apply) = &rotate.apply else {
            return (status, message);
        };
        // Applied: what reads the secret must work with it, or it all goes back.
        let (checked, verdict) = self.verify().await;
        if status == Status::Ok && checked == Status::Ok {
            if !verdict.is_empty() {
                message.push_str(&format!("; {verdict}"));
            }
            return (Status::Ok, message);
        }
        let failure = if status == Status::Ok {
            verdict
        } else {
            message.clone()
        };
        let put_back = self.put_secret_back(rotate, apply, &path, &rotated).await;
        (
            Status::Crit,
            // "KEY in FILE", never "KEY: …": the redactor takes that for a value.
            format!("{} in {}: {failure}; {put_back}", rotate.key, rotate.file),
        )
    }

    /// Runs the `apply` command in its service's running container with the
    /// value on its standard input (never in its argv or environment).
    async fn apply_secret(&self, apply: &ExecStep, value: &str) -> Result<(), String> {
        let deployment = self.deployment().map_err(|(_, m)| m)?;
        let containers = deployment.list().await.map_err(|e| e.to_string())?;
        let container = docker::running_of(&containers, &apply.service.value)
            .ok_or_else(|| format!("no running container of service `{}`", apply.service.value))?;
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        let line = format!("{value}\n").into_bytes();
        let fed = async move {
            let _ = sender.send(line).await;
        };
        let argv = apply.command.argv();
        let ran = deployment.exec_with_stdin(&container.id, &argv, receiver);
        let ((), ran) = tokio::join!(fed, tokio::time::timeout(DEFAULT_TIMEOUT, ran));
        match ran {
            Err(_) => Err(format!("`{}` did not finish within 5m", apply.command)),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok((Some(0), _))) => Ok(()),
            Ok(Ok((code, output))) => {
                let text = String::from_utf8_lossy(&output).into_owned();
                let said: String = self
                    .redactor
                    .redact(text.trim())
                    .chars()
                    .take(200)
                    .collect();
                Err(format!(
                    "`{}` exited {}{}",
                    apply.command,
                    code.map_or("on a signal".into(), |c| c.to_string()),
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!(": {said}")
                    }
                ))
            }
        }
    }

    /// The runbook's verify checks (`startup.verify`): their status, and
    /// what failed (or how many passed).
    async fn verify(&self) -> (Status, String) {
        let runbook = self.setup.runbook;
        let names = runbook.verify_names();
        if names.is_empty() {
            return (Status::Ok, String::new());
        }
        let containers = match self.deployment {
            Some(deployment) => deployment.list().await.ok(),
            None => None,
        };
        let docker = self.deployment.zip(containers.as_deref());
        let results = Probe::new(self.redactor)
            .named(runbook, &names, docker)
            .await;
        summarize(&results, "verify checks")
    }

    /// The old value back in the service and the file, and the services
    /// restarted on it again; what was put back, in words.
    async fn put_secret_back(
        &self,
        rotate: &Rotate,
        apply: &ExecStep,
        path: &std::path::Path,
        rotated: &rotate::Rotated,
    ) -> String {
        let mut said = Vec::new();
        match &rotated.old_value {
            Some(old) => match self.apply_secret(apply, old).await {
                Ok(()) => said.push(format!("the old value is in {} again", apply.service.value)),
                Err(e) => said.push(format!(
                    "the old value could NOT be put back in {}: {e}",
                    apply.service.value
                )),
            },
            None => said.push("there was no old value to put back in the service".into()),
        }
        match rotate::replace_file(path, &rotated.old_text) {
            Ok(()) => said.push(format!("{} is as it was", rotate.file)),
            Err(e) => said.push(format!("{} could NOT be put back: {e}", rotate.file)),
        }
        if !rotate.restart.is_empty() {
            let services: Vec<String> = rotate.restart.iter().map(|s| s.value.clone()).collect();
            let (status, restarted) = self.lifecycle(&services, true, true).await;
            said.push(format!("restarted on it: {status}: {restarted}"));
        }
        format!("put back: {}", said.join("; "))
    }
}

/// One status and message for a set of results: the worst, and what failed.
pub(crate) fn summarize(results: &[CheckResult], what: &str) -> (Status, String) {
    let status = Status::worst(results.iter().map(|r| r.status));
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.status != Status::Ok)
        .map(|r| format!("{}: {}", r.name, r.message))
        .collect();
    if failed.is_empty() {
        (Status::Ok, format!("{what}: ok"))
    } else {
        (status, failed.join("; "))
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
