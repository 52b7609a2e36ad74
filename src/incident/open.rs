//! `incident open`: the folder, the first timeline entry, the evidence
//! bundle, and what the operator needs in the first minutes: how soon to
//! respond, who to call, the checklist.

use serde_json::json;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::incident::{Entry, EntryKind, Incident, Store};
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

use super::{evidence, settings};

pub(crate) async fn open(
    runbook: &Runbook,
    store: &Store,
    severity: &str,
    title: &str,
    state_dir: &std::path::Path,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let known = &runbook.plan.severities;
    let Some((severity, within)) = known
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(severity))
        .cloned()
    else {
        let names: Vec<&str> = known.iter().map(|(name, _)| name.as_str()).collect();
        return Err(Error::Usage(format!(
            "--severity: `{severity}` is not one of the runbook's severities ({})",
            names.join(", ")
        )));
    };
    let title = title.trim();
    if title.is_empty() {
        return Err(Error::Usage(
            "--title: say in a few words what is happening".into(),
        ));
    }
    let opened_at = jiff::Timestamp::now();
    let (incident, folder) = store.create(Incident {
        id: String::new(),
        title: title.to_string(),
        severity: severity.clone(),
        respond_within: within.clone(),
        opened_at,
        closed_at: None,
        summary: None,
        runbook: runbook.display.clone(),
        host: crate::host::hostname(),
        acknowledged_at: None,
        escalated_at: None,
    })?;
    let id = incident.id.clone();
    store.append(
        &id,
        &Entry::new(EntryKind::Opened, format!("opened ({severity}): {title}")),
    )?;
    progress.say(format!("incident {id} opened; capturing evidence"));

    let (captured, summary) = capture(runbook, store, &id, &folder, state_dir).await?;

    let respond_by = humantime::parse_duration(&within)
        .ok()
        .and_then(|d| jiff::SignedDuration::try_from(d).ok())
        .and_then(|d| opened_at.checked_add(d).ok())
        .map(|by| format!(" (by {})", by.strftime("%H:%M UTC")))
        .unwrap_or_default();
    let contacts = settings(runbook).map_or(&[][..], |i| i.contacts.as_slice());
    let checklist = settings(runbook).map_or(&[][..], |i| i.checklist.as_slice());
    report.blocks.push(Block::Line(format!(
        "incident {id} opened: {severity}, respond within {within}{respond_by}"
    )));
    report.blocks.push(Block::Line(format!("  {title}")));
    show_whom_and_what(contacts, checklist, report);
    report.blocks.push(Block::Line(format!(
        "evidence: {summary}, in {}",
        folder.join(crate::incident::EVIDENCE).display()
    )));
    report.results.push(CheckResult::new(
        "incident",
        "opened",
        Status::Ok,
        format!("incident {id} ({severity}) opened"),
    ));
    report.results.extend(captured.problems);
    report.extra.insert(
        "incident".into(),
        json!({
            "id": id,
            "severity": severity,
            "respond_within": within,
            "title": title,
            "opened_at": opened_at,
            "folder": folder,
            "contacts": contacts,
            "checklist": checklist,
            "evidence": captured.files,
        }),
    );
    Ok(())
}

/// The evidence captured into the incident's folder and its line on the
/// timeline: what was captured, and that line.
async fn capture(
    runbook: &Runbook,
    store: &Store,
    id: &str,
    folder: &std::path::Path,
    state_dir: &std::path::Path,
) -> Result<(evidence::Captured, String), Error> {
    let log_lines = runbook.plan.evidence_log_lines;
    let clock = std::time::Instant::now();
    let captured =
        evidence::capture(runbook, state_dir, folder, runbook.redactor(), log_lines).await;
    let took = crate::ui::human::took(clock.elapsed());
    let evidence_status = if captured.problems.is_empty() {
        Status::Ok
    } else {
        Status::Warn
    };
    let mut summary = format!(
        "{} captured in {took}",
        crate::ui::human::count(captured.files.len(), "file")
    );
    for problem in &captured.problems {
        summary.push_str(&format!("; {}: {}", problem.name, problem.message));
    }
    store.append(
        id,
        &Entry::new(EntryKind::Evidence, summary.clone()).with_status(evidence_status),
    )?;

    Ok((captured, summary))
}

/// Who to call and the first steps, as the runbook lists them.
fn show_whom_and_what(contacts: &[String], checklist: &[String], report: &mut Report) {
    if !contacts.is_empty() {
        report.blocks.push(Block::Line("contacts:".into()));
        for contact in contacts {
            report.blocks.push(Block::Line(format!("  {contact}")));
        }
    }
    if !checklist.is_empty() {
        report.blocks.push(Block::Line("first steps:".into()));
        for (n, item) in checklist.iter().enumerate() {
            report
                .blocks
                .push(Block::Line(format!("  {}. {item}", n + 1)));
        }
    }
}
