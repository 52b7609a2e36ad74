//! `opsbook backup verify [ID|latest|--all]`: every stored file re-hashed
//! and every stream read back (decrypted with `--identity`, decompressed,
//! tar entries walked), so a backup that would not restore is found first.

use std::path::Path;

use crate::backup::manifest::Manifest;
use crate::backup::verify;
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
    report: &mut Report,
) -> Result<(), Error> {
    let dir = runbook.resolve(&settings(runbook)?.dir);
    let identities = std::sync::Arc::new(match identity {
        Some(path) => verify::identities(path).map_err(Error::Usage)?,
        None => Vec::new(),
    });
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
        let folder = entry.path.clone();
        let identities = identities.clone();
        let checked = tokio::task::spawn_blocking(move || {
            manifest
                .items
                .iter()
                .map(|item| (item.name.clone(), verify::item(&folder, item, &identities)))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (name, outcome) in checked {
            let result_name = format!("{}/{name}", entry.id);
            report.results.push(match outcome {
                Ok(Some(size)) => CheckResult::new(
                    "verify",
                    result_name,
                    Status::Ok,
                    format!("checksum and stream good ({})", crate::human::bytes(size)),
                ),
                Ok(None) => CheckResult::new(
                    "verify",
                    result_name,
                    Status::Ok,
                    "checksum good; encrypted: pass --identity to read the stream back",
                ),
                Err(problem) => CheckResult::new("verify", result_name, Status::Crit, problem),
            });
        }
    }
    Ok(())
}
