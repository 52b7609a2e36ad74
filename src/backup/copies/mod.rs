//! Copies of backups off the host (`backup.copies`): a folder on another
//! disk, an S3-compatible object store, or a folder on another machine
//! over SFTP. A copy holds exactly the local
//! format (one folder or key prefix per backup, the manifest beside its
//! items), uploaded streaming with the manifest last, so a copy that did not
//! finish has no manifest and is never listed, verified or restored.
//!
//! Every item is hashed while it is sent (it must still be what the
//! manifest says) and checked on the target after: a folder's copy is
//! re-read (an SFTP one through the connection), an object's size and
//! ETag (its MD5, or the multipart MD5 of MD5s) must be what was sent.

mod bridge;
mod folder;
pub(crate) mod freshness;
pub(crate) mod list;
pub(crate) mod prune;
pub(in crate::backup) mod s3;
pub(crate) mod send;
pub(in crate::backup) mod sftp;
pub(crate) mod verify;

pub(crate) use send::Offsite;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indexmap::IndexMap;

use crate::backup::manifest::{self, Manifest};
use crate::interrupt::Interrupt;
use crate::runbook::Runbook;
use crate::runbook::interpolate::{self, Vars};
use crate::runbook::model::{CopyTarget, Keep, Name};

/// The most of a manifest read whole: far more than one holds.
pub(crate) const SMALL: u64 = 16 * 1024 * 1024;
/// What a copy cut short by SIGINT or SIGTERM says.
pub(crate) const INTERRUPTED: &str = "interrupted by a signal";
/// How long a request to an S3 store may go without progress, unless the
/// target's `timeout` says.
const S3_TIMEOUT: Duration = Duration::from_secs(60);
/// The same for an SFTP server (connecting, and each request).
const SFTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A small file of a target (a manifest) read whole, or the fact that it
/// is larger than it may be.
pub(crate) enum Small {
    Whole(Vec<u8>),
    Over,
}

/// A backup on a target: complete (its manifest is there).
#[derive(Debug, Clone)]
pub(crate) struct RemoteBackup {
    pub id: String,
    pub created_at: jiff::Timestamp,
    pub safety: bool,
}

/// A backup on a target whose manifest is there but does not read (cut
/// short, too large, not JSON): never taken for complete, never passed
/// over in silence either.
#[derive(Debug, Clone)]
pub(crate) struct Damaged {
    pub id: String,
    pub why: String,
}

/// What a target holds: its complete backups (oldest first once sorted)
/// and the damaged ones.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub backups: Vec<RemoteBackup>,
    pub damaged: Vec<Damaged>,
}

impl Listing {
    /// Files the backup `id` whose manifest (at `shown`) read as `read`.
    fn add(&mut self, id: String, read: Small, shown: &str) {
        match read {
            Small::Over => self.damaged.push(Damaged {
                id,
                why: format!(
                    "`{shown}` is larger than {}: not a manifest",
                    crate::ui::human::bytes(SMALL)
                ),
            }),
            Small::Whole(bytes) => match listed(&id, &bytes) {
                Ok(backup) => self.backups.push(backup),
                Err(e) => self.damaged.push(Damaged {
                    id,
                    why: format!("`{shown}`: {e}"),
                }),
            },
        }
    }
}

/// One target, its settings resolved.
pub(crate) struct Target {
    pub name: String,
    pub keep: Option<Keep>,
    store: Store,
}

enum Store {
    Folder(folder::Folder),
    S3(Box<s3::S3>),
    Sftp(Box<sftp::Sftp>),
}

impl Store {
    /// The same store, one folder (key prefix) further down.
    fn below(self, folder: &str) -> Store {
        match self {
            Store::Folder(f) => Store::Folder(f.below(folder)),
            Store::S3(mut s) => {
                s.descend(folder);
                Store::S3(s)
            }
            Store::Sftp(mut s) => {
                s.descend(folder);
                Store::Sftp(s)
            }
        }
    }
}

/// Where a target keeps its copy of a restic repository: the folder
/// `restic` in it (beside any archive copies), as a path or a store prefix.
pub(crate) enum RepositorySpot {
    /// The path, once the target's own folder is found there.
    Folder(PathBuf),
    S3(Box<s3::S3>),
    Sftp(Box<sftp::Sftp>),
}

impl Target {
    /// Where this target keeps its copy of the runbook's repository. A
    /// folder target's folder must exist (a NAS not mounted is an error,
    /// not a repository made on the local disk under its mount point).
    pub(crate) fn repository_spot(self) -> Result<RepositorySpot, String> {
        match self.store {
            Store::Folder(folder) => folder.repository_path().map(RepositorySpot::Folder),
            Store::S3(mut s3) => {
                s3.descend(REPOSITORY_FOLDER);
                Ok(RepositorySpot::S3(s3))
            }
            Store::Sftp(mut sftp) => {
                sftp.descend(REPOSITORY_FOLDER);
                Ok(RepositorySpot::Sftp(sftp))
            }
        }
    }
}

/// The folder of a target that holds the copy of a repository.
pub(crate) const REPOSITORY_FOLDER: &str = "restic";

/// What a copy did.
pub(crate) struct Copied {
    pub bytes: u64,
    pub took: std::time::Duration,
}

/// One item of a local backup to send, and what it must be.
pub(crate) struct Outgoing {
    pub(crate) file: String,
    pub(crate) path: PathBuf,
    pub(crate) expected: Expected,
}

impl Target {
    /// The one target called `name`, resolved.
    pub(crate) fn named(runbook: &Runbook, name: &str) -> Result<Target, crate::error::Error> {
        Target::all(runbook, Some(name))
            .map_err(crate::error::Error::Usage)?
            .into_iter()
            .next()
            .ok_or_else(|| crate::error::Error::Usage(format!("no copy target `{name}`")))
    }

    /// Every target of the runbook (or only `only`), resolved: `${VAR}`
    /// looked up, credentials read. A problem names the target and field.
    pub(crate) fn all(runbook: &Runbook, only: Option<&str>) -> Result<Vec<Target>, String> {
        let copies = copies(runbook);
        if let Some(name) = only
            && !copies.contains_key(name)
        {
            let known: Vec<&str> = copies.keys().map(String::as_str).collect();
            return Err(if known.is_empty() {
                format!("no copy target `{name}`: the runbook has no `backup.copies`")
            } else {
                format!(
                    "no copy target `{name}` (targets are: {})",
                    known.join(", ")
                )
            });
        }
        let vars = Vars::load(&runbook.dir);
        copies
            .iter()
            .filter(|(name, _)| only.is_none_or(|o| o == name.as_str()))
            .map(|(name, target)| Target::resolve(runbook, &vars, name, target))
            .collect()
    }

    fn resolve(
        runbook: &Runbook,
        vars: &Vars,
        name: &str,
        target: &CopyTarget,
    ) -> Result<Target, String> {
        let field = format!("backup.copies.{name}");
        let value = |value: &Name, key: &str| {
            interpolate::located(value, vars, &runbook.display, &format!("{field}.{key}"))
        };
        let timeout = target.timeout.map(|t| t.std());
        let store = match (&target.folder, &target.s3, &target.sftp) {
            (Some(folder), _, _) => Store::Folder(folder::Folder::new(
                runbook.resolve(value(folder, "folder")?),
            )),
            (None, Some(s3), _) => Store::S3(Box::new(s3::S3::connect(
                runbook,
                s3,
                timeout.unwrap_or(S3_TIMEOUT),
                &value,
            )?)),
            (None, None, Some(sftp)) => Store::Sftp(Box::new(sftp::Sftp::new(
                runbook,
                sftp,
                timeout.unwrap_or(SFTP_TIMEOUT),
                &value,
            )?)),
            (None, None, None) => return Err(format!("{field}: no `folder`, `s3` or `sftp`")),
        };
        // A fleet's hosts may share a runbook and so its targets: each
        // host's copies go in a folder of its own, as its backups do.
        let store = match &runbook.fleet_host {
            Some(host) => store.below(host),
            None => store,
        };
        Ok(Target {
            name: name.to_string(),
            keep: target.keep,
            store,
        })
    }

    /// From now on, a signal ends what the target is doing: an upload
    /// under way stops and what it sent is removed.
    pub(crate) fn heed(&mut self, interrupt: &Interrupt) {
        match &mut self.store {
            Store::Folder(f) => f.heed(interrupt),
            Store::S3(s) => s.heed(interrupt),
            Store::Sftp(s) => s.heed(interrupt),
        }
    }

    /// Where it is, for messages (`/mnt/nas/backups`, `s3://bucket/prefix`).
    pub(crate) fn location(&self) -> String {
        match &self.store {
            Store::Folder(f) => f.location(),
            Store::S3(s) => s.location(),
            Store::Sftp(s) => s.location(),
        }
    }

    /// Uploads the local backup `folder` (id `id`): every item, checked,
    /// then its manifest.
    pub(crate) async fn upload(&self, id: &str, folder: &Path) -> Result<Copied, String> {
        let started = Instant::now();
        let manifest = Manifest::read(folder)
            .map_err(|e| format!("cannot read the local manifest of {id}: {e}"))?;
        let manifest_bytes = std::fs::read(folder.join(manifest::FILE))
            .map_err(|e| format!("cannot read the local manifest of {id}: {e}"))?;
        let items: Vec<Outgoing> = manifest
            .items
            .iter()
            .map(|item| Outgoing {
                file: item.file.clone(),
                path: folder.join(&item.file),
                expected: Expected {
                    size: item.stored_size,
                    sha256: item.sha256.clone(),
                },
            })
            .collect();
        match &self.store {
            Store::Folder(f) => f.upload(id, items, manifest_bytes).await?,
            Store::S3(s) => s.upload(id, &items, manifest_bytes).await?,
            Store::Sftp(s) => s.upload(id, &items, &manifest_bytes).await?,
        }
        Ok(Copied {
            bytes: manifest.stored_size(),
            took: started.elapsed(),
        })
    }

    /// The backups on the target: the complete ones oldest first, and
    /// those whose manifest does not read.
    pub(crate) async fn list(&self) -> Result<Listing, String> {
        let mut listing = match &self.store {
            Store::Folder(f) => f.list().await?,
            Store::S3(s) => s.list().await?,
            Store::Sftp(s) => s.list().await?,
        };
        listing.backups.sort_by_key(|b| b.created_at);
        listing.damaged.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listing)
    }

    /// The manifest of backup `id` on the target; an error names it.
    pub(crate) async fn manifest(&self, id: &str) -> Result<Manifest, String> {
        let name = format!("{id}/{}", manifest::FILE);
        let read = match &self.store {
            Store::Folder(f) => f.get_small(id, manifest::FILE).await,
            Store::S3(s) => s.get_small(&name).await,
            Store::Sftp(s) => s.get_small(&name).await,
        };
        let unread = |why: String| {
            format!(
                "the manifest of {id} on {} cannot be read: {why}",
                self.location()
            )
        };
        match read.map_err(unread)? {
            Small::Over => Err(unread(format!(
                "`{name}` is larger than {}",
                crate::ui::human::bytes(SMALL)
            ))),
            Small::Whole(bytes) => {
                let manifest: Manifest =
                    serde_json::from_slice(&bytes).map_err(|e| unread(format!("`{name}`: {e}")))?;
                // Its files are read, and downloaded, by these names.
                match manifest.items.iter().find(|i| !plain_name(&i.file)) {
                    Some(item) => Err(unread(format!(
                        "`{name}` names the file `{}`, which is not a file of a backup folder",
                        item.file
                    ))),
                    None => Ok(manifest),
                }
            }
        }
    }

    /// What to say of a backup whose manifest on this target does not read.
    pub(crate) fn damaged(&self, damaged: &Damaged) -> String {
        format!(
            "the manifest of {} on {} cannot be read ({}): this copy is never listed, verified or restored; `opsbook backup copy {} --to {}` sends it again while the backup is still here",
            damaged.id,
            self.location(),
            damaged.why,
            damaged.id,
            self.name
        )
    }

    /// One stored file of backup `id`, `size` bytes as its manifest says,
    /// as a blocking stream (read it in `spawn_blocking`) that fails
    /// rather than read past that size.
    pub(crate) async fn open(
        &self,
        id: &str,
        file: &str,
        size: u64,
    ) -> Result<Box<dyn Read + Send>, String> {
        match &self.store {
            Store::Folder(f) => f.open(id, file, size).await,
            Store::S3(s) => s.read(&format!("{id}/{file}"), size).await,
            Store::Sftp(s) => s.read(&format!("{id}/{file}"), size).await,
        }
    }

    /// Removes backup `id` (`files`: its items' files): the manifest first,
    /// so a removal cut short leaves a backup that is no longer listed.
    pub(crate) async fn remove(&self, id: &str, files: &[String]) -> Result<(), String> {
        match &self.store {
            Store::Folder(f) => f.remove(id).await,
            Store::S3(s) => s.remove(id, files).await,
            Store::Sftp(s) => s.remove(id).await,
        }
    }
}

/// A name of one file in a backup's folder: not a path, not hidden.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

/// A stored file that holds more than its manifest says.
fn too_large(name: &str, got: u64, size: u64) -> String {
    format!(
        "{name} holds more than the {size} bytes its manifest gives it ({got} or more): the copy is damaged; not read further"
    )
}

/// Reads `input` to its end, writing it to `output` when given (then
/// fsynced); the sha256 and size of what was read. Every copy into or out
/// of a target that is a file goes through this.
pub(crate) fn hashed_copy(
    input: &mut dyn Read,
    output: Option<&mut std::fs::File>,
) -> std::io::Result<(String, u64)> {
    hashed_copy_until(input, output, &|| false)
}

/// `hashed_copy` that gives up, with `INTERRUPTED`, once `stop` says so.
fn hashed_copy_until(
    input: &mut dyn Read,
    mut output: Option<&mut std::fs::File>,
    stop: &dyn Fn() -> bool,
) -> std::io::Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        if stop() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                INTERRUPTED,
            ));
        }
        let n = input.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        if let Some(out) = output.as_mut() {
            out.write_all(&buffer[..n])?;
        }
        size += n as u64;
    }
    if let Some(out) = output {
        out.sync_all()?;
    }
    Ok((crate::backup::writer::hex(&hasher.finalize()), size))
}

/// A file of a target read through this: an error past `size` bytes.
struct Capped<R> {
    inner: R,
    name: String,
    size: u64,
    read: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.size {
            return Err(std::io::Error::other(too_large(
                &self.name, self.read, self.size,
            )));
        }
        Ok(n)
    }
}

/// A backup listed on a target from its manifest's text; a manifest that
/// does not read is not a complete backup (the error says why).
fn listed(id: &str, manifest: &[u8]) -> Result<RemoteBackup, String> {
    #[derive(serde::Deserialize)]
    struct Head {
        created_at: jiff::Timestamp,
        #[serde(default)]
        safety: bool,
    }
    let head: Head = serde_json::from_slice(manifest).map_err(|e| e.to_string())?;
    Ok(RemoteBackup {
        id: id.to_string(),
        created_at: head.created_at,
        safety: head.safety,
    })
}

/// What an uploaded file must be.
pub(crate) struct Expected {
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

/// The runbook's copy targets.
pub(crate) fn copies(runbook: &Runbook) -> &IndexMap<String, CopyTarget> {
    static NONE: std::sync::OnceLock<IndexMap<String, CopyTarget>> = std::sync::OnceLock::new();
    runbook
        .model
        .backup
        .as_ref()
        .map(|b| &b.copies)
        .unwrap_or_else(|| NONE.get_or_init(IndexMap::new))
}

/// The copy targets' `${VAR}` that would not resolve now, each with its
/// place: an unset variable without a default, a `${VAR:?message}`. Their
/// values are looked up when a copy is made (cron's environment may differ
/// from a shell's), so only `validate` asks, to tell before the night.
pub(crate) fn unresolved(runbook: &Runbook) -> Vec<crate::error::Problem> {
    let vars = Vars::load(&runbook.dir);
    let mut problems = Vec::new();
    for (name, target) in copies(runbook) {
        for (key, value) in values(target) {
            if let Err(why) = interpolate::interpolate(&value.value, &vars) {
                problems.push(crate::error::Problem {
                    file: runbook.display.clone(),
                    line: value.referenced.line(),
                    column: value.referenced.column(),
                    field: format!("backup.copies.{name}.{key}"),
                    message: format!(
                        "{why}: the copy would fail; set it where opsbook runs (the environment of cron or serve, or .env beside the runbook)"
                    ),
                });
            }
        }
    }
    problems
}

/// Every interpolated value of a target, with its key below the target.
fn values(target: &CopyTarget) -> Vec<(&'static str, &Name)> {
    let mut values = Vec::new();
    if let Some(folder) = &target.folder {
        values.push(("folder", folder));
    }
    if let Some(s3) = &target.s3 {
        values.push(("s3.endpoint", &s3.endpoint));
        values.push(("s3.bucket", &s3.bucket));
        for (key, value) in [
            ("s3.prefix", &s3.prefix),
            ("s3.region", &s3.region),
            ("s3.access_key_id", &s3.access_key_id),
            ("s3.secret_access_key", &s3.secret_access_key),
            ("s3.access_key_id_file", &s3.access_key_id_file),
            ("s3.secret_access_key_file", &s3.secret_access_key_file),
        ] {
            if let Some(value) = value {
                values.push((key, value));
            }
        }
    }
    if let Some(sftp) = &target.sftp {
        values.push(("sftp.host", &sftp.host));
        values.push(("sftp.user", &sftp.user));
        values.push(("sftp.key_file", &sftp.key_file));
        values.push(("sftp.known_hosts", &sftp.known_hosts));
        values.push(("sftp.path", &sftp.path));
    }
    values
}
