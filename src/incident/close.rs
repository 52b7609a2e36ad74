//! `incident close ID --summary`: the incident closed and its post-mortem
//! written (record, duration, summary, timeline, evidence, what to fill in).

use serde_json::json;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::incident::{
    Entry, EntryKind, POSTMORTEM, Store, evidence_files, postmortem, write_private,
};
use crate::render::{Block, Report};

pub(crate) fn close(
    store: &Store,
    id: &str,
    summary: &str,
    report: &mut Report,
) -> Result<(), Error> {
    let (mut incident, folder) = store.open(id)?;
    if !incident.is_open() {
        return Err(Error::Usage(format!(
            "incident {id} is already closed: its post-mortem is {}",
            folder.join(POSTMORTEM).display()
        )));
    }
    let summary = summary.trim();
    if summary.is_empty() {
        return Err(Error::Usage(
            "--summary: say what happened and how it ended".into(),
        ));
    }
    let closed = Entry::new(EntryKind::Closed, format!("closed: {summary}"));
    store.append(id, &closed)?;
    incident.closed_at = Some(closed.at);
    incident.summary = Some(summary.to_string());
    let timeline = store.timeline(id)?;
    let text = postmortem::render(
        &incident,
        &timeline,
        &evidence_files(&folder),
        store.redactor(),
    );
    let path = folder.join(POSTMORTEM);
    write_private(&path, text.as_bytes()).map_err(|source| Error::File {
        path: path.clone(),
        action: "write",
        source,
    })?;
    // Closed only once the post-mortem is there: a crash before leaves it open.
    store.save(&incident)?;
    let lasted = crate::ui::human::seconds(crate::ui::human::seconds_between(
        incident.opened_at,
        closed.at,
    ));
    report.blocks.push(Block::Line(format!(
        "incident {id} closed after {lasted}; post-mortem: {}",
        path.display()
    )));
    report.results.push(CheckResult::new(
        "incident",
        "closed",
        Status::Ok,
        format!("closed after {lasted}"),
    ));
    report
        .extra
        .insert("postmortem".into(), json!(path.display().to_string()));
    report.extra.insert("incident".into(), json!(incident));
    Ok(())
}
