//! The post-mortem written when an incident closes: the operators' template
//! (summary, timeline, root cause, impact, resolution, action items,
//! lessons) with everything opsbook knows filled in, the rest ready to fill.
//! Every text is masked raw, before it is fitted into a table cell.

use std::fmt::Write;

use super::{Entry, EntryKind, Incident};
use crate::redact::Redactor;

const TO_FILL: &str = "_To be filled in._";

/// The Markdown text of `postmortem.md`.
pub(crate) fn render(
    incident: &Incident,
    timeline: &[Entry],
    evidence: &[String],
    redactor: &Redactor,
) -> String {
    let shown = |text: &str| redactor.redact(text).into_owned();
    // Masked first: the cell's escaping (`|` → `\|`) could hide a value from the rules.
    let cell = |text: &str| fit_cell(&shown(text));
    let mut text = String::new();
    let closed = incident.closed_at;
    let duration = closed.map(|closed| {
        let seconds = closed
            .as_second()
            .saturating_sub(incident.opened_at.as_second())
            .max(0)
            .unsigned_abs();
        crate::ui::human::seconds(seconds)
    });
    let stamp = |at: jiff::Timestamp| at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    let _ = writeln!(text, "# Post-mortem: {}\n", shown(&incident.title));
    let _ = writeln!(text, "| | |\n|---|---|");
    let _ = writeln!(text, "| Incident | {} |", incident.id);
    let _ = writeln!(
        text,
        "| Severity | {} (respond within {}) |",
        incident.severity, incident.respond_within
    );
    let _ = writeln!(text, "| Opened | {} |", stamp(incident.opened_at));
    let _ = writeln!(
        text,
        "| Closed | {} |",
        closed.map_or_else(|| "still open".to_string(), stamp)
    );
    let _ = writeln!(
        text,
        "| Duration | {} |",
        duration.as_deref().unwrap_or("-")
    );
    let _ = writeln!(text, "| Host | {} |", cell(&incident.host));
    let _ = writeln!(text, "| Runbook | {} |\n", cell(&incident.runbook));

    let _ = writeln!(text, "## Summary\n");
    let summary = incident.summary.as_deref().map(shown);
    let _ = writeln!(text, "{}\n", summary.as_deref().unwrap_or(TO_FILL));

    let _ = writeln!(text, "## Timeline\n");
    let _ = writeln!(text, "| Time (UTC) | What | Event |\n|---|---|---|");
    for entry in timeline {
        let what = match (entry.kind, entry.status) {
            (EntryKind::Step, Some(status)) => format!("step, {status}"),
            (kind, _) => format!("{kind:?}").to_lowercase(),
        };
        let _ = writeln!(
            text,
            "| {} | {} | {} |",
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            what,
            cell(&entry.text)
        );
    }
    let _ = writeln!(text);

    let _ = writeln!(text, "## Evidence\n");
    if evidence.is_empty() {
        let _ = writeln!(text, "No evidence was captured.\n");
    } else {
        let _ = writeln!(
            text,
            "Captured when the incident opened, secrets masked, in `{}/`:\n",
            super::EVIDENCE
        );
        for file in evidence {
            let _ = writeln!(text, "- `{}`", shown(file));
        }
        let _ = writeln!(text);
    }

    for section in ["Root cause", "Impact", "Resolution"] {
        let _ = writeln!(text, "## {section}\n\n{TO_FILL}\n");
    }
    let _ = writeln!(
        text,
        "## Action items\n\n| Action | Owner | Due |\n|---|---|---|\n| | | |\n"
    );
    let _ = writeln!(text, "## Lessons learned\n\n{TO_FILL}");
    text
}

/// Text fit for one table cell: no line breaks, no column separators.
fn fit_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::Status;

    #[test]
    fn the_postmortem_holds_the_record_the_timeline_and_the_sections_to_fill() {
        let at = |t: &str| {
            t.parse::<jiff::Timestamp>()
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let incident = Incident {
            id: "INC-20261124-105200".into(),
            title: "api down".into(),
            severity: "P1".into(),
            respond_within: "15m".into(),
            opened_at: at("2026-11-24T10:52:00Z"),
            closed_at: Some(at("2026-11-24T12:07:00Z")),
            summary: Some("The disk filled; logs rotated.".into()),
            runbook: "shop".into(),
            host: "vm".into(),
            acknowledged_at: None,
            escalated_at: None,
        };
        let timeline = [
            Entry {
                at: at("2026-11-24T10:52:00Z"),
                kind: EntryKind::Opened,
                text: "opened: api down".into(),
                status: None,
            },
            Entry {
                at: at("2026-11-24T10:55:00Z"),
                kind: EntryKind::Step,
                text: "step 1 `stop: api` | ok".into(),
                status: Some(Status::Ok),
            },
        ];
        let text = render(
            &incident,
            &timeline,
            &["containers.json".into()],
            &Redactor::builtin(),
        );
        for wanted in [
            "# Post-mortem: api down",
            "| Severity | P1 (respond within 15m) |",
            "| Duration | 1h 15m |",
            "The disk filled; logs rotated.",
            "| 2026-11-24 10:55:00 | step, ok | step 1 `stop: api` \\| ok |",
            "- `containers.json`",
            "## Root cause\n\n_To be filled in._",
            "## Impact",
            "## Action items",
            "## Lessons learned",
        ] {
            assert!(text.contains(wanted), "{wanted:?} in\n{text}");
        }
    }
}
