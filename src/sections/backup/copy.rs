//! Writing a backup folder, shared by `backup` and restore's safety backup:
//! each item streamed from Docker (a volume's archive, a dump's stdout) or
//! the host (a file) through the writer into a folder named `.<id>.partial`,
//! renamed to `<id>` once the manifest is written and everything is fsynced.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::backup::manifest::{self, Item, Kind, Manifest};
use crate::backup::writer;
use crate::docker::{Container, Deployment};
use crate::error::Error;
use crate::files::create_private_dir;
use crate::host::human_bytes;
use crate::progress::{Meter, Progress};
use crate::report::Block;
use crate::runbook::Runbook;
use crate::runbook::model::{Backup, Compression};

/// One thing to copy, resolved before anything is stopped.
#[derive(Clone)]
pub(crate) enum Source {
    Volume {
        name: String,
        full: String,
    },
    File {
        name: String,
        path: PathBuf,
    },
    Dump {
        name: String,
        service: String,
        argv: Vec<String>,
    },
}

impl Source {
    pub(crate) fn name(&self) -> &str {
        match self {
            Source::Volume { name, .. } | Source::File { name, .. } | Source::Dump { name, .. } => {
                name
            }
        }
    }
}

/// `backup.encrypt.recipients` as age keys; a bad one stops the backup
/// before anything is stopped.
pub(crate) fn recipients(backup: &Backup) -> Result<Vec<age::x25519::Recipient>, Error> {
    let Some(encrypt) = &backup.encrypt else {
        return Ok(Vec::new());
    };
    encrypt
        .recipients
        .iter()
        .map(|r| {
            r.value.parse::<age::x25519::Recipient>().map_err(|e| {
                Error::Usage(format!(
                    "backup.encrypt.recipients: `{}` is not an age public key: {e}",
                    r.value
                ))
            })
        })
        .collect()
}

/// What copying needs: where the items come from and how they are stored.
pub(crate) struct Copier<'a> {
    pub deployment: &'a Deployment,
    pub containers: &'a [Container],
    pub backup: &'a Backup,
    pub recipients: Vec<age::x25519::Recipient>,
    /// The image a helper container is made from, for a volume no container mounts.
    pub helper_image: Option<String>,
}

impl Copier<'_> {
    /// Copies every source into `folder`, in order; the first failure ends it.
    pub(crate) async fn copy_all(
        &self,
        sources: &[Source],
        folder: &Path,
        progress: Progress,
    ) -> Result<Vec<(Item, Duration)>, String> {
        let mut items = Vec::new();
        for source in sources {
            let started = Instant::now();
            let meter = progress.meter(source.name());
            let item = self.copy_item(folder, source, &meter).await;
            meter.done();
            let item = item?;
            progress.say(format!(
                "{}: {} → {} in {:.1}s",
                item.name,
                human_bytes(item.size),
                human_bytes(item.stored_size),
                started.elapsed().as_secs_f64()
            ));
            items.push((item, started.elapsed()));
        }
        Ok(items)
    }

    /// Copies one item into `folder`, counting its bytes into `meter`.
    async fn copy_item(
        &self,
        folder: &Path,
        source: &Source,
        meter: &Meter,
    ) -> Result<Item, String> {
        let (deployment, containers, backup, recipients) = (
            self.deployment,
            self.containers,
            self.backup,
            self.recipients.as_slice(),
        );
        let helper_image = self.helper_image.as_deref();
        let compression = backup.compression;
        let level = backup.level.as_ref().map(|l| l.value);
        let extension = match (compression, recipients.is_empty()) {
            (Compression::Zstd, true) => "zst",
            (Compression::Gzip, true) => "gz",
            (Compression::Zstd, false) => "zst.age",
            (Compression::Gzip, false) => "gz.age",
        };
        let (kind, file, shown, archive_root, written) = match source {
            Source::Volume { name, full } => {
                let file = format!("volume-{}.tar.{extension}", safe(name));
                let reader = deployment
                    .volume_reader(full, helper_image)
                    .await
                    .map_err(|e| e.to_string())?;
                let (sender, written) = writer::spawn(
                    folder.join(&file),
                    compression,
                    level,
                    recipients.to_vec(),
                    meter.counter(),
                );
                let read = deployment
                    .download(&reader.container, &reader.path, &sender)
                    .await;
                drop(sender);
                let written = written.await.map_err(|e| e.to_string())?;
                if reader.helper {
                    let _ = deployment.remove(&reader.container).await;
                }
                read.map_err(|e| format!("volume `{name}`: {e}"))?;
                let root = Path::new(&reader.path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned());
                (Kind::Volume, file, full.clone(), root, written)
            }
            Source::File { name, path } => {
                let file = format!("file-{}.{extension}", safe(name));
                let target = folder.join(&file);
                let path_owned = path.clone();
                let recipients = recipients.to_vec();
                let counter = meter.counter();
                let written = tokio::task::spawn_blocking(move || {
                    let mut input = std::fs::File::open(&path_owned)?;
                    writer::copy_from(
                        &mut input,
                        &target,
                        compression,
                        level,
                        &recipients,
                        counter,
                    )
                })
                .await
                .map_err(|e| e.to_string())?;
                (Kind::File, file, path.display().to_string(), None, written)
            }
            Source::Dump {
                name,
                service,
                argv,
            } => {
                let file = format!("dump-{}.{extension}", safe(name));
                let container = containers
                    .iter()
                    .find(|c| c.service == *service && c.state == crate::docker::State::Running)
                    .ok_or_else(|| {
                        format!("dump `{name}`: no running container of service `{service}`")
                    })?;
                let (sender, written) = writer::spawn(
                    folder.join(&file),
                    compression,
                    level,
                    recipients.to_vec(),
                    meter.counter(),
                );
                let ran = deployment
                    .exec_streaming(&container.id, argv, &sender)
                    .await;
                drop(sender);
                let written = written.await.map_err(|e| e.to_string())?;
                let (code, stderr) = ran.map_err(|e| format!("dump `{name}`: {e}"))?;
                if code != Some(0) {
                    let said = String::from_utf8_lossy(&stderr);
                    return Err(format!(
                        "dump `{name}`: `{}` exited {}: {:?}",
                        argv.join(" "),
                        code.map_or("without a code".to_string(), |c| c.to_string()),
                        said.trim()
                    ));
                }
                (
                    Kind::Dump,
                    file,
                    format!("{service}: {}", argv.join(" ")),
                    None,
                    written,
                )
            }
        };
        let written =
            written.map_err(|e| format!("{}: cannot write `{file}`: {e}", source.name()))?;
        Ok(Item {
            name: source.name().to_string(),
            kind,
            source: shown,
            archive_root,
            file,
            compression,
            encrypted: !recipients.is_empty(),
            size: written.size,
            stored_size: written.stored_size,
            sha256: written.sha256,
        })
    }
}

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
            move |source| Error::State {
                path,
                action: "create",
                source,
            }
        };
        create_private_dir(dir).map_err(state_error(dir))?;
        let created_at = jiff::Timestamp::now();
        let id = unique_id(dir, name, created_at);
        let partial = dir.join(format!(".{id}.partial"));
        create_private_dir(&partial).map_err(state_error(&partial))?;
        Ok(Staging {
            dir: dir.to_path_buf(),
            id,
            partial,
            created_at,
        })
    }

    /// Writes the manifest, fsyncs, and gives the folder its final name; on
    /// failure the partial folder is removed.
    pub(crate) fn finish(&self, manifest: &Manifest) -> Result<PathBuf, Error> {
        match finish(&self.dir, &self.partial, &self.id, manifest) {
            Ok(()) => Ok(self.dir.join(&self.id)),
            Err(source) => {
                self.discard();
                Err(Error::State {
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
        host: sysinfo::System::host_name().unwrap_or_default(),
        safety,
        images: containers
            .iter()
            .map(|c| (c.service.clone(), c.image.clone()))
            .collect(),
        items,
    }
}

/// The summary table: item, size, stored size, ratio, time.
pub(crate) fn summary(items: &[(Item, Duration)]) -> Block {
    let rows = items
        .iter()
        .map(|(item, took)| {
            let ratio = if item.stored_size == 0 {
                0.0
            } else {
                item.size as f64 / item.stored_size as f64
            };
            vec![
                item.name.clone(),
                human_bytes(item.size),
                human_bytes(item.stored_size),
                format!("{ratio:.1}x"),
                format!("{:.1}s", took.as_secs_f64()),
            ]
        })
        .collect();
    Block::Table {
        header: vec!["item", "size", "stored", "ratio", "time"],
        rows,
    }
}

/// Writes the manifest, fsyncs, and gives the folder its final name.
fn finish(dir: &Path, partial: &Path, id: &str, manifest: &Manifest) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = partial.join(manifest::FILE);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(&serde_json::to_vec_pretty(manifest).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::File::open(partial)?.sync_all()?;
    std::fs::rename(partial, dir.join(id))?;
    std::fs::File::open(dir)?.sync_all()
}

/// `shop-20261123T060000Z`, with `-2`, `-3`… if that exists already.
fn unique_id(dir: &Path, name: &str, at: jiff::Timestamp) -> String {
    let stamp = at.strftime("%Y%m%dT%H%M%SZ").to_string();
    let base = format!("{}-{stamp}", safe(name));
    let mut id = base.clone();
    let mut n = 2;
    while dir.join(&id).exists() || dir.join(format!(".{id}.partial")).exists() {
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
