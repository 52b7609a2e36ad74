//! A snapshot brought out of the repository as a backup of the archive
//! format, into `.<id>.download/` of the backup folder and renamed to
//! `<id>` when whole: each folder of the snapshot as a volume's tar, each
//! streamed item as its file, stored as read (it is unpacked at once and
//! removed after) and hashed as it is written, then the manifest. `restore` then runs on it as on any local backup: verified,
//! staged beside the data, a safety backup taken, all or nothing. Every
//! blob read from the repository is checked against its SHA-256 id, so a
//! damaged pack refuses the restore before anything is stopped.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::Place;
use super::ahead::{self, Full};
use super::list::{Snapshot, snapshots};
use crate::backup::manifest::{self, Item, Manifest, Read as Route};
use crate::backup::staging::safe;
use crate::backup::{LATEST, LATEST_SAFETY};
use crate::error::Error;
use crate::runbook::Runbook;
use crate::runbook::model::Compression;
use crate::ui::progress::Progress;

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
    let (snapshot, into) = (chosen.snapshot.clone(), partial.clone());
    let written = tokio::task::spawn_blocking(move || {
        let repository = repository.to_indexed().map_err(|e| e.display_log())?;
        let found = repository
            .get_snapshot_from_str(&snapshot, |_| true)
            .map_err(|e| e.display_log())?;
        let mut items = Vec::new();
        for item in &manifest.items {
            items.push(bring_out(&repository, &found, item, &into)?);
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
        "{kind}-{}{}",
        safe(&item.name),
        if is_tar { ".tar" } else { "" }
    );
    let target = into.join(&file);
    let counter = Arc::new(AtomicU64::new(0));
    let failed = |e: io::Error| format!("{}: {e}", item.file);
    // Stored as read: it is unpacked at once, and removed after.
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
    if item.read != Some(Route::Direct) && !item.sha256.is_empty() && written.size != item.size {
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
