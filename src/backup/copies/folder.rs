//! A copy target that is a folder (a mounted NAS or second disk): each
//! backup is written into `.<id>.partial/`, every file fsynced and read back
//! against the manifest, and the folder renamed to `<id>` with its manifest
//! in it at the end, as local backups are; so it lists as local ones do.
//!
//! The folder must exist: opsbook never makes it, so a NAS that is not
//! mounted is an error rather than a copy on the local disk under its mount
//! point (a fleet host's folder inside it is made). Others may be able to
//! write there, and copy ids are predictable: every name in it is reached
//! relative to the folder held open and never through a link, new files and
//! folders are made with `O_EXCL` (0600, 0700, as local backups are), and
//! a partial folder already there is removed (its links, not what they
//! point to), never written into.

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;

use super::{
    Capped, Damaged, INTERRUPTED, Listing, Outgoing, SMALL, Small, hashed_copy, hashed_copy_until,
};
use crate::backup::manifest;
use crate::interrupt::Interrupt;
use crate::state::files::OpenFolder;

#[derive(Clone)]
pub(super) struct Folder {
    root: PathBuf,
    /// A fleet host's own folder in it.
    below: Option<String>,
    interrupt: Interrupt,
}

impl Folder {
    pub(super) fn new(root: PathBuf) -> Folder {
        Folder {
            root,
            below: None,
            interrupt: Interrupt::never(),
        }
    }

    /// Copies go in `folder`, inside the target's folder.
    pub(super) fn below(mut self, folder: &str) -> Folder {
        self.below = Some(folder.to_string());
        self
    }

    pub(super) fn heed(&mut self, interrupt: &Interrupt) {
        self.interrupt = interrupt.clone();
    }

    pub(super) fn location(&self) -> String {
        match &self.below {
            Some(below) => self.root.join(below).display().to_string(),
            None => self.root.display().to_string(),
        }
    }

    /// The path of the copy of a repository in this target: its folder
    /// must exist; the fleet host's folder and `restic` in it are made by
    /// the repository's init.
    pub(super) fn repository_path(&self) -> Result<PathBuf, String> {
        self.opened(false)?;
        let mut path = self.root.clone();
        if let Some(below) = &self.below {
            path.push(below);
        }
        Ok(path.join(super::REPOSITORY_FOLDER))
    }

    /// The folder the copies are in, open; `None` when it is a fleet
    /// host's that is not made yet (`make`: it is made).
    fn opened(&self, make: bool) -> Result<Option<OpenFolder>, String> {
        let root = OpenFolder::open(&self.root).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "the folder `{}` does not exist: is the disk or NAS mounted? opsbook never makes a copy target's folder (make it once, by hand, if the target is new)",
                self.root.display()
            ),
            _ => format!("cannot open `{}`: {e}", self.root.display()),
        })?;
        let Some(below) = &self.below else {
            return Ok(Some(root));
        };
        let opened = if make {
            root.folder_made(below)
        } else {
            root.folder(below)
        };
        match opened {
            Ok(folder) => Ok(Some(folder)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Runs `work` off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(Folder) -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        let folder = self.clone();
        tokio::task::spawn_blocking(move || work(folder))
            .await
            .map_err(|e| format!("copy task: {e}"))?
    }

    /// Copies the items into a new partial folder, each read back against
    /// the manifest, then the manifest, then gives the folder its name. A
    /// copy that fails or is interrupted leaves nothing behind.
    pub(super) async fn upload(
        &self,
        id: &str,
        items: Vec<Outgoing>,
        manifest_bytes: Vec<u8>,
    ) -> Result<(), String> {
        let id = id.to_string();
        self.blocking(move |folder| {
            let Some(base) = folder.opened(true)? else {
                return Err(format!("cannot make `{}`", folder.location()));
            };
            let partial_name = format!(".{id}.partial");
            // Whatever is there (an earlier copy cut short, or something
            // planted) is never trusted: removed, links and all.
            base.remove(&partial_name).map_err(|e| e.to_string())?;
            let done = base
                .new_folder(&partial_name)
                .map_err(|e| e.to_string())
                .and_then(|partial| folder.fill(&partial, &id, &items, &manifest_bytes))
                .and_then(|()| finish(&base, &partial_name, &id));
            if done.is_err() {
                let _ = base.remove(&partial_name);
            }
            done
        })
        .await
    }

    /// Writes every item and then the manifest into `partial`.
    fn fill(
        &self,
        partial: &OpenFolder,
        id: &str,
        items: &[Outgoing],
        manifest_bytes: &[u8],
    ) -> Result<(), String> {
        let stop = || self.interrupt.is_raised();
        for item in items {
            let name = format!("{id}/{}", item.file);
            let mut input =
                File::open(&item.path).map_err(|e| format!("cannot open the local {name}: {e}"))?;
            let mut output = partial.new_file(&item.file).map_err(|e| e.to_string())?;
            let (sent, size) =
                hashed_copy_until(&mut input, Some(&mut output), &stop).map_err(|e| {
                    match e.kind() {
                        std::io::ErrorKind::Interrupted => INTERRUPTED.to_string(),
                        _ => format!("cannot copy {name} to `{}`: {e}", partial.path().display()),
                    }
                })?;
            if sent != item.expected.sha256 || size != item.expected.size {
                return Err(format!(
                    "the local {name} changed since the backup was made: not copied"
                ));
            }
            let (stored, stored_size) = partial
                .file(&item.file)
                .and_then(|mut f| hashed_copy(&mut f, None))
                .map_err(|e| format!("cannot read back {name}: {e}"))?;
            if stored != item.expected.sha256 || stored_size != item.expected.size {
                return Err(format!(
                    "the copy of {name} does not read back as written ({stored_size} bytes)"
                ));
            }
        }
        let mut file = partial
            .new_file(manifest::FILE)
            .map_err(|e| e.to_string())?;
        file.write_all(manifest_bytes)
            .and_then(|()| file.sync_all())
            .and_then(|()| partial.sync())
            .map_err(|e| format!("cannot write the manifest of {id}: {e}"))
    }

    /// The backups in the folder whose manifest is there.
    pub(super) async fn list(&self) -> Result<Listing, String> {
        self.blocking(|folder| {
            let mut listing = Listing::default();
            let Some(base) = folder.opened(false)? else {
                return Ok(listing);
            };
            let ids = base
                .folders()
                .map_err(|e| format!("cannot list `{}`: {e}", folder.location()))?;
            for id in ids.into_iter().filter(|id| !id.starts_with('.')) {
                let shown = format!("{id}/{}", manifest::FILE);
                let read = base.folder(&id).and_then(|backup| {
                    if backup.has(manifest::FILE)? {
                        small(&backup, manifest::FILE).map(Some)
                    } else {
                        Ok(None)
                    }
                });
                match read {
                    // No manifest: a copy that never finished.
                    Ok(None) => {}
                    Ok(Some(read)) => listing.add(id, read, &shown),
                    Err(e) => listing.damaged.push(Damaged {
                        id,
                        why: e.to_string(),
                    }),
                }
            }
            Ok(listing)
        })
        .await
    }

    /// A small file of backup `id` read whole.
    pub(super) async fn get_small(&self, id: &str, file: &str) -> Result<Small, String> {
        let (id, file) = (id.to_string(), file.to_string());
        self.blocking(move |folder| {
            let base = folder.existing()?;
            base.folder(&id)
                .and_then(|backup| small(&backup, &file))
                .map_err(|e| e.to_string())
        })
        .await
    }

    /// One stored file, read no further than `size` bytes.
    pub(super) async fn open(
        &self,
        id: &str,
        file: &str,
        size: u64,
    ) -> Result<Box<dyn Read + Send>, String> {
        let (id, file) = (id.to_string(), file.to_string());
        self.blocking(move |folder| {
            let base = folder.existing()?;
            let name = format!("{id}/{file}");
            let opened = base
                .folder(&id)
                .and_then(|backup| backup.file(&file))
                .map_err(|e| format!("cannot open {name}: {e}"))?;
            let length = opened.metadata().map(|m| m.len()).unwrap_or(0);
            if length > size {
                return Err(super::too_large(&name, length, size));
            }
            Ok(Box::new(Capped {
                inner: opened,
                name,
                size,
                read: 0,
            }) as Box<dyn Read + Send>)
        })
        .await
    }

    /// The manifest goes first (the backup is no longer listed), then the rest.
    pub(super) async fn remove(&self, id: &str) -> Result<(), String> {
        let id = id.to_string();
        self.blocking(move |folder| {
            let base = folder.existing()?;
            let gone = |e: std::io::Error| format!("cannot remove {id}: {e}");
            base.folder(&id)
                .and_then(|backup| backup.remove(manifest::FILE))
                .map_err(gone)?;
            base.remove(&id).map_err(gone)?;
            base.sync().map_err(gone)
        })
        .await
    }

    /// The folder the copies are in, which must be there.
    fn existing(&self) -> Result<OpenFolder, String> {
        self.opened(false)?
            .ok_or_else(|| format!("`{}` does not exist", self.location()))
    }
}

/// Gives the partial folder its final name. A folder of that name is an
/// earlier copy that never finished, or one whose manifest does not read
/// (the listing did not count it): it is replaced, never a complete one.
fn finish(base: &OpenFolder, partial: &str, id: &str) -> Result<(), String> {
    let failed =
        |e: std::io::Error| format!("cannot finish {id} in `{}`: {e}", base.path().display());
    if base.has(id).map_err(failed)? {
        let complete = base
            .folder(id)
            .and_then(|backup| small(&backup, manifest::FILE))
            .is_ok_and(
                |read| matches!(read, Small::Whole(bytes) if super::listed(id, &bytes).is_ok()),
            );
        if complete {
            return Err(format!(
                "`{}` already holds a complete {id}: not replaced",
                base.path().display()
            ));
        }
        base.remove(id).map_err(failed)?;
    }
    base.rename(partial, id).map_err(failed)?;
    base.sync().map_err(failed)
}

/// A small file read whole, up to `SMALL` bytes.
fn small(folder: &OpenFolder, name: &str) -> std::io::Result<Small> {
    let file = folder.file(name)?;
    let mut bytes = Vec::new();
    file.take(SMALL + 1).read_to_end(&mut bytes)?;
    Ok(if bytes.len() as u64 > SMALL {
        Small::Over
    } else {
        Small::Whole(bytes)
    })
}
