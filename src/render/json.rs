//! The JSON object of the contract: command, runbook, status, started_at,
//! duration_ms, results, plus whatever extra members the command adds.

use serde_json::{Map, Value, json};

use super::Report;

pub(super) fn render(report: &Report) -> String {
    let mut object = Map::new();
    object.insert("command".into(), json!(report.command));
    object.insert("runbook".into(), json!(report.runbook));
    object.insert("status".into(), json!(report.status()));
    object.insert("started_at".into(), json!(rfc3339(report.started_at)));
    object.insert(
        "duration_ms".into(),
        json!(report.duration.as_millis() as u64),
    );
    object.insert("results".into(), json!(report.results));
    for (key, value) in &report.extra {
        object.entry(key.clone()).or_insert_with(|| value.clone());
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(object))
        .unwrap_or_else(|e| format!("{{\"status\": \"unknown\", \"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// RFC 3339 in UTC with millisecond precision.
pub(super) fn rfc3339(at: jiff::Timestamp) -> String {
    at.round(jiff::Unit::Millisecond).unwrap_or(at).to_string()
}
