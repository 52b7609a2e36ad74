//! Running steps one by one, with their `when`, `on_failure` and
//! `on_timeout` branches: each action done through the shared machinery
//! (lifecycle, host commands, probe; pause and scale in containers.rs, a
//! rotation in rotation.rs, silences in silence.rs) and turned into one
//! status and message. Whoever shows or records it masks it (progress,
//! report, timeline); command output is masked before it is cut. A command
//! that outlives its timeout is stopped: an exec is ended in its container
//! before `on_timeout` follows.

use std::time::{Duration, Instant};

use crate::check::Probe;
use crate::deploy::lifecycle::Lifecycle;
use crate::docker::{self, Deployment};
use crate::grade::{CheckResult, Status};
use crate::host::command;
use crate::interrupt::Interrupt;
use crate::redact::Redactor;
use crate::runbook::model::{HttpCheck, Silence, Step, WhenStatus};
use crate::ui::confirm;

use super::{Outcome, Setup, describe, is_destructive, silence};

/// How long a `run`, `sh` or `exec` step may take when it does not say.
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
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
        if let (Some(limit), Some(exec), false) =
            (step.timeout, &step.exec, step.on_timeout.is_empty())
        {
            // An exec ends its command in the container at the limit itself,
            // before `on_timeout` follows: it is not left running there.
            let argv = exec.command.argv();
            return match self.exec(&exec.service.value, &argv, limit.std()).await {
                ExecRan::Done(status, message) => (status, message, false),
                ExecRan::TimedOut(ending) => {
                    let shown = argv.join(" ");
                    let message = format!("`{shown}` did not finish within {limit}: {ending}");
                    (Status::Crit, message, true)
                }
            };
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

    fn confirmed(&self, described: &str) -> bool {
        // `needs_confirmation` has refused a run that needs a yes it cannot get.
        // The question goes to the terminal: masked like any other line.
        let asked = format!("run `{}`", self.redactor.redact(described));
        confirm::confirm(&asked, self.setup.yes).unwrap_or(false)
    }

    /// The step's one action, done: the first action key it sets.
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
            let argv = exec.command.argv();
            return match self.exec(&exec.service.value, &argv, timeout).await {
                ExecRan::Done(status, message) => (status, message),
                ExecRan::TimedOut(ending) => command::Outcome::TimedOut(ending.to_string()).graded(
                    &argv.join(" "),
                    timeout,
                    self.redactor,
                ),
            };
        }
        if let Some(targets) = &step.check {
            return self.checks(&targets.value.0).await;
        }
        if step.backup.is_some() {
            return self.backup().await;
        }
        if let Some(wait) = &step.wait {
            return self.wait(wait).await;
        }
        if let Some(note) = &step.note {
            return self.note(note);
        }
        if let Some(rotate) = &step.rotate {
            return self.rotate(rotate).await;
        }
        if let Some(rotate) = &step.rotate_secret {
            return self.rotate_secret(rotate).await;
        }
        if let Some(targets) = &step.update {
            return self.update(&targets.value.0, false).await;
        }
        if let Some(targets) = &step.rollback {
            return self.update(&targets.value.0, true).await;
        }
        if let Some(prune) = &step.images_prune {
            return self.images_prune(prune.keep).await;
        }
        if let Some(scale) = &step.scale {
            return self
                .scale(&scale.service.value, scale.replicas.value, timeout)
                .await;
        }
        if let Some(text) = &step.notify {
            return self.notify(text).await;
        }
        if let Some(window) = &step.maintenance {
            return self.maintenance(&window.value);
        }
        if let Some(wanted) = &step.silence {
            return self.silence(wanted).await;
        }
        if let Some(http) = &step.http {
            return self.http(http).await;
        }
        (Status::Unknown, "the step has no action".to_string())
    }

    /// A `backup` step: a backup taken the way the command running the
    /// steps takes one.
    async fn backup(&self) -> (Status, String) {
        match self.setup.backups {
            Some(backups) => backups.take().await,
            None => (
                Status::Unknown,
                "a backup step cannot run inside a backup".to_string(),
            ),
        }
    }

    /// An `images_prune` step: `images prune`, confirmed with the steps;
    /// its worst result and its summary line.
    async fn images_prune(&self, keep: Option<usize>) -> (Status, String) {
        let runbook = self.setup.runbook;
        let mut pruned =
            crate::render::Report::new("images prune", &runbook.display, jiff::Timestamp::now());
        let asked = crate::deploy::image_prune::Pruning {
            keep,
            dry_run: false,
            yes: true,
            state_dir: self.setup.state_dir,
        };
        if let Err(e) = crate::deploy::image_prune::prune(runbook, &asked, &mut pruned).await {
            return (Status::Crit, e.lines().join("; "));
        }
        let status = Status::worst(pruned.results.iter().map(|r| r.status));
        let said = pruned.blocks.iter().find_map(|block| match block {
            crate::render::Block::Line(line) => Some(line.clone()),
            _ => None,
        });
        (
            status,
            said.unwrap_or_else(|| "nothing to remove".to_string()),
        )
    }

    /// A `wait` step, cut short by a signal.
    async fn wait(&self, wait: &crate::runbook::units::Duration) -> (Status, String) {
        tokio::select! {
            () = tokio::time::sleep(wait.std()) => (Status::Ok, format!("waited {wait}")),
            () = self.interrupt.raised() => (Status::Crit, "interrupted while waiting".to_string()),
        }
    }

    /// A `note` step: shown, and acknowledged on the terminal.
    fn note(&self, note: &str) -> (Status, String) {
        match confirm::acknowledge(&self.redactor.redact(note)) {
            Some(true) => (Status::Ok, "confirmed by the operator".to_string()),
            Some(false) => (Status::Warn, "not confirmed by the operator".to_string()),
            None => (
                Status::Warn,
                "pending: no terminal to confirm it on; do it and note it".to_string(),
            ),
        }
    }

    /// A `notify` step: `text` sent to the runbook's `notify.webhook`, with
    /// the steps' name and status so far.
    async fn notify(&self, text: &str) -> (Status, String) {
        let url = match crate::notify::webhook_url(self.setup.runbook) {
            Some(Ok(url)) => url,
            Some(Err(reason)) => return (Status::Crit, reason),
            None => {
                return (
                    Status::Crit,
                    "the runbook has no `notify.webhook`".to_string(),
                );
            }
        };
        let so_far = self.so_far.lock().map_or(Status::Unknown, |s| *s);
        let sent = crate::notify::message(&url, &self.what, text, so_far, self.redactor).await;
        match sent {
            Ok(()) => (Status::Ok, "sent to the webhook".to_string()),
            Err(reason) => (Status::Warn, reason),
        }
    }

    /// A `silence` step: the silence made, and kept to expire when the
    /// steps end.
    async fn silence(&self, wanted: &Silence) -> (Status, String) {
        match silence::create(wanted).await {
            Ok(made) => {
                let message = format!("silence {} until the steps end", made.id);
                self.silences.lock().await.push(made);
                (Status::Ok, message)
            }
            Err(reason) => (Status::Crit, reason),
        }
    }

    /// An `http` step: the request made and graded as an http check.
    async fn http(&self, http: &HttpCheck) -> (Status, String) {
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
            .http(&runbook.dir, "http", http, ca.as_deref(), None, None)
            .await;
        (result.status, result.message)
    }

    pub(super) fn deployment(&self) -> Result<&Deployment, (Status, String)> {
        self.deployment
            .ok_or_else(|| (Status::Unknown, "Docker is unreachable".to_string()))
    }

    /// Stops and/or starts services (`all`: every service) with the
    /// ordering, grace and health waits of shutdown and startup; a restart
    /// always starts again what it stopped.
    pub(super) async fn lifecycle(
        &self,
        targets: &[String],
        stop: bool,
        start: bool,
    ) -> (Status, String) {
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
        command::run(argv, dir, timeout)
            .await
            .graded(&argv.join(" "), timeout, self.redactor)
    }

    /// Runs `argv` in the first running container of `service`, for
    /// `timeout` at most: one that outlives it is ended there (SIGTERM,
    /// then SIGKILL), and the answer says how.
    async fn exec(&self, service: &str, argv: &[String], timeout: Duration) -> ExecRan {
        let deployment = match self.deployment() {
            Ok(d) => d,
            Err((status, message)) => return ExecRan::Done(status, message),
        };
        let containers = match deployment.list().await {
            Ok(containers) => containers,
            Err(e) => return ExecRan::Done(Status::Unknown, e.to_string()),
        };
        let Some(container) = docker::running_of(&containers, service) else {
            return ExecRan::Done(
                Status::Crit,
                format!("no running container of service `{service}`"),
            );
        };
        let outcome = match deployment.exec_within(&container.id, argv, timeout).await {
            Err(e) => command::Outcome::Failed(e.to_string()),
            Ok(docker::Timed::TimedOut(ending)) => return ExecRan::TimedOut(ending),
            Ok(docker::Timed::Finished(output)) => {
                let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
                said.push_str(&String::from_utf8_lossy(&output.stderr));
                command::Outcome::Exited {
                    code: output.exit_code.and_then(|c| i32::try_from(c).ok()),
                    output: said,
                }
            }
        };
        let (status, message) = outcome.graded(&argv.join(" "), timeout, self.redactor);
        ExecRan::Done(status, message)
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
}

/// How an `exec` step's command ended.
enum ExecRan {
    /// In time (or not at all): graded.
    Done(Status, String),
    /// It outlived its timeout, and was ended in the container as this says.
    TimedOut(docker::Ending),
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

impl Engine<'_> {
    /// A `maintenance` step: opens the window for its duration, or ends it.
    fn maintenance(&self, length: &str) -> (Status, String) {
        let (state_dir, key) = (self.setup.state_dir, self.setup.runbook.state_key());
        if length == "end" {
            return match crate::notify::maintenance::close(state_dir, &key) {
                Ok(()) => (Status::Ok, "maintenance window ended".to_string()),
                Err(e) => (
                    Status::Crit,
                    format!("the maintenance window was not ended: {e}"),
                ),
            };
        }
        let Ok(lasts) = length.parse::<crate::runbook::units::Duration>() else {
            return (Status::Crit, format!("`{length}` is not a duration"));
        };
        let until = jiff::SignedDuration::try_from(lasts.std())
            .ok()
            .and_then(|span| jiff::Timestamp::now().checked_add(span).ok());
        let Some(until) = until else {
            return (Status::Crit, format!("`{length}` is too long"));
        };
        match crate::notify::maintenance::open(state_dir, &key, until, &self.what) {
            Ok(()) => (
                Status::Ok,
                format!(
                    "maintenance window until {}",
                    until.strftime("%Y-%m-%d %H:%M:%S UTC")
                ),
            ),
            Err(e) => (
                Status::Crit,
                format!("the maintenance window was not opened: {e}"),
            ),
        }
    }
}
