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
mod s3;
pub(crate) mod send;
mod sftp;
pub(crate) mod verify;

pub(crate) use send::Offsite;

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use indexmap::IndexMap;

use crate::backup::manifest::{self, Manifest};
use crate::runbook::Runbook;
use crate::runbook::interpolate::{self, Vars};
use crate::runbook::model::{CopyTarget, Keep, Name};

/// A backup on a target: complete (its manifest is there).
#[derive(Debug, Clone)]
pub(crate) struct RemoteBackup {
    pub id: String,
    pub created_at: jiff::Timestamp,
    pub safety: bool,
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
            Store::Folder(f) => Store::Folder(folder::Folder::new(f.root.join(folder))),
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

/// What a copy did.
pub(crate) struct Copied {
    pub bytes: u64,
    pub took: std::time::Duration,
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
        let store = match (&target.folder, &target.s3, &target.sftp) {
            (Some(folder), _, _) => Store::Folder(folder::Folder::new(
                runbook.resolve(value(folder, "folder")?),
            )),
            (None, Some(s3), _) => Store::S3(Box::new(s3::S3::connect(runbook, s3, &value)?)),
            (None, None, Some(sftp)) => {
                Store::Sftp(Box::new(sftp::Sftp::new(runbook, sftp, &value)?))
            }
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

    /// Where it is, for messages (`/mnt/nas/backups`, `s3://bucket/prefix`).
    pub(crate) fn location(&self) -> String {
        match &self.store {
            Store::Folder(f) => f.root.display().to_string(),
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
        let mut bytes = 0u64;
        for item in &manifest.items {
            let path = folder.join(&item.file);
            let expected = Expected {
                size: item.stored_size,
                sha256: item.sha256.clone(),
            };
            match &self.store {
                Store::Folder(f) => f.put_file(id, &item.file, &path, &expected).await?,
                Store::S3(s) => s.put_file(id, &item.file, &path, &expected).await?,
                Store::Sftp(s) => s.put_file(id, &item.file, &path, &expected).await?,
            }
            bytes = bytes.saturating_add(item.stored_size);
        }
        let manifest_bytes = std::fs::read(folder.join(manifest::FILE))
            .map_err(|e| format!("cannot read the local manifest of {id}: {e}"))?;
        match &self.store {
            Store::Folder(f) => f.commit(id, &manifest_bytes).await?,
            Store::S3(s) => s.put_manifest(id, manifest_bytes).await?,
            Store::Sftp(s) => s.commit(id, &manifest_bytes).await?,
        }
        Ok(Copied {
            bytes,
            took: started.elapsed(),
        })
    }

    /// The complete backups on the target, oldest first.
    pub(crate) async fn list(&self) -> Result<Vec<RemoteBackup>, String> {
        let mut listed = match &self.store {
            Store::Folder(f) => f.list()?,
            Store::S3(s) => s.list().await?,
            Store::Sftp(s) => s.list().await?,
        };
        listed.sort_by_key(|b| b.created_at);
        Ok(listed)
    }

    /// The manifest of backup `id` on the target.
    pub(crate) async fn manifest(&self, id: &str) -> Result<Manifest, String> {
        let bytes = match &self.store {
            Store::Folder(f) => std::fs::read(f.root.join(id).join(manifest::FILE))
                .map_err(|e| format!("cannot read {id}/{}: {e}", manifest::FILE))?,
            Store::S3(s) => s.get_small(&format!("{id}/{}", manifest::FILE)).await?,
            Store::Sftp(s) => s.get_small(&format!("{id}/{}", manifest::FILE)).await?,
        };
        serde_json::from_slice(&bytes).map_err(|e| format!("{id}/{}: {e}", manifest::FILE))
    }

    /// One stored file of backup `id`, as a blocking stream: read it in
    /// `spawn_blocking`.
    pub(crate) async fn open(&self, id: &str, file: &str) -> Result<Box<dyn Read + Send>, String> {
        match &self.store {
            Store::Folder(f) => {
                let path = f.root.join(id).join(file);
                std::fs::File::open(&path)
                    .map(|f| Box::new(f) as Box<dyn Read + Send>)
                    .map_err(|e| format!("cannot open {id}/{file}: {e}"))
            }
            Store::S3(s) => s.read(&format!("{id}/{file}")).await,
            Store::Sftp(s) => s
                .read(&format!("{id}/{file}"))
                .await
                .map(|r| Box::new(r) as Box<dyn Read + Send>),
        }
    }

    /// Removes backup `id` (`files`: its items' files): the manifest first,
    /// so a removal cut short leaves a backup that is no longer listed.
    pub(crate) async fn remove(&self, id: &str, files: &[String]) -> Result<(), String> {
        match &self.store {
            Store::Folder(f) => f.remove(id),
            Store::S3(s) => s.remove(id, files).await,
            Store::Sftp(s) => s.remove(id).await,
        }
    }
}

/// Reads `input` to its end, writing it to `output` when given (then
/// fsynced); the sha256 and size of what was read. Every copy into or out
/// of a target that is a file goes through this.
pub(crate) fn hashed_copy(
    input: &mut dyn Read,
    mut output: Option<&mut std::fs::File>,
) -> std::io::Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
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

/// A backup listed on a target from its manifest's text; a manifest that
/// does not read is not a complete backup.
fn listed(id: String, manifest: &[u8]) -> Option<RemoteBackup> {
    #[derive(serde::Deserialize)]
    struct Head {
        created_at: jiff::Timestamp,
        #[serde(default)]
        safety: bool,
    }
    let head: Head = serde_json::from_slice(manifest).ok()?;
    Some(RemoteBackup {
        id,
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
