//! One agent: a runbook's schedule run until a signal, its runs' outcomes
//! kept in the shared cache, SIGHUP's reload (the old runbook kept when the
//! new one does not validate), and heal's and escalation's work handed to
//! the background so the schedule never waits on them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use jiff::Timestamp;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::background::{self, Background};
use super::cache::{Cache, Outcome};
use super::jobs::{self, Ran, Runner};
use super::schedule::{Job, Timetable};
use super::{AgentSpec, Logger, Shared, WATCH_EVERY, heal};
use crate::error::Error;
use crate::runbook::{self, Runbook, Source};
use crate::state::StateDir;

/// The agent of one runbook.
pub(super) struct Agent {
    /// The fleet's name for its host, when it is one of a fleet's.
    pub(super) host: Option<String>,
    /// The engine its deployment is on (heal looks at it).
    pub(super) engine: crate::docker::Engine,
    /// `heal:`, when the runbook has it.
    pub(super) healer: Option<heal::Healer>,
    /// Which `heal:` that is: a reload makes another, and a look made for
    /// the one before is not used.
    pub(super) heal_generation: u64,
    /// The engine heal looks at, connected when first needed.
    pub(super) deployment: Option<Arc<crate::docker::Deployment>>,
    pub(super) runbook: Arc<Runbook>,
    /// Where the loaded runbook's text is kept for the runs.
    pub(super) snapshot: PathBuf,
    /// Where the runbook is read again on SIGHUP.
    pub(super) source: Source,
    pub(super) state_dir: PathBuf,
    pub(super) shared: Arc<Shared>,
    pub(super) runner: Arc<Runner>,
    pub(super) logger: Logger,
    pub(super) runs: u64,
}

impl Agent {
    /// The agent of one runbook, its lock taken (one agent per runbook and
    /// state folder), nothing started yet.
    pub(super) fn new(
        spec: AgentSpec,
        log_json: bool,
    ) -> Result<(Agent, crate::state::Lock), Error> {
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
    pub(super) async fn schedule(&mut self) -> Result<(), Error> {
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
