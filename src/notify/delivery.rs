//! One HTTP request to a notification service, tried until it is accepted
//! or the notification deadline comes: a dropped connection, a 5xx or a 429
//! is tried again after a growing pause, or after the `Retry-After` the
//! service asked for (seconds or an HTTP date). Other answers are final.
//! Errors never quote the URL: it often is the credential (a webhook's
//! path, a healthchecks UUID); the caller names the target instead.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Client, Method, StatusCode};
use tokio::time::Instant;

/// How many times one request is sent at most.
const ATTEMPTS: u32 = 4;
/// The pause before the second attempt; doubled each time after.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// How much of an error answer's body is quoted.
const QUOTED: usize = 200;

/// A request as the target kinds build it.
#[derive(Debug)]
pub(super) struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

#[derive(Debug)]
pub(super) enum Body {
    Json(serde_json::Value),
    Text(String),
}

impl Request {
    pub(super) fn post_json(url: impl Into<String>, body: serde_json::Value) -> Request {
        Request {
            method: Method::POST,
            url: url.into(),
            headers: Vec::new(),
            body: Body::Json(body),
        }
    }

    pub(super) fn post_text(url: impl Into<String>, text: String) -> Request {
        Request {
            method: Method::POST,
            url: url.into(),
            headers: Vec::new(),
            body: Body::Text(text),
        }
    }

    pub(super) fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// Sends `request` until it is accepted (2xx) or `deadline`; the error says
/// why the last attempt failed and how many were made.
pub(super) async fn send(
    client: &Client,
    request: &Request,
    deadline: Instant,
) -> Result<(), String> {
    let headers = headers(&request.headers)?;
    let mut pause = FIRST_PAUSE;
    for attempt in 1..=ATTEMPTS {
        let mut builder = client
            .request(request.method.clone(), &request.url)
            .headers(headers.clone());
        builder = match &request.body {
            Body::Json(value) => builder.json(value),
            Body::Text(text) => builder
                .header("content-type", "text/plain; charset=utf-8")
                .body(text.clone()),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(format!("the deadline passed before attempt {attempt}"));
        }
        let (problem, asked) = match builder.timeout(remaining).send().await {
            Ok(answer) if answer.status().is_success() => return Ok(()),
            Ok(answer) => {
                let status = answer.status();
                let asked = retry_after(answer.headers());
                let text = answer.text().await.unwrap_or_default();
                let problem = answered(status, &text);
                if !worth_retrying(status) {
                    return Err(problem);
                }
                (problem, asked)
            }
            Err(e) => (e.without_url().to_string(), None),
        };
        if attempt == ATTEMPTS {
            return Err(format!("{problem} (after {ATTEMPTS} attempts)"));
        }
        let wait = asked.unwrap_or(pause);
        // A `Retry-After` of any size: compared, never added to an Instant.
        if wait >= deadline.saturating_duration_since(Instant::now()) {
            return Err(match asked {
                Some(asked) => format!(
                    "{problem}; it asked to retry after {} s, beyond the notification deadline",
                    asked.as_secs()
                ),
                None => format!("{problem} (attempt {attempt}, no time left to retry)"),
            });
        }
        // The caller masks what it prints; an answer may quote the request.
        tracing::info!(attempt, ?wait, "not taken; trying again");
        tokio::time::sleep(wait).await;
        pause *= 2;
    }
    Err("no attempt was made".to_string())
}

fn headers(pairs: &[(String, String)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let key = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("the {name} header holds characters a header cannot carry"))?;
        map.append(key, value);
    }
    Ok(map)
}

fn worth_retrying(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

fn answered(status: StatusCode, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return format!("the service answered {status}");
    }
    let quoted: String = body.chars().take(QUOTED).collect();
    let cut = if quoted.len() < body.len() { "…" } else { "" };
    format!(
        "the service answered {status}: {}{cut}",
        crate::ui::human::printable(&quoted)
    )
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let from_now = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(from_now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_retry_after(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(RETRY_AFTER, HeaderValue::from_str(value).expect("a header"));
        map
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        assert_eq!(
            retry_after(&with_retry_after("7")),
            Some(Duration::from_secs(7))
        );
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&soon)
            .expect("a date");
        let read = retry_after(&with_retry_after(&date)).expect("read");
        assert!(
            read <= Duration::from_secs(30) && read >= Duration::from_secs(28),
            "{read:?}"
        );
        assert_eq!(
            retry_after(&with_retry_after("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO),
            "a date gone by: at once"
        );
        assert_eq!(retry_after(&with_retry_after("soon")), None);
    }

    #[test]
    fn only_overload_and_server_errors_are_tried_again() {
        assert!(worth_retrying(StatusCode::TOO_MANY_REQUESTS));
        assert!(worth_retrying(StatusCode::BAD_GATEWAY));
        assert!(!worth_retrying(StatusCode::BAD_REQUEST));
        assert!(!worth_retrying(StatusCode::NOT_FOUND));
    }
}
