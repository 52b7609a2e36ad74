//! A copy target that is a folder (a mounted NAS or second disk): each
//! backup is written into `.<id>.partial/`, every file fsynced and read back
//! against the manifest, and the folder renamed to `<id>` with its manifest
//! in it at the end, as local backups are; so it lists as local ones do.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{Expected, RemoteBackup, hashed_copy};
use crate::backup::catalog;

pub(super) struct Folder {
    pub(super) root: PathBuf,
}

impl Folder {
    pub(super) fn new(root: PathBuf) -> Folder {
        Folder { root }
    }

    fn partial(&self, id: &str) -> PathBuf {
        self.root.join(format!(".{id}.partial"))
    }

    /// Copies one item into the backup's partial folder, hashing as it
    /// goes, then reads the copy back: both must match the manifest.
    pub(super) async fn put_file(
        &self,
        id: &str,
        file: &str,
        source: &Path,
        expected: &Expected,
    ) -> Result<(), String> {
        let partial = self.partial(id);
        let target = partial.join(file);
        let source = source.to_path_buf();
        let (sha, size) = (expected.sha256.clone(), expected.size);
        let name = format!("{id}/{file}");
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            fs::create_dir_all(&partial)
                .map_err(|e| format!("cannot create `{}`: {e}", partial.display()))?;
            let (sent, sent_size) = copy_hashed(&source, &target)
                .map_err(|e| format!("cannot copy {name} to `{}`: {e}", target.display()))?;
            if sent != sha || sent_size != size {
                return Err(format!(
                    "the local {name} changed since the backup was made: not copied"
                ));
            }
            let (stored, stored_size) = hash_file(&target)
                .map_err(|e| format!("cannot read back `{}`: {e}", target.display()))?;
            if stored != sha || stored_size != size {
                return Err(format!(
                    "the copy of {name} does not read back as written ({stored_size} bytes)"
                ));
            }
            Ok(())
        })
        .await
        .map_err(|e| format!("copy task: {e}"))?
    }

    /// Writes the manifest last and gives the folder its final name.
    pub(super) async fn commit(&self, id: &str, manifest: &[u8]) -> Result<(), String> {
        let partial = self.partial(id);
        let manifest_path = partial.join(crate::backup::manifest::FILE);
        let write = || -> io::Result<()> {
            fs::create_dir_all(&partial)?;
            let mut file = File::create(&manifest_path)?;
            file.write_all(manifest)?;
            file.sync_all()?;
            let done = self.root.join(id);
            // A folder of that name without a manifest is an earlier copy
            // that never finished: it is replaced.
            if done.exists() && !done.join(crate::backup::manifest::FILE).exists() {
                fs::remove_dir_all(&done)?;
            }
            fs::rename(&partial, &done)?;
            File::open(&self.root)?.sync_all()
        };
        write().map_err(|e| format!("cannot finish {id} in `{}`: {e}", self.root.display()))
    }

    pub(super) fn list(&self) -> Result<Vec<RemoteBackup>, String> {
        catalog::list(&self.root)
            .map(|entries| {
                entries
                    .into_iter()
                    .map(|e| RemoteBackup {
                        id: e.id,
                        created_at: e.created_at,
                        safety: e.safety,
                    })
                    .collect()
            })
            .map_err(|e| format!("cannot list `{}`: {e}", self.root.display()))
    }

    /// The manifest goes first (the backup is no longer listed), then the rest.
    pub(super) fn remove(&self, id: &str) -> Result<(), String> {
        let folder = self.root.join(id);
        let gone = |e: io::Error| format!("cannot remove `{}`: {e}", folder.display());
        crate::state::files::remove_if_present(&folder.join(crate::backup::manifest::FILE))
            .map_err(gone)?;
        fs::remove_dir_all(&folder).map_err(gone)
    }
}

/// Copies `source` to `target` (fsynced): the sha256 and size read.
fn copy_hashed(source: &Path, target: &Path) -> io::Result<(String, u64)> {
    let mut output = File::create(target)?;
    hashed_copy(&mut File::open(source)?, Some(&mut output))
}

fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    hashed_copy(&mut File::open(path)?, None)
}
