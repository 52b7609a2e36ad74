//! The safety backup a restore takes of exactly the items it is about to
//! replace, so the operator can go back: dumps are copied while their
//! services still run (before the stop), volumes and files once nothing
//! writes to them (after it), and a volume restored directly from the data
//! its swap set aside, once the services run again (`after_swap`): the
//! folder is finished only then. It is one backup folder, renamed into place
//! only when both parts are in, and marked `safety` in its manifest. It is
//! also what a failed restore is rolled back from: its items are exactly
//! the ones being replaced, in the same stored format.

use std::path::{Path, PathBuf};

use crate::backup::manifest::Item;
use crate::docker::{Container, Deployment};
use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::runbook::Runbook;
use crate::runbook::model::Backup;
use crate::ui::progress::Progress;

use super::staged::Staged;
use super::swap::Replaced;
use super::targets::{Planned, Target};
use crate::backup::catalog;
use crate::backup::collect::{self, Collected, Collector, Elsewhere, Source};
use crate::backup::staging::{self, Staging};
use crate::grade::{CheckResult, Status};

pub(super) struct Safety<'a> {
    staging: Staging,
    collector: Collector<'a>,
    items: Vec<Collected>,
}

impl<'a> Safety<'a> {
    /// A fresh safety backup folder in `dir`, encrypted like the runbook's backups.
    pub(super) fn open(
        deployment: &'a Deployment,
        containers: &'a [Container],
        elsewhere: &'a Elsewhere,
        backup: &'a Backup,
        dir: &Path,
        name: &str,
    ) -> Result<Safety<'a>, Error> {
        let collector = Collector {
            deployment,
            containers,
            elsewhere,
            backup,
            recipients: collect::recipients(backup)?,
            helper_image: backup.helper_image.clone(),
        };
        let staging = Staging::open(dir, name)?;
        // Marked, so a restore killed after its swap leaves it for people,
        // not for prune (`catalog::unfinished_safety`).
        let mark = staging.partial.join(catalog::SAFETY_MARK);
        crate::state::files::write_private(&mark, b"").map_err(|source| Error::File {
            path: mark.clone(),
            action: "write",
            source,
        })?;
        Ok(Safety {
            staging,
            collector,
            items: Vec::new(),
        })
    }

    /// Copies the planned items of the kinds `wanted` says, one by one,
    /// unless a signal comes first; on failure the folder is removed and
    /// the reason names the item whose copy failed.
    pub(super) async fn copy(
        &mut self,
        planned: &[Planned],
        wanted: impl Fn(&Planned) -> bool,
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
                copied = self.collector.collect_all(one, &self.staging.partial, progress) => {
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

    /// The items copied so far, in the folder still being written: what a
    /// failure is put back from before `finish`.
    pub(super) fn view(&self) -> Taken {
        Taken {
            id: self.staging.id.clone(),
            folder: self.staging.partial.clone(),
            items: self.items.iter().map(|c| c.item.clone()).collect(),
        }
    }

    /// Writes the manifest and gives the folder its name: its id.
    pub(super) fn finish(self, runbook: &Runbook) -> Result<Taken, String> {
        let mark = self.staging.partial.join(catalog::SAFETY_MARK);
        crate::state::files::remove_if_present(&mark).map_err(|e| e.to_string())?;
        let items: Vec<Item> = self.items.into_iter().map(|c| c.item).collect();
        let manifest = staging::manifest(
            runbook,
            self.collector.containers,
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

/// The result that says a safety backup was taken.
pub(super) fn taken_result(taken: &Taken, dir: &Path) -> CheckResult {
    CheckResult::new(
        "restore",
        "safety backup",
        Status::Ok,
        format!(
            "safety backup {} of the current state ({})",
            taken.id,
            dir.display()
        ),
    )
}

/// Once the services run again after volumes were swapped in: their
/// set-aside data is walked into the safety backup, which is then
/// finished, and removed; data that was not copied, or not put back, is
/// kept and named. Without a safety backup it is just removed.
pub(super) async fn after_swap(
    runbook: &Runbook,
    replaced: &mut Replaced<'_>,
    staged: &[Staged],
    progress: Progress<'_>,
) {
    // Without a safety backup the set-aside data is the only copy of the
    // state before: kept until the restore is verified (`set_aside`).
    let no_safety = replaced.pending.is_none() && replaced.taken.is_none();
    // The ones swapped in and still in: their set-aside data is the state before.
    let put_back = |name: &str| replaced.put_back.iter().find(|(n, _)| n == name);
    let swapped_in: Vec<&Staged> = staged
        .iter()
        .filter(|s| {
            let swapped = replaced
                .outcomes
                .iter()
                .any(|(n, o)| *n == s.name && o.is_ok());
            swapped && put_back(&s.name).is_none()
        })
        .collect();
    // Not put back: the set-aside data is what is left of the state before.
    let mut keep: Vec<&str> = staged
        .iter()
        .filter(|s| put_back(&s.name).is_some_and(|(_, o)| o.is_err()))
        .map(|s| s.name.as_str())
        .collect();
    let mut notes = Vec::new();
    if let Some(mut safety) = replaced.pending.take() {
        if replaced.failure.is_none() {
            for s in &swapped_in {
                let source = Source::Folder {
                    name: s.name.clone(),
                    full: s.full.clone(),
                    path: s.old.clone(),
                    root: s.root.clone(),
                };
                let copied = safety
                    .collector
                    .collect_all(&[source], &safety.staging.partial, progress)
                    .await;
                match copied {
                    Ok(items) => safety.items.extend(items),
                    Err(reason) => {
                        keep.push(&s.name);
                        notes.push(format!(
                            "the safety copy of `{}` failed ({reason}): its data before the restore is kept in {}",
                            s.name,
                            s.old.display()
                        ));
                    }
                }
            }
        }
        let dir = safety.staging.dir.clone();
        match safety.finish(runbook) {
            Ok(taken) => {
                progress.say(format!("safety backup {}", taken.id));
                replaced.safety = Some(taken_result(&taken, &dir));
                replaced.taken = Some(taken);
            }
            Err(reason) => {
                keep.extend(swapped_in.iter().map(|s| s.name.as_str()));
                notes.push(format!(
                    "the safety backup could not be written ({reason}): the volumes' data before the restore is kept beside them ({})",
                    swapped_in.iter().map(|s| s.old.display().to_string()).collect::<Vec<_>>().join(", ")
                ));
                replaced.taken = None;
            }
        }
    }
    for s in staged {
        let deferred = no_safety && swapped_in.iter().any(|i| i.name == s.name);
        if deferred {
            replaced.set_aside.push(s.name.clone());
        }
        s.clean(!keep.contains(&s.name.as_str()) && !deferred);
    }
    if !notes.is_empty() {
        replaced.safety = Some(CheckResult::new(
            "restore",
            "safety backup",
            Status::Warn,
            notes.join("; "),
        ));
    }
}

/// The sources a safety backup copies for the planned items `wanted` says.
fn sources(planned: &[Planned], wanted: impl Fn(&Planned) -> bool) -> Vec<Source> {
    planned
        .iter()
        .filter(|p| wanted(p))
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
