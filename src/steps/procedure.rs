//! The runbook's own procedures (`opsbook run PROCEDURE`: weekly VACUUM,
//! docker prune, a rollback) run through the step engine; listed
//! (`run --list`), or their steps shown (`--dry-run`).

use serde_json::json;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::steps::{self, Setup};

/// Runs the procedure `name` with `setup` (or lists them all, when no
/// name is given or `list` is asked).
pub(crate) async fn run(
    name: Option<&str>,
    list_them: bool,
    dry_run: bool,
    setup: Setup<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let runbook = setup.runbook;
    let procedures = &runbook.model.procedures;
    let names: Vec<&str> = procedures.keys().map(String::as_str).collect();
    let name = match (name, list_them) {
        (None, _) | (Some(_), true) => {
            list(runbook, report);
            return Ok(());
        }
        (Some(name), false) => name,
    };
    let Some(procedure) = procedures.get(name) else {
        return Err(Error::Usage(format!(
            "no procedure `{name}` in `{}` (procedures: {})",
            runbook.display,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
    };
    let steps = &procedure.steps;
    if dry_run {
        report.blocks.push(steps::report::plan(steps));
        report.results.push(CheckResult::new(
            "procedure",
            "dry-run",
            Status::Ok,
            format!(
                "dry run: procedure `{name}` has {} steps; nothing was run",
                steps.len()
            ),
        ));
        return Ok(());
    }
    let what = format!("procedure `{name}`");
    let (outcomes, interrupted) = steps::run(setup, steps, &what, |_| {}).await?;
    let ending = steps::report::ending(&outcomes, steps.len(), interrupted);
    steps::report::outcomes(report, "procedure", "", steps, &outcomes);
    report
        .blocks
        .push(Block::Line(format!("procedure `{name}` {ending}")));
    if interrupted && outcomes.len() < steps.len() {
        report.results.push(CheckResult::interrupted("procedure"));
    }
    report.extra.insert(
        "procedure".into(),
        json!({"name": name, "steps": steps.len(), "run": outcomes.len(), "ending": ending}),
    );
    Ok(())
}

fn list(runbook: &Runbook, report: &mut Report) {
    let procedures = &runbook.model.procedures;
    report.blocks.push(Block::Table {
        header: vec!["procedure", "steps", "description"],
        rows: procedures
            .iter()
            .map(|(name, p)| {
                vec![
                    name.clone(),
                    p.steps.len().to_string(),
                    p.description.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    });
    report.results.push(CheckResult::new(
        "procedure",
        "list",
        Status::Ok,
        format!(
            "{} in {}",
            crate::ui::human::count(procedures.len(), "procedure"),
            runbook.display
        ),
    ));
    report.extra.insert(
        "procedures".into(),
        json!(procedures
            .iter()
            .map(|(name, p)| json!({"name": name, "description": p.description, "steps": p.steps.len()}))
            .collect::<Vec<_>>()),
    );
}
