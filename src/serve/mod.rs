//! `opsbook serve`: the always-on agent of one runbook (`agent`). It runs
//! the runbook's `schedule:` (each run the one-shot command, see `jobs`),
//! keeps what the runs said (`cache`) and answers `/metrics`, `/healthz`
//! and a status page from it (`http`), and takes the heartbeats' pings
//! (`pings`). One agent per runbook (a lock);
//! SIGTERM or SIGINT stop it once the runs in hand have ended the way the
//! command ends on a signal; SIGHUP reloads the runbook, keeping the old
//! one when the new one does not validate. One log line per run on stderr.
//! The scheduler itself never waits on the engine or a notification target:
//! heal's looks, escalation and heal's announcements run beside it
//! (`background`), so a due run starts on time and a signal is taken at
//! once, whatever hangs.

mod agent;
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
mod pings;
pub(crate) mod schedule;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use jiff::Timestamp;
use tokio::sync::watch;

use crate::error::Error;
use crate::redact::Redactor;
use crate::runbook::{Runbook, Source};
use agent::Agent;
use cache::Cache;
use jobs::Ran;
use schedule::Timetable;

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
