//! Notifications: the Slack-compatible `notify.webhook` of old (`slack`),
//! and the named `notify.targets`, which hear one-shot commands and
//! `opsbook serve`'s runs alike (a scheduled run is the command, run as a
//! child): healthchecks pings, ntfy, Discord, Teams, a JSON webhook, mail,
//! PagerDuty.
//!
//! A [`Notifier`] is made when a command that a target hears starts
//! (healthchecks gets `/start`) and told the outcome when it ends; each
//! target's streak then decides whether it speaks. All targets are sent to
//! concurrently under one deadline. A notification never changes the exit
//! code: what failed to go out is a warning on stderr, masked, naming the
//! target, never its URL.

mod delivery;
mod discord;
mod email;
mod healthchecks;
pub(crate) mod maintenance;
mod message;
mod ntfy;
mod pagerduty;
mod slack;
mod streak;
pub(crate) mod targets;
mod teams;
mod webhook;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::join_all;

use crate::grade::Status;
use tokio::time::Instant;

pub(crate) use message::Summary;
pub(crate) use slack::{message, send, wanted, webhook_url};

use crate::redact::Redactor;
use crate::runbook::Runbook;
use delivery::Request;
use healthchecks::Ping;
use message::Tone;
use streak::{Decision, Streak};
use targets::{Kind, Target};

/// How long all the notifications of one run may take, retries included.
const DEADLINE: Duration = Duration::from_secs(30);
/// How long the `/start` pings may hold up the command.
const START_DEADLINE: Duration = Duration::from_secs(5);

/// The targets that hear one run, from its start to its end.
pub(crate) struct Notifier {
    event: String,
    runbook_key: String,
    targets: Vec<Target>,
    state_dir: PathBuf,
    rid: String,
    redactor: Redactor,
    client: reqwest::Client,
}

impl Notifier {
    /// The notifier of a run of `event` (`backup prune`), or None when no
    /// target hears it. Targets that cannot be made ready are warned about.
    pub(crate) fn new(runbook: &Runbook, event: &str, state_dir: &Path) -> Option<Notifier> {
        if !enabled() {
            return None;
        }
        let mut heard = Vec::new();
        for target in targets::resolve(runbook, event) {
            match target {
                Ok(target) => heard.push(target),
                Err(problem) => warn(runbook.redactor(), &problem),
            }
        }
        if heard.is_empty() {
            return None;
        }
        let client = match reqwest::Client::builder()
            .user_agent(concat!("opsbook/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(client) => client,
            Err(e) => {
                warn(runbook.redactor(), &format!("notifications are off: {e}"));
                return None;
            }
        };
        Some(Notifier {
            event: event.to_string(),
            runbook_key: runbook.state_key(),
            targets: heard,
            state_dir: state_dir.to_path_buf(),
            rid: healthchecks::run_id(),
            redactor: runbook.redactor().clone(),
            client,
        })
    }

    /// Tells the healthchecks targets the run has begun.
    pub(crate) async fn started(&self) {
        let deadline = Instant::now() + START_DEADLINE;
        let pings = self.targets.iter().filter_map(|t| match &t.kind {
            Kind::Healthchecks(url) => {
                Some((t, healthchecks::request(url, Ping::Start, &self.rid, None)))
            }
            _ => None,
        });
        let sent = pings.map(|(target, request)| async move {
            (
                target,
                delivery::send(&self.client, &request, deadline).await,
            )
        });
        for (target, outcome) in join_all(sent).await {
            if let Err(problem) = outcome {
                self.warn_failed(target, &problem);
            }
        }
    }

    /// Counts the run in every target's streak and sends what is due.
    pub(crate) async fn finished(&self, runbook: &Runbook, summary: &Summary) {
        let now = jiff::Timestamp::now();
        let window = maintenance::active(runbook, &self.state_dir, now);
        let path = self.streak_file();
        // One run of a command at a time updates its counts; the lock goes
        // with the file.
        let _lock = match lock(&path) {
            Ok(lock) => Some(lock),
            Err(e) => {
                warn(
                    &self.redactor,
                    &format!("notification counts are not kept: {e}"),
                );
                None
            }
        };
        let mut streaks = load(&path);
        let deadline = Instant::now() + DEADLINE;
        let mut work = Vec::new();
        for target in &self.targets {
            let streak = streaks.remove(&target.name).unwrap_or_default();
            work.push(self.settle(target, streak, summary, window.as_ref(), deadline));
        }
        for (name, streak) in join_all(work).await {
            streaks.insert(name, streak);
        }
        if let Err(e) = save(&path, &streaks) {
            warn(
                &self.redactor,
                &format!("notification counts are not kept: {e}"),
            );
        }
    }

    /// Sends `summary` to every target as it is, with no streak: an event
    /// that happens once (an escalation, heal giving up). Healthchecks
    /// targets are heartbeats of runs and are left out. Returns the names
    /// of the targets that took it.
    pub(crate) async fn announce(&self, summary: &Summary) -> Vec<String> {
        let deadline = Instant::now() + DEADLINE;
        let sends = self.targets.iter().map(|target| async move {
            let sent = match &target.kind {
                Kind::Healthchecks(_) => false,
                Kind::Email(mail) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match email::send(mail, summary, Tone::Alert, left).await {
                        Ok(()) => true,
                        Err(problem) => {
                            self.warn_failed(target, &problem);
                            false
                        }
                    }
                }
                Kind::PagerDuty(pd) => {
                    let all = [Status::Ok, Status::Warn, Status::Crit, Status::Unknown];
                    let events = pagerduty::events(
                        pd,
                        summary,
                        &format!("{}/{}", self.runbook_key, self.event),
                        &all,
                        true,
                        false,
                        &BTreeMap::new(),
                    );
                    let mut sent = !events.is_empty();
                    for event in &events {
                        sent &= self.deliver(target, &event.request, deadline).await;
                    }
                    sent
                }
                Kind::Ntfy(n) => {
                    self.deliver(target, &ntfy::request(n, summary, Tone::Alert), deadline)
                        .await
                }
                Kind::Discord(url) => {
                    self.deliver(
                        target,
                        &discord::request(url, summary, Tone::Alert),
                        deadline,
                    )
                    .await
                }
                Kind::Teams(url) => {
                    self.deliver(target, &teams::request(url, summary, Tone::Alert), deadline)
                        .await
                }
                Kind::Webhook(hook) => {
                    self.deliver(
                        target,
                        &webhook::request(hook, summary, Tone::Alert),
                        deadline,
                    )
                    .await
                }
            };
            sent.then(|| target.name.clone())
        });
        join_all(sends).await.into_iter().flatten().collect()
    }

    /// One target: count, decide, send, and the counts to keep.
    async fn settle(
        &self,
        target: &Target,
        mut streak: Streak,
        summary: &Summary,
        window: Option<&maintenance::Window>,
        deadline: Instant,
    ) -> (String, Streak) {
        let status = summary.status;
        if let Kind::Healthchecks(url) = &target.kind {
            let ping = match (summary.exit_code, window) {
                (0, _) => Ping::Exit(0),
                (_, Some(_)) => Ping::Log,
                (code, None) => Ping::Exit(code),
            };
            let request = healthchecks::request(url, ping, &self.rid, Some(summary));
            self.deliver(target, &request, deadline).await;
            return (target.name.clone(), streak);
        }
        let decision = streak::count(&mut streak, status, &target.rule);
        if let Some(window) = window
            && matches!(decision, Decision::Alert | Decision::Resolved)
        {
            tracing::info!(target = %target.name, "held: maintenance ({})", self.redactor.redact(&window.why));
            return (target.name.clone(), streak);
        }
        if let Kind::PagerDuty(pd) = &target.kind {
            // A run that could not run, or one in a window, changes no alert.
            if window.is_some() || (status == Status::Unknown && !target.rule.on.contains(&status))
            {
                return (target.name.clone(), streak);
            }
            let alerting = target.rule.on.contains(&status)
                && (decision == Decision::Alert || streak.alerted.is_some());
            self.pagerduty(
                target,
                pd,
                &mut streak,
                summary,
                alerting,
                decision,
                deadline,
            )
            .await;
            return (target.name.clone(), streak);
        }
        let tone = match decision {
            Decision::Quiet => return (target.name.clone(), streak),
            Decision::Alert | Decision::Every => Tone::Alert,
            Decision::Resolved => Tone::Resolved,
        };
        let sent = match &target.kind {
            Kind::Email(mail) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let outcome = email::send(mail, summary, tone, left).await;
                if let Err(problem) = &outcome {
                    self.warn_failed(target, problem);
                }
                outcome.is_ok()
            }
            kind => {
                let request = match kind {
                    Kind::Ntfy(n) => ntfy::request(n, summary, tone),
                    Kind::Discord(url) => discord::request(url, summary, tone),
                    Kind::Teams(url) => teams::request(url, summary, tone),
                    Kind::Webhook(hook) => webhook::request(hook, summary, tone),
                    Kind::Healthchecks(_) | Kind::PagerDuty(_) | Kind::Email(_) => {
                        return (target.name.clone(), streak);
                    }
                };
                self.deliver(target, &request, deadline).await
            }
        };
        if sent {
            streak::delivered(&mut streak, decision, status);
        }
        (target.name.clone(), streak)
    }

    #[allow(clippy::too_many_arguments)]
    async fn pagerduty(
        &self,
        target: &Target,
        pd: &pagerduty::PagerDuty,
        streak: &mut Streak,
        summary: &Summary,
        alerting: bool,
        decision: Decision,
        deadline: Instant,
    ) {
        let resolve_all = decision == Decision::Resolved;
        let events = pagerduty::events(
            pd,
            summary,
            &format!("{}/{}", self.runbook_key, self.event),
            &target.rule.on,
            alerting,
            resolve_all,
            &streak.open,
        );
        let sent = events.iter().map(|event| async move {
            (event, self.deliver(target, &event.request, deadline).await)
        });
        let mut all_sent = true;
        for (event, sent) in join_all(sent).await {
            all_sent &= sent;
            if !sent {
                continue;
            }
            match event.opens {
                Some(status) => {
                    streak.open.insert(event.key.clone(), status);
                }
                None => {
                    streak.open.remove(&event.key);
                }
            }
        }
        if all_sent && (alerting || resolve_all) {
            streak::delivered(streak, decision, summary.status);
        }
    }

    /// Sends one request; whether it went out (a failure is warned about).
    async fn deliver(&self, target: &Target, request: &Request, deadline: Instant) -> bool {
        match delivery::send(&self.client, request, deadline).await {
            Ok(()) => {
                tracing::info!(target = %target.name, "notified");
                true
            }
            Err(problem) => {
                self.warn_failed(target, &problem);
                false
            }
        }
    }

    fn warn_failed(&self, target: &Target, problem: &str) {
        warn(
            &self.redactor,
            &format!("notify target {} failed: {problem}", target.label()),
        );
    }

    /// `<state>/notify/<runbook key>/<event>.json`.
    fn streak_file(&self) -> PathBuf {
        let slug: String = self
            .event
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.state_dir
            .join("notify")
            .join(&self.runbook_key)
            .join(format!("{slug}.json"))
    }
}

/// Set on a fleet's per-host runs: the host's own cron and agent notify
/// for it; a look from the operator's machine must not ping its heartbeat,
/// count its streaks twice or escalate its incidents.
pub(crate) const OFF_VARIABLE: &str = "OPSBOOK_NO_NOTIFY";

/// Whether this process sends notifications at all.
pub(crate) fn enabled() -> bool {
    std::env::var_os(OFF_VARIABLE).is_none_or(|v| v.is_empty())
}

fn warn(redactor: &Redactor, text: &str) {
    tracing::warn!("{}", redactor.redact(text));
}

fn lock(path: &Path) -> std::io::Result<std::fs::File> {
    let lock_path = path.with_extension("lock");
    if let Some(parent) = lock_path.parent() {
        crate::state::files::create_private_dir(parent)?;
    }
    let file = crate::state::files::open_private(
        &lock_path,
        OpenOptions::new().write(true).create(true).truncate(false),
    )?;
    // Another run of the command is sending: wait for it, but not for ever.
    let give_up = std::time::Instant::now() + DEADLINE + Duration::from_secs(5);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::other(
                    "another run held the notification counts too long",
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

fn load(path: &Path) -> BTreeMap<String, Streak> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn save(path: &Path, streaks: &BTreeMap<String, Streak>) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(streaks).map_err(std::io::Error::other)?;
    crate::state::files::write_private(path, &bytes)
}

/// The summary of a run that ended in `results` (a report's, or its
/// errors'), for the notifier.
pub(crate) fn summarize(
    event: &str,
    runbook: &Runbook,
    results: &[crate::grade::CheckResult],
    started_at: jiff::Timestamp,
    duration: Duration,
    report_text: Option<String>,
) -> Summary {
    let mut summary = Summary::new(
        event,
        runbook.name(),
        crate::host::hostname(),
        results,
        runbook.redactor(),
    );
    summary.started_at = started_at;
    summary.duration = duration;
    summary.report_text = report_text;
    summary
}
