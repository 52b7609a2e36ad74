//! Incidents on disk: one folder per incident (0700) under `incident.dir`,
//! holding `incident.json` (what it is, when it opened and closed),
//! `timeline.jsonl` (one entry per line, appended and fsynced as things
//! happen), `evidence/` and, once closed, `postmortem.md`. Every file is
//! 0600 and written beside then renamed, except the timeline, which only
//! ever grows; none is written through a link, nor in a folder other users
//! can write to (`crate::state::files`). The record and the timeline are masked by
//! the runbook's redactor as they are written (a title, a note, a step's
//! description).

pub(crate) mod ack;
pub(crate) mod bundle;
pub(crate) mod close;
pub(crate) mod escalate;
pub(crate) mod evidence;
pub(crate) mod list;
pub(crate) mod note;
pub(crate) mod open;
pub(crate) mod playbook;
pub(crate) mod postmortem;
pub(crate) mod response;
pub(crate) mod show;

use std::io;
use std::os::unix::fs::DirBuilderExt;

use crate::state::files::{append_private, check_private_dir};
pub(crate) use crate::state::files::{create_private_dir, write_private};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::grade::Status;
use crate::redact::Redactor;

pub(crate) const RECORD: &str = "incident.json";
pub(crate) const TIMELINE: &str = "timeline.jsonl";
pub(crate) const EVIDENCE: &str = "evidence";
pub(crate) const POSTMORTEM: &str = "postmortem.md";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Incident {
    pub id: String,
    pub title: String,
    pub severity: String,
    /// How soon someone must respond, as written in the runbook (`15m`).
    pub respond_within: String,
    pub opened_at: jiff::Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<jiff::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub runbook: String,
    pub host: String,
    /// When someone responded (`incident ack`, or the first note).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<jiff::Timestamp>,
    /// When it was escalated for want of a response (once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<jiff::Timestamp>,
}

impl Incident {
    pub(crate) fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }

    /// When a response is due: `opened_at` plus `respond_within`.
    pub(crate) fn respond_by(&self) -> Option<jiff::Timestamp> {
        let within = humantime::parse_duration(&self.respond_within).ok()?;
        let span = jiff::SignedDuration::try_from(within).ok()?;
        self.opened_at.checked_add(span).ok()
    }

    /// Open, not acknowledged, and past its `respond_within`.
    pub(crate) fn is_overdue(&self, now: jiff::Timestamp) -> bool {
        self.is_open()
            && self.acknowledged_at.is_none()
            && self.respond_by().is_some_and(|by| now > by)
    }
}

/// What a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EntryKind {
    Opened,
    Evidence,
    Note,
    Acknowledged,
    Escalated,
    Playbook,
    Step,
    Closed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub at: jiff::Timestamp,
    pub kind: EntryKind,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

impl Entry {
    pub(crate) fn new(kind: EntryKind, text: impl Into<String>) -> Entry {
        Entry {
            at: jiff::Timestamp::now(),
            kind,
            text: text.into(),
            status: None,
        }
    }

    pub(crate) fn with_status(mut self, status: Status) -> Entry {
        self.status = Some(status);
        self
    }
}

/// The incident folder of a runbook, and what masks what is written there.
pub(crate) struct Store {
    pub dir: PathBuf,
    redactor: Redactor,
}

impl Store {
    pub(crate) fn new(dir: PathBuf, redactor: Redactor) -> Store {
        Store { dir, redactor }
    }

    /// What masks every file of the incident.
    pub(crate) fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Creates a new incident's folder and record; its id is the UTC time it
    /// opened (`INC-20261124-105200`, with `-2`… when that is taken).
    pub(crate) fn create(&self, mut incident: Incident) -> Result<(Incident, PathBuf), Error> {
        create_private_dir(&self.dir).map_err(self.error(&self.dir, "create"))?;
        let base = format!("INC-{}", incident.opened_at.strftime("%Y%m%d-%H%M%S"));
        let mut id = base.clone();
        let mut n = 2;
        let folder = loop {
            let folder = self.dir.join(&id);
            // `create_dir` fails if it exists: two incidents in one second get two ids.
            match std::fs::DirBuilder::new().mode(0o700).create(&folder) {
                Ok(()) => break folder,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    id = format!("{base}-{n}");
                    n += 1;
                }
                Err(e) => return Err(self.error(&folder, "create")(e)),
            }
        };
        incident.id = id;
        self.save(&incident)?;
        Ok((incident, folder))
    }

    /// The incident with this id; an id that names none exits 3.
    pub(crate) fn open(&self, id: &str) -> Result<(Incident, PathBuf), Error> {
        let valid = !id.is_empty()
            && !id.starts_with('.')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let folder = self.dir.join(id);
        let record = folder.join(RECORD);
        if !valid || !record.is_file() {
            return Err(Error::Usage(format!(
                "no incident `{id}` in {} (`opsbook incident list` shows them)",
                self.dir.display()
            )));
        }
        let bytes = std::fs::read(&record).map_err(self.error(&record, "read"))?;
        let incident = serde_json::from_slice(&bytes)
            .map_err(|e| self.error(&record, "read")(io::Error::other(e)))?;
        Ok((incident, folder))
    }

    /// Every incident, oldest first; folders without a readable record are skipped.
    pub(crate) fn list(&self) -> Result<Vec<Incident>, Error> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error(&self.dir, "read")(e)),
        };
        let mut incidents: Vec<Incident> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| std::fs::read(e.path().join(RECORD)).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect();
        incidents.sort_by_key(|i: &Incident| i.opened_at);
        Ok(incidents)
    }

    /// The folder of incident `id`, to write in: the incident folder must
    /// be a real folder (not a link) and neither it nor `incident.dir` may be
    /// writable by other users, who could otherwise swap in a link.
    fn writable(&self, id: &str) -> Result<PathBuf, Error> {
        let folder = self.dir.join(id);
        check_private_dir(&self.dir).map_err(self.error(&self.dir, "write in"))?;
        let real = std::fs::symlink_metadata(&folder).and_then(|m| {
            if m.is_dir() {
                Ok(())
            } else {
                Err(io::Error::other(
                    "not a folder (a link?): opsbook writes only in the folders it made",
                ))
            }
        });
        real.and_then(|()| check_private_dir(&folder))
            .map_err(self.error(&folder, "write in"))?;
        Ok(folder)
    }

    pub(crate) fn save(&self, incident: &Incident) -> Result<(), Error> {
        let path = self.writable(&incident.id)?.join(RECORD);
        let bytes =
            serde_json::to_vec_pretty(&self.redactor.json(incident)).map_err(io::Error::other);
        bytes
            .and_then(|bytes| write_private(&path, &bytes))
            .map_err(self.error(&path, "write"))
    }

    /// Appends one entry to the timeline and fsyncs it.
    pub(crate) fn append(&self, id: &str, entry: &Entry) -> Result<(), Error> {
        let path = self.writable(id)?.join(TIMELINE);
        let appended = serde_json::to_vec(&self.redactor.json(entry))
            .map_err(io::Error::other)
            .and_then(|mut line| {
                line.push(b'\n');
                append_private(&path, &line)
            });
        appended.map_err(self.error(&path, "write"))
    }

    /// The timeline in order; a line that does not parse (a crash mid-write)
    /// is skipped.
    pub(crate) fn timeline(&self, id: &str) -> Result<Vec<Entry>, Error> {
        let path = self.dir.join(id).join(TIMELINE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(self.error(&path, "read")(e)),
        }
    }

    fn error(&self, path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::File {
            path,
            action,
            source,
        }
    }
}

/// The evidence files, relative to `evidence/`, sorted.
pub(crate) fn evidence_files(folder: &Path) -> Vec<String> {
    let root = folder.join(EVIDENCE);
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(&root) {
                files.push(relative.display().to_string());
            }
        }
    }
    files.sort();
    files
}

/// The runbook's `incident` section, when it has one.
pub(crate) fn settings(
    runbook: &crate::runbook::Runbook,
) -> Option<&crate::runbook::model::Incident> {
    runbook.model.incident.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn incident(at: &str) -> Incident {
        Incident {
            id: String::new(),
            title: "api down".into(),
            severity: "P1".into(),
            respond_within: "15m".into(),
            opened_at: at.parse().unwrap_or_else(|e| panic!("{e}")),
            closed_at: None,
            summary: None,
            runbook: "shop".into(),
            host: "vm".into(),
            acknowledged_at: None,
            escalated_at: None,
        }
    }

    #[test]
    fn ids_follow_the_opening_time_and_never_collide() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::new(dir.path().join("incidents"), Redactor::builtin());
        let at = "2026-11-24T10:52:00Z";
        let (first, _) = store.create(incident(at)).unwrap_or_else(|e| panic!("{e}"));
        let (second, _) = store.create(incident(at)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.id, "INC-20261124-105200");
        assert_eq!(second.id, "INC-20261124-105200-2");
        assert_eq!(store.list().map(|l| l.len()).ok(), Some(2));
    }

    #[test]
    fn the_timeline_keeps_order_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::new(dir.path().to_path_buf(), Redactor::builtin());
        let (created, folder) = store
            .create(incident("2026-11-24T10:52:00Z"))
            .unwrap_or_else(|e| panic!("{e}"));
        for text in ["one", "two"] {
            store
                .append(&created.id, &Entry::new(EntryKind::Note, text))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(folder.join(TIMELINE))
            .unwrap_or_else(|e| panic!("{e}"));
        file.write_all(b"{\"at\":\"2026")
            .unwrap_or_else(|e| panic!("{e}"));
        let texts: Vec<String> = store
            .timeline(&created.id)
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.text)
            .collect();
        assert_eq!(texts, ["one", "two"]);
    }

    #[test]
    fn the_record_and_the_timeline_are_masked_as_they_are_written() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::new(dir.path().to_path_buf(), Redactor::builtin());
        let mut planted = incident("2026-11-24T10:52:00Z");
        planted.title = "db down, DB_PASSWORD=hunter2".into();
        let (created, folder) = store.create(planted).unwrap_or_else(|e| panic!("{e}"));
        let note = Entry::new(EntryKind::Note, r#"sent {"token":"hunter3"}"#);
        store
            .append(&created.id, &note)
            .unwrap_or_else(|e| panic!("{e}"));
        for file in [RECORD, TIMELINE] {
            let text = std::fs::read_to_string(folder.join(file)).unwrap_or_default();
            assert!(text.contains("****"), "{text}");
            assert!(!text.contains("hunter"), "{text}");
        }
    }

    #[test]
    fn an_id_is_a_folder_name_never_a_path() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::new(dir.path().join("incidents"), Redactor::builtin());
        for id in ["../etc", "", ".hidden", "a/b"] {
            assert!(store.open(id).is_err(), "{id}");
        }
    }
}
