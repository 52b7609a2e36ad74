//! A snapshot read back out of the repository for a restore (`Reading`):
//! the repository opened and indexed once, a shared restic lock held so
//! no prune removes its packs meanwhile. Its files and dumps are brought
//! out into `.<id>.download/` of the backup folder as a backup of the
//! archive format (each stored as read, hashed as it is written), renamed
//! to `<id>` with its manifest when whole; `restore` then runs on it as on
//! any local backup. A volume restored directly is not written there: it
//! streams from the snapshot straight into its staging folder
//! (`Volumes::tar`), one read of the data; a volume restored through
//! Docker's archive endpoint, or checked by a dry run, is brought out as a
//! tar first (`Reading::volume`). Every blob read from the repository is
//! authenticated by its MAC as it is decrypted (Poly1305-AES: a changed
//! byte fails it), so a damaged pack refuses the restore before anything
//! is stopped.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use rustic_core::repofile::SnapshotFile;

use super::Place;
use super::ahead::{self, Full};
use super::list::{Snapshot, snapshots_in};
use super::lock::Held;
use crate::backup::manifest::{self, Item, Manifest, Read as Route};
use crate::backup::staging::safe;
use crate::backup::{LATEST, LATEST_SAFETY};
use crate::error::Error;
use crate::runbook::Runbook;
use crate::runbook::model::Compression;
use crate::ui::progress::Progress;

/// A snapshot open for reading, its lock held until `release`.
pub(crate) struct Reading {
    volumes: Volumes,
    held: Held,
    /// The opsbook backup id, and the snapshot's short id.
    pub id: String,
    pub snapshot: String,
    manifest: Manifest,
    /// Where the backup is brought out: `<dir>/<id>`.
    folder: PathBuf,
}

/// The snapshot's volumes, read as tars on any thread.
#[derive(Clone)]
pub(crate) struct Volumes {
    repository: Arc<Full>,
    snapshot: Arc<SnapshotFile>,
    /// Each volume item's path in the snapshot, by item name.
    paths: Arc<BTreeMap<String, String>>,
}

impl Reading {
    /// Opens snapshot `id` (or the newest) for reading, into `dir`.
    pub(crate) async fn open(
        runbook: &Runbook,
        place: &Place,
        id: Option<&str>,
        dir: &Path,
        progress: Progress<'_>,
    ) -> Result<Reading, Error> {
        let repository = place.open().await?;
        let (repository, all) = snapshots_in(runbook, place, repository).await?;
        let chosen = chosen(all, id, place)?;
        let short = chosen.snapshot[..8].to_string();
        let manifest = chosen.manifest.clone().ok_or_else(|| {
            Error::Usage(format!(
                "snapshot {short} of backup {} has no manifest: it was not made by opsbook; nothing was changed",
                chosen.id
            ))
        })?;
        progress.say(format!(
            "reading backup {} from snapshot {short}",
            chosen.id
        ));
        let held = place.lock(&repository, false, "restore").await?;
        let snapshot = chosen.snapshot.clone();
        let indexed = tokio::task::spawn_blocking(move || {
            let repository = repository.to_indexed().map_err(|e| super::said(&e))?;
            let found = repository
                .get_snapshot_from_str(&snapshot, |_| true)
                .map_err(|e| super::said(&e))?;
            Ok::<_, String>((repository, found))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|made| made);
        let (repository, found) = match indexed {
            Ok(indexed) => indexed,
            Err(why) => {
                held.release().await;
                return Err(unreadable(&chosen.id, &why));
            }
        };
        let paths = manifest
            .items
            .iter()
            .filter(|i| i.kind == manifest::Kind::Volume)
            .map(|i| (i.name.clone(), i.file.clone()))
            .collect();
        Ok(Reading {
            volumes: Volumes {
                repository: Arc::new(repository),
                snapshot: Arc::new(found),
                paths: Arc::new(paths),
            },
            held,
            folder: dir.join(&chosen.id),
            id: chosen.id,
            snapshot: short,
            manifest,
        })
    }

    /// Brings the backup out into the backup folder: its files and dumps
    /// written, its volumes too when `whole`, else listed (`Reading::volume`
    /// or `Volumes::tar` read them). The backup's folder.
    pub(crate) async fn bring_out(&self, whole: bool) -> Result<PathBuf, Error> {
        let dir = self.folder.parent().unwrap_or(Path::new("."));
        let partial = dir.join(format!(".{}.download", self.id));
        let create = |path: &Path| {
            crate::state::files::create_private_dir(path).map_err(|source| Error::File {
                path: path.to_path_buf(),
                action: "create",
                source,
            })
        };
        create(dir)?;
        let _ = std::fs::remove_dir_all(&partial);
        create(&partial)?;
        let (volumes, manifest, into) =
            (self.volumes.clone(), self.manifest.clone(), partial.clone());
        let written = tokio::task::spawn_blocking(move || {
            let mut items = Vec::new();
            for item in &manifest.items {
                items.push(match item.kind {
                    manifest::Kind::Volume if !whole => listed(item),
                    _ => volumes.bring_out(item, &into)?,
                });
            }
            Ok::<_, String>(Manifest { items, ..manifest })
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|made| made);
        let manifest = written.map_err(|why| {
            let _ = std::fs::remove_dir_all(&partial);
            unreadable(&self.id, &why)
        })?;
        crate::backup::staging::put_in_place(dir, &partial, &self.id, &manifest)
    }

    /// Brings volume `item` out as a tar beside the rest: the item as stored.
    pub(crate) async fn volume(&self, item: &Item) -> Result<Item, Error> {
        let volumes = self.volumes.clone();
        let wanted = self
            .manifest
            .items
            .iter()
            .find(|i| i.name == item.name)
            .cloned()
            .ok_or_else(|| unreadable(&self.id, &format!("no item `{}`", item.name)))?;
        let into = self.folder.clone();
        tokio::task::spawn_blocking(move || volumes.bring_out(&wanted, &into))
            .await
            .map_err(|e| e.to_string())
            .and_then(|made| made)
            .map_err(|why| unreadable(&self.id, &why))
    }

    /// The snapshot's volumes, to stream from.
    pub(crate) fn volumes(&self) -> Volumes {
        self.volumes.clone()
    }

    /// Lets the lock go.
    pub(crate) async fn release(self) {
        self.held.release().await;
    }
}

impl Volumes {
    /// Volume `name` as a tar under `ahead::ROOT`, read from the snapshot.
    pub(crate) fn tar(&self, name: &str, out: &mut dyn Write) -> io::Result<()> {
        let path = self
            .paths
            .get(name)
            .ok_or_else(|| io::Error::other(format!("no volume `{name}` in the snapshot")))?;
        let node = self
            .repository
            .node_from_snapshot_and_path(&self.snapshot, path)
            .map_err(|e| io::Error::other(format!("{path}: {}", super::said(&e))))?;
        match node.is_dir() {
            true => ahead::folder_tar(&self.repository, &node, out),
            // Read through Docker's archive endpoint, it was kept as its tar.
            false => ahead::file(&self.repository, &node, out).map(|_| ()),
        }
    }

    /// One item of the snapshot written into `into` as the archive format
    /// stores it, uncompressed (it is unpacked at once, and removed after).
    fn bring_out(&self, item: &Item, into: &Path) -> Result<Item, String> {
        let repository = &self.repository;
        let node = repository
            .node_from_snapshot_and_path(&self.snapshot, &item.file)
            .map_err(|e| format!("{}: {}", item.file, super::said(&e)))?;
        let file = stored_name(item);
        let target = into.join(&file);
        let counter = Arc::new(AtomicU64::new(0));
        let failed = |e: io::Error| format!("{}: {e}", item.file);
        let write = |fill: &dyn Fn(&mut dyn Write) -> io::Result<()>| {
            crate::backup::writer::write_with(&target, Compression::None, None, &[], counter, fill)
                .map(|((), written)| written)
                .map_err(failed)
        };
        let (root, written) = if node.is_dir() {
            let written = write(&|out| ahead::folder_tar(repository, &node, out))?;
            (Some(ahead::ROOT.to_string()), written)
        } else {
            let written = write(&|out| ahead::file(repository, &node, out).map(|_| ()))?;
            (item.archive_root.clone(), written)
        };
        if item.read != Some(Route::Direct) && !item.sha256.is_empty() && written.size != item.size
        {
            return Err(format!(
                "{}: {} bytes read back, {} were backed up",
                item.file, written.size, item.size
            ));
        }
        Ok(Item {
            archive_root: root,
            file,
            compression: Compression::None,
            encrypted: false,
            size: written.size,
            stored_size: written.stored_size,
            sha256: written.sha256,
            ..item.clone()
        })
    }
}

/// A volume listed but not written: streamed, or brought out when needed.
fn listed(item: &Item) -> Item {
    let root = match item.read {
        Some(Route::Archive) => item.archive_root.clone(),
        _ => Some(ahead::ROOT.to_string()),
    };
    Item {
        archive_root: root,
        file: stored_name(item),
        compression: Compression::None,
        encrypted: false,
        stored_size: 0,
        sha256: String::new(),
        ..item.clone()
    }
}

/// The file an item is brought out into.
fn stored_name(item: &Item) -> String {
    let (kind, ext) = match item.kind {
        manifest::Kind::Volume => ("volume", ".tar"),
        manifest::Kind::File => ("file", ""),
        manifest::Kind::Dump => ("dump", ""),
    };
    format!("{kind}-{}{ext}", safe(&item.name))
}

/// A snapshot that does not read back: nothing was changed.
fn unreadable(id: &str, why: &str) -> Error {
    Error::Usage(format!(
        "backup {id} does not read back from the repository: {why}; nothing was changed"
    ))
}

/// The snapshot `id` names (the newest when none).
fn chosen(all: Vec<Snapshot>, id: Option<&str>, place: &Place) -> Result<Snapshot, Error> {
    let wanted = id.unwrap_or(LATEST);
    let found = if wanted == LATEST || wanted == LATEST_SAFETY {
        all.into_iter().last()
    } else {
        all.into_iter().find(|s| s.id == wanted)
    };
    found.ok_or_else(|| {
        Error::Usage(format!(
            "no backup `{wanted}` in restic repository {} (opsbook backup list); nothing was changed",
            place.location()
        ))
    })
}
