//! `opsbook serve`: the always-on agent of one runbook. It runs the
//! runbook's `schedule:` (each run the one-shot command, see `jobs`),
//! keeps what the runs said (`cache`) and answers `/metrics`, `/healthz`
//! and a status page from it (`http`). One agent per runbook (a lock);
//! SIGTERM or SIGINT stop it once the runs in hand have ended the way the
//! command ends on a signal; SIGHUP reloads the runbook, keeping the old
//! one when the new one does not validate. One log line per run on stderr.
//! The scheduler itself never waits on the engine or a notification target:
//! heal's looks, escalation and heal's announcements run beside it
//! (`background`), so a due run starts on time and a signal is taken at
//! once, whatever hangs.

mod background;
pub(crate) mod cache;
mod connections;
mod fleet;
pub(crate) mod heal;
mod health;
mod http;
pub(crate) mod jobs;
pub(crate) mod launch;
mod metrics;
mod page;
pub(crate) mod schedule;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use jiff::Timestamp;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use crate::error::Error;
use crate::redact::Redactor;
use crate::runbook::{self, Runbook, Source};
use crate::state::StateDir;
use background::Background;
use cache::{Cache, Outcome};
use jobs::{Ran, Runner};
use schedule::{Job, Timetable};

/// The default address: loopback, Prometheus' port range.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:9808";

/// How often incidents (overdue, escalation) and the maintenance window
/// are looked at.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) struct Options {
    pub listen: SocketAddr,
    /// The bearer token (from `$OPSBOOK_SERVE_TOKEN`, `$OPSBOOK_TOKEN` or `--token-file`).
    pub token: Option<String>,
    pub log_json: bool,
}

/// What the HTTP side reads: the cache, and what a reload swaps.
pub(crate) struct Shared {
    pub cache: RwLock<Cache>,
    timetable: RwLock<Arc<Timetable>>,
    redactor: RwLock<Redactor>,
    /// The page and the metrics as last rendered, by path: (cache
    /// generation, second, body). Fifty scrapers a second render once.
    rendered: Mutex<std::collections::HashMap<&'static str, (u64, i64, bytes::Bytes)>>,
    /// The agent's state folder, where the heartbeats' pings are recorded.
    state_dir: PathBuf,
}

/// Why a ping was not taken.
pub(crate) enum Refused {
    /// No heartbeat of that name (the message names those there are).
    Unknown(String),
    /// It could not be recorded.
    Failed(String),
}

impl Shared {
    /// `path`'s body: rendered again only when the cache changed or the
    /// second turned (the page shows ages and the next runs).
    fn rendered(
        &self,
        path: &'static str,
        generation: u64,
        now: Timestamp,
        render: impl FnOnce() -> String,
    ) -> bytes::Bytes {
        let second = now.as_second();
        if let Ok(memo) = self.rendered.lock()
            && let Some((g, s, body)) = memo.get(path)
            && *g == generation
            && *s == second
        {
            return body.clone();
        }
        let body = bytes::Bytes::from(render());
        if let Ok(mut memo) = self.rendered.lock() {
            memo.insert(path, (generation, second, body.clone()));
        }
        body
    }

    fn timetable(&self) -> Arc<Timetable> {
        match self.timetable.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn redactor(&self) -> Redactor {
        match self.redactor.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A ping of heartbeat `name`, now: recorded in the state folder (where
    /// daily-check reads it), then taken into the cache.
    fn ping(&self, name: &str, ping: crate::state::pings::Ping) -> Result<(), Refused> {
        let key = {
            let cache = match self.cache.read() {
                Ok(cache) => cache,
                Err(poisoned) => poisoned.into_inner(),
            };
            if !cache.beats.iter().any(|(beat, _)| beat.name == name) {
                let known: Vec<&str> = cache.beats.iter().map(|(b, _)| b.name.as_str()).collect();
                return Err(Refused::Unknown(if known.is_empty() {
                    format!("unknown heartbeat `{name}`: the runbook has no `heartbeats`")
                } else {
                    format!(
                        "unknown heartbeat `{name}` (heartbeats are: {})",
                        known.join(", ")
                    )
                }));
            }
            cache.state_key.clone()
        };
        let now = Timestamp::now();
        crate::state::pings::record(&self.state_dir, &key, name, ping, now)
            .map_err(|e| Refused::Failed(e.lines().join("; ")))?;
        self.cache().pinged(name, ping, now);
        Ok(())
    }

    /// The cache, to change: what was rendered from it is stale after.
    fn cache(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        let mut cache = match self.cache.write() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        cache.generation += 1;
        cache
    }
}

/// What the HTTP side answers from: every agent's shared state, by host
/// name (one agent and no name for a runbook of its own), and the token.
pub(crate) struct Site {
    hosts: Vec<(Option<String>, Arc<Shared>)>,
    token: Option<String>,
    /// Over a fleet: the fleet file, the page's title.
    fleet: Option<String>,
}

/// One agent to run: its runbook, where its state and engine are.
pub(crate) struct AgentSpec {
    /// The fleet's name for its host; None for a runbook of its own.
    pub host: Option<String>,
    pub runbook: Runbook,
    /// The bytes `runbook` was read from (none: the embedded default).
    pub text: Option<Vec<u8>>,
    pub source: Source,
    pub state_dir: PathBuf,
    pub engine: crate::docker::Engine,
}

/// Runs one agent per spec in this process (a fleet's hosts), under one
/// listener, until a signal stops them all; returns the runs they made.
pub(crate) async fn run_agents(
    specs: Vec<AgentSpec>,
    fleet: Option<String>,
    options: Options,
) -> Result<u64, Error> {
    if !options.listen.ip().is_loopback() && options.token.is_none() {
        return Err(Error::Usage(needs_a_token(options.listen)));
    }
    let mut agents = Vec::new();
    let mut locks = Vec::new();
    for spec in specs {
        let (agent, lock) = Agent::new(spec, options.log_json)?;
        agents.push(agent);
        locks.push(lock);
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", options.listen)))?;
    let site = Arc::new(Site {
        hosts: agents
            .iter()
            .map(|a| (a.host.clone(), a.shared.clone()))
            .collect(),
        token: options.token.clone(),
        fleet,
    });
    let (stop_http, stopped) = watch::channel(false);
    let http_logger = Logger {
        json: options.log_json,
        host: None,
    };
    let server = tokio::spawn(http::serve(listener, site, http_logger, stopped));
    for agent in &agents {
        let commands = agent
            .shared
            .timetable()
            .entries
            .iter()
            .map(|e| e.job.command())
            .collect::<Vec<_>>();
        agent.logger.event(
            "serving",
            &[
                ("listen", format!("http://{}", options.listen)),
                ("runbook", agent.runbook.display.clone()),
                ("jobs", commands.join(", ")),
            ],
        );
    }
    let outcomes = futures_util::future::join_all(agents.into_iter().map(|mut agent| async move {
        let outcome = agent.schedule().await;
        outcome.map(|()| agent.runs)
    }))
    .await;
    let _ = stop_http.send(true);
    let _ = server.await;
    drop(locks);
    outcomes.into_iter().sum()
}

/// The refusal to listen beyond loopback without a token. Worded for the
/// redactor, which masks what follows `token:`, `--token-file ` or
/// `Bearer ` as a secret: the names are quoted, and no colon follows a
/// word that names a secret.
fn needs_a_token(listen: SocketAddr) -> String {
    format!(
        "listening on {listen} (beyond loopback) needs a bearer token, and none was given: \
         set the environment variable OPSBOOK_SERVE_TOKEN to a long random value, \
         or pass `--token-file` with a file holding one; every request must then \
         send it in the `Authorization` header, after `Bearer`"
    )
}

struct Agent {
    /// The fleet's name for its host, when it is one of a fleet's.
    host: Option<String>,
    /// The engine its deployment is on (heal looks at it).
    engine: crate::docker::Engine,
    /// `heal:`, when the runbook has it.
    healer: Option<heal::Healer>,
    /// Which `heal:` that is: a reload makes another, and a look made for
    /// the one before is not used.
    heal_generation: u64,
    /// The engine heal looks at, connected when first needed.
    deployment: Option<Arc<crate::docker::Deployment>>,
    runbook: Arc<Runbook>,
    /// Where the loaded runbook's text is kept for the runs.
    snapshot: PathBuf,
    /// Where the runbook is read again on SIGHUP.
    source: Source,
    state_dir: PathBuf,
    shared: Arc<Shared>,
    runner: Arc<Runner>,
    logger: Logger,
    runs: u64,
}

impl Agent {
    /// The agent of one runbook, its lock taken (one agent per runbook and
    /// state folder), nothing started yet.
    fn new(spec: AgentSpec, log_json: bool) -> Result<(Agent, crate::state::Lock), Error> {
        let AgentSpec {
            host,
            runbook,
            text,
            source,
            state_dir,
            engine,
        } = spec;
        let state = StateDir::open(&state_dir)?;
        let lock = state.lock(&format!("{}-serve", runbook.state_key()), "serve")?;
        let timetable = Timetable::new(runbook.model.schedule.as_ref()).map_err(Error::Usage)?;
        let commands: Vec<String> = timetable.entries.iter().map(|e| e.job.command()).collect();
        let recent = state
            .history(&runbook.state_key())
            .since(Timestamp::now() - jiff::SignedDuration::from_hours(72))
            .records;
        let shared = Arc::new(Shared {
            cache: RwLock::new(Cache::new(&runbook, &state_dir, &commands, recent)),
            timetable: RwLock::new(Arc::new(timetable)),
            redactor: RwLock::new(runbook.redactor().clone()),
            rendered: Mutex::new(std::collections::HashMap::new()),
            state_dir: state_dir.clone(),
        });
        let snapshot = jobs::absolute(&state_dir)
            .join("serve")
            .join(format!("{}.yaml", runbook.state_key()));
        let text_path = match &text {
            Some(bytes) => {
                keep_text(&snapshot, bytes)?;
                Some(snapshot.clone())
            }
            None => None,
        };
        let mut env: Vec<(&'static str, Option<std::ffi::OsString>)> = engine.env();
        env.push((
            runbook::FLEET_HOST_VARIABLE,
            host.as_ref().map(std::ffi::OsString::from),
        ));
        let runner = Arc::new(Runner {
            exe: std::env::current_exe()
                .map_err(|e| Error::Usage(format!("cannot find the opsbook binary: {e}")))?,
            runbook: match &source {
                Source::Embedded => None,
                _ => Some(PathBuf::from(&runbook.location)),
            },
            text: text_path,
            state_dir: jobs::absolute(&state_dir),
            env,
            running: Arc::new(Mutex::new(Vec::new())),
        });
        let healer = heal::Policy::of(&runbook)
            .map(|policy| heal::Healer::new(policy, &state_dir, &runbook.state_key()));
        let agent = Agent {
            logger: Logger {
                json: log_json,
                host: host.clone(),
            },
            host,
            engine,
            healer,
            heal_generation: 0,
            deployment: None,
            runbook: Arc::new(runbook),
            snapshot,
            source,
            state_dir,
            shared,
            runner,
            runs: 0,
        };
        Ok((agent, lock))
    }

    /// The scheduler: sleeps until the next run is due, starts it (or
    /// skips it when the same job still runs), and takes the ends of runs
    /// and the signals as they come. What could wait on a peer (heal's
    /// looks, escalation, announcements) runs beside it, never in it.
    async fn schedule(&mut self) -> Result<(), Error> {
        let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
        let mut hangup = signal(SignalKind::hangup()).map_err(signal_error)?;
        let (finished, mut ends) = mpsc::channel::<(Job, Ran)>(16);
        let (looked, mut looks) = mpsc::channel::<heal::Looked>(1);
        let mut background = Background::default();
        let mut due = self.next_times(Timestamp::now());
        let mut in_hand: Vec<Job> = Vec::new();
        let mut watch = tokio::time::interval(WATCH_EVERY);
        let mut heal_look = tokio::time::interval(heal::LOOK_EVERY);
        // A look that outlasts the interval is not followed by a burst.
        heal_look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = due.iter().map(|(_, at)| *at).min();
            let wait = next.map_or(std::time::Duration::from_secs(3600), |at| {
                at.duration_since(Timestamp::now())
                    .try_into()
                    .unwrap_or_default()
            });
            tokio::select! {
                () = tokio::time::sleep(wait) => {
                    let now = Timestamp::now();
                    for (job, at) in due.iter_mut() {
                        if *at > now {
                            continue;
                        }
                        if in_hand.contains(job) {
                            self.skipped(job, "the previous run of it has not ended");
                        } else {
                            in_hand.push(job.clone());
                            self.start(job.clone(), finished.clone());
                        }
                        let timetable = self.shared.timetable();
                        if let Some(entry) = timetable.entry(job) {
                            *at = timetable.next(entry, now).unwrap_or(Timestamp::MAX);
                        }
                    }
                }
                Some((job, ran)) = ends.recv() => {
                    in_hand.retain(|j| j != &job);
                    if let Job::HealIncident { service, title, .. } = &job
                        && let Some(announcement) = self.gave_up(service, title, &ran)
                    {
                        background.announce(announcement);
                    }
                    self.finished(&job, ran);
                }
                _ = watch.tick() => self.watch(&mut background),
                _ = heal_look.tick(), if self.healer.is_some() && !background.looking() => {
                    background.look(self.look(looked.clone()));
                }
                Some(found) = looks.recv() => {
                    for job in self.heal(found, &in_hand) {
                        in_hand.push(job.clone());
                        self.start(job, finished.clone());
                    }
                }
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
                _ = hangup.recv() => {
                    self.reload();
                    background.stop_looking();
                    due = self.next_times(Timestamp::now());
                }
            }
        }
        self.stop(in_hand, &mut ends, background).await;
        Ok(())
    }

    /// Stopping: heal's look dropped, the runs in hand given the signal and
    /// waited for (they end as the command does on a signal), and what is
    /// being sent given until `SEND_GRACE` after the signal.
    async fn stop(
        &mut self,
        mut in_hand: Vec<Job>,
        ends: &mut mpsc::Receiver<(Job, Ran)>,
        mut background: Background,
    ) {
        let signalled = tokio::time::Instant::now();
        background.stop_looking();
        if !in_hand.is_empty() {
            self.logger.event(
                "stopping",
                &[(
                    "waiting_for",
                    in_hand
                        .iter()
                        .map(Job::command)
                        .collect::<Vec<_>>()
                        .join(", "),
                )],
            );
            self.runner.terminate_runs();
            while !in_hand.is_empty() {
                let Some((job, ran)) = ends.recv().await else {
                    break;
                };
                in_hand.retain(|j| j != &job);
                self.finished(&job, ran);
            }
        }
        let dropped = background.settle(signalled + background::SEND_GRACE).await;
        if !dropped.is_empty() {
            self.logger.event(
                "dropped",
                &[
                    ("unfinished", dropped.join(", ")),
                    (
                        "reason",
                        format!(
                            "not done {}s after the signal",
                            background::SEND_GRACE.as_secs()
                        ),
                    ),
                ],
            );
        }
        self.logger
            .event("stopped", &[("runs", self.runs.to_string())]);
    }

    /// Every half minute: the page's incidents and maintenance window
    /// brought up to date, and overdue incidents escalated beside the
    /// scheduler (one pass at a time), the page updated again after.
    fn watch(&self, background: &mut Background) {
        self.shared.cache().watch(&self.runbook, &self.state_dir);
        if background.escalating() {
            return;
        }
        let runbook = self.runbook.clone();
        let state_dir = self.state_dir.clone();
        let logger = self.logger.clone();
        let shared = self.shared.clone();
        background.escalate(tokio::spawn(async move {
            let escalated = crate::incident::escalate::overdue(&runbook, &state_dir).await;
            for id in &escalated {
                logger.event("escalated", &[("incident", id.clone())]);
            }
            if !escalated.is_empty() {
                shared.cache().watch(&runbook, &state_dir);
            }
        }));
    }

    fn next_times(&self, now: Timestamp) -> Vec<(Job, Timestamp)> {
        let timetable = self.shared.timetable();
        timetable
            .entries
            .iter()
            .filter_map(|e| Some((e.job.clone(), timetable.next(e, now)?)))
            .collect()
    }

    fn start(&self, job: Job, finished: mpsc::Sender<(Job, Ran)>) {
        if let Some(state) = self.shared.cache().jobs.get_mut(&job.command()) {
            state.running = true;
        }
        let runner = self.runner.clone();
        tokio::spawn(async move {
            let ran = runner.run(&job).await;
            let _ = finished.send((job, ran)).await;
        });
    }

    fn finished(&mut self, job: &Job, ran: Ran) {
        self.runs += 1;
        let command = job.command();
        self.logger.event(
            "run",
            &[
                ("command", command.clone()),
                ("outcome", ran.last.outcome.as_str().to_string()),
                ("exit_code", ran.last.exit_code.to_string()),
                ("duration_ms", ran.last.took.as_millis().to_string()),
                (
                    "summary",
                    self.runbook
                        .redactor()
                        .redact(&ran.last.summary)
                        .into_owned(),
                ),
            ],
        );
        let mut cache = self.shared.cache();
        cache.finished(&command, ran.last, ran.report.as_ref());
        cache.refresh(&self.runbook, &self.state_dir);
    }

    fn skipped(&self, job: &Job, why: &str) {
        let command = job.command();
        self.logger.event(
            "skipped",
            &[("command", command.clone()), ("reason", why.to_string())],
        );
        let mut cache = self.shared.cache();
        let state = cache.jobs.entry(command).or_default();
        *state.runs.entry(Outcome::Skipped).or_default() += 1;
    }

    /// SIGHUP: the runbook read again; one that does not load is refused
    /// and the one running kept.
    fn reload(&mut self) {
        let loaded = runbook::load_with_text(&self.source).and_then(|(runbook, text)| {
            let timetable =
                Timetable::new(runbook.model.schedule.as_ref()).map_err(Error::Usage)?;
            if let Some(text) = &text {
                keep_text(&self.snapshot, text)?;
            }
            Ok((runbook, timetable))
        });
        match loaded {
            Ok((mut runbook, timetable)) => {
                runbook.fleet_host = self.host.clone();
                let jobs: Vec<String> = timetable.entries.iter().map(|e| e.job.command()).collect();
                if let Ok(mut current) = self.shared.timetable.write() {
                    *current = Arc::new(timetable);
                }
                if let Ok(mut redactor) = self.shared.redactor.write() {
                    *redactor = runbook.redactor().clone();
                }
                {
                    let mut cache = self.shared.cache();
                    cache.reloads += 1;
                    for job in &jobs {
                        cache.jobs.entry(job.clone()).or_default();
                    }
                    // The heartbeats as the new runbook has them.
                    cache.watch(&runbook, &self.state_dir);
                }
                // heal as the new runbook has it; its project's engine anew.
                self.healer = heal::Policy::of(&runbook)
                    .map(|policy| heal::Healer::new(policy, &self.state_dir, &runbook.state_key()));
                self.heal_generation += 1;
                self.deployment = None;
                self.runbook = Arc::new(runbook);
                self.logger.event("reloaded", &[("jobs", jobs.join(", "))]);
            }
            Err(error) => {
                self.shared.cache().reload_failures += 1;
                self.logger.event(
                    "reload refused",
                    &[
                        ("reason", error.lines().join("; ")),
                        ("kept", "the runbook loaded before".to_string()),
                    ],
                );
            }
        }
    }
}

/// The runbook's text, kept (0600) for the runs to read.
fn keep_text(path: &std::path::Path, bytes: &[u8]) -> Result<(), Error> {
    crate::state::files::write_private(path, bytes).map_err(|source| Error::State {
        path: path.to_path_buf(),
        action: "write",
        source,
    })
}

fn signal_error(e: std::io::Error) -> Error {
    Error::Usage(format!("cannot listen for signals: {e}"))
}

/// One structured line per event on stderr: `key=value` pairs, or a JSON
/// object with `--log-format json`.
#[derive(Clone)]
struct Logger {
    json: bool,
    /// The fleet's name for the agent's host, on each of its lines.
    host: Option<String>,
}

impl Logger {
    fn event(&self, event: &str, fields: &[(&str, String)]) {
        let at = Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let line = if self.json {
            let mut object = serde_json::Map::new();
            object.insert("time".into(), at.into());
            object.insert("event".into(), event.into());
            if let Some(host) = &self.host {
                object.insert("host".into(), host.clone().into());
            }
            for (key, value) in fields {
                object.insert((*key).into(), value.clone().into());
            }
            serde_json::Value::Object(object).to_string()
        } else {
            let mut line = format!("time={at} event={}", quoted(event));
            if let Some(host) = &self.host {
                line.push_str(&format!(" host={}", quoted(host)));
            }
            for (key, value) in fields {
                line.push_str(&format!(" {key}={}", quoted(value)));
            }
            line
        };
        eprintln!("{line}");
    }
}

/// A logfmt value: bare when it can be, else quoted.
fn quoted(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=')
    {
        value.to_string()
    } else {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_without_a_token_survives_the_redactor() {
        let said = needs_a_token(SocketAddr::from(([0, 0, 0, 0], 9808)));
        assert_eq!(Redactor::builtin().redact(&said), said);
        assert!(said.contains("OPSBOOK_SERVE_TOKEN") && said.contains("`--token-file`"));
    }
}
