//! `incident ack ID`: someone has the incident. Recorded once on the
//! record and the timeline; from then on it is not overdue and is never
//! escalated. A note acknowledges as well (`note.rs`).

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::incident::{Entry, EntryKind, Store};
use crate::render::Report;

pub(crate) fn ack(store: &Store, id: &str, report: &mut Report) -> Result<(), Error> {
    let (incident, _) = store.open(id)?;
    if !incident.is_open() {
        return Err(Error::Usage(format!(
            "incident {id} is closed: its post-mortem is written"
        )));
    }
    let message = match acknowledge(store, incident, Some("acknowledged"))? {
        Some(at) => format!(
            "{id} acknowledged at {}",
            at.strftime("%Y-%m-%d %H:%M:%S UTC")
        ),
        None => format!("{id} was acknowledged before"),
    };
    report
        .results
        .push(CheckResult::new("incident", "ack", Status::Ok, message));
    Ok(())
}

/// Marks `incident` acknowledged now (with `text` on the timeline, when
/// the timeline does not already show the response), unless it was
/// already; when it was just now, the time.
pub(crate) fn acknowledge(
    store: &Store,
    mut incident: crate::incident::Incident,
    text: Option<&str>,
) -> Result<Option<jiff::Timestamp>, Error> {
    if incident.acknowledged_at.is_some() {
        return Ok(None);
    }
    let at = jiff::Timestamp::now();
    incident.acknowledged_at = Some(at);
    store.save(&incident)?;
    if let Some(text) = text {
        let mut entry = Entry::new(EntryKind::Acknowledged, text);
        entry.at = at;
        store.append(&incident.id, &entry)?;
    }
    Ok(Some(at))
}
