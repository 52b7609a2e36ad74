//! Making a backup: volumes read through Docker's archive endpoint, host
//! files, and database dumps exec'd in their service, each streamed through
//! zstd (or gzip), optionally age, and sha256 into its own file of a folder
//! written under a `.` name and renamed when complete. The services in
//! `backup.stop` are stopped for the copy and always started again: on
//! success, on failure, on a signal.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::backup::manifest::{self, Item, Kind, Manifest};
use crate::backup::{catalog, writer};
use crate::docker::Deployment;
use crate::error::Error;
use crate::history::StateDir;
use crate::host::human_bytes;
use crate::interrupt::Interrupt;
use crate::lifecycle::Lifecycle;
use crate::progress::Progress;
use crate::report::{Block, Report};
use crate::runbook::Runbook;
use crate::runbook::model::{Backup, Compression};
use crate::status::{CheckResult, Status};

use super::settings;

/// One thing to copy, resolved before anything is stopped.
enum Source {
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
    fn name(&self) -> &str {
        match self {
            Source::Volume { name, .. } | Source::File { name, .. } | Source::Dump { name, .. } => {
                name
            }
        }
    }
}

/// `backup.encrypt.recipients` as age keys; a bad one stops the backup
/// before anything is stopped.
fn recipients(backup: &Backup) -> Result<Vec<age::x25519::Recipient>, Error> {
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

pub async fn create(
    runbook: &Runbook,
    dry_run: bool,
    state_dir: &Path,
    progress: Progress,
    report: &mut Report,
) -> Result<(), Error> {
    let backup = settings(runbook)?;
    let recipients = recipients(backup)?;
    let project = crate::sections::require_project(runbook, "backup")?;
    let dir = runbook.resolve(&backup.dir);
    let deployment = Deployment::connect(Some(project.clone())).await?;
    let containers = deployment.containers().await?;

    // Resolve every item first: an unknown volume stops here, before anything is stopped.
    let mut sources = Vec::new();
    for volume in &backup.volumes {
        match deployment.find_volume(&volume.value).await? {
            Some(full) => sources.push(Source::Volume {
                name: volume.value.clone(),
                full,
            }),
            None => {
                return Err(Error::Usage(format!(
                    "unknown volume `{}` (backup.volumes): nothing was stopped",
                    volume.value
                )));
            }
        }
    }
    let mut missing = Vec::new();
    for pattern in &backup.files {
        let matched = expand(&runbook.resolve(pattern));
        if matched.is_empty() {
            missing.push(CheckResult::new(
                "backup",
                format!("file {pattern}"),
                Status::Crit,
                format!("`{pattern}` matches no file"),
            ));
        }
        for path in matched {
            let name = path
                .strip_prefix(&runbook.dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            sources.push(Source::File { name, path });
        }
    }
    for (name, dump) in &backup.dumps {
        sources.push(Source::Dump {
            name: name.clone(),
            service: dump.service.value.clone(),
            argv: dump.command.argv(),
        });
    }
    let stop: Vec<String> = backup.stop.iter().map(|s| s.value.clone()).collect();

    if dry_run {
        let rows = sources
            .iter()
            .map(|s| match s {
                Source::Volume { name, full } => vec!["volume".into(), name.clone(), full.clone()],
                Source::File { name, path } => {
                    vec!["file".into(), name.clone(), path.display().to_string()]
                }
                Source::Dump {
                    name,
                    service,
                    argv,
                } => vec![
                    "dump".into(),
                    name.clone(),
                    format!("{service}: {}", argv.join(" ")),
                ],
            })
            .collect();
        report.blocks.push(Block::Table {
            header: vec!["kind", "item", "source"],
            rows,
        });
        if !stop.is_empty() {
            report.blocks.push(Block::Line(format!(
                "stopped during the copy, started again after: {}",
                stop.join(", ")
            )));
        }
        report
            .blocks
            .push(Block::Line(format!("into {}", dir.display())));
        report.results.extend(missing);
        report.results.push(CheckResult::new(
            "backup",
            "dry-run",
            Status::Ok,
            "dry run: nothing was changed",
        ));
        return Ok(());
    }

    let state = StateDir::open(state_dir)?;
    let _lock = state.lock(&format!("{}-data", runbook.state_key()), "backup")?;
    create_dir_0700(&dir).map_err(|source| Error::State {
        path: dir.clone(),
        action: "create",
        source,
    })?;
    let created_at = jiff::Timestamp::now();
    let id = unique_id(&dir, runbook.name(), created_at);
    let partial = dir.join(format!(".{id}.partial"));
    create_dir_0700(&partial).map_err(|source| Error::State {
        path: partial.clone(),
        action: "create",
        source,
    })?;

    // Stop what must not write during the copy, in reverse dependency order.
    let lifecycle = Lifecycle::listening(&deployment, progress, "backup");
    let interrupt = lifecycle.interrupt.clone();
    let refs = deployment.list().await?;
    let running_before: Vec<String> = stop
        .iter()
        .filter(|s| {
            refs.iter()
                .any(|c| c.service == **s && c.state == crate::docker::State::Running)
        })
        .cloned()
        .collect();
    let stop_tiers = crate::sections::tiers_of(runbook, &running_before, true);
    let stopped = lifecycle.stop(&stop_tiers, &refs, runbook.plan.grace).await;
    let stop_failed = stopped.iter().any(|r| r.status != Status::Ok);

    let image = containers.first().map(|c| c.image.clone());
    let helper_image = backup.helper_image.clone().or(image);
    let copy = async {
        if stop_failed {
            return Err("a service in `backup.stop` did not stop".to_string());
        }
        let mut items = Vec::new();
        for source in &sources {
            let started = Instant::now();
            progress.say(format!("{}: copying", source.name()));
            let item = copy_item(
                &deployment,
                &containers,
                backup,
                &recipients,
                &partial,
                source,
                helper_image.as_deref(),
            )
            .await?;
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
    };
    let copied = tokio::select! {
        copied = copy => Some(copied),
        () = interrupt.raised() => None,
    };

    // Always: what was stopped starts again, in dependency order, signal or not.
    let lifecycle = Lifecycle {
        interrupt: Interrupt::never(),
        ..lifecycle
    };
    let refs = deployment.list().await?;
    let start_tiers = crate::sections::tiers_of(runbook, &running_before, false);
    let deadline = Instant::now() + runbook.plan.startup_timeout;
    let restarted = lifecycle
        .start(&start_tiers, &runbook.plan.depends_on, &refs, deadline)
        .await;
    report
        .results
        .extend(restarted.into_iter().filter(|r| r.status != Status::Ok));

    let items = match copied {
        Some(Ok(items)) if missing.is_empty() => items,
        outcome => {
            let _ = std::fs::remove_dir_all(&partial);
            report.results.extend(missing);
            match outcome {
                None => report.results.push(crate::sections::interrupted("backup")),
                Some(Err(reason)) => {
                    report
                        .results
                        .push(CheckResult::new("backup", "copy", Status::Crit, reason))
                }
                Some(Ok(_)) => {}
            }
            report.results.push(CheckResult::new(
                "backup",
                "result",
                Status::Crit,
                "no backup was made",
            ));
            return Ok(());
        }
    };

    let previous = catalog::list(&dir)
        .ok()
        .and_then(|all| all.into_iter().rev().find(|b| !b.safety))
        .and_then(|b| Manifest::read(&b.path).ok());
    let manifest = Manifest {
        format: manifest::FORMAT,
        runbook: runbook.name().to_string(),
        opsbook_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at,
        host: sysinfo::System::host_name().unwrap_or_default(),
        safety: false,
        images: containers
            .iter()
            .map(|c| (c.service.clone(), c.image.clone()))
            .collect(),
        items: items.iter().map(|(item, _)| item.clone()).collect(),
    };
    let finished = finish(&dir, &partial, &id, &manifest);
    if let Err(e) = finished {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(Error::State {
            path: dir.join(&id),
            action: "write",
            source: e,
        });
    }

    let mut rows = Vec::new();
    for (item, took) in &items {
        let ratio = if item.stored_size == 0 {
            0.0
        } else {
            item.size as f64 / item.stored_size as f64
        };
        rows.push(vec![
            item.name.clone(),
            human_bytes(item.size),
            human_bytes(item.stored_size),
            format!("{ratio:.1}x"),
            format!("{:.1}s", took.as_secs_f64()),
        ]);
        let before = previous
            .as_ref()
            .and_then(|p| p.items.iter().find(|i| i.name == item.name));
        let (status, message) = match before {
            Some(before) if item.size < before.size / 2 => (
                Status::Warn,
                format!(
                    "{} is less than half of the previous backup's {}: has data gone missing?",
                    human_bytes(item.size),
                    human_bytes(before.size)
                ),
            ),
            _ => (
                Status::Ok,
                format!(
                    "{} stored as {}",
                    human_bytes(item.size),
                    human_bytes(item.stored_size)
                ),
            ),
        };
        report.results.push(
            CheckResult::new("backup", &item.name, status, message)
                .with_value(item.size as f64, "bytes"),
        );
    }
    report.blocks.push(Block::Table {
        header: vec!["item", "size", "stored", "ratio", "time"],
        rows,
    });
    report
        .blocks
        .push(Block::Line(format!("backup {id} in {}", dir.display())));
    report.extra.insert(
        "backup".into(),
        json!({"id": id, "dir": dir, "manifest": manifest}),
    );
    Ok(())
}

/// Copies one item into the partial folder.
async fn copy_item(
    deployment: &Deployment,
    containers: &[crate::docker::Container],
    backup: &Backup,
    recipients: &[age::x25519::Recipient],
    folder: &Path,
    source: &Source,
    helper_image: Option<&str>,
) -> Result<Item, String> {
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
            let (sender, written) =
                writer::spawn(folder.join(&file), compression, level, recipients.to_vec());
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
            let written = tokio::task::spawn_blocking(move || {
                let mut input = std::fs::File::open(&path_owned)?;
                writer::copy_from(&mut input, &target, compression, level, &recipients)
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
            let (sender, written) =
                writer::spawn(folder.join(&file), compression, level, recipients.to_vec());
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
    let written = written.map_err(|e| format!("{}: cannot write `{file}`: {e}", source.name()))?;
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

fn create_dir_0700(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
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

fn safe(name: &str) -> String {
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

/// A path, or the files a glob matches, sorted.
fn expand(pattern: &Path) -> Vec<PathBuf> {
    let text = pattern.display().to_string();
    if !text.contains(['*', '?', '[']) {
        return if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let mut found: Vec<PathBuf> = glob::glob(&text)
        .map(|paths| {
            paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}
