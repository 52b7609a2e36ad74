//! `incident run ID PLAYBOOK`: a playbook of `incident.playbooks` run step by
//! step through the step engine, every step's outcome on the timeline as
//! soon as it is known.

use serde_json::json;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::incident::{Entry, EntryKind, Store};
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::runbook::model::Step;
use crate::steps;

use super::settings;
use crate::steps::Setup;

pub(crate) async fn run(
    runbook: &Runbook,
    store: &Store,
    id: &str,
    name: &str,
    dry_run: bool,
    setup: Setup<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let (incident, _) = store.open(id)?;
    if !incident.is_open() {
        return Err(Error::Usage(format!(
            "incident {id} is closed: open a new one to run a playbook"
        )));
    }
    let steps = playbook(runbook, name)?;

    if dry_run {
        report.blocks.push(steps::report::plan(steps));
        report.results.push(CheckResult::new(
            "playbook",
            "dry-run",
            Status::Ok,
            format!(
                "dry run: playbook `{name}` has {} steps; nothing was run",
                steps.len()
            ),
        ));
        return Ok(());
    }

    if !setup.yes {
        // Refused before the timeline says the playbook started.
        steps::needs_confirmation(steps, &format!("playbook `{name}`"))?;
    }
    store.append(
        id,
        &Entry::new(
            EntryKind::Playbook,
            format!("playbook `{name}` started ({} steps)", steps.len()),
        ),
    )?;
    let mut unrecorded: Option<Error> = None;
    let what = format!("playbook `{name}`");
    let (outcomes, interrupted) = steps::run(setup, steps, &what, |outcome| {
        let entry = Entry {
            at: outcome.started_at,
            kind: EntryKind::Step,
            text: format!(
                "`{name}` step {}/{} `{}`: {}",
                outcome.number,
                steps.len(),
                outcome.step,
                outcome.message
            ),
            status: Some(outcome.status),
        };
        if let Err(e) = store.append(id, &entry) {
            unrecorded.get_or_insert(e);
        }
    })
    .await?;
    if let Some(e) = unrecorded {
        return Err(e);
    }

    let status = Status::worst(outcomes.iter().map(|o| o.status));
    let last = outcomes.last().map_or(0, |o| o.number);
    let ending = steps::report::ending(&outcomes, steps.len(), interrupted);
    store.append(
        id,
        &Entry::new(EntryKind::Playbook, format!("playbook `{name}` {ending}")).with_status(status),
    )?;
    steps::report::outcomes(report, "playbook", "", steps, &outcomes);
    report.blocks.push(Block::Line(format!(
        "playbook `{name}` {ending}; on the timeline of {id}"
    )));
    if interrupted && last < steps.len() {
        report.results.push(CheckResult::interrupted("playbook"));
    }
    report.extra.insert(
        "playbook".into(),
        json!({"name": name, "incident": id, "steps": steps.len(), "run": outcomes.len(), "ending": ending}),
    );
    Ok(())
}

/// The runbook's playbook `name`, or a refusal naming the ones it has.
fn playbook<'r>(runbook: &'r Runbook, name: &str) -> Result<&'r [Step], Error> {
    let playbooks = settings(runbook).map(|i| &i.playbooks);
    if let Some(steps) = playbooks.and_then(|p| p.get(name)) {
        return Ok(steps);
    }
    let names: Vec<&str> = playbooks
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    Err(Error::Usage(format!(
        "no playbook `{name}` in `{}` (incident.playbooks has: {})",
        runbook.display,
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )))
}
