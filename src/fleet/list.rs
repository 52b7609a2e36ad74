//! `fleet list`: the hosts of the fleet file that `--limit` selects, with
//! how each engine is reached, its runbook and its groups. No engine is
//! contacted: this is the inventory, checked.

use std::path::PathBuf;

use serde_json::json;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};

/// The selected hosts as a table, their count, and the JSON list.
pub(crate) fn list(
    fleet_file: Option<PathBuf>,
    limit: Option<&str>,
    report: &mut Report,
) -> Result<(), Error> {
    let Some(path) = super::discover(fleet_file) else {
        return Err(Error::Usage(
            "no fleet file: pass --fleet FILE or set $OPSBOOK_FLEET".into(),
        ));
    };
    let fleet = super::load(&path)?;
    let hosts = super::select(&fleet, limit)?;
    report.runbook = fleet.display.clone();
    let rows = hosts
        .iter()
        .map(|h| {
            vec![
                h.name.clone(),
                h.reached(),
                h.runbook.display().to_string(),
                h.groups.join(", "),
            ]
        })
        .collect();
    report.blocks.push(Block::Table {
        header: vec!["host", "docker", "runbook", "groups"],
        rows,
    });
    let message = format!(
        "{} of {} in {}",
        crate::ui::human::count(hosts.len(), "host"),
        fleet.hosts.len(),
        fleet.display
    );
    report.blocks.push(Block::Line(message.clone()));
    report
        .results
        .push(CheckResult::new("fleet", "list", Status::Ok, message));
    report.extra.insert(
        "hosts".into(),
        json!(
            hosts
                .iter()
                .map(|h| json!({
                    "name": h.name,
                    "docker": h.reached(),
                    "runbook": h.runbook.display().to_string(),
                    "groups": h.groups,
                }))
                .collect::<Vec<_>>()
        ),
    );
    Ok(())
}
