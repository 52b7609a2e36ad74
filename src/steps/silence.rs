//! Alertmanager silences for the time steps run (the pages' "silence the
//! alerts during maintenance"): created through its API (`POST
//! /api/v2/silences`) for exact label matchers, and expired (`DELETE
//! /api/v2/silence/ID`) when the steps end, however they end. Each is made
//! to end by itself after `for` (default 1 h), should opsbook be killed
//! before it gets to expire it.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::grade::Status;
use crate::runbook::model::Silence;

use super::Outcome;

/// How long a silence lasts when its step says nothing.
const DEFAULT_LENGTH: Duration = Duration::from_secs(3600);
/// How long Alertmanager has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A silence opsbook made: where, and its id.
pub(super) struct Made {
    pub(super) url: String,
    pub(super) id: String,
}

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))
}

/// Creates the silence; its id, or why not.
pub(super) async fn create(silence: &Silence) -> Result<Made, String> {
    let url = silence.url.value.trim_end_matches('/').to_string();
    let now = jiff::Timestamp::now();
    let lasting = silence.lasting.map_or(DEFAULT_LENGTH, |d| d.std());
    let ends = jiff::SignedDuration::try_from(lasting)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .ok_or("the silence's `for` is too long")?;
    let matchers: Vec<serde_json::Value> = silence
        .matchers
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value, "isRegex": false, "isEqual": true }))
        .collect();
    let body = json!({
        "matchers": matchers,
        "startsAt": now.to_string(),
        "endsAt": ends.to_string(),
        "createdBy": "opsbook",
        "comment": silence.comment.as_deref().unwrap_or("opsbook: maintenance"),
    });
    let response = client()?
        .post(format!("{url}/api/v2/silences"))
        .json(&body)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach Alertmanager at {url}: {}",
                crate::error::one_line(&e)
            )
        })?;
    let code = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    match answer["silenceID"].as_str() {
        Some(id) if code.is_success() => Ok(Made {
            url,
            id: id.to_string(),
        }),
        _ => Err(format!(
            "Alertmanager at {url} answered {code}: {}",
            short(&answer)
        )),
    }
}

/// Expires a silence opsbook made.
pub(super) async fn expire(made: &Made) -> Result<(), String> {
    let response = client()?
        .delete(format!("{}/api/v2/silence/{}", made.url, made.id))
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach Alertmanager at {}: {}",
                made.url,
                crate::error::one_line(&e)
            )
        })?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "Alertmanager at {} answered {}",
            made.url,
            response.status()
        ))
    }
}

/// An error answer, cut short.
fn short(answer: &serde_json::Value) -> String {
    let text = answer.to_string();
    text.chars().take(200).collect()
}

impl super::engine::Engine<'_> {
    /// Expires the silences the steps made, however they ended.
    pub(super) async fn expire_silences(&self, number: usize) -> Option<Outcome> {
        let made = std::mem::take(&mut *self.silences.lock().await);
        if made.is_empty() {
            return None;
        }
        let started_at = jiff::Timestamp::now();
        let clock = Instant::now();
        let mut failed = Vec::new();
        for silence in &made {
            if let Err(e) = expire(silence).await {
                failed.push(format!("{} ({e})", silence.id));
            }
        }
        let (status, message) = if failed.is_empty() {
            let count = crate::ui::human::count(made.len(), "silence");
            (Status::Ok, format!("{count} expired"))
        } else {
            (
                Status::Warn,
                format!("not expired, it ends by itself: {}", failed.join(", ")),
            )
        };
        self.setup
            .progress
            .say(format!("silence: {status}: {message}"));
        Some(Outcome {
            number,
            step: "expire silences".to_string(),
            status,
            message,
            started_at,
            took: clock.elapsed(),
        })
    }
}
