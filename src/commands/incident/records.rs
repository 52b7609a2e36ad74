//! `incident note`, `list`, `show`, `close` and `bundle`: the records of
//! incidents, read and written through the store.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde_json::json;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::incident::{EVIDENCE, Entry, EntryKind, POSTMORTEM, Store, postmortem, write_private};
use crate::render::{Block, Report};
use crate::runbook::Runbook;

pub(super) fn note(
    runbook: &Runbook,
    store: &Store,
    id: &str,
    text: &str,
    report: &mut Report,
) -> Result<(), Error> {
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
    let text = runbook.redactor().redact(text).into_owned();
    let entry = Entry::new(EntryKind::Note, text);
    store.append(id, &entry)?;
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

pub(super) fn list(store: &Store, report: &mut Report) -> Result<(), Error> {
    let incidents = store.list()?;
    let now = jiff::Timestamp::now();
    let mut rows = Vec::new();
    for incident in incidents.iter().rev() {
        let end = incident.closed_at.unwrap_or(now);
        let lasted = seconds_between(incident.opened_at, end);
        rows.push(vec![
            incident.id.clone(),
            incident.severity.clone(),
            if incident.is_open() {
                "open".into()
            } else {
                "closed".into()
            },
            incident.opened_at.strftime("%Y-%m-%d %H:%M").to_string(),
            crate::human::seconds(lasted),
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
        "{} incidents ({open} open) in {}",
        incidents.len(),
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

pub(super) fn show(store: &Store, id: &str, report: &mut Report) -> Result<(), Error> {
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

pub(super) fn close(
    runbook: &Runbook,
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
    let summary = runbook.redactor().redact(summary).into_owned();
    let closed = Entry::new(EntryKind::Closed, format!("closed: {summary}"));
    store.append(id, &closed)?;
    incident.closed_at = Some(closed.at);
    incident.summary = Some(summary);
    let timeline = store.timeline(id)?;
    let text = postmortem::render(&incident, &timeline, &evidence_files(&folder));
    let path = folder.join(POSTMORTEM);
    write_private(&path, text.as_bytes()).map_err(|source| Error::State {
        path: path.clone(),
        action: "write",
        source,
    })?;
    // Closed only once the post-mortem is there: a crash before leaves it open.
    store.save(&incident)?;
    let lasted = crate::human::seconds(seconds_between(incident.opened_at, closed.at));
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

/// Packs the incident's folder into `<incident.dir>/<ID>.tar.zst` (0600),
/// written beside and renamed.
pub(super) fn bundle(store: &Store, id: &str, report: &mut Report) -> Result<(), Error> {
    let (_, folder) = store.open(id)?;
    let path = store.dir.join(format!("{id}.tar.zst"));
    let partial = store.dir.join(format!(".{id}.tar.zst.partial"));
    let packed = pack(&folder, id, &partial).and_then(|()| std::fs::rename(&partial, &path));
    if let Err(source) = packed {
        let _ = std::fs::remove_file(&partial);
        return Err(Error::State {
            path,
            action: "write",
            source,
        });
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    report.blocks.push(Block::Line(format!(
        "{} ({})",
        path.display(),
        crate::human::bytes(size)
    )));
    report.results.push(CheckResult::new(
        "incident",
        "bundle",
        Status::Ok,
        format!("{} ({})", path.display(), crate::human::bytes(size)),
    ));
    report
        .extra
        .insert("bundle".into(), json!(path.display().to_string()));
    Ok(())
}

fn pack(folder: &Path, id: &str, into: &Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(into)?;
    let encoder = zstd::stream::write::Encoder::new(file, 3)?;
    let mut archive = tar::Builder::new(encoder);
    archive.follow_symlinks(false);
    archive.append_dir_all(id, folder)?;
    let mut file = archive.into_inner()?.finish()?;
    file.flush()?;
    file.sync_all()
}

/// The evidence files, relative to `evidence/`, sorted.
fn evidence_files(folder: &Path) -> Vec<String> {
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

fn seconds_between(from: jiff::Timestamp, to: jiff::Timestamp) -> u64 {
    to.as_second()
        .saturating_sub(from.as_second())
        .max(0)
        .unsigned_abs()
}
