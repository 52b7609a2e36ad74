//! A volume restored directly on this host, so the services' downtime does
//! not grow with its data. While the services still run, its stored file
//! is unpacked into `.opsbook-restore-<id>` beside the volume's `_data`
//! (same filesystem), hashed in the same pass and flushed to disk: a
//! mismatch or any error removes that folder, and nothing live has changed. With the services
//! stopped, two renames swap it in (`_data` → `.opsbook-old-<id>`, staged →
//! `_data`); a failure or a signal after that swaps back, by rename too.
//! Once the services run again the set-aside data is walked into the
//! safety backup (or not, with `--no-safety-backup`) and removed.
//!
//! A folder left by a restore that was killed: a staging folder is removed
//! by the next restore of that volume (it says so); set-aside data is
//! never removed silently, only named, with what to do about it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::backup::repository::export::Volumes;
use crate::backup::unpack::{self, OLD_PREFIX, STAGING_PREFIX};
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;
use crate::ui::human;
use crate::ui::progress::Progress;

use super::replace::{Failed, Identities};
use super::targets::{Planned, Target};

/// One volume unpacked beside its data, ready to be swapped in.
pub(super) struct Staged {
    /// The item's name.
    pub name: String,
    /// The full volume name.
    pub full: String,
    /// The volume's data folder (`…/_data`).
    pub data: PathBuf,
    /// The staged data.
    pub staging: PathBuf,
    /// Where the swap sets the old data aside.
    pub old: PathBuf,
    /// The archive's top folder, for the safety copy of the old data.
    pub root: String,
}

impl Staged {
    /// Swaps the staged data in; a failure swaps back (untouched) when it can.
    pub(super) fn swap(&self) -> Result<(), Failed> {
        let untouched = |what: &str, e: std::io::Error| Failed {
            reason: format!("{what}: {e}"),
            touched: false,
        };
        std::fs::rename(&self.data, &self.old)
            .map_err(|e| untouched("setting the current data aside", e))?;
        if let Err(e) = std::fs::rename(&self.staging, &self.data) {
            return match std::fs::rename(&self.old, &self.data) {
                Ok(()) => Err(untouched("swapping the restored data in", e)),
                Err(back) => Err(Failed {
                    reason: format!(
                        "swapping the restored data in: {e}; the current data is in {} ({back})",
                        self.old.display()
                    ),
                    touched: true,
                }),
            };
        }
        sync_parent(&self.data);
        Ok(())
    }

    /// Puts the set-aside data back (the restored data goes back to the
    /// staging folder, removed after).
    pub(super) fn swap_back(&self) -> Result<(), String> {
        if !self.old.exists() {
            return Err(format!("{} is not there", self.old.display()));
        }
        std::fs::rename(&self.data, &self.staging)
            .map_err(|e| format!("setting the restored data aside: {e}"))?;
        if let Err(e) = std::fs::rename(&self.old, &self.data) {
            let _ = std::fs::rename(&self.staging, &self.data);
            return Err(format!(
                "renaming {} back: {e}; the data before the restore is there",
                self.old.display()
            ));
        }
        sync_parent(&self.data);
        Ok(())
    }

    /// Removes what is left once the restore is over: the staged data
    /// (when not swapped in or swapped back) and, when `old` is done with,
    /// the set-aside data.
    pub(super) fn clean(&self, old: bool) {
        let _ = std::fs::remove_dir_all(&self.staging);
        if old {
            let _ = std::fs::remove_dir_all(&self.old);
        }
    }
}

/// What staging gave: every direct volume staged, and what was said about
/// leftovers; or why it stopped (everything staged already removed).
pub(super) struct Staging {
    pub staged: Vec<Staged>,
    pub notes: Vec<CheckResult>,
}

/// Unpacks every volume restored directly beside its data, while the
/// services run. On a failure or a signal every staging folder is removed
/// and the results say why (`does_not_verify`: a stored file is bad).
pub(super) async fn stage_all(
    folder: &Path,
    streamed: Option<&Volumes>,
    planned: &[Planned],
    identities: &Identities,
    progress: Progress<'_>,
    interrupt: &Interrupt,
) -> Result<Staging, (Vec<CheckResult>, Unstaged)> {
    let id = format!(
        "{}-{}",
        jiff::Timestamp::now().as_second(),
        std::process::id()
    );
    let mut staging = Staging {
        staged: Vec::new(),
        notes: Vec::new(),
    };
    for p in planned {
        let Target::Volume {
            full,
            root,
            direct: Some(data),
            ..
        } = &p.target
        else {
            continue;
        };
        staging.notes.extend(leftovers(&p.item.name, data));
        let Some(parent) = data.parent() else {
            continue;
        };
        let staged = Staged {
            name: p.item.name.clone(),
            full: full.clone(),
            data: data.clone(),
            staging: parent.join(format!("{STAGING_PREFIX}{id}")),
            old: parent.join(format!("{OLD_PREFIX}{id}")),
            root: root.clone(),
        };
        progress.say(format!(
            "{}: unpacking beside the volume's data (the services still run)",
            p.item.name
        ));
        let started = Instant::now();
        let from = match streamed {
            Some(volumes) => From::Snapshot(volumes.clone()),
            None => From::Folder(folder.to_path_buf(), identities.clone()),
        };
        if let Err(failed) = stage(from, p, &staged, progress, interrupt).await {
            staged.clean(false);
            for done in &staging.staged {
                done.clean(false);
            }
            let mut results = staging.notes;
            results.push(failed.result(&p.item.name));
            return Err((results, failed));
        }
        progress.say(format!(
            "{}: {} unpacked and verified in {}",
            p.item.name,
            human::bytes(p.item.size),
            human::took(started.elapsed())
        ));
        staging.staged.push(staged);
    }
    Ok(staging)
}

/// Why a volume was not staged.
pub(super) enum Unstaged {
    Bad(String),
    Failed(String),
    Interrupted,
}

impl Unstaged {
    fn result(&self, name: &str) -> CheckResult {
        match self {
            Unstaged::Bad(reason) => CheckResult::new("verify", name, Status::Crit, reason.clone()),
            Unstaged::Failed(reason) => CheckResult::new(
                "restore",
                name,
                Status::Crit,
                format!("could not be unpacked beside the volume's data: {reason}; left as it was"),
            ),
            Unstaged::Interrupted => CheckResult::new(
                "restore",
                name,
                Status::Crit,
                "interrupted while it was unpacked beside the volume's data: left as it was"
                    .to_string(),
            ),
        }
    }
}

/// Where a staged volume is read from: its stored file in the backup's
/// folder (read with these identities), or a repository's snapshot.
enum From {
    Folder(PathBuf, Identities),
    Snapshot(Volumes),
}

/// Unpacks one item into its staging folder on a blocking thread; a signal
/// stops it (and is waited for, so nothing writes after).
async fn stage(
    from: From,
    p: &Planned,
    staged: &Staged,
    progress: Progress<'_>,
    interrupt: &Interrupt,
) -> Result<(), Unstaged> {
    let stop = Arc::new(AtomicBool::new(false));
    let meter = progress.meter(&p.item.name);
    let item = p.item.clone();
    let (into, counter, flag) = (staged.staging.clone(), meter.counter(), stop.clone());
    let mut handle = tokio::task::spawn_blocking(move || {
        let unpacked = match from {
            From::Folder(folder, identities) => {
                unpack::item(&folder, &item, identities, &into, counter, &flag)
            }
            From::Snapshot(volumes) => {
                let root = item.archive_root.clone();
                let name = item.name.clone();
                let read = move |out: &mut dyn std::io::Write| volumes.tar(&name, out);
                unpack::stream(read, root.as_deref(), &into, counter, &flag).map_err(|e| match e {
                    unpack::Failed::Stored(why) => unpack::Failed::Stored(format!(
                        "volume `{}` does not read back from the repository: {why}",
                        item.name
                    )),
                    write => write,
                })
            }
        };
        unpacked.and_then(|()| durable(&into))
    });
    let outcome = tokio::select! {
        joined = &mut handle => joined.map_err(|e| Unstaged::Failed(e.to_string()))?,
        () = interrupt.raised() => {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.await;
            meter.done();
            return Err(Unstaged::Interrupted);
        }
    };
    meter.done();
    match outcome {
        Ok(()) => Ok(()),
        Err(unpack::Failed::Stored(reason)) => Err(Unstaged::Bad(reason)),
        Err(unpack::Failed::Write(reason)) => Err(Unstaged::Failed(reason)),
    }
}

/// Leftovers of a restore of this volume that was killed: a staging folder
/// is removed (never live data) and said, which changes nothing of how
/// the restore went; set-aside data is named, a warning (the operator
/// decides what becomes of it), as is a staging folder that cannot go.
fn leftovers(name: &str, data: &Path) -> Vec<CheckResult> {
    let (staging, old) = unpack::leftover_folders(data);
    let mut notes = Vec::new();
    let leftover = format!("{name}: leftover");
    for folder in staging {
        let removed = std::fs::remove_dir_all(&folder);
        let (status, message) = match removed {
            Ok(()) => (
                Status::Ok,
                format!(
                    "removed {}, the staging folder of a restore that was killed (it never held live data)",
                    folder.display()
                ),
            ),
            Err(e) => (
                Status::Warn,
                format!(
                    "{}, the staging folder of a restore that was killed, could not be removed: {e}",
                    folder.display()
                ),
            ),
        };
        notes.push(CheckResult::new("restore", &leftover, status, message));
    }
    for folder in old {
        notes.push(CheckResult::new(
            "restore",
            &leftover,
            Status::Warn,
            unpack::old_note(&folder, data),
        ));
    }
    notes
}

/// Flushes the staged data to disk before it can be swapped in: a crash
/// after the swap must find the restored files, not empty ones. One
/// `syncfs` of the volume's filesystem, not an fsync per file: a volume of
/// many small files would pay one disk flush each.
fn durable(staging: &Path) -> Result<(), unpack::Failed> {
    std::fs::File::open(staging)
        .and_then(|folder| rustix::fs::syncfs(&folder).map_err(std::io::Error::from))
        .map_err(|e| unpack::Failed::Write(format!("syncing the restored data to disk: {e}")))
}

/// Syncs the volume's folder, so the renames survive a crash.
fn sync_parent(data: &Path) {
    if let Some(parent) = data.parent()
        && let Ok(dir) = std::fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
}
