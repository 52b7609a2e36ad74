//! HTTP checks: a request judged on status, body, JSON fields by dotted
//! path, latency and the server certificate's lifetime (the pages' `curl
//! /health`), the body read up to a cap. `insecure` takes any certificate
//! (`curl -k`; its lifetime is still judged), `server_name` asks an address
//! for a name (SNI and `Host`), header values fill in `${VAR}`.

use std::path::Path;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde_json::Value;

use crate::grade::{CheckResult, Status};
use crate::runbook::interpolate::{self, Vars};
use crate::runbook::model::{HttpCheck, ValueSpec};
use crate::runbook::units;
use crate::ui::human;

use super::value::{self, Graded};
use super::{BODY_CAP, CERT_WARN_DAYS, DEFAULT_TIMEOUT, Probe};

impl Probe<'_> {
    pub(crate) async fn http(
        &self,
        dir: &Path,
        name: &str,
        check: &HttpCheck,
        ca: Option<&[u8]>,
        value: Option<&ValueSpec>,
        hint: Option<&str>,
    ) -> CheckResult {
        let started = Instant::now();
        let mut figure = None;
        let (status, message) = self.http_verdict(dir, check, ca, value, &mut figure).await;
        let graded = Graded {
            status,
            message,
            figure,
        };
        self.finish(name, graded, hint, started)
    }

    /// The answer judged; `figure` gets the number read when the check
    /// has a `value`.
    async fn http_verdict(
        &self,
        dir: &Path,
        check: &HttpCheck,
        ca: Option<&[u8]>,
        value: Option<&ValueSpec>,
        figure: &mut Option<(f64, &'static str)>,
    ) -> (Status, String) {
        let timeout = check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
        let (client, url) = match self.http_client(check, ca, timeout).await {
            Ok(pair) => pair,
            Err(reason) => return (Status::Unknown, reason),
        };
        let method = check.method.as_deref().unwrap_or("GET");
        let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
            return (Status::Unknown, format!("`{method}` is not an HTTP method"));
        };
        let mut request = client.request(method, url).timeout(timeout);
        let vars = check
            .headers
            .values()
            .any(|v| v.value.contains('$'))
            .then(|| Vars::load(dir));
        for (key, value) in &check.headers {
            let filled = match &vars {
                Some(vars) => match interpolate::interpolate(&value.value, vars) {
                    Ok((filled, _)) => filled,
                    Err(e) => return (Status::Unknown, format!("header `{key}`: {e}")),
                },
                None => value.value.clone(),
            };
            request = request.header(key, filled);
        }
        if let Some(body) = &check.body {
            request = request.body(body.clone());
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
            && let Some((status, said)) = certificate_grade(check, left)
        {
            verdict = (verdict.0.max(status), format!("{}; {said}", verdict.1));
        }
        if let Some(spec) = value {
            let graded = value::grade(spec, &String::from_utf8_lossy(&body), Some(latency));
            *figure = graded.figure;
            verdict = (
                verdict.0.max(graded.status),
                format!("{}; {}", verdict.1, graded.message),
            );
        }
        verdict
    }

    /// The client for this check (the shared one, unless it brings a CA,
    /// takes any certificate or pins a server name) and the URL to ask:
    /// with `server_name`, the name in place of the address, resolved to it.
    async fn http_client(
        &self,
        check: &HttpCheck,
        ca: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<(reqwest::Client, reqwest::Url), String> {
        let mut url = reqwest::Url::parse(check.url.value.trim())
            .map_err(|e| format!("`{}` is not a URL: {e}", check.url.value))?;
        if ca.is_none() && !check.insecure && check.server_name.is_none() {
            return Ok((self.client(), url));
        }
        let mut builder = client_builder();
        if let Some(pem) = ca {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| format!("cannot use the check's `ca`: {e}"))?;
            builder = builder.add_root_certificate(cert);
        }
        if check.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(name) = &check.server_name {
            let host = url.host_str().unwrap_or_default().to_string();
            let port = url.port_or_known_default().unwrap_or(443);
            let lookup =
                tokio::net::lookup_host((host.trim_start_matches('[').trim_end_matches(']'), port));
            let address = match tokio::time::timeout(timeout, lookup).await {
                Ok(Ok(mut found)) => found.next(),
                _ => None,
            }
            .ok_or_else(|| format!("cannot resolve `{host}`"))?;
            url.set_host(Some(name))
                .map_err(|e| format!("`server_name` `{name}`: {e}"))?;
            builder = builder.resolve(name, address);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot set up the request: {}", crate::error::one_line(&e)))?;
        Ok((client, url))
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
}

pub(super) fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_info(true)
        .user_agent(concat!("opsbook/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::limited(5))
}

/// What `url` answers to a GET, as an http check would see it (redirects
/// followed, the body read up to its cap): its status and latency, or why
/// there was no HTTP answer. `opsbook init` probes published ports with it.
pub(crate) async fn answer_of(url: &str, timeout: Duration) -> Result<(u16, Duration), String> {
    let client = client_builder()
        .timeout(timeout)
        .build()
        .map_err(|e| crate::error::one_line(&e))?;
    match fetch(client.get(url), timeout).await {
        Ok((response, _, latency)) => Ok((response.status().as_u16(), latency)),
        Err((_, message)) => Err(message),
    }
}

/// The certificate's lifetime against the check's `cert` limits (default:
/// warn 14 days before): the grade and what to say, when it is not ok.
fn certificate_grade(check: &HttpCheck, left: i64) -> Option<(Status, String)> {
    let seconds =
        |d: crate::runbook::units::Duration| i64::try_from(d.std().as_secs()).unwrap_or(i64::MAX);
    let (warn, crit) = match check.cert {
        Some(cert) => (cert.warn.map(seconds), cert.crit.map(seconds)),
        None => (Some(CERT_WARN_DAYS * 86_400), None),
    };
    if left <= 0 {
        return Some((Status::Crit, "TLS certificate has expired".into()));
    }
    let status = if crit.is_some_and(|crit| left < crit) {
        Status::Crit
    } else if warn.is_some_and(|warn| left < warn) {
        Status::Warn
    } else {
        return None;
    };
    // 6 days 23 hours reads as "7 days", as a person would say it.
    let days = (left as f64 / 86_400.0).round() as i64;
    let when = if left < 86_400 {
        "within a day".to_string()
    } else {
        format!("in {days} days")
    };
    Some((status, format!("TLS certificate expires {when}")))
}

/// Seconds until the server's certificate expires, for an HTTPS answer.
fn certificate_seconds_left(response: &reqwest::Response) -> Option<i64> {
    let der = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()?
        .peer_certificate()?;
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = certificate.validity().not_after.timestamp();
    Some(not_after.saturating_sub(jiff::Timestamp::now().as_second()))
}

/// A field by dotted path: `status`, `checks.db.status`, `items.0.name`.
pub(super) fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
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

/// Sends the request and reads the body (up to BODY_CAP): the response, the
/// body and the latency, or the failed check's status and message.
pub(super) async fn fetch(
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
