//! Escalation: an open incident nobody acknowledged (`incident ack`, or a
//! note) within its severity's `respond_within` is sent, once, to the
//! notification targets that hear `escalation`, and the timeline says so.
//! `opsbook serve` looks every half minute, `daily-check` after each run,
//! so cron-only hosts escalate too. Without a target that hears it, the
//! incident is still shown as overdue (page, `/metrics`, `incident list`).

use std::path::Path;

use crate::grade::{CheckResult, Status};
use crate::incident::{Entry, EntryKind, Incident, Store};
use crate::notify::{self, Notifier};
use crate::runbook::Runbook;

/// Escalates every overdue incident not escalated before; returns the ids
/// escalated.
pub(crate) async fn overdue(runbook: &Runbook, state_dir: &Path) -> Vec<String> {
    let store = Store::new(runbook.incident_dir(), runbook.redactor().clone());
    let now = jiff::Timestamp::now();
    let due: Vec<Incident> = store
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.is_overdue(now) && i.escalated_at.is_none())
        .collect();
    if due.is_empty() {
        return Vec::new();
    }
    // `serve` and cron's daily-check look at the same incidents: whoever
    // comes second while the other escalates skips this pass (held until
    // the end of it, or the death of its holder).
    let Some(_claim) = claim(&runbook.incident_dir()) else {
        return Vec::new();
    };
    let Some(notifier) = Notifier::new(runbook, "escalation", state_dir) else {
        return Vec::new();
    };
    let mut escalated = Vec::new();
    for incident in due {
        // Read again under the claim: another pass may have escalated it,
        // or someone acknowledged it, since the list was read.
        let Ok((incident, _)) = store.open(&incident.id) else {
            continue;
        };
        if !incident.is_overdue(now) || incident.escalated_at.is_some() {
            continue;
        }
        let waited =
            crate::ui::human::seconds(crate::ui::human::seconds_between(incident.opened_at, now));
        let line = format!(
            "{} incident {} `{}` opened {waited} ago, not acknowledged within {}",
            incident.severity, incident.id, incident.title, incident.respond_within
        );
        let result = CheckResult::new("incident", incident.id.clone(), Status::Crit, line.clone());
        let summary = notify::summarize(
            "escalation",
            runbook,
            &[result],
            now,
            std::time::Duration::ZERO,
            None,
        );
        let reached = notifier.announce(&summary).await;
        if reached.is_empty() {
            continue;
        }
        let entry = Entry::new(
            EntryKind::Escalated,
            format!("escalated to {}: {line}", reached.join(", ")),
        );
        // Read again: an ack, note or close while the targets were sent to
        // must not be written over by the copy read before.
        let kept = store.open(&incident.id).and_then(|(mut fresh, _)| {
            fresh.escalated_at = Some(entry.at);
            store.save(&fresh)?;
            store.append(&fresh.id, &entry)
        });
        if let Err(e) = kept {
            tracing::warn!(
                "{}",
                runbook.redactor().redact(&format!(
                    "the escalation of {} was not recorded: {e}",
                    incident.id
                ))
            );
        }
        escalated.push(incident.id);
    }
    escalated
}

/// The escalation claim on `dir`: a lock file there (0600), held by one
/// process at a time; None while another holds it.
fn claim(dir: &Path) -> Option<std::fs::File> {
    let file = crate::state::files::open_private(
        &dir.join(".escalation.lock"),
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )
    .ok()?;
    file.try_lock().ok()?;
    Some(file)
}
