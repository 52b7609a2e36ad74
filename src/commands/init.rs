//! `opsbook init [--project NAME] [--output FILE] [--force] [--dry-run]`:
//! the runbook of the deployment running here, written (or printed) with
//! what it could not decide and the commands to try next.

use serde_json::json;

use crate::cli::InitArgs;
use crate::deploy::init::{self, Options};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::redact::Redactor;
use crate::render::{Block, Report};
use crate::ui::progress::Progress;

pub(crate) async fn run(args: &InitArgs, report: &mut Report) -> Result<(), Error> {
    let options = Options {
        project: args.project.clone(),
        output: args.output.clone(),
        force: args.force,
        dry_run: args.dry_run,
    };
    let written = init::init(&options).await?;
    let summary = format!("{} services, {} checks", written.services, written.checks);
    let message = match &written.path {
        Some(path) => format!(
            "wrote `{}` for `{}`: {summary}",
            path.display(),
            written.project
        ),
        None => format!("the runbook of `{}`: {summary}", written.project),
    };
    report.extra.insert(
        "init".into(),
        json!({
            "project": written.project,
            "path": written.path,
            "services": written.services,
            "checks": written.checks,
            "undecided": written.notes,
        }),
    );
    report.results.push(CheckResult::new(
        "init",
        "runbook",
        Status::Ok,
        message.clone(),
    ));
    if written.path.is_none() {
        let redactor = Redactor::builtin();
        report.blocks.push(Block::Document(written.text));
        let progress = Progress::new(false, &redactor);
        for note in &written.notes {
            progress.say(format!("init: {note}"));
        }
        return Ok(());
    }
    report.blocks.push(Block::Line(message));
    if !written.notes.is_empty() {
        report.blocks.push(Block::Line(
            "not decided (see the comments in the runbook):".into(),
        ));
        for note in &written.notes {
            report.blocks.push(Block::Line(format!("  {note}")));
        }
    }
    let runbook = match args.output.to_str() {
        Some("opsbook.yaml") => String::new(),
        Some(path) => format!(" --runbook {path}"),
        None => String::new(),
    };
    report.blocks.push(Block::Line("next:".into()));
    for command in ["validate", "backup", "daily-check"] {
        report
            .blocks
            .push(Block::Line(format!("  opsbook{runbook} {command}")));
    }
    Ok(())
}
