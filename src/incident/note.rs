//! `incident note ID TEXT`: a timestamped note on an open incident's
//! timeline (masked as the timeline is written); the first one
//! acknowledges the incident.

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::incident::{Entry, EntryKind, Store};
use crate::render::Report;

pub(crate) fn note(store: &Store, id: &str, text: &str, report: &mut Report) -> Result<(), Error> {
    let (incident, _) = store.open(id)?;
    if !incident.is_open() {
        return Err(Error::Usage(format!(
            "incident {id} is closed: its post-mortem is written"
        )));
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::Usage("the note is empty".into()));
    }
    let entry = Entry::new(EntryKind::Note, text);
    store.append(id, &entry)?;
    // A note is a response: the incident is no longer waiting for one (the
    // note on the timeline says so; the record keeps when).
    super::ack::acknowledge(store, incident, None)?;
    report.results.push(CheckResult::new(
        "incident",
        "note",
        Status::Ok,
        format!(
            "noted on {id} at {}",
            entry.at.strftime("%Y-%m-%d %H:%M:%S UTC")
        ),
    ));
    Ok(())
}
