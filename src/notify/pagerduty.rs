//! PagerDuty's Events API v2: one alert per failing check, under a dedup
//! key stable for the runbook and the check, so PagerDuty groups every run
//! of the same trouble into one incident; a check that is ok again is
//! resolved under its key, and the "resolved" of the whole run resolves
//! every key still open. Keys carry the command (`daily-check`, `backup`),
//! whose counts keep them, and are cut to PagerDuty's 255 characters.

use std::collections::BTreeMap;

use serde_json::json;

use super::delivery::Request;
use super::message::Summary;
use crate::grade::Status;

/// PagerDuty's own endpoint.
pub(super) const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

#[derive(Debug, Clone)]
pub(crate) struct PagerDuty {
    pub routing_key: String,
    pub url: String,
}

/// One event to send and, once accepted, what it does to the open keys.
#[derive(Debug)]
pub(super) struct Event {
    pub key: String,
    /// Some: now open with this status; None: resolved.
    pub opens: Option<Status>,
    pub request: Request,
}

/// The events of this run. `alerting`: the target's streak has fired (or
/// does now); `resolve_all`: its "resolved" is due; `on`: the statuses it
/// alerts on; `open`: the keys triggered before and not yet resolved.
pub(super) fn events(
    pd: &PagerDuty,
    summary: &Summary,
    runbook_key: &str,
    on: &[Status],
    alerting: bool,
    resolve_all: bool,
    open: &BTreeMap<String, Status>,
) -> Vec<Event> {
    // Per-check changes only while the run is failing; the run's own
    // "resolved" (after `resolve_after` good runs) closes the rest.
    if !alerting && !resolve_all {
        return Vec::new();
    }
    let mut failing: BTreeMap<String, (Status, String, String)> = BTreeMap::new();
    if alerting && !resolve_all {
        for p in summary.problems.iter().filter(|p| on.contains(&p.status)) {
            let key = dedup_key(&format!("opsbook/{runbook_key}/{}/{}", p.section, p.name));
            failing.insert(key, (p.status, p.section.clone(), p.line()));
        }
    }
    let mut events = Vec::new();
    for (key, (status, section, line)) in &failing {
        if open.get(key) == Some(status) {
            continue;
        }
        let body = json!({
            "routing_key": pd.routing_key,
            "event_action": "trigger",
            "dedup_key": key,
            "client": "opsbook",
            "payload": {
                "summary": super::message::cut(&format!("{line} ({})", summary.title(super::message::Tone::Alert)), 1024),
                "source": if summary.host.is_empty() { "opsbook" } else { summary.host.as_str() },
                "severity": severity(*status),
                "component": section,
                "group": summary.runbook,
                "class": summary.command,
                "timestamp": summary.started_at.to_string(),
            },
        });
        events.push(Event {
            key: key.clone(),
            opens: Some(*status),
            request: Request::post_json(&pd.url, body),
        });
    }
    for key in open.keys().filter(|key| !failing.contains_key(*key)) {
        let body = json!({
            "routing_key": pd.routing_key,
            "event_action": "resolve",
            "dedup_key": key,
        });
        events.push(Event {
            key: key.clone(),
            opens: None,
            request: Request::post_json(&pd.url, body),
        });
    }
    events
}

/// PagerDuty takes dedup keys of at most 255 characters: a longer one is
/// cut and ends in a hash of the whole, so it stays stable and unique.
fn dedup_key(key: &str) -> String {
    if key.len() <= 255 {
        return key.to_string();
    }
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(key.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut cut = 255 - hash.len() - 1;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}#{hash}", &key[..cut])
}

fn severity(status: Status) -> &'static str {
    match status {
        Status::Crit => "critical",
        Status::Warn => "warning",
        Status::Unknown => "error",
        Status::Ok => "info",
    }
}
