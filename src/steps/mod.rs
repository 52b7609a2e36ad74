//! The step engine shared by incident playbooks, procedures (`opsbook run`)
//! and the before/after hooks: steps run in order, each to an outcome, and
//! the first failure ends the run unless the step says `continue_on_error`.
//!
//! Destructive steps (`stop`, `restart`, `pause`, `scale`, `update`,
//! `rollback`, `run`, `sh`, `exec`, `rotate`) are
//! asked on a terminal; without one they need `--yes`, and a run that would
//! need an answer it cannot get is refused before its first step. A signal
//! lets the step in hand finish (a `wait` is cut short) and runs nothing more.
//!
//! The engine imports no command: what a step needs from one (taking a
//! backup) is handed to it as a `TakeBackup`.

mod containers;
mod engine;
pub(crate) mod hooks;
pub(crate) mod procedure;
pub(crate) mod report;
pub(crate) mod rotate;
mod rotation;
mod silence;
mod swarm_secret;
mod update;

use std::time::Duration;

use futures_util::future::LocalBoxFuture;

use crate::docker::Deployment;
use crate::error::Error;
use crate::grade::Status;
use crate::interrupt::Interrupt;
use crate::runbook::Runbook;
use crate::runbook::model::{Step, Targets};
use crate::ui::progress::Progress;

use engine::Engine;

/// What one step did.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// 1-based position in its list.
    pub number: usize,
    pub step: String,
    pub status: Status,
    pub message: String,
    pub started_at: jiff::Timestamp,
    pub took: Duration,
}

/// How a `backup:` step makes a backup: the command running the steps hands
/// this in, so the engine never depends on the backup command.
pub(crate) trait TakeBackup {
    /// Makes one backup; the status and message of the step.
    fn take(&self) -> LocalBoxFuture<'_, (Status, String)>;

    /// Makes one backup, every result of it into `report`.
    fn backup_into<'a>(
        &'a self,
        report: &'a mut crate::render::Report,
    ) -> LocalBoxFuture<'a, Result<(), Error>>;
}

/// What a run of steps is set up with.
#[derive(Clone, Copy)]
pub(crate) struct Setup<'a> {
    pub runbook: &'a Runbook,
    pub progress: Progress<'a>,
    /// The operator said yes to everything (`--yes`, or a hook of a command
    /// already confirmed).
    pub yes: bool,
    /// `None` where a backup step cannot run (a backup's own hooks).
    pub backups: Option<&'a dyn TakeBackup>,
    /// The state folder: the image history of `update` and `rollback` steps.
    pub state_dir: &'a std::path::Path,
}

/// Runs `steps` (`what`: "playbook `x`", for messages) against the runbook's
/// deployment (steps that need Docker fail if it is unreachable), handing
/// each outcome to `record`. A destructive step that needs a yes it cannot
/// get refuses the run before its first step (exit 3). Returns the outcomes
/// and whether a signal cut the run short.
pub(crate) async fn run(
    setup: Setup<'_>,
    steps: &[Step],
    what: &str,
    record: impl FnMut(&Outcome),
) -> Result<(Vec<Outcome>, bool), Error> {
    if !setup.yes {
        needs_confirmation(steps, what)?;
    }
    let deployment = Deployment::connect(setup.runbook.plan.project.clone())
        .await
        .ok();
    let engine = Engine {
        setup,
        deployment: deployment.as_ref(),
        interrupt: Interrupt::listen(),
        redactor: setup.runbook.redactor(),
        paused: std::sync::Mutex::new(Vec::new()),
        silences: tokio::sync::Mutex::new(Vec::new()),
        what: what.to_string(),
        so_far: std::sync::Mutex::new(Status::Ok),
    };
    let outcomes = engine.run(steps, record).await;
    Ok((outcomes, engine.interrupt.is_raised()))
}

/// One line that says what a step does: `stop: api, web`, `rotate: .env JWT_SECRET`.
pub(crate) fn describe(step: &Step) -> String {
    let names = |targets: &Targets| targets.value.0.join(", ");
    let action = if let Some(t) = &step.start {
        format!("start: {}", names(t))
    } else if let Some(t) = &step.stop {
        format!("stop: {}", names(t))
    } else if let Some(t) = &step.restart {
        format!("restart: {}", names(t))
    } else if let Some(t) = &step.pause {
        format!("pause: {}", names(t))
    } else if let Some(t) = &step.unpause {
        format!("unpause: {}", names(t))
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
    } else if let Some(rotate) = &step.rotate_secret {
        format!("rotate_secret: {}", rotate.secret.value)
    } else if let Some(t) = &step.update {
        format!("update: {}", names(t))
    } else if let Some(t) = &step.rollback {
        format!("rollback: {}", names(t))
    } else if let Some(prune) = &step.images_prune {
        match prune.keep {
            Some(keep) => format!("images prune (keep {keep})"),
            None => "images prune".to_string(),
        }
    } else if let Some(scale) = &step.scale {
        format!("scale: {} to {}", scale.service.value, scale.replicas.value)
    } else if let Some(message) = &step.notify {
        format!("notify: {message}")
    } else if let Some(window) = &step.maintenance {
        format!("maintenance: {}", window.value)
    } else if let Some(silence) = &step.silence {
        let matchers: Vec<String> = silence
            .matchers
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("silence: {} in {}", matchers.join(", "), silence.url.value)
    } else if let Some(http) = &step.http {
        match http
            .method
            .as_deref()
            .filter(|m| !m.eq_ignore_ascii_case("GET"))
        {
            Some(method) => format!("http: {} {}", method.to_uppercase(), http.url.value),
            None => format!("http: {}", http.url.value),
        }
    } else {
        "nothing".to_string()
    };
    if step.continue_on_error {
        format!("{action} (continue on error)")
    } else {
        action
    }
}

/// Whether a step, or a step of its branches, is destructive.
fn is_destructive_within(step: &Step) -> bool {
    is_destructive(step)
        || step.on_failure.iter().any(is_destructive_within)
        || step.on_timeout.iter().any(is_destructive_within)
}

/// Whether a step changes the deployment or runs arbitrary commands.
pub(crate) fn is_destructive(step: &Step) -> bool {
    step.stop.is_some()
        || step.restart.is_some()
        || step.pause.is_some()
        || step.scale.is_some()
        || step.update.is_some()
        || step.rollback.is_some()
        || step.images_prune.is_some()
        || step.run.is_some()
        || step.sh.is_some()
        || step.exec.is_some()
        || step.rotate.is_some()
        || step.rotate_secret.is_some()
}

/// Refuses (exit 3, nothing run) when a destructive step would need a
/// confirmation that cannot be asked: no terminal (and no `--yes`, which the
/// caller checks).
pub(crate) fn needs_confirmation(steps: &[Step], what: &str) -> Result<(), Error> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        return Ok(());
    }
    let destructive: Vec<String> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| is_destructive_within(s))
        .map(|(i, s)| format!("{} `{}`", i + 1, describe(s)))
        .collect();
    if destructive.is_empty() {
        return Ok(());
    }
    Err(Error::NeedsYes {
        action: format!("{what} has destructive steps ({})", destructive.join(", ")),
    })
}
