//! Copying the items of a backup, shared by `backup` and restore's safety
//! backup: each item streamed from the host (a volume's folder walked
//! directly, a file) or Docker (a volume's archive, a dump's stdout) through
//! the writer into the staging folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::docker::{Container, Deployment, State};
use crate::error::Error;
use crate::runbook::model::{Backup, Compression, VolumeRead};
use crate::ui::progress::{Meter, Progress};

use super::direct::{self, Failed};
use super::manifest::{Item, Kind, Read};
use super::staging::safe;
use super::writer::{self, Written};

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
    /// A folder on this host holding a volume's data (a restore's
    /// set-aside data), walked as the volume `full` with top folder `root`.
    Folder {
        name: String,
        full: String,
        path: PathBuf,
        root: String,
    },
}

impl Source {
    pub(crate) fn name(&self) -> &str {
        match self {
            Source::Volume { name, .. }
            | Source::File { name, .. }
            | Source::Dump { name, .. }
            | Source::Folder { name, .. } => name,
        }
    }
}

/// How a volume is read: walked in its folder on this host, or through the
/// archive endpoint (and why, when `backup.read` left the choice to opsbook).
#[derive(Debug, Clone)]
pub(crate) enum Route {
    Direct(PathBuf),
    Archive(String),
}

/// The route `backup.read` (`wanted`) gives volume `full`; `direct` when it
/// cannot be is an error saying why.
pub(crate) async fn route(
    deployment: &Deployment,
    wanted: VolumeRead,
    full: &str,
) -> Result<Route, Error> {
    if wanted == VolumeRead::Archive {
        return Ok(Route::Archive("backup.read: archive".to_string()));
    }
    match deployment.volume_mountpoint(full).await? {
        Ok(path) => Ok(Route::Direct(path)),
        Err(why) if wanted == VolumeRead::Auto => Ok(Route::Archive(why)),
        Err(why) => Err(Error::Usage(format!(
            "volume `{full}` cannot be read directly: {why} (backup.read: direct; `auto` falls back to Docker's archive endpoint)"
        ))),
    }
}

/// One item copied: what the manifest records, how long it took, and what
/// went wrong without failing it (files that changed while read).
pub(crate) struct Collected {
    pub item: Item,
    pub took: Duration,
    pub warnings: Vec<String>,
}

/// What reading one item gave: the archive's top folder, the route, the
/// written file, the warnings.
type Got = (
    Option<String>,
    Option<Read>,
    std::io::Result<Written>,
    Vec<String>,
);

/// Sets its flag when dropped: a blocking walk whose future was dropped (a
/// signal) stops instead of reading on.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
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

/// Where a stack's items live off this engine (a Swarm volume is local to
/// its node; a dump runs in a task wherever Swarm placed it).
#[derive(Default, Clone)]
pub(crate) struct Elsewhere {
    /// Each volume's node's engine, by the volume's full name.
    pub volumes: HashMap<String, Arc<Deployment>>,
    /// The engine and container each dump runs in, by service.
    pub dumps: HashMap<String, (Arc<Deployment>, String)>,
}

impl Elsewhere {
    /// The engine volume `full` lives on: its node's, or `here`.
    pub(crate) fn volume_engine<'a>(&'a self, full: &str, here: &'a Deployment) -> &'a Deployment {
        self.volumes.get(full).map_or(here, |d| d.as_ref())
    }
}

/// What copying needs: where the items come from and how they are stored.
pub(crate) struct Collector<'a> {
    pub deployment: &'a Deployment,
    pub containers: &'a [Container],
    pub elsewhere: &'a Elsewhere,
    pub backup: &'a Backup,
    pub recipients: Vec<age::x25519::Recipient>,
    /// The image a helper container is made from, for a volume no container mounts.
    pub helper_image: Option<String>,
}

impl Collector<'_> {
    /// Copies every source into `folder`, in order; the first failure ends it.
    pub(crate) async fn collect_all(
        &self,
        sources: &[Source],
        folder: &Path,
        progress: Progress<'_>,
    ) -> Result<Vec<Collected>, String> {
        let mut items = Vec::new();
        for source in sources {
            let started = Instant::now();
            let meter = progress.meter(source.name());
            let item = self.collect_item(folder, source, &meter).await;
            meter.done();
            let (item, warnings) = item?;
            let how = item
                .read
                .map_or_else(String::new, |read| format!(" ({})", read.as_str()));
            progress.say(format!(
                "{}: {} → {} in {}{how}",
                item.name,
                crate::ui::human::bytes(item.size),
                crate::ui::human::bytes(item.stored_size),
                crate::ui::human::took(started.elapsed())
            ));
            for warning in &warnings {
                progress.say(format!("{}: warning: {warning}", item.name));
            }
            items.push(Collected {
                item,
                took: started.elapsed(),
                warnings,
            });
        }
        Ok(items)
    }

    /// Copies one item into `folder`, counting its bytes into `meter`.
    async fn collect_item(
        &self,
        folder: &Path,
        source: &Source,
        meter: &Meter,
    ) -> Result<(Item, Vec<String>), String> {
        let compression = self.backup.compression;
        let compressed = match compression {
            Compression::Zstd => ".zst",
            Compression::Gzip => ".gz",
            Compression::None => "",
        };
        let encrypted = if self.recipients.is_empty() {
            ""
        } else {
            ".age"
        };
        let extension = format!("{compressed}{encrypted}");
        let (kind, file, shown, (archive_root, read, written, warnings)) = match source {
            Source::Volume { name, full } => {
                let file = format!("volume-{}.tar{extension}", safe(name));
                let got = self.volume(name, full, &folder.join(&file), meter).await?;
                (Kind::Volume, file, full.clone(), got)
            }
            Source::Folder {
                name,
                full,
                path,
                root,
            } => {
                let file = format!("volume-{}.tar{extension}", safe(name));
                let target = folder.join(&file);
                let got = self.walk(name, path.clone(), root, &target, meter).await?;
                (Kind::Volume, file, full.clone(), got)
            }
            Source::File { name, path } => {
                let file = format!("file-{}{extension}", safe(name));
                let written = self.file(path, &folder.join(&file), meter).await?;
                let got = (None, None, written, Vec::new());
                (Kind::File, file, path.display().to_string(), got)
            }
            Source::Dump {
                name,
                service,
                argv,
            } => {
                let file = format!("dump-{}{extension}", safe(name));
                let written = self
                    .dump(name, service, argv, &folder.join(&file), meter)
                    .await?;
                let shown = format!("{service}: {}", argv.join(" "));
                (Kind::Dump, file, shown, (None, None, written, Vec::new()))
            }
        };
        let written =
            written.map_err(|e| format!("{}: cannot write `{file}`: {e}", source.name()))?;
        let item = Item {
            name: source.name().to_string(),
            kind,
            source: shown,
            archive_root,
            file,
            compression,
            encrypted: !self.recipients.is_empty(),
            size: written.size,
            stored_size: written.stored_size,
            sha256: written.sha256,
            read,
        };
        Ok((item, warnings))
    }

    /// A writer for `target` with the backup's compression and recipients.
    fn writer(
        &self,
        target: &Path,
        meter: &Meter,
    ) -> (
        tokio::sync::mpsc::Sender<Vec<u8>>,
        tokio::task::JoinHandle<std::io::Result<Written>>,
    ) {
        writer::spawn(
            target.to_path_buf(),
            self.backup.compression,
            self.backup.level.as_ref().map(|l| l.value),
            self.recipients.clone(),
            meter.counter(),
        )
    }

    /// A volume, walked in its folder when `backup.read` and the host allow,
    /// else through the archive endpoint.
    async fn volume(
        &self,
        name: &str,
        full: &str,
        target: &Path,
        meter: &Meter,
    ) -> Result<Got, String> {
        let engine = self.elsewhere.volume_engine(full, self.deployment);
        let route = route(engine, self.backup.read, full)
            .await
            .map_err(|e| e.to_string())?;
        match route {
            Route::Direct(mountpoint) => self.direct(name, full, mountpoint, target, meter).await,
            Route::Archive(why) => {
                tracing::info!("volume `{name}`: read through Docker's archive endpoint ({why})");
                let (root, written) = self.archive(name, full, target, meter).await?;
                Ok((root, Some(Read::Archive), written, Vec::new()))
            }
        }
    }

    /// A volume's folder on this host, walked on a blocking thread straight
    /// into the writer; its top folder named as the archive endpoint would.
    async fn direct(
        &self,
        name: &str,
        full: &str,
        mountpoint: PathBuf,
        target: &Path,
        meter: &Meter,
    ) -> Result<Got, String> {
        tracing::info!(
            "volume `{name}`: read directly from {}",
            mountpoint.display()
        );
        let leftovers = super::unpack::leftovers(&mountpoint);
        let users = self
            .elsewhere
            .volume_engine(full, self.deployment)
            .volume_users(full)
            .await
            .map_err(|e| e.to_string())?;
        // The endpoint's top folder is the mount path's last part; a helper mounts at /volume.
        let root = users
            .first()
            .and_then(|u| Path::new(&u.path).file_name())
            .map_or_else(
                || "volume".to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
        let mut got = self.walk(name, mountpoint, &root, target, meter).await?;
        got.3.extend(leftovers);
        Ok(got)
    }

    /// The folder `mountpoint` walked on a blocking thread straight into
    /// the writer, named `root/` in the archive.
    async fn walk(
        &self,
        name: &str,
        mountpoint: PathBuf,
        root: &str,
        target: &Path,
        meter: &Meter,
    ) -> Result<Got, String> {
        let root = root.to_string();
        let target = target.to_path_buf();
        let compression = self.backup.compression;
        let level = self.backup.level.as_ref().map(|l| l.value);
        let recipients = self.recipients.clone();
        let counter = meter.counter();
        let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
        let (flag, top) = (stop.0.clone(), root.clone());
        let walked = tokio::task::spawn_blocking(move || {
            writer::write_with(&target, compression, level, &recipients, counter, |out| {
                direct::write_tree(&mountpoint, &top, &flag, out)
            })
        })
        .await
        .map_err(|e| e.to_string())?;
        drop(stop);
        match walked {
            Ok((warnings, written)) => Ok((Some(root), Some(Read::Direct), Ok(written), warnings)),
            Err(Failed::Read(why)) => Err(format!("volume `{name}`: {why}")),
            Err(Failed::Write(e)) => Ok((Some(root), Some(Read::Direct), Err(e), Vec::new())),
        }
    }

    /// A volume's archive, read from a container that mounts it (or a
    /// helper made for the copy and removed after); the archive's top folder.
    async fn archive(
        &self,
        name: &str,
        full: &str,
        target: &Path,
        meter: &Meter,
    ) -> Result<(Option<String>, std::io::Result<Written>), String> {
        let deployment = self.elsewhere.volume_engine(full, self.deployment);
        let reader = deployment
            .volume_reader(full, self.helper_image.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        let (sender, written) = self.writer(target, meter);
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
        Ok((root, written))
    }

    /// A host file, read on a blocking thread.
    async fn file(
        &self,
        path: &Path,
        target: &Path,
        meter: &Meter,
    ) -> Result<std::io::Result<Written>, String> {
        let (path, target) = (path.to_path_buf(), target.to_path_buf());
        let compression = self.backup.compression;
        let level = self.backup.level.as_ref().map(|l| l.value);
        let recipients = self.recipients.clone();
        let counter = meter.counter();
        tokio::task::spawn_blocking(move || {
            let mut input = std::fs::File::open(&path)?;
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
        .map_err(|e| e.to_string())
    }

    /// A dump command's stdout, exec'd in the first running container of its
    /// service; a non-zero exit fails the item, quoting its stderr.
    async fn dump(
        &self,
        name: &str,
        service: &str,
        argv: &[String],
        target: &Path,
        meter: &Meter,
    ) -> Result<std::io::Result<Written>, String> {
        let (engine, container) = self.dump_engine(name, service)?;
        let (sender, written) = self.writer(target, meter);
        let ran = engine.exec_streaming(container, argv, &sender).await;
        drop(sender);
        let written = written.await.map_err(|e| e.to_string())?;
        dumped(name, argv, ran)?;
        Ok(written)
    }

    /// Where dump `name` of `service` runs: the engine and the first running
    /// container of the service (on a stack, a task wherever it runs).
    pub(crate) fn dump_engine(
        &self,
        name: &str,
        service: &str,
    ) -> Result<(&Deployment, &str), String> {
        let here = self
            .containers
            .iter()
            .find(|c| c.service == service && c.state == State::Running)
            .map(|c| (self.deployment, c.id.as_str()));
        here.or_else(|| {
            let (engine, id) = self.elsewhere.dumps.get(service)?;
            Some((engine.as_ref(), id.as_str()))
        })
        .ok_or_else(|| format!("dump `{name}`: no running container of service `{service}`"))
    }
}

/// How a dump's exec ended: a non-zero exit fails it, quoting its stderr.
pub(crate) fn dumped(
    name: &str,
    argv: &[String],
    ran: Result<(Option<i64>, Vec<u8>), Error>,
) -> Result<(), String> {
    let (code, stderr) = ran.map_err(|e| format!("dump `{name}`: {e}"))?;
    if code != Some(0) {
        let said = String::from_utf8_lossy(&stderr);
        return Err(format!(
            "dump `{name}`: `{}` exited {}: {}",
            argv.join(" "),
            code.map_or("without a code".to_string(), |c| c.to_string()),
            crate::redact::quote(said.trim())
        ));
    }
    Ok(())
}
