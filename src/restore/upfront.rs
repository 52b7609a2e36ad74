//! Before a restore touches anything: the identities an encrypted backup
//! needs (missing or wrong: exit 3), and every item verified as `backup
//! verify` does (bad: exit 2). Once the safety backup is taken, and before
//! anything is replaced: that it can be read back (an encrypted one with
//! the identities given), since a failure is put back from it.

use std::path::Path;
use std::sync::Arc;

use crate::backup::manifest::Item;
use crate::backup::verify;
use crate::error::Error;
use crate::grade::{CheckResult, Status};

use super::replace::Identities;
use super::safety::Taken;
use super::targets::Planned;

/// The identities for an encrypted backup: required, and able to decrypt
/// every encrypted item, before anything is stopped (exit 3 otherwise).
pub(super) fn identities(
    folder: &Path,
    planned: &[Planned],
    identity: Option<&Path>,
) -> Result<Identities, Error> {
    let encrypted: Vec<&Planned> = planned.iter().filter(|p| p.item.encrypted).collect();
    let Some(first) = encrypted.first() else {
        // Given anyway: it reads an encrypted safety backup back after a failure.
        return match identity {
            Some(path) => Ok(Arc::new(verify::identities(path).map_err(Error::Usage)?)),
            None => Ok(Arc::new(Vec::new())),
        };
    };
    let Some(path) = identity else {
        return Err(Error::Usage(format!(
            "item `{}` is encrypted: pass --identity FILE (an age identity); nothing was changed",
            first.item.name
        )));
    };
    let identities = verify::identities(path).map_err(Error::Usage)?;
    for p in &encrypted {
        if let Err(e) = verify::open_stream(&folder.join(&p.item.file), &p.item, &identities) {
            return Err(Error::Usage(format!(
                "item `{}` cannot be decrypted with `{}`: {e}; nothing was changed",
                p.item.name,
                path.display()
            )));
        }
    }
    Ok(Arc::new(identities))
}

/// That every encrypted item of the safety backup opens with `identities`:
/// the reason, naming the item, when one does not.
pub(super) fn readable(taken: &Taken, identities: &Identities) -> Result<(), String> {
    for item in taken.items.iter().filter(|i| i.encrypted) {
        if let Err(e) = verify::open_stream(&taken.folder.join(&item.file), item, identities) {
            return Err(format!(
                "safety backup {} is encrypted to the runbook's recipients and item `{}` cannot be read back with the identities given ({e}), so a failure could not be put back: pass --identity with a key of `backup.encrypt.recipients`",
                taken.id, item.name
            ));
        }
    }
    Ok(())
}

/// Every item's checksum and stream, as `backup verify` checks them: the
/// failures, as results.
pub(super) async fn verify_items(
    folder: &Path,
    items: Vec<Item>,
    identities: &Identities,
) -> Vec<CheckResult> {
    let folder = folder.to_path_buf();
    let identities = identities.clone();
    let checked = tokio::task::spawn_blocking(move || {
        items
            .iter()
            .map(|item| (item.name.clone(), verify::item(&folder, item, &identities)))
            .collect::<Vec<_>>()
    })
    .await;
    match checked {
        Ok(checked) => checked
            .into_iter()
            .filter_map(|(name, outcome)| {
                let problem = outcome.err()?;
                Some(CheckResult::new("verify", name, Status::Crit, problem))
            })
            .collect(),
        Err(e) => vec![CheckResult::new(
            "verify",
            "backup",
            Status::Crit,
            format!("verification did not finish: {e}"),
        )],
    }
}
