//! Response figures for `opsbook report --uptime`: for each incident opened
//! within the window, the time to acknowledge (`incident ack`, or the first
//! note) and the time to resolve (`incident close`), with their means over
//! those that have them.

use std::time::Duration;

use serde_json::json;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::incident::{Incident, Store};
use crate::render::{Block, Report};
use crate::runbook::Runbook;

/// The incidents opened in the last `since`, with their times.
pub(crate) fn times(runbook: &Runbook, since: Duration, report: &mut Report) -> Result<(), Error> {
    let store = Store::new(runbook.incident_dir(), runbook.redactor().clone());
    let from = report
        .started_at
        .checked_sub(jiff::SignedDuration::try_from(since).unwrap_or(jiff::SignedDuration::ZERO))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let incidents: Vec<Incident> = store
        .list()?
        .into_iter()
        .filter(|i| i.opened_at >= from)
        .collect();
    if incidents.is_empty() {
        return Ok(());
    }
    let after = |i: &Incident, at: Option<jiff::Timestamp>| {
        at.map(|at| crate::ui::human::seconds_between(i.opened_at, at))
    };
    let shown = |seconds: Option<u64>| seconds.map_or("-".to_string(), crate::ui::human::seconds);
    let mut rows = Vec::new();
    let (mut acks, mut resolves) = (Vec::new(), Vec::new());
    let mut listed = Vec::new();
    for incident in &incidents {
        let ack = after(incident, incident.acknowledged_at);
        let resolve = after(incident, incident.closed_at);
        acks.extend(ack);
        resolves.extend(resolve);
        rows.push(vec![
            incident.id.clone(),
            incident.severity.clone(),
            shown(ack),
            shown(resolve),
            incident.title.clone(),
        ]);
        listed.push(json!({
            "id": incident.id,
            "severity": incident.severity,
            "acknowledge_seconds": ack,
            "resolve_seconds": resolve,
        }));
    }
    let mean = |values: &[u64]| {
        (!values.is_empty()).then(|| values.iter().sum::<u64>() / values.len() as u64)
    };
    let (mtta, mttr) = (mean(&acks), mean(&resolves));
    report.blocks.push(Block::Table {
        header: vec![
            "incident",
            "severity",
            "to acknowledge",
            "to resolve",
            "title",
        ],
        rows,
    });
    let message = format!(
        "{}: mean time to acknowledge {}, to resolve {}",
        crate::ui::human::count(incidents.len(), "incident"),
        shown(mtta),
        shown(mttr)
    );
    report.blocks.push(Block::Line(message.clone()));
    report
        .results
        .push(CheckResult::new("uptime", "incidents", Status::Ok, message));
    report.extra.insert(
        "incidents".into(),
        json!({ "incidents": listed, "mean_acknowledge_seconds": mtta, "mean_resolve_seconds": mttr }),
    );
    Ok(())
}
