//! `opsbook incident`: the operators' incident page made a record that fills
//! itself in. `open` creates the incident's folder with an evidence bundle
//! and says who to call and what to do first; `note` and `run PLAYBOOK`
//! write the timeline; `close` writes the post-mortem; `list`, `show` and
//! `bundle` look after the records.

use std::path::PathBuf;

use crate::error::Error;
use crate::incident::{Store, ack, bundle, close, list, note, open, playbook, show};
use crate::render::Report;
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

/// What `opsbook incident` was asked to do.
pub(crate) enum Action {
    Open {
        severity: String,
        title: String,
    },
    Note {
        id: String,
        text: String,
    },
    Ack {
        id: String,
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

pub(crate) struct Options {
    pub yes: bool,
    pub state_dir: PathBuf,
}

pub(crate) async fn run(
    runbook: &Runbook,
    action: &Action,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let store = store(runbook);
    match action {
        Action::Open { severity, title } => {
            let state_dir = &options.state_dir;
            open::open(
                runbook, &store, severity, title, state_dir, progress, report,
            )
            .await
        }
        Action::Note { id, text } => note::note(&store, id, text, report),
        Action::Ack { id } => ack::ack(&store, id, report),
        Action::Run {
            id,
            playbook,
            dry_run,
        } => {
            let backups = super::backup::as_step(runbook, &options.state_dir, progress);
            let setup = backups.setup(options.yes);
            playbook::run(runbook, &store, id, playbook, *dry_run, setup, report).await
        }
        Action::List => list::list(&store, report),
        Action::Show { id } => show::show(&store, id, report),
        Action::Close { id, summary } => close::close(&store, id, summary, report),
        Action::Bundle { id } => bundle::bundle(&store, id, report),
    }
}

fn store(runbook: &Runbook) -> Store {
    Store::new(runbook.incident_dir(), runbook.redactor().clone())
}
