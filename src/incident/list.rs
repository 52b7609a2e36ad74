//! `incident list`: the incidents, open and closed, newest first: id,
//! severity, state, when opened, for how long, title.

use serde_json::json;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::incident::Store;
use crate::render::{Block, Report};

pub(crate) fn list(store: &Store, report: &mut Report) -> Result<(), Error> {
    let incidents = store.list()?;
    let now = jiff::Timestamp::now();
    let mut rows = Vec::new();
    for incident in incidents.iter().rev() {
        let end = incident.closed_at.unwrap_or(now);
        let lasted = crate::ui::human::seconds_between(incident.opened_at, end);
        rows.push(vec![
            incident.id.clone(),
            incident.severity.clone(),
            if incident.is_open() {
                "open".into()
            } else {
                "closed".into()
            },
            incident.opened_at.strftime("%Y-%m-%d %H:%M").to_string(),
            crate::ui::human::seconds(lasted),
            incident.title.clone(),
        ]);
    }
    let open = incidents.iter().filter(|i| i.is_open()).count();
    if !rows.is_empty() {
        report.blocks.push(Block::Table {
            header: vec!["id", "severity", "state", "opened", "for", "title"],
            rows,
        });
    }
    let message = format!(
        "{} ({open} open) in {}",
        crate::ui::human::count(incidents.len(), "incident"),
        store.dir.display()
    );
    report.blocks.push(Block::Line(message.clone()));
    report
        .results
        .push(CheckResult::new("incident", "list", Status::Ok, message));
    report.extra.insert(
        "incidents".into(),
        json!(incidents.iter().rev().collect::<Vec<_>>()),
    );
    Ok(())
}
