//! The runbook's `checks`: an HTTP request judged on status, body, JSON
//! fields, latency and certificate lifetime (the pages' `curl /health`), or a
//! command run in a service's container judged on its exit code and output
//! (`docker exec db pg_isready`). Each runs under its own timeout; a failure
//! quotes what came back and the check's `hint`. What it quotes is masked
//! whole before it is cut short; the message is masked again wherever it
//! leaves the process.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use indexmap::IndexMap;
use serde_json::Value;

use crate::docker::{ContainerRef, Deployment, ExecOutput, State};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::human;
use crate::redact::Redactor;
use crate::runbook::Runbook;
use crate::runbook::model::{Check, ExecCheck, HttpCheck};
use crate::runbook::units;

/// The `startup.verify` checks, against the deployment as it is now (after
/// a startup, and after a restore).
pub async fn verify_checks(
    runbook: &Runbook,
    deployment: &Deployment,
) -> Result<Vec<CheckResult>, Error> {
    let names: Vec<String> = runbook
        .model
        .startup
        .as_ref()
        .map(|s| s.verify.iter().map(|v| v.value.clone()).collect())
        .unwrap_or_default();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let containers = deployment.list().await?;
    Ok(Probe::new(runbook.redactor())
        .named(runbook, &names, Some((deployment, &containers)))
        .await)
}

/// A check's timeout when the runbook gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// A certificate expiring sooner than this is a warn.
pub const CERT_WARN_DAYS: i64 = 14;
/// How much of a response body is read (enough for any health endpoint).
const BODY_CAP: usize = 1024 * 1024;
/// How much of a body or of command output a failure quotes.
const QUOTE_CHARS: usize = 200;

const SECTION: &str = "checks";

/// What every check needs: an HTTP client with TLS details switched on, and the redactor.
pub struct Probe<'a> {
    /// Built on first use: loading the system's root certificates takes
    /// milliseconds better spent while Docker answers.
    client: std::sync::OnceLock<reqwest::Client>,
    redactor: &'a Redactor,
}

impl<'a> Probe<'a> {
    pub fn new(redactor: &'a Redactor) -> Probe<'a> {
        Probe {
            client: std::sync::OnceLock::new(),
            redactor,
        }
    }

    fn client(&self) -> reqwest::Client {
        self.client
            .get_or_init(|| client_builder().build().unwrap_or_default())
            .clone()
    }

    /// Runs one check of the runbook: its `ca` file read relative to `dir`;
    /// an exec check needs Docker and the listed containers.
    pub async fn check(
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
            return self.http(name, http, ca.as_deref(), hint).await;
        }
        match (&check.exec, docker) {
            (Some(exec), Some((deployment, containers))) => {
                self.exec(deployment, containers, name, exec, hint).await
            }
            (Some(_), None) => {
                CheckResult::new(SECTION, name, Status::Unknown, "Docker is unreachable")
            }
            (None, _) => CheckResult::new(
                SECTION,
                name,
                Status::Unknown,
                "the check has neither `http` nor `exec`",
            ),
        }
    }

    /// Runs the runbook's checks named `names` concurrently (a `check:`
    /// step, `startup.verify`); exec checks need Docker and its containers.
    pub async fn named(
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

    pub async fn http(
        &self,
        name: &str,
        check: &HttpCheck,
        ca: Option<&[u8]>,
        hint: Option<&str>,
    ) -> CheckResult {
        let started = Instant::now();
        let (status, message) = self.http_verdict(check, ca).await;
        self.finish(name, status, message, hint, started)
    }

    async fn http_verdict(&self, check: &HttpCheck, ca: Option<&[u8]>) -> (Status, String) {
        let timeout = check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
        let client = match ca {
            None => self.client(),
            Some(pem) => match reqwest::Certificate::from_pem(pem)
                .and_then(|cert| client_builder().add_root_certificate(cert).build())
            {
                Ok(client) => client,
                Err(e) => return (Status::Unknown, format!("cannot use the check's `ca`: {e}")),
            },
        };
        let method = check.method.as_deref().unwrap_or("GET");
        let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
            return (Status::Unknown, format!("`{method}` is not an HTTP method"));
        };
        let mut request = client
            .request(method, check.url.value.as_str())
            .timeout(timeout);
        for (key, value) in &check.headers {
            request = request.header(key, value);
        }
        let (response, body, latency) = match fetch(request, timeout).await {
            Ok(answer) => answer,
            Err(failed) => return failed,
        };
        let code = response.status().as_u16();
        let want = check.status.unwrap_or(200);
        if code != want {
            return (
                Status::Crit,
                format!("status {code}, expected {want}{}", self.quote_body(&body)),
            );
        }
        if let Some(needle) = &check.contains
            && !String::from_utf8_lossy(&body).contains(needle.as_str())
        {
            return (
                Status::Crit,
                format!("body does not contain `{needle}`{}", self.quote_body(&body)),
            );
        }
        if let Some(fields) = &check.json
            && let Err(failed) = self.json_fields(fields, &body)
        {
            return failed;
        }
        let mut verdict = (Status::Ok, format!("{code} in {}", human::latency(latency)));
        if let Some(max) = check.max_latency
            && latency > max.std()
        {
            verdict = (
                Status::Warn,
                format!(
                    "{code} in {}, slower than max_latency {max}",
                    human::latency(latency)
                ),
            );
        }
        if let Some(left) = certificate_seconds_left(&response)
            && left < CERT_WARN_DAYS * 86_400
        {
            // 6 days 23 hours reads as "7 days", as a person would say it.
            let days = (left as f64 / 86_400.0).round() as i64;
            let when = if left < 86_400 {
                "within a day".to_string()
            } else {
                format!("in {days} days")
            };
            verdict = (
                Status::Warn,
                format!("{}; TLS certificate expires {when}", verdict.1),
            );
        }
        verdict
    }

    /// The body's JSON fields against the check's `json:` (dotted paths).
    fn json_fields(
        &self,
        fields: &IndexMap<String, serde_json::Value>,
        body: &[u8],
    ) -> Result<(), (Status, String)> {
        let parsed: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(_) => {
                return Err((
                    Status::Crit,
                    format!("body is not JSON{}", self.quote_body(body)),
                ));
            }
        };
        for (path, expected) in fields {
            match lookup(&parsed, path) {
                Some(actual) if same(actual, expected) => {}
                Some(actual) => {
                    return Err((
                        Status::Crit,
                        format!(
                            "`{path}` is {}, expected {expected}",
                            self.redactor.json(actual)
                        ),
                    ));
                }
                None => {
                    return Err((
                        Status::Crit,
                        format!("`{path}` is missing{}", self.quote_body(body)),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Runs an exec check in the first running container of its service.
    pub async fn exec(
        &self,
        deployment: &Deployment,
        containers: &[ContainerRef],
        name: &str,
        check: &ExecCheck,
        hint: Option<&str>,
    ) -> CheckResult {
        let started = Instant::now();
        let service = &check.service.value;
        let container = containers
            .iter()
            .find(|c| c.service == *service && c.state == State::Running);
        let (status, message) = match container {
            None => (
                Status::Crit,
                format!("no running container of service `{service}`"),
            ),
            Some(container) => {
                let timeout = check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
                let argv = check.command.argv();
                match tokio::time::timeout(timeout, deployment.exec(&container.id, &argv)).await {
                    Err(_) => (
                        Status::Crit,
                        format!(
                            "`{}` gave no answer within {}",
                            check.command,
                            units::Duration(timeout)
                        ),
                    ),
                    Ok(Err(e)) => (Status::Crit, format!("cannot run `{}`: {e}", check.command)),
                    Ok(Ok(output)) => self.exec_verdict(check, &output),
                }
            }
        };
        tracing::debug!(check = name, "exec check done");
        self.finish(name, status, message, hint, started)
    }

    fn exec_verdict(&self, check: &ExecCheck, output: &ExecOutput) -> (Status, String) {
        let stdout = String::from_utf8_lossy(&output.stdout);
        match output.exit_code {
            Some(0) => {}
            Some(code) => {
                let printed = if output.stderr.is_empty() {
                    &output.stdout
                } else {
                    &output.stderr
                };
                return (
                    Status::Crit,
                    format!(
                        "`{}` exited {code}{}",
                        check.command,
                        self.quote_body(printed)
                    ),
                );
            }
            None => {
                return (
                    Status::Unknown,
                    format!("`{}` ended without an exit code", check.command),
                );
            }
        }
        if let Some(needle) = &check.stdout_contains
            && !stdout.contains(needle.as_str())
        {
            return (
                Status::Crit,
                format!(
                    "output of `{}` does not contain `{needle}`{}",
                    check.command,
                    self.quote_body(&output.stdout)
                ),
            );
        }
        let first = stdout.lines().next().unwrap_or("").trim();
        let said = if first.is_empty() {
            String::new()
        } else {
            format!(": {}", self.quote(first))
        };
        (Status::Ok, format!("`{}` succeeded{said}", check.command))
    }

    fn finish(
        &self,
        name: &str,
        status: Status,
        message: String,
        hint: Option<&str>,
        started: Instant,
    ) -> CheckResult {
        let message = match hint {
            Some(hint) if status != Status::Ok => format!("{message} (hint: {hint})"),
            _ => message,
        };
        let took = started.elapsed();
        CheckResult::new(SECTION, name, status, message)
            .with_value(took.as_secs_f64(), "seconds")
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

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_info(true)
        .user_agent(concat!("opsbook/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::limited(5))
}

/// Seconds until the server's certificate expires, for an HTTPS answer.
fn certificate_seconds_left(response: &reqwest::Response) -> Option<i64> {
    let der = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()?
        .peer_certificate()?;
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = certificate.validity().not_after.timestamp();
    Some(not_after - jiff::Timestamp::now().as_second())
}

/// A field by dotted path: `status`, `checks.db.status`, `items.0.name`.
fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |value, key| match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Equal, or equal as text: YAML's `status: 200` and `ok: true` meet JSON's "200" and "true".
fn same(actual: &Value, expected: &Value) -> bool {
    actual == expected || plain(actual) == plain(expected)
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `12 ms`, `1.20 s`
/// Sends the request and reads the body (up to BODY_CAP): the response, the
/// body and the latency, or the failed check's status and message.
async fn fetch(
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<(reqwest::Response, Vec<u8>, Duration), (Status, String)> {
    let started = Instant::now();
    let outcome = async {
        let mut response = request.send().await?;
        let mut body = Vec::new();
        while body.len() < BODY_CAP {
            match response.chunk().await? {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok::<_, reqwest::Error>((response, body))
    };
    let no_answer = || {
        (
            Status::Crit,
            format!("no answer within {}", units::Duration(timeout)),
        )
    };
    // The request's own timeout covers connect, headers and body; this
    // one guards against anything that does not honour it.
    match tokio::time::timeout(timeout + Duration::from_millis(250), outcome).await {
        Ok(Ok((response, body))) => Ok((response, body, started.elapsed())),
        Ok(Err(e)) if e.is_timeout() => Err(no_answer()),
        Err(_) => Err(no_answer()),
        Ok(Err(e)) => Err((
            Status::Crit,
            format!("request failed: {}", crate::error::one_line(&e)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths_reach_into_objects_and_arrays() {
        let body =
            json!({"status": "ok", "checks": {"db": {"up": true}}, "items": [{"name": "a"}]});
        assert_eq!(lookup(&body, "status"), Some(&json!("ok")));
        assert_eq!(lookup(&body, "checks.db.up"), Some(&json!(true)));
        assert_eq!(lookup(&body, "items.0.name"), Some(&json!("a")));
        assert_eq!(lookup(&body, "items.1.name"), None);
        assert_eq!(lookup(&body, "status.deep"), None);
    }

    #[test]
    fn values_compare_as_text_when_types_differ() {
        assert!(same(&json!("ok"), &json!("ok")));
        assert!(same(&json!(200), &json!("200")));
        assert!(same(&json!("true"), &json!(true)));
        assert!(!same(&json!("degraded"), &json!("ok")));
    }
}
