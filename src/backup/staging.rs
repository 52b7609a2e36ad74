//! A backup folder being written: `.<id>.partial` (0700, files 0600) until
//! the manifest is written, everything fsynced and the folder renamed to
//! `<id>`, so nothing lists, verifies or restores a backup before it is
//! complete. Shared by `backup` and restore's safety backup.
//!
//! The manifest is written with each dump's source masked: a dump command
//! may carry its password (`PGPASSWORD=… pg_dump`). Volume names and host
//! paths are written as they are: restore reads them back to find where an
//! item goes, and they name things, not secrets.

use std::fs::OpenOptions;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::docker::Container;
use crate::error::Error;
use crate::redact::Redactor;
use crate::runbook::Runbook;
use crate::state::files::{create_private_dir, open_private};

use super::manifest::{self, Item, Kind, Manifest};

/// A backup folder being written: `.<id>.partial` until `finish` renames it,
/// so nothing lists, verifies or restores it before it is complete.
pub(crate) struct Staging {
    pub dir: PathBuf,
    pub id: String,
    pub partial: PathBuf,
    pub created_at: jiff::Timestamp,
}

impl Staging {
    /// Creates `dir` (0700) and a fresh partial folder (0700) in it.
    pub(crate) fn open(dir: &Path, name: &str) -> Result<Staging, Error> {
        let state_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::File {
                path,
                action: "create",
                source,
            }
        };
        create_private_dir(dir).map_err(state_error(dir))?;
        let created_at = jiff::Timestamp::now();
        let id = unique_id(dir, name, created_at);
        let partial = dir.join(format!(".{id}.partial"));
        // A new folder, never one (or a link) already there.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&partial)
            .map_err(state_error(&partial))?;
        Ok(Staging {
            dir: dir.to_path_buf(),
            id,
            partial,
            created_at,
        })
    }

    /// Writes the manifest (dump sources masked), fsyncs, and gives the
    /// folder its final name; on failure the partial folder is removed.
    pub(crate) fn finish(
        &self,
        manifest: &Manifest,
        redactor: &Redactor,
    ) -> Result<PathBuf, Error> {
        let mut masked = manifest.clone();
        for item in masked.items.iter_mut().filter(|i| i.kind == Kind::Dump) {
            item.source = redactor.redact(&item.source).into_owned();
        }
        match finish(&self.dir, &self.partial, &self.id, &masked) {
            Ok(()) => Ok(self.dir.join(&self.id)),
            Err(source) => {
                self.discard();
                Err(Error::File {
                    path: self.dir.join(&self.id),
                    action: "write",
                    source,
                })
            }
        }
    }

    /// Removes what was written: the backup did not happen.
    pub(crate) fn discard(&self) {
        let _ = std::fs::remove_dir_all(&self.partial);
    }
}

/// The manifest of a backup of `items` taken at `created_at`.
pub(crate) fn manifest(
    runbook: &Runbook,
    containers: &[Container],
    created_at: jiff::Timestamp,
    safety: bool,
    items: Vec<Item>,
) -> Manifest {
    Manifest {
        format: manifest::FORMAT,
        runbook: runbook.name().to_string(),
        opsbook_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at,
        host: crate::host::hostname(),
        safety,
        images: containers
            .iter()
            .map(|c| (c.service.clone(), c.image.clone()))
            .collect(),
        items,
    }
}

/// Writes the manifest, fsyncs, and gives the folder its final name.
fn finish(dir: &Path, partial: &Path, id: &str, manifest: &Manifest) -> std::io::Result<()> {
    use std::io::Write;
    let path = partial.join(manifest::FILE);
    let mut file = open_private(&path, OpenOptions::new().write(true).create_new(true))?;
    file.write_all(&serde_json::to_vec_pretty(manifest).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::File::open(partial)?.sync_all()?;
    std::fs::rename(partial, dir.join(id))?;
    std::fs::File::open(dir)?.sync_all()
}

/// A backup brought here whole in `partial` (downloaded from a copy
/// target, read out of a repository): its manifest written and fsynced,
/// then the folder renamed to `<id>`, a damaged folder of that id set
/// aside first and removed once the new one is in place.
pub(crate) fn put_in_place(
    dir: &Path,
    partial: &Path,
    id: &str,
    manifest: &Manifest,
) -> Result<PathBuf, Error> {
    use std::io::Write;
    let put = || -> std::io::Result<PathBuf> {
        let bytes = serde_json::to_vec_pretty(manifest).map_err(std::io::Error::other)?;
        let mut file = crate::state::files::create_new_file(&partial.join(manifest::FILE))?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        let done = dir.join(id);
        let aside = dir.join(format!(".{id}.replaced"));
        if done.exists() {
            let _ = std::fs::remove_dir_all(&aside);
            std::fs::rename(&done, &aside)?;
        }
        std::fs::rename(partial, &done)?;
        let _ = std::fs::remove_dir_all(&aside);
        Ok(done)
    };
    put().map_err(|source| Error::File {
        path: dir.join(id),
        action: "write",
        source,
    })
}

/// `shop-20261123T060000Z`, with `-2`, `-3`… if that exists already.
fn unique_id(dir: &Path, name: &str, at: jiff::Timestamp) -> String {
    let stamp = at.strftime("%Y%m%dT%H%M%SZ").to_string();
    let base = format!("{}-{stamp}", safe(name));
    let mut id = base.clone();
    let mut n = 2;
    let taken = |path: PathBuf| std::fs::symlink_metadata(path).is_ok();
    while taken(dir.join(&id)) || taken(dir.join(format!(".{id}.partial"))) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

pub(crate) fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
