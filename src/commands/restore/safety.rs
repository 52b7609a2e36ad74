//! The safety backup a restore takes of exactly the items it is about to
//! replace, so the operator can go back: dumps are copied while their
//! services still run (before the stop), volumes and files once nothing
//! writes to them (after it). It is one backup folder, renamed into place
//! only when both parts are in, and marked `safety` in its manifest. It is
//! also what a failed restore is rolled back from: its items are exactly
//! the ones being replaced, in the same stored format.

use std::path::{Path, PathBuf};

use crate::backup::manifest::{Item, Kind};
use crate::docker::{Container, Deployment};
use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::progress::Progress;
use crate::runbook::Runbook;
use crate::runbook::model::Backup;

use super::targets::{Planned, Target};
use crate::backup::copy::{self, Copied, Copier, Source};
use crate::backup::staging::{self, Staging};

pub(super) struct Safety<'a> {
    staging: Staging,
    copier: Copier<'a>,
    items: Vec<Copied>,
}

impl<'a> Safety<'a> {
    /// A fresh safety backup folder in `dir`, encrypted like the runbook's backups.
    pub(super) fn open(
        deployment: &'a Deployment,
        containers: &'a [Container],
        backup: &'a Backup,
        dir: &Path,
        name: &str,
    ) -> Result<Safety<'a>, Error> {
        let copier = Copier {
            deployment,
            containers,
            backup,
            recipients: copy::recipients(backup)?,
            helper_image: backup.helper_image.clone(),
        };
        Ok(Safety {
            staging: Staging::open(dir, name)?,
            copier,
            items: Vec::new(),
        })
    }

    /// Copies the planned items of the kinds `wanted` says, one by one,
    /// unless a signal comes first; on failure the folder is removed and
    /// the reason names the item whose copy failed.
    pub(super) async fn copy(
        &mut self,
        planned: &[Planned],
        wanted: impl Fn(Kind) -> bool,
        progress: Progress<'_>,
        interrupt: &Interrupt,
    ) -> Result<(), String> {
        // A file the current state no longer has is not copied: nothing to go back to.
        let present: Vec<Source> = sources(planned, wanted)
            .into_iter()
            .filter(|s| !matches!(s, Source::File { path, .. } if !path.exists()))
            .collect();
        for source in &present {
            let one = std::slice::from_ref(source);
            let copied = tokio::select! {
                copied = self.copier.copy_all(one, &self.staging.partial, progress) => {
                    copied.map_err(|reason| {
                        format!("the safety copy of `{}` failed: {reason}", source.name())
                    })
                }
                () = interrupt.raised() => Err(super::INTERRUPTED.into()),
            };
            match copied {
                Ok(items) => self.items.extend(items),
                Err(reason) => {
                    self.staging.discard();
                    return Err(reason);
                }
            }
        }
        Ok(())
    }

    /// Writes the manifest and gives the folder its name: its id.
    pub(super) fn finish(self, runbook: &Runbook) -> Result<Taken, String> {
        let items: Vec<Item> = self.items.into_iter().map(|c| c.item).collect();
        let manifest = staging::manifest(
            runbook,
            self.copier.containers,
            self.staging.created_at,
            true,
            items.clone(),
        );
        self.staging
            .finish(&manifest, runbook.redactor())
            .map(|folder| Taken {
                id: self.staging.id.clone(),
                folder,
                items,
            })
            .map_err(|e| e.to_string())
    }
}

/// A safety backup taken: its id, its folder, and the items in it.
pub(super) struct Taken {
    pub id: String,
    pub folder: PathBuf,
    pub items: Vec<Item>,
}

/// The sources a safety backup copies for the planned items of some kinds.
fn sources(planned: &[Planned], wanted: impl Fn(Kind) -> bool) -> Vec<Source> {
    planned
        .iter()
        .filter(|p| wanted(p.item.kind))
        .map(|p| match &p.target {
            Target::Volume { full, .. } => Source::Volume {
                name: p.item.name.clone(),
                full: full.clone(),
            },
            Target::File { path } => Source::File {
                name: p.item.name.clone(),
                path: path.clone(),
            },
            Target::Dump { service, dump, .. } => Source::Dump {
                name: p.item.name.clone(),
                service: service.clone(),
                argv: dump.clone(),
            },
        })
        .collect()
}
