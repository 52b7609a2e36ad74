//! The runbook's `checks`: an HTTP request judged on status, body, JSON
//! fields, latency and certificate lifetime (the pages' `curl /health`), or a
//! command run in a service's container judged on its exit code and output
//! (`docker exec db pg_isready`), a file (and its content's changes), a
//! port, a systemd unit, a PromQL query's answer, the ports listening, a
//! named process, a WebSocket's reply; and the heartbeats of jobs opsbook
//! does not run. Each runs under its own timeout; a failure
//! quotes what came back and the check's `hint`. What it quotes is masked
//! whole before it is cut short; the message is masked again wherever it
//! leaves the process.

pub(crate) mod changes;
pub(crate) mod containers;
pub(crate) mod daily;
pub(crate) mod docker_disk;
mod exec;
mod file;
pub(crate) mod heartbeats;
pub(crate) mod host;
mod http;
pub(crate) mod logs;
mod port;
pub(crate) mod preflight;
mod process;
mod prometheus;
pub(crate) mod resources;
pub(crate) mod status;
pub(crate) mod sustain;
pub(crate) mod tasks;
mod tcp;
pub(crate) use http::answer_of;
pub(crate) mod trends;
mod unit;
pub(crate) mod uptime;
mod value;
mod websocket;

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::docker::{ContainerRef, Deployment};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::redact::Redactor;
use crate::runbook::Runbook;

use crate::runbook::model::Check;
use changes::Checksums;
use value::Graded;

/// The `startup.verify` checks, against the deployment as it is now (after
/// a startup, and after a restore).
pub(crate) async fn verify_checks(
    runbook: &Runbook,
    deployment: &Deployment,
) -> Result<Vec<CheckResult>, Error> {
    let names = runbook.verify_names();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut containers = deployment.list().await?;
    if deployment.is_stack()
        && let Some(project) = &runbook.plan.project
    {
        let stack = crate::docker::Stack::read(deployment).await?;
        containers = crate::docker::with_remote_tasks(&stack, &containers, project);
    }
    Ok(Probe::new(runbook.redactor())
        .named(runbook, &names, Some((deployment, &containers)))
        .await)
}

/// A check's timeout when the runbook gives none.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// What one try may take beyond its timeout (an http check's fetch gets a
/// quarter second more; the rest is bookkeeping).
const TRY_SLACK: Duration = Duration::from_secs(1);
/// The pause between a check's tries when its `retry` gives no `delay`.
const RETRY_DELAY: Duration = Duration::from_secs(2);
/// A certificate expiring sooner than this is a warn.
pub(crate) const CERT_WARN_DAYS: i64 = 14;
/// How much of a response body is read (enough for any health endpoint).
const BODY_CAP: usize = 1024 * 1024;
/// How much of a body or of command output a failure quotes.
const QUOTE_CHARS: usize = 200;

const SECTION: &str = "checks";

/// What every check needs: an HTTP client with TLS details switched on, and the redactor.
pub(crate) struct Probe<'a> {
    /// Built on first use: loading the system's root certificates takes
    /// milliseconds better spent while Docker answers.
    client: std::sync::OnceLock<reqwest::Client>,
    redactor: &'a Redactor,
    /// The watched files' content as the last run saw it, and as this one
    /// does (`None`: nowhere to keep it, the change is not judged).
    checksums: Option<(Checksums, std::sync::Mutex<Checksums>)>,
}

/// The longest `check` may take by its own timeout and `retry`: every try
/// out to its timeout, and the pauses between. A deadline over checks that
/// leaves one less cuts a check the runbook allows.
pub(crate) fn allowance(check: &Check) -> Duration {
    let own = [
        check.http.as_ref().and_then(|c| c.timeout),
        check.exec.as_ref().and_then(|c| c.timeout),
        check.command.as_ref().and_then(|c| c.timeout),
        check.tcp.as_ref().and_then(|c| c.timeout),
        check.prometheus.as_ref().and_then(|c| c.timeout),
        check.websocket.as_ref().and_then(|c| c.timeout),
        check.port.as_ref().and_then(|c| c.timeout),
        check.process.as_ref().and_then(|c| c.timeout),
    ]
    .into_iter()
    .flatten()
    .next()
    .map_or(DEFAULT_TIMEOUT, |t| t.std());
    let (tries, delay) = match &check.retry {
        Some(retry) => (
            retry.count.value.saturating_add(1),
            retry.delay.map_or(RETRY_DELAY, |d| d.std()),
        ),
        None => (1, Duration::ZERO),
    };
    own.saturating_add(TRY_SLACK)
        .saturating_mul(tries)
        .saturating_add(delay.saturating_mul(tries - 1))
}

impl<'a> Probe<'a> {
    pub(crate) fn new(redactor: &'a Redactor) -> Probe<'a> {
        Probe {
            client: std::sync::OnceLock::new(),
            redactor,
            checksums: None,
        }
    }

    /// Judges `changed:` of file checks against `last` (the last run's).
    pub(crate) fn watching(mut self, last: Checksums) -> Probe<'a> {
        let next = std::sync::Mutex::new(last.clone());
        self.checksums = Some((last, next));
        self
    }

    /// What the next run judges `changed:` against, when watching.
    pub(crate) fn watched(&self) -> Option<Checksums> {
        let (_, next) = self.checksums.as_ref()?;
        next.lock().ok().map(|next| next.clone())
    }

    fn client(&self) -> reqwest::Client {
        self.client
            .get_or_init(|| http::client_builder().build().unwrap_or_default())
            .clone()
    }

    /// Runs one check of the runbook: its `ca` file read relative to `dir`;
    /// an exec check needs Docker and the listed containers. A check with
    /// `retry` that fails is tried again, `delay` apart; the result says
    /// how many tries it took.
    pub(crate) async fn check(
        &self,
        dir: &std::path::Path,
        name: &str,
        check: &Check,
        docker: Option<(&Deployment, &[ContainerRef])>,
    ) -> CheckResult {
        let Some(retry) = &check.retry else {
            return self.check_once(dir, name, check, docker).await;
        };
        let delay = retry.delay.map_or(RETRY_DELAY, |d| d.std());
        let tries = retry.count.value + 1;
        let started = Instant::now();
        let mut result = self.check_once(dir, name, check, docker).await;
        for tried in 2..=tries {
            if result.status == Status::Ok {
                break;
            }
            tokio::time::sleep(delay).await;
            result = self.check_once(dir, name, check, docker).await;
            if result.status == Status::Ok || tried == tries {
                result.message = format!("{} (try {tried} of {tries})", result.message);
            }
        }
        result.with_duration(started.elapsed())
    }

    async fn check_once(
        &self,
        dir: &std::path::Path,
        name: &str,
        check: &Check,
        docker: Option<(&Deployment, &[ContainerRef])>,
    ) -> CheckResult {
        let hint = check.hint.as_deref();
        if let Some(http) = &check.http {
            let ca = match &http.ca {
                Some(path) => match std::fs::read(dir.join(path)) {
                    Ok(pem) => Some(pem),
                    Err(e) => {
                        let message = format!("cannot read `ca` file `{path}`: {e}");
                        return CheckResult::new(SECTION, name, Status::Unknown, message);
                    }
                },
                None => None,
            };
            return self
                .http(dir, name, http, ca.as_deref(), check.value.as_ref(), hint)
                .await;
        }
        let value = check.value.as_ref();
        if let Some(command) = &check.command {
            return self.command(dir, name, command, value, hint).await;
        }
        if let Some(file) = &check.file {
            return self.file(dir, name, file, hint).await;
        }
        if let Some(tcp) = &check.tcp {
            return self.tcp(dir, name, tcp, hint).await;
        }
        if let Some(unit) = &check.unit {
            return self.unit(name, &unit.value, hint).await;
        }
        if let (Some(prometheus), Some(value)) = (&check.prometheus, value) {
            return self.prometheus(name, prometheus, value, hint).await;
        }
        if let Some(port) = &check.port {
            return self.port(name, port, docker, hint).await;
        }
        if let Some(process) = &check.process {
            return self.process(name, process, docker, hint).await;
        }
        if let Some(websocket) = &check.websocket {
            return self.websocket(dir, name, websocket, hint).await;
        }
        match (&check.exec, docker) {
            (Some(exec), Some((deployment, containers))) => {
                self.exec(deployment, containers, name, exec, value, hint)
                    .await
            }
            (Some(_), None) => {
                CheckResult::new(SECTION, name, Status::Unknown, "Docker is unreachable")
            }
            (None, _) => CheckResult::new(
                SECTION,
                name,
                Status::Unknown,
                "the check has no kind (http, exec, command, file, tcp, unit, prometheus, port, process or websocket)",
            ),
        }
    }

    /// Runs the runbook's checks named `names` concurrently (a `check:`
    /// step, `startup.verify`); exec checks need Docker and its containers.
    pub(crate) async fn named(
        &self,
        runbook: &Runbook,
        names: &[String],
        docker: Option<(&Deployment, &[ContainerRef])>,
    ) -> Vec<CheckResult> {
        join_all(names.iter().map(|name| async move {
            match runbook.model.checks.get(name) {
                Some(check) => self.check(&runbook.dir, name, check, docker).await,
                // Validation refuses unknown names; a runbook changed since is told.
                None => CheckResult::new(SECTION, name, Status::Unknown, "no such check"),
            }
        }))
        .await
    }

    /// The result: the hint beside a failure; the figure read, else the
    /// time the check took, as its value.
    fn finish(
        &self,
        name: &str,
        graded: Graded,
        hint: Option<&str>,
        started: Instant,
    ) -> CheckResult {
        let Graded {
            status,
            message,
            figure,
        } = graded;
        let message = match hint {
            Some(hint) if status != Status::Ok => format!("{message} (hint: {hint})"),
            _ => message,
        };
        let took = started.elapsed();
        let (value, unit) = figure.unwrap_or((took.as_secs_f64(), "seconds"));
        CheckResult::new(SECTION, name, status, message)
            .with_value(value, unit)
            .with_duration(took)
    }

    /// `: "first bytes of it"`, masked, or nothing for an empty body.
    fn quote_body(&self, bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim();
        if text.is_empty() {
            String::new()
        } else {
            format!(": {}", self.quote(text))
        }
    }

    /// The text masked while whole (a cut could part a secret from its
    /// key, or leave half a token no rule knows), then made one line, cut
    /// short and quoted.
    fn quote(&self, text: &str) -> String {
        let masked = self.redactor.redact(text);
        let flat: String = masked.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut short: String = flat.chars().take(QUOTE_CHARS).collect();
        if flat.chars().count() > QUOTE_CHARS {
            short.push('…');
        }
        crate::redact::quote(&short)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Check {
        serde_saphyr::from_str(yaml).expect("a check")
    }

    #[test]
    fn a_checks_allowance_is_every_try_out_to_its_timeout_and_the_pauses() {
        let exec = "exec: { service: db, command: [\"true\"] }";
        assert_eq!(allowance(&check(exec)), Duration::from_secs(11));
        let exec = "exec: { service: db, command: [\"true\"], timeout: 30s }\nretry: { count: 2 }";
        // 3 tries of 30 s (and a second's slack each), 2 pauses of 2 s.
        assert_eq!(allowance(&check(exec)), Duration::from_secs(97));
        let http = "http: { url: \"http://api/\", timeout: 2s }\nretry: { count: 1, delay: 10s }";
        assert_eq!(allowance(&check(http)), Duration::from_secs(16));
    }
}
