//! `opsbook backup verify --copy NAME [ID|latest|--all]`: the chosen
//! backups streamed back from a copy target item by item and checked as
//! the local ones are (`backup::verify`); a copy whose manifest does not
//! read fails, named.

use crate::backup::verify::{self, SharedIdentities, verdict};
use crate::backup::{LATEST, LATEST_SAFETY};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;

use super::Target;

/// Streams the chosen backups back from copy target `name`, item by item.
pub(crate) async fn copy(
    runbook: &Runbook,
    name: &str,
    id: Option<&str>,
    all: bool,
    identities: SharedIdentities,
    report: &mut Report,
) -> Result<(), Error> {
    let target = &Target::named(runbook, name)?;
    let remote = target
        .list()
        .await
        .map_err(|problem| Error::Usage(format!("cannot list {}: {problem}", target.location())))?;
    let wanted = id.unwrap_or(LATEST);
    // A copy whose manifest does not read is a failure of the target: said
    // when all are verified, when the latest is (it may be the latest), or
    // when it is the one named.
    let damaged: Vec<_> = remote
        .damaged
        .iter()
        .filter(|d| all || wanted == LATEST || wanted == LATEST_SAFETY || d.id == wanted)
        .collect();
    let chosen: Vec<_> = match (all, wanted) {
        (true, _) => remote.backups,
        (false, LATEST) => remote
            .backups
            .into_iter()
            .rfind(|b| !b.safety)
            .into_iter()
            .collect(),
        (false, LATEST_SAFETY) => remote
            .backups
            .into_iter()
            .rfind(|b| b.safety)
            .into_iter()
            .collect(),
        (false, wanted) => remote
            .backups
            .into_iter()
            .filter(|b| b.id == wanted)
            .collect(),
    };
    if chosen.is_empty() && damaged.is_empty() {
        return Err(Error::Usage(format!(
            "no backup {} on {}",
            id.map_or("at all".to_string(), |i| format!("`{i}`")),
            target.location()
        )));
    }
    for backup in damaged {
        report.results.push(CheckResult::new(
            "verify",
            format!("{name}:{}", backup.id),
            Status::Crit,
            target.damaged(backup),
        ));
    }
    for backup in chosen {
        let manifest = match target.manifest(&backup.id).await {
            Ok(manifest) => manifest,
            Err(problem) => {
                report.results.push(CheckResult::new(
                    "verify",
                    format!("{name}:{}", backup.id),
                    Status::Crit,
                    problem,
                ));
                continue;
            }
        };
        for item in manifest.items {
            let result_name = format!("{name}:{}/{}", backup.id, item.name);
            let outcome = match target.open(&backup.id, &item.file, item.stored_size).await {
                Ok(raw) => {
                    let identities = identities.clone();
                    tokio::task::spawn_blocking(move || {
                        verify::item_stream(raw, &item, &identities)
                    })
                    .await
                    .unwrap_or_else(|e| Err(format!("verify task: {e}")))
                }
                Err(problem) => Err(problem),
            };
            report.results.push(verdict(result_name, outcome));
        }
    }
    Ok(())
}
