//! A snapshot brought out of the repository as a backup of the archive
//! format, into `.<id>.download/` of the backup folder and renamed to
//! `<id>` when whole: each folder of the snapshot as a volume's tar, each
//! streamed item as its file, compressed and hashed as it is written, then
//! the manifest. `restore` then runs on it as on any local backup: verified,
//! staged beside the data, a safety backup taken, all or nothing. Every
//! blob read from the repository is checked against its SHA-256 id, so a
//! damaged pack refuses the restore before anything is stopped.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use rustic_core::repofile::{Node, NodeType};
use rustic_core::vfs::OpenFile;
use rustic_core::{IndexedFullStatus, LsOptions, Repository};

use super::Place;
use super::list::{Snapshot, snapshots};
use crate::backup::manifest::{self, Item, Manifest, Read as Route};
use crate::backup::staging::safe;
use crate::backup::{LATEST, LATEST_SAFETY};
use crate::error::Error;
use crate::runbook::Runbook;
use crate::runbook::model::Compression;
use crate::ui::progress::Progress;

/// The top folder of a volume's tar made from a snapshot's folder.
const ROOT: &str = "volume";
/// Bytes read from the repository at a time.
const STEP: usize = 1 << 20;

type Full = Repository<IndexedFullStatus>;

/// Brings snapshot `id` (or the newest) out into `dir` as a backup; its id.
pub(crate) async fn export(
    runbook: &Runbook,
    place: &Place,
    id: Option<&str>,
    dir: &Path,
    progress: Progress<'_>,
) -> Result<String, Error> {
    let all = snapshots(runbook, place).await?;
    let chosen = chosen(all, id, place)?;
    let manifest = chosen.manifest.clone().ok_or_else(|| {
        Error::Usage(format!(
            "snapshot {} of backup {} has no manifest: it was not made by opsbook; nothing was changed",
            &chosen.snapshot[..8],
            chosen.id
        ))
    })?;
    progress.say(format!(
        "reading backup {} from snapshot {}",
        chosen.id,
        &chosen.snapshot[..8]
    ));
    let repository = place.open().await?;
    // Held while the snapshot is read: no prune removes its packs meanwhile.
    let held = place.lock(&repository, false, "restore").await?;
    let partial = dir.join(format!(".{}.download", chosen.id));
    crate::state::files::create_private_dir(dir).map_err(|source| Error::File {
        path: dir.to_path_buf(),
        action: "create",
        source,
    })?;
    let _ = std::fs::remove_dir_all(&partial);
    crate::state::files::create_private_dir(&partial).map_err(|source| Error::File {
        path: partial.clone(),
        action: "create",
        source,
    })?;
    let level = runbook
        .model
        .backup
        .as_ref()
        .and_then(|b| b.level.as_ref().map(|l| l.value));
    let (snapshot, into) = (chosen.snapshot.clone(), partial.clone());
    let written = tokio::task::spawn_blocking(move || {
        let repository = repository.to_indexed().map_err(|e| e.display_log())?;
        let found = repository
            .get_snapshot_from_str(&snapshot, |_| true)
            .map_err(|e| e.display_log())?;
        let mut items = Vec::new();
        for item in &manifest.items {
            items.push(bring_out(&repository, &found, item, &into, level)?);
        }
        Ok::<_, String>(Manifest { items, ..manifest })
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|made| made);
    held.release().await;
    let manifest = match written {
        Ok(manifest) => manifest,
        Err(why) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(Error::Usage(format!(
                "backup {} does not read back from the repository: {why}; nothing was changed",
                chosen.id
            )));
        }
    };
    crate::backup::staging::put_in_place(dir, &partial, &chosen.id, &manifest)?;
    Ok(chosen.id)
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

/// One item of the snapshot written as the archive format stores it.
fn bring_out(
    repository: &Full,
    snapshot: &rustic_core::repofile::SnapshotFile,
    item: &Item,
    into: &Path,
    level: Option<i32>,
) -> Result<Item, String> {
    let node = repository
        .node_from_snapshot_and_path(snapshot, &item.file)
        .map_err(|e| format!("{}: {}", item.file, e.display_log()))?;
    let kind = match item.kind {
        manifest::Kind::Volume => "volume",
        manifest::Kind::File => "file",
        manifest::Kind::Dump => "dump",
    };
    let is_tar = item.kind == manifest::Kind::Volume;
    let file = format!(
        "{kind}-{}{}.zst",
        safe(&item.name),
        if is_tar { ".tar" } else { "" }
    );
    let target = into.join(&file);
    let counter = Arc::new(AtomicU64::new(0));
    let failed = |e: io::Error| format!("{}: {e}", item.file);
    let (root, written) = if node.is_dir() {
        let (_, written) = crate::backup::writer::write_with(
            &target,
            Compression::Zstd,
            level,
            &[],
            counter,
            |out| folder_tar(repository, &node, out),
        )
        .map_err(failed)?;
        (Some(ROOT.to_string()), written)
    } else {
        let mut reader = NodeReader::new(repository, &node).map_err(failed)?;
        let written = crate::backup::writer::copy_from(
            &mut reader,
            &target,
            Compression::Zstd,
            level,
            &[],
            counter,
        )
        .map_err(failed)?;
        (item.archive_root.clone(), written)
    };
    if item.read != Some(Route::Direct) && !item.sha256.is_empty() && written.size != item.size {
        return Err(format!(
            "{}: {} bytes read back, {} were backed up",
            item.file, written.size, item.size
        ));
    }
    Ok(Item {
        archive_root: root,
        file,
        compression: Compression::Zstd,
        encrypted: false,
        size: written.size,
        stored_size: written.stored_size,
        sha256: written.sha256,
        ..item.clone()
    })
}

/// A snapshot's folder as a tar under `volume/`: folders, files and links
/// with their modes, owners and times.
fn folder_tar(repository: &Full, folder: &Node, out: &mut dyn Write) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Complete);
    append(repository, &mut tar, Path::new(ROOT), folder)?;
    let nodes = repository
        .ls(folder, &LsOptions::default())
        .map_err(|e| io::Error::other(e.display_log()))?;
    for entry in nodes {
        let (path, node) = entry.map_err(|e| io::Error::other(e.display_log()))?;
        append(repository, &mut tar, &Path::new(ROOT).join(path), &node)?;
    }
    tar.finish()
}

/// One node into the tar at `path`.
fn append(
    repository: &Full,
    tar: &mut tar::Builder<&mut dyn Write>,
    path: &Path,
    node: &Node,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    let meta = &node.meta;
    // restic keeps Go's file mode: the permission bits are the same.
    header.set_mode(meta.mode.unwrap_or(0o644) & 0o777);
    header.set_uid(meta.uid.unwrap_or(0).into());
    header.set_gid(meta.gid.unwrap_or(0).into());
    header.set_mtime(meta.mtime.map_or(0, |t| t.as_second().max(0) as u64));
    match &node.node_type {
        NodeType::Dir => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            tar.append_data(&mut header, path, io::empty())
        }
        NodeType::Symlink { .. } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            let target = PathBuf::from(node.node_type.to_link().to_string_lossy().into_owned());
            tar.append_link(&mut header, path, target)
        }
        NodeType::File => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.size);
            let reader = NodeReader::new(repository, node)?;
            tar.append_data(&mut header, path, reader.take(meta.size))
        }
        // Devices, fifos and sockets are not data a volume restore puts back.
        _ => Ok(()),
    }
}

/// A file of the snapshot read in steps, each blob checked as it is read.
struct NodeReader<'a> {
    repository: &'a Full,
    file: OpenFile,
    at: usize,
    chunk: bytes::Bytes,
}

impl<'a> NodeReader<'a> {
    fn new(repository: &'a Full, node: &Node) -> io::Result<NodeReader<'a>> {
        let file = repository
            .open_file(node)
            .map_err(|e| io::Error::other(e.display_log()))?;
        Ok(NodeReader {
            repository,
            file,
            at: 0,
            chunk: bytes::Bytes::new(),
        })
    }
}

impl Read for NodeReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.chunk.is_empty() {
            self.chunk = self
                .repository
                .read_file_at(&self.file, self.at, STEP)
                .map_err(|e| io::Error::other(e.display_log()))?;
            self.at += self.chunk.len();
        }
        let n = out.len().min(self.chunk.len());
        out[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        Ok(n)
    }
}
