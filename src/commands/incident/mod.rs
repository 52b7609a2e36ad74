//! `opsbook incident`: the operators' incident page made a record that fills
//! itself in. `open` creates the incident's folder with an evidence bundle
//! and says who to call and what to do first; `note` and `run PLAYBOOK`
//! write the timeline; `close` writes the post-mortem; `list`, `show` and
//! `bundle` look after the records.

mod evidence;
mod open;
mod records;
mod run;

use std::path::PathBuf;

use crate::error::Error;
use crate::incident::Store;
use crate::progress::Progress;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::runbook::model::Incident;

/// Where incidents go when the runbook has no `incident:` section.
const DEFAULT_DIR: &str = "./incidents";
/// The operators' severities, when the runbook lists none.
const DEFAULT_SEVERITIES: [(&str, &str); 4] =
    [("P1", "15m"), ("P2", "1h"), ("P3", "4h"), ("P4", "24h")];
/// Log lines of each service in the evidence, when the runbook does not say.
const DEFAULT_LOG_LINES: u32 = 200;

/// What `opsbook incident` was asked to do.
pub enum Action {
    Open {
        severity: String,
        title: String,
    },
    Note {
        id: String,
        text: String,
    },
    Run {
        id: String,
        playbook: String,
        dry_run: bool,
    },
    List,
    Show {
        id: String,
    },
    Close {
        id: String,
        summary: String,
    },
    Bundle {
        id: String,
    },
}

pub struct Options {
    pub yes: bool,
    pub state_dir: PathBuf,
}

pub async fn run(
    runbook: &Runbook,
    action: &Action,
    options: &Options,
    progress: Progress,
    report: &mut Report,
) -> Result<(), Error> {
    let store = store(runbook);
    match action {
        Action::Open { severity, title } => {
            open::open(runbook, &store, severity, title, options, progress, report).await
        }
        Action::Note { id, text } => records::note(runbook, &store, id, text, report),
        Action::Run {
            id,
            playbook,
            dry_run,
        } => {
            run::run(
                runbook, &store, id, playbook, *dry_run, options, progress, report,
            )
            .await
        }
        Action::List => records::list(&store, report),
        Action::Show { id } => records::show(&store, id, report),
        Action::Close { id, summary } => records::close(runbook, &store, id, summary, report),
        Action::Bundle { id } => records::bundle(&store, id, report),
    }
}

fn settings(runbook: &Runbook) -> Option<&Incident> {
    runbook.model.incident.as_ref()
}

fn store(runbook: &Runbook) -> Store {
    let dir = settings(runbook).map_or(DEFAULT_DIR, |i| i.dir.as_str());
    Store::new(runbook.resolve(dir))
}

/// The severities and their response times, as written (`15m`).
fn severities(runbook: &Runbook) -> Vec<(String, String)> {
    match settings(runbook) {
        Some(incident) if !incident.severities.is_empty() => incident
            .severities
            .iter()
            .map(|(name, s)| (name.clone(), s.respond_within.to_string()))
            .collect(),
        _ => DEFAULT_SEVERITIES
            .iter()
            .map(|(name, within)| (name.to_string(), within.to_string()))
            .collect(),
    }
}
