//! The generic JSON webhook: the whole run as one JSON object (what it
//! was, its status and exit code, every problem), for whatever a team
//! builds on it, with extra headers for its credentials.

use serde_json::json;

use super::delivery::Request;
use super::message::{Summary, Tone};

#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// How many problems the object lists at most (the count is always whole).
const LISTED: usize = 100;

pub(super) fn request(hook: &Webhook, summary: &Summary, tone: Tone) -> Request {
    let event = match tone {
        Tone::Alert => "alert",
        Tone::Resolved => "resolved",
    };
    let problems: Vec<_> = summary
        .problems
        .iter()
        .take(LISTED)
        .map(|p| {
            json!({ "section": p.section, "name": p.name, "status": p.status, "message": p.message })
        })
        .collect();
    let body = json!({
        "source": "opsbook",
        "event": event,
        "command": summary.command,
        "runbook": summary.runbook,
        "host": summary.host,
        "status": summary.status,
        "exit_code": summary.exit_code,
        "started_at": summary.started_at.to_string(),
        "duration_ms": u64::try_from(summary.duration.as_millis()).unwrap_or(u64::MAX),
        "title": summary.title(tone),
        "text": summary.text(tone),
        "problem_count": summary.problems.len(),
        "problems": problems,
    });
    let mut request = Request::post_json(&hook.url, body);
    request.headers = hook.headers.clone();
    request
}
