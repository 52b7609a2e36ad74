//! The step engine shared by incident playbooks (and, later, procedures and
//! the before/after hooks): steps run in order, each to an outcome, and the
//! first failure ends the run unless the step says `continue_on_error`.
//!
//! Destructive steps (`stop`, `restart`, `run`, `sh`, `exec`, `rotate`) are
//! asked on a terminal; without one they need `--yes`, and a run that would
//! need an answer it cannot get is refused before its first step. A signal
//! lets the step in hand finish (a `wait` is cut short) and runs nothing more.

pub mod rotate;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::confirm;
use crate::docker::{Deployment, State};
use crate::error::Error;
use crate::host_command;
use crate::interrupt::Interrupt;
use crate::lifecycle::Lifecycle;
use crate::probe::Probe;
use crate::progress::Progress;
use crate::redact::Redactor;
use crate::report::Report;
use crate::runbook::Runbook;
use crate::runbook::model::{RotateEncoding, Step};
use crate::status::{CheckResult, Status};

/// How long a `run`, `sh` or `exec` step may take when it does not say.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How much of a command's output an outcome quotes.
const QUOTE: usize = 300;

/// What one step did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// 1-based position in its list.
    pub number: usize,
    pub step: String,
    pub status: Status,
    pub message: String,
    pub started_at: jiff::Timestamp,
    pub took: Duration,
}

/// What the steps run against.
pub struct Engine<'a> {
    pub runbook: &'a Runbook,
    /// `None` when Docker is unreachable: steps that need it fail.
    pub deployment: Option<&'a Deployment>,
    pub progress: Progress,
    pub interrupt: Interrupt,
    pub yes: bool,
    pub state_dir: PathBuf,
    pub redactor: &'a Redactor,
}

/// One line that says what a step does: `stop: api, web`, `rotate: .env JWT_SECRET`.
pub fn describe(step: &Step) -> String {
    let names = |targets: &crate::runbook::model::Targets| targets.value.0.join(", ");
    let action = if let Some(t) = &step.start {
        format!("start: {}", names(t))
    } else if let Some(t) = &step.stop {
        format!("stop: {}", names(t))
    } else if let Some(t) = &step.restart {
        format!("restart: {}", names(t))
    } else if let Some(command) = &step.run {
        format!("run: {command}")
    } else if let Some(script) = &step.sh {
        format!("sh: {script}")
    } else if let Some(exec) = &step.exec {
        format!("exec: {}: {}", exec.service.value, exec.command)
    } else if let Some(t) = &step.check {
        format!("check: {}", names(t))
    } else if step.backup.is_some() {
        "backup".to_string()
    } else if let Some(wait) = &step.wait {
        format!("wait: {wait}")
    } else if let Some(note) = &step.note {
        format!("note: {note}")
    } else if let Some(rotate) = &step.rotate {
        let restart = if rotate.restart.is_empty() {
            String::new()
        } else {
            let services: Vec<&str> = rotate.restart.iter().map(|s| s.value.as_str()).collect();
            format!(", then restart {}", services.join(", "))
        };
        format!("rotate: {} in {}{restart}", rotate.key, rotate.file)
    } else if let Some(http) = &step.http {
        format!("http: {}", http.url.value)
    } else {
        "nothing".to_string()
    };
    if step.continue_on_error {
        format!("{action} (continue on error)")
    } else {
        action
    }
}

/// Whether a step changes the deployment or runs arbitrary commands.
pub fn is_destructive(step: &Step) -> bool {
    step.stop.is_some()
        || step.restart.is_some()
        || step.run.is_some()
        || step.sh.is_some()
        || step.exec.is_some()
        || step.rotate.is_some()
}

/// Refuses (exit 3, nothing run) when a destructive step would need a
/// confirmation that cannot be asked: no terminal (and no `--yes`, which the
/// caller checks).
pub fn needs_confirmation(steps: &[Step], what: &str) -> Result<(), Error> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        return Ok(());
    }
    let destructive: Vec<String> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| is_destructive(s))
        .map(|(i, s)| format!("{} `{}`", i + 1, describe(s)))
        .collect();
    if destructive.is_empty() {
        return Ok(());
    }
    Err(Error::NeedsYes {
        action: format!("{what} has destructive steps ({})", destructive.join(", ")),
    })
}

impl Engine<'_> {
    /// Runs the steps in order, handing each outcome to `record` as soon as
    /// it is known; stops at the first failure (unless the step continues on
    /// error), at a declined step, or at a signal.
    pub async fn run(&self, steps: &[Step], mut record: impl FnMut(&Outcome)) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        let total = steps.len();
        for (index, step) in steps.iter().enumerate() {
            let number = index + 1;
            let described = describe(step);
            if self.interrupt.is_raised() {
                break;
            }
            let started_at = jiff::Timestamp::now();
            let clock = Instant::now();
            self.progress
                .say(format!("step {number}/{total}: {described}"));
            let (status, message) = if is_destructive(step) && !self.confirmed(&described) {
                (
                    Status::Warn,
                    "declined by the operator: the steps stop here".to_string(),
                )
            } else {
                self.run_one(step).await
            };
            let message = self.redactor.redact(&message).into_owned();
            self.progress
                .say(format!("step {number}/{total}: {status}: {message}"));
            let outcome = Outcome {
                number,
                step: described,
                status,
                message,
                started_at,
                took: clock.elapsed(),
            };
            record(&outcome);
            let declined = outcome.message.starts_with("declined by the operator");
            let failed = matches!(status, Status::Crit | Status::Unknown);
            outcomes.push(outcome);
            if declined || (failed && !step.continue_on_error) {
                break;
            }
        }
        outcomes
    }

    fn confirmed(&self, described: &str) -> bool {
        // `preflight` has refused a run that needs a yes it cannot get.
        confirm::confirm(&format!("run `{described}`"), self.yes).unwrap_or(false)
    }

    async fn run_one(&self, step: &Step) -> (Status, String) {
        let timeout = step.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
        if let Some(targets) = &step.start {
            return self.lifecycle(&targets.value.0, false, true).await;
        }
        if let Some(targets) = &step.stop {
            return self.lifecycle(&targets.value.0, true, false).await;
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
            return self.backup().await;
        }
        if let Some(wait) = &step.wait {
            return tokio::select! {
                () = tokio::time::sleep(wait.std()) => (Status::Ok, format!("waited {wait}")),
                () = self.interrupt.raised() => (Status::Crit, "interrupted while waiting".to_string()),
            };
        }
        if let Some(note) = &step.note {
            return match confirm::acknowledge(note) {
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
        if let Some(http) = &step.http {
            let probe = Probe::new(self.redactor);
            let ca = match &http.ca {
                Some(path) => match std::fs::read(self.runbook.resolve(path)) {
                    Ok(pem) => Some(pem),
                    Err(e) => {
                        return (Status::Crit, format!("cannot read `ca` file `{path}`: {e}"));
                    }
                },
                None => None,
            };
            let result = probe.http("http", http, ca.as_deref(), None).await;
            return (result.status, result.message);
        }
        (Status::Unknown, "the step has no action".to_string())
    }

    fn deployment(&self) -> Result<&Deployment, (Status, String)> {
        self.deployment
            .ok_or_else(|| (Status::Unknown, "Docker is unreachable".to_string()))
    }

    /// Stops and/or starts services (`all`: every service) with the
    /// ordering, grace and health waits of shutdown and startup.
    async fn lifecycle(&self, targets: &[String], stop: bool, start: bool) -> (Status, String) {
        let deployment = match self.deployment() {
            Ok(d) => d,
            Err(e) => return e,
        };
        let refs = match deployment.list().await {
            Ok(refs) => refs,
            Err(e) => return (Status::Unknown, e.to_string()),
        };
        let services: Vec<String> = if targets.iter().any(|t| t == "all") {
            let mut all: Vec<String> = self.runbook.model.services.keys().cloned().collect();
            for r in &refs {
                if !all.contains(&r.service) {
                    all.push(r.service.clone());
                }
            }
            all
        } else {
            targets.to_vec()
        };
        let lifecycle = Lifecycle {
            deployment,
            progress: self.progress,
            interrupt: self.interrupt.clone(),
            section: "step",
        };
        let mut results: Vec<CheckResult> = Vec::new();
        if stop {
            let tiers = crate::sections::tiers_of(self.runbook, &services, true);
            results.extend(lifecycle.stop(&tiers, &refs, self.runbook.plan.grace).await);
        }
        // After a stop that partly failed, what did stop still starts again.
        if start {
            let refs = match deployment.list().await {
                Ok(refs) => refs,
                Err(e) => return (Status::Unknown, e.to_string()),
            };
            let tiers = crate::sections::tiers_of(self.runbook, &services, false);
            let deadline = Instant::now() + self.runbook.plan.startup_timeout;
            // A restart always starts again what it stopped, signal or not.
            let lifecycle = Lifecycle {
                interrupt: if stop {
                    Interrupt::never()
                } else {
                    self.interrupt.clone()
                },
                ..lifecycle
            };
            results.extend(
                lifecycle
                    .start(&tiers, &self.runbook.plan.depends_on, &refs, deadline)
                    .await,
            );
        }
        summarize(&results, &services.join(", "))
    }

    async fn host(&self, argv: &[String], timeout: Duration) -> (Status, String) {
        match host_command::run(argv, &self.runbook.dir, timeout).await {
            host_command::Outcome::Exited {
                code: Some(0),
                output,
            } => (Status::Ok, quoted("exited 0", &output)),
            host_command::Outcome::Exited { code, output } => (
                Status::Crit,
                quoted(
                    &format!(
                        "exited {}",
                        code.map_or("on a signal".to_string(), |c| c.to_string())
                    ),
                    &output,
                ),
            ),
            host_command::Outcome::TimedOut => (
                Status::Crit,
                format!(
                    "no end within {}: killed",
                    humantime::format_duration(timeout)
                ),
            ),
            host_command::Outcome::Failed(reason) => (Status::Crit, reason),
        }
    }

    async fn exec(&self, service: &str, argv: &[String], timeout: Duration) -> (Status, String) {
        let deployment = match self.deployment() {
            Ok(d) => d,
            Err(e) => return e,
        };
        let refs = match deployment.list().await {
            Ok(refs) => refs,
            Err(e) => return (Status::Unknown, e.to_string()),
        };
        let Some(container) = refs
            .iter()
            .find(|c| c.service == service && c.state == State::Running)
        else {
            return (
                Status::Crit,
                format!("no running container of service `{service}`"),
            );
        };
        match tokio::time::timeout(timeout, deployment.exec(&container.id, argv)).await {
            Err(_) => (
                Status::Crit,
                format!("no end within {}", humantime::format_duration(timeout)),
            ),
            Ok(Err(e)) => (Status::Crit, e.to_string()),
            Ok(Ok(output)) => {
                let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
                said.push_str(&String::from_utf8_lossy(&output.stderr));
                match output.exit_code {
                    Some(0) => (Status::Ok, quoted("exited 0", &said)),
                    code => (
                        Status::Crit,
                        quoted(
                            &format!(
                                "exited {}",
                                code.map_or("without a code".to_string(), |c| c.to_string())
                            ),
                            &said,
                        ),
                    ),
                }
            }
        }
    }

    async fn checks(&self, names: &[String]) -> (Status, String) {
        let probe = Probe::new(self.redactor);
        let refs = match self.deployment {
            Some(deployment) => deployment.list().await.ok(),
            None => None,
        };
        let docker = match (self.deployment, refs.as_deref()) {
            (Some(deployment), Some(refs)) => Some((deployment, refs)),
            _ => None,
        };
        let results = join_all(names.iter().filter_map(|name| {
            let check = self.runbook.model.checks.get(name)?;
            Some(probe.check(&self.runbook.dir, name, check, docker))
        }))
        .await;
        summarize(&results, &names.join(", "))
    }

    async fn backup(&self) -> (Status, String) {
        let mut report = Report::new("backup", &self.runbook.display, jiff::Timestamp::now());
        // Boxed: a backup runs its hooks, which are steps (never a backup
        // step: validation refuses that), so the futures nest.
        let made = Box::pin(crate::sections::backup::create(
            self.runbook,
            false,
            &self.state_dir,
            self.progress,
            &mut report,
        ))
        .await;
        if let Err(e) = made {
            return (e.status(), e.to_string());
        }
        let id = report
            .extra
            .get("backup")
            .and_then(|b| b.get("id"))
            .and_then(|id| id.as_str())
            .map(str::to_string);
        match (report.status(), id) {
            (Status::Ok, Some(id)) => (Status::Ok, format!("backup {id}")),
            (status, id) => {
                let problems: Vec<String> = report
                    .results
                    .iter()
                    .filter(|r| r.status != Status::Ok)
                    .map(|r| format!("{}: {}", r.name, r.message))
                    .collect();
                let made = id.map_or_else(String::new, |id| format!("backup {id}; "));
                (status, format!("{made}{}", problems.join("; ")))
            }
        }
    }

    async fn rotate(&self, rotate: &crate::runbook::model::Rotate) -> (Status, String) {
        let path = self.runbook.resolve(&rotate.file);
        let key = rotate.key.clone();
        let bytes = rotate.bytes.unwrap_or(rotate::DEFAULT_BYTES);
        let encoding = rotate.encoding.unwrap_or(RotateEncoding::Base64url);
        let at = jiff::Timestamp::now();
        let rotated =
            tokio::task::spawn_blocking(move || rotate::rotate(&path, &key, bytes, encoding, at))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
        let kept = match rotated {
            Ok(kept) => kept,
            Err(reason) => return (Status::Crit, reason),
        };
        let kept_name = kept
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let done = format!(
            "{} in {}: a new {bytes}-byte value; the previous file is kept as {kept_name}",
            rotate.key, rotate.file
        );
        if rotate.restart.is_empty() {
            return (Status::Ok, done);
        }
        let services: Vec<String> = rotate.restart.iter().map(|s| s.value.clone()).collect();
        let (status, restarted) = self.lifecycle(&services, true, true).await;
        (status, format!("{done}; {restarted}"))
    }
}

/// One status and message for a set of results: the worst, and what failed.
fn summarize(results: &[CheckResult], what: &str) -> (Status, String) {
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

/// `exited 0: <the output's last line(s)>`, short.
fn quoted(head: &str, output: &str) -> String {
    let output = output.trim();
    if output.is_empty() {
        return head.to_string();
    }
    let tail: String = {
        let chars: Vec<char> = output.chars().collect();
        let from = chars.len().saturating_sub(QUOTE);
        chars[from..].iter().collect()
    };
    format!("{head}: {:?}", tail)
}
