//! `opsbook backup verify [ID|latest|--all] [--copy NAME]`: every stored
//! file re-hashed and every stream read back (decrypted with `--identity`,
//! decompressed, tar entries walked), so a backup that would not restore is
//! found first; with `--copy`, streamed back from that copy target.

use std::path::Path;

use crate::backup::manifest::Manifest;
use crate::backup::verify;
use crate::copies::Target;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;

use super::{select, settings};

pub async fn verify_backups(
    runbook: &Runbook,
    id: Option<&str>,
    all: bool,
    identity: Option<&Path>,
    copy: Option<&str>,
    report: &mut Report,
) -> Result<(), Error> {
    let dir = runbook.backup_dir(settings(runbook)?);
    let identities = std::sync::Arc::new(match identity {
        Some(path) => verify::identities(path).map_err(Error::Usage)?,
        None => Vec::new(),
    });
    if let Some(name) = copy {
        return verify_copy(runbook, name, id, all, identities, report).await;
    }
    for entry in select(&dir, id, all)? {
        let manifest = match Manifest::read(&entry.path) {
            Ok(manifest) => manifest,
            Err(e) => {
                report.results.push(CheckResult::new(
                    "verify",
                    &entry.id,
                    Status::Crit,
                    format!("manifest.json: {e}"),
                ));
                continue;
            }
        };
        for (name, outcome) in verify::items(&entry.path, &manifest.items, &identities).await {
            report
                .results
                .push(verdict(format!("{}/{name}", entry.id), outcome));
        }
    }
    Ok(())
}

/// Streams the chosen backups back from copy target `name`, item by item.
async fn verify_copy(
    runbook: &Runbook,
    name: &str,
    id: Option<&str>,
    all: bool,
    identities: Identities,
    report: &mut Report,
) -> Result<(), Error> {
    let target = &Target::named(runbook, name)?;
    let remote = target
        .list()
        .await
        .map_err(|problem| Error::Usage(format!("cannot list {}: {problem}", target.location())))?;
    let chosen: Vec<_> = match (all, id.unwrap_or("latest")) {
        (true, _) => remote,
        (false, "latest") => remote.into_iter().last().into_iter().collect(),
        (false, wanted) => remote.into_iter().filter(|b| b.id == wanted).collect(),
    };
    if chosen.is_empty() {
        return Err(Error::Usage(format!(
            "no backup {} on {}",
            id.map_or("at all".to_string(), |i| format!("`{i}`")),
            target.location()
        )));
    }
    for backup in chosen {
        let manifest = match target.manifest(&backup.id).await {
            Ok(manifest) => manifest,
            Err(problem) => {
                report.results.push(CheckResult::new(
                    "verify",
                    &backup.id,
                    Status::Crit,
                    problem,
                ));
                continue;
            }
        };
        for item in manifest.items {
            let result_name = format!("{name}:{}/{}", backup.id, item.name);
            let outcome = match target.open(&backup.id, &item.file).await {
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

type Identities = verify::SharedIdentities;

/// The result of one item's verification.
fn verdict(result_name: String, outcome: Result<Option<u64>, String>) -> CheckResult {
    match outcome {
        Ok(Some(size)) => CheckResult::new(
            "verify",
            result_name,
            Status::Ok,
            format!(
                "checksum and stream good ({})",
                crate::ui::human::bytes(size)
            ),
        ),
        Ok(None) => CheckResult::new(
            "verify",
            result_name,
            Status::Ok,
            "checksum good; encrypted: pass --identity to read the stream back",
        ),
        Err(problem) => CheckResult::new("verify", result_name, Status::Crit, problem),
    }
}
