//! `incident show ID`: one incident's record, its whole timeline and its
//! evidence files.

use serde_json::json;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::incident::{EVIDENCE, Store, evidence_files};
use crate::render::{Block, Report};

pub(crate) fn show(store: &Store, id: &str, report: &mut Report) -> Result<(), Error> {
    let (incident, folder) = store.open(id)?;
    let timeline = store.timeline(id)?;
    let evidence = evidence_files(&folder);
    report.blocks.push(Block::Line(format!(
        "{} · {} · {} · opened {}{}",
        incident.id,
        incident.severity,
        incident.title,
        incident.opened_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        incident
            .closed_at
            .map(|c| format!(", closed {}", c.strftime("%Y-%m-%d %H:%M:%S UTC")))
            .unwrap_or_default()
    )));
    report.blocks.push(Block::Table {
        header: vec!["time (UTC)", "what", "status", "event"],
        rows: timeline
            .iter()
            .map(|e| {
                vec![
                    e.at.strftime("%H:%M:%S").to_string(),
                    format!("{:?}", e.kind).to_lowercase(),
                    e.status.map(|s| s.to_string()).unwrap_or_default(),
                    e.text.clone(),
                ]
            })
            .collect(),
    });
    report.blocks.push(Block::Line(format!(
        "evidence: {} files in {}",
        evidence.len(),
        folder.join(EVIDENCE).display()
    )));
    if let Some(summary) = &incident.summary {
        report
            .blocks
            .push(Block::Line(format!("summary: {summary}")));
    }
    report.results.push(CheckResult::new(
        "incident",
        &incident.id,
        Status::Ok,
        if incident.is_open() { "open" } else { "closed" },
    ));
    report.extra.insert("incident".into(), json!(incident));
    report.extra.insert("timeline".into(), json!(timeline));
    report.extra.insert("evidence".into(), json!(evidence));
    Ok(())
}
