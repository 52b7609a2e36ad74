//! Putting one item back, streamed from its stored file (decrypted and
//! decompressed on a blocking thread) to where it belongs: a volume on the
//! archive path emptied then filled through Docker's archive endpoint (one
//! restored directly is staged and swapped in by `staged`), a host file written beside
//! and renamed, or a dump fed to its restore command on stdin. The same
//! code puts the safety backup's copy back when a restore is rolled back.
//! A failure says whether the target was touched: a file is replaced by a
//! rename (a failure before it leaves the old file), a volume is touched
//! once its helper ran, a dump once its restore command began.

use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backup::manifest::Item;
use crate::backup::verify;
use crate::docker::{self, Deployment, RESTORE_ROOT, State};

use super::targets::{Planned, Target};

/// The identities an encrypted backup is read with, shared with the reading thread.
pub(super) type Identities = verify::SharedIdentities;

/// Why an item was not put in place, and whether its target may have
/// changed (`touched`) or is certainly as it was.
#[derive(Debug, Clone)]
pub(super) struct Failed {
    pub reason: String,
    pub touched: bool,
}

impl Failed {
    fn untouched(reason: impl Into<String>) -> Failed {
        Failed {
            reason: reason.into(),
            touched: false,
        }
    }

    fn touched(reason: impl Into<String>) -> Failed {
        Failed {
            reason: reason.into(),
            touched: true,
        }
    }
}

/// Puts one planned item back where it belongs, from `folder` (the backup
/// restored, or the safety backup), counting bytes into `counter`.
pub(super) async fn item(
    deployment: &Deployment,
    folder: &Path,
    p: &Planned,
    identities: &Identities,
    counter: Arc<AtomicU64>,
) -> Result<(), Failed> {
    match &p.target {
        Target::Volume {
            full,
            root,
            image,
            home,
            ..
        } => {
            volume(
                home.as_ref().map_or(deployment, |h| h.engine(deployment)),
                (full, root, image),
                folder,
                &p.item,
                identities,
                counter,
            )
            .await
        }
        Target::File { path } => file(path, folder, &p.item, identities, counter).await,
        Target::Dump {
            service, restore, ..
        } => {
            let containers = crate::docker::containers_with_tasks(deployment)
                .await
                .map_err(|e| Failed::untouched(e.to_string()))?;
            let container = docker::running_of(&containers, service).ok_or_else(|| {
                Failed::untouched(format!("no running container of service `{service}`"))
            })?;
            // A stack's task on another node: through that node's engine.
            let node = match &container.node {
                Some(node) => Some(deployment.on_node(node).await.map_err(Failed::untouched)?),
                None => None,
            };
            dump(
                node.as_deref().unwrap_or(deployment),
                &container.id,
                restore,
                folder,
                &p.item,
                identities,
                counter,
            )
            .await
            .map_err(Failed::touched)
        }
    }
}

/// Empties `volume` and fills it with the item's archive, through a helper
/// container from `image` that is removed afterwards.
async fn volume(
    deployment: &Deployment,
    (volume, root, image): (&str, &str, &str),
    folder: &Path,
    item: &Item,
    identities: &Identities,
    counter: Arc<AtomicU64>,
) -> Result<(), Failed> {
    let helper = deployment
        .volume_writer(volume, root, image)
        .await
        .map_err(|e| Failed::untouched(e.to_string()))?;
    let outcome = async {
        if let Err(reason) = deployment.empty_volume(&helper).await {
            // A helper that never ran (no /bin/sh, say) left the volume as it was.
            let ran = deployment
                .inspect_one(&helper)
                .await
                .map_or(true, |h| h.state != State::Created);
            return Err(Failed {
                reason,
                touched: ran,
            });
        }
        let (chunks, reading) = verify::read_back(folder, item, identities, counter);
        let uploaded = deployment.upload(&helper, RESTORE_ROOT, chunks).await;
        let read = reading
            .await
            .map_err(|e| Failed::touched(e.to_string()))?
            .map_err(|e| Failed::touched(format!("reading `{}` back: {e}", item.file)));
        uploaded.map_err(|e| Failed::touched(e.to_string()))?;
        read
    }
    .await;
    let _ = deployment.remove(&helper).await;
    outcome
}

/// Streams the item into `argv` run in a container; its exit code must be 0.
async fn dump(
    deployment: &Deployment,
    container: &str,
    argv: &[String],
    folder: &Path,
    item: &Item,
    identities: &Identities,
    counter: Arc<AtomicU64>,
) -> Result<(), String> {
    let (chunks, reading) = verify::read_back(folder, item, identities, counter);
    let ran = deployment.exec_with_stdin(container, argv, chunks).await;
    let read = reading.await.map_err(|e| e.to_string())?;
    let (code, said) = ran.map_err(|e| e.to_string())?;
    if code != Some(0) {
        let said = String::from_utf8_lossy(&said);
        return Err(format!(
            "`{}` exited {}: {}",
            argv.join(" "),
            code.map_or("without a code".to_string(), |c| c.to_string()),
            crate::redact::quote(said.trim())
        ));
    }
    read.map_err(|e| format!("reading `{}` back: {e}", item.file))
}

/// Replaces a host file with the item: written beside it, fsynced, renamed
/// over it, keeping its mode and owner (0600 for a file that is gone).
async fn file(
    target: &Path,
    folder: &Path,
    item: &Item,
    identities: &Identities,
    counter: Arc<AtomicU64>,
) -> Result<(), Failed> {
    let path = folder.join(&item.file);
    let item = item.clone();
    let identities = identities.clone();
    let target = target.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let stream = verify::open_stream(&path, &item, &identities)
            .map_err(|e| Failed::untouched(e.to_string()))?;
        let content = Counting {
            inner: stream,
            counter,
        };
        replace_file(content, &target).map_err(|e| Failed::untouched(e.to_string()))?;
        // Renamed in: the new file is in place, only its folder's sync failed.
        sync_parent(&target).map_err(|e| Failed::touched(e.to_string()))
    })
    .await
    .map_err(|e| Failed::untouched(e.to_string()))?
}

/// Writes `content` to `.<name>.opsbook-restore` beside `target`, then
/// renames it over `target`: a reader sees the old file or the new one,
/// never half of one. An error leaves the old file in place.
fn replace_file(mut content: impl Read, target: &Path) -> io::Result<()> {
    let existing = std::fs::metadata(target).ok();
    let mode = existing
        .as_ref()
        .map_or(0o600, |m| m.permissions().mode() & 0o7777);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| io::Error::other(format!("`{}` is not a file path", target.display())))?;
    let beside: PathBuf = target.with_file_name(format!(".{name}.opsbook-restore"));
    let written = (|| {
        // A leftover of a crash is removed (a link too, not what it points to).
        crate::state::files::remove_if_present(&beside)?;
        let mut file = crate::state::files::create_new_file(&beside)?;
        io::copy(&mut content, &mut file)?;
        if let Some(existing) = &existing {
            // Only root can give a file away; anyone else keeps their own.
            let _ = std::os::unix::fs::fchown(&file, Some(existing.uid()), Some(existing.gid()));
        }
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = crate::state::files::remove_if_present(&beside);
        return Err(e);
    }
    std::fs::rename(&beside, target)
}

/// Syncs the folder of a renamed file, so the rename survives a crash.
fn sync_parent(target: &Path) -> io::Result<()> {
    match target.parent() {
        Some(parent) => std::fs::File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

/// A reader that adds what it reads to a progress counter.
struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_keeps_its_mode_and_leaves_nothing_beside() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = dir.path().join(".env");
        std::fs::write(&target, "OLD=1\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640))
            .unwrap_or_else(|e| panic!("{e}"));
        replace_file(&b"NEW=2\n"[..], &target).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            std::fs::read_to_string(&target).ok().as_deref(),
            Some("NEW=2\n")
        );
        let mode = std::fs::metadata(&target).map(|m| m.permissions().mode() & 0o7777);
        assert_eq!(mode.ok(), Some(0o640));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(names, [".env"]);
    }

    #[test]
    fn a_file_that_is_gone_comes_back_as_0600() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = dir.path().join("secrets.txt");
        replace_file(&b"x"[..], &target).unwrap_or_else(|e| panic!("{e}"));
        let mode = std::fs::metadata(&target).map(|m| m.permissions().mode() & 0o7777);
        assert_eq!(mode.ok(), Some(0o600));
    }

    #[test]
    fn a_failed_read_leaves_the_old_file_untouched() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("broken stream"))
            }
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = dir.path().join("config.yml");
        std::fs::write(&target, "old").unwrap_or_else(|e| panic!("{e}"));
        assert!(replace_file(Failing, &target).is_err());
        assert_eq!(
            std::fs::read_to_string(&target).ok().as_deref(),
            Some("old")
        );
        let count = std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(count, 1);
    }
}
