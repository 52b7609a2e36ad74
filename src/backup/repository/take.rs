//! A backup as one snapshot: every item read at once into the repository
//! (volumes' folders as paths under `/volumes`, a volume only Docker's
//! archive endpoint can read as `/volumes/NAME.tar`, host files under
//! `/files`, dumps streamed from their exec under `/dumps`, no temporary
//! file), then the manifest (each item's bytes, a stream's sha256) put in
//! the snapshot's description. A snapshot that missed an item, or whose
//! backup was cut short by a signal, is deleted before anyone sees it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt};
use rustic_core::repofile::SnapshotFile;
use rustic_core::{BackupOptions, RusticResult, SnapshotOptions};

use serde_json::json;

use super::bridge::{self, Producer};
use super::source::{BoxRead, Items, Tally};
use super::{Opened, Place, TAG};
use crate::backup::collect::{self, Collector, Route, Source};
use crate::backup::manifest::{Item, Kind, Manifest, Read};
use crate::backup::staging::safe;
use crate::deploy::lifecycle::WhileStopped;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::model::Compression;
use crate::ui::human;

/// A snapshot made: its id, the manifest in its description, and what it
/// read and added.
pub(crate) struct Taken {
    pub snapshot: String,
    pub manifest: Manifest,
    /// Bytes read (the logical size).
    pub read: u64,
    /// Bytes the snapshot added to the repository, before and after
    /// compression.
    pub added: u64,
    pub stored: u64,
    pub took: Duration,
}

/// One item as it goes into the snapshot.
struct Planned {
    name: String,
    kind: Kind,
    shown: String,
    at: PathBuf,
    read: Option<Read>,
    tally: Tally,
    hashed: bool,
    /// A volume's archive: its top folder, once the stream began.
    root: Arc<Mutex<Option<String>>>,
}

/// Sets its flag when dropped: the snapshot of a backup whose future was
/// dropped (a signal) is deleted when the archiver ends.
struct CutOnDrop(Arc<AtomicBool>);

impl Drop for CutOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Reads `sources` into one snapshot of `repository`, tagged with the
/// project and backup `id`; `manifest` is completed with each item.
pub(crate) async fn archive(
    collector: &Collector<'_>,
    sources: &[Source],
    repository: Opened,
    id: &str,
    project: &str,
    mut manifest: Manifest,
) -> Result<Taken, String> {
    let started = Instant::now();
    let mut items = Items::default();
    let mut planned = Vec::new();
    let mut producers: Vec<BoxFuture<'_, ()>> = Vec::new();
    for source in sources {
        let (item, producer) = plan(collector, source, &mut items).await?;
        planned.push(item);
        producers.extend(producer);
    }
    let snapshot = SnapshotOptions::default()
        .host(crate::host::hostname())
        .add_tags(&format!("{TAG},project={project},backup={id}"))
        .and_then(|o| o.to_snapshot())
        .map_err(|e| super::said(&e))?;
    let cut = CutOnDrop(Arc::new(AtomicBool::new(false)));
    let flag = cut.0.clone();
    manifest.items.clear();
    let archiving = tokio::task::spawn_blocking(move || {
        let paths = items.paths();
        let failures = items.failures.clone();
        let repository = repository.to_indexed_ids()?;
        let made = repository.archive(&BackupOptions::default(), &items, snapshot, &paths)?;
        drop(items);
        let mut failed = failures.take();
        if flag.load(Ordering::Relaxed) {
            failed.push("the backup was cut short".to_string());
        }
        if !failed.is_empty() {
            repository.delete_snapshots(&[made.id])?;
            return Ok(Err(failed.join("; ")));
        }
        manifest.items = planned.iter().map(item).collect();
        described(&repository, made, &manifest).map(|made| Ok((made, manifest)))
    });
    let (archived, _) = tokio::join!(archiving, futures_util::future::join_all(producers));
    drop(cut);
    let (made, manifest) = archived
        .map_err(|e| e.to_string())?
        .map_err(|e| super::said(&e))??;
    let summary = made.summary.clone().unwrap_or_default();
    Ok(Taken {
        snapshot: made.id.to_string(),
        manifest,
        read: summary.total_bytes_processed,
        added: summary.data_added,
        stored: summary.data_added_packed,
        took: started.elapsed(),
    })
}

/// Where `source` goes in the snapshot, and the stream feeding it when
/// Docker gives it.
async fn plan<'a>(
    collector: &'a Collector<'a>,
    source: &'a Source,
    items: &mut Items,
) -> Result<(Planned, Option<BoxFuture<'a, ()>>), String> {
    let name = source.name().to_string();
    let mut planned = Planned {
        name: name.clone(),
        kind: Kind::Volume,
        shown: String::new(),
        at: PathBuf::new(),
        read: None,
        tally: Tally::default(),
        hashed: true,
        root: Arc::default(),
    };
    let mut producer = None;
    match source {
        Source::Volume { full, .. } => {
            planned.shown = full.clone();
            let engine = collector
                .elsewhere
                .volume_engine(full, collector.deployment);
            let route = collect::route(engine, collector.backup.read, full)
                .await
                .map_err(|e| e.to_string())?;
            match route {
                Route::Direct(mountpoint) => {
                    planned.at = PathBuf::from("/volumes").join(safe(&name));
                    planned.tally = items.folder(&mountpoint, planned.at.clone())?;
                    (planned.read, planned.hashed) = (Some(Read::Direct), false);
                }
                Route::Archive(why) => {
                    tracing::info!(
                        "volume `{name}`: read through Docker's archive endpoint ({why})"
                    );
                    planned.at = PathBuf::from("/volumes").join(format!("{}.tar", safe(&name)));
                    planned.read = Some(Read::Archive);
                    let (feed, pipe) = bridge::pipe();
                    planned.tally = items.stream(&name, planned.at.clone(), move || {
                        Ok(Box::new(pipe.open()) as BoxRead)
                    });
                    let root = planned.root.clone();
                    producer =
                        Some(volume_stream(collector, name.clone(), full, feed, root).boxed());
                }
            }
        }
        Source::Folder { full, path, .. } => {
            planned.shown = full.clone();
            planned.at = PathBuf::from("/volumes").join(safe(&name));
            planned.tally = items.folder(path, planned.at.clone())?;
            (planned.read, planned.hashed) = (Some(Read::Direct), false);
        }
        Source::File { path, .. } => {
            planned.kind = Kind::File;
            planned.shown = path.display().to_string();
            planned.at = PathBuf::from("/files").join(safe(&name));
            let path = path.clone();
            planned.tally = items.stream(&name, planned.at.clone(), move || {
                Ok(Box::new(std::fs::File::open(path)?) as BoxRead)
            });
        }
        Source::Dump { service, argv, .. } => {
            planned.kind = Kind::Dump;
            planned.shown = format!("{service}: {}", argv.join(" "));
            planned.at = PathBuf::from("/dumps").join(safe(&name));
            // Where it runs is known before anything is read.
            collector.dump_engine(&name, service)?;
            let (feed, pipe) = bridge::pipe();
            planned.tally = items.stream(&name, planned.at.clone(), move || {
                Ok(Box::new(pipe.open()) as BoxRead)
            });
            producer = Some(dump_stream(collector, name.clone(), service, argv, feed).boxed());
        }
    }
    Ok((planned, producer))
}

/// A dump's stdout into its pipe, once the archiver opened it.
async fn dump_stream(
    collector: &Collector<'_>,
    name: String,
    service: &str,
    argv: &[String],
    mut feed: Producer,
) {
    if !feed.opened().await {
        return;
    }
    let status = match collector.dump_engine(&name, service) {
        Ok((engine, container)) => {
            let ran = engine.exec_streaming(container, argv, &feed.chunks).await;
            collect::dumped(&name, argv, ran)
        }
        Err(why) => Err(why),
    };
    feed.end(status);
}

/// A volume's archive into its pipe, once the archiver opened it, read
/// from a container that mounts it or a helper removed after.
async fn volume_stream(
    collector: &Collector<'_>,
    name: String,
    full: &str,
    mut feed: Producer,
    root: Arc<Mutex<Option<String>>>,
) {
    if !feed.opened().await {
        return;
    }
    let engine = collector
        .elsewhere
        .volume_engine(full, collector.deployment);
    let status = match engine
        .volume_reader(full, collector.helper_image.as_deref())
        .await
    {
        Ok(reader) => {
            if let Ok(mut root) = root.lock() {
                *root = std::path::Path::new(&reader.path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned());
            }
            let read = engine
                .download(&reader.container, &reader.path, &feed.chunks)
                .await;
            if reader.helper {
                let _ = engine.remove(&reader.container).await;
            }
            read.map_err(|e| format!("volume `{name}`: {e}"))
        }
        Err(e) => Err(format!("volume `{name}`: {e}")),
    };
    feed.end(status);
}

/// The manifest's record of one item, from what was read.
fn item(planned: &Planned) -> Item {
    let (size, sha256) = planned.tally.sum();
    Item {
        name: planned.name.clone(),
        kind: planned.kind,
        source: planned.shown.clone(),
        archive_root: planned.root.lock().ok().and_then(|r| r.clone()),
        file: planned.at.display().to_string(),
        compression: Compression::Zstd,
        encrypted: true,
        size,
        stored_size: 0,
        sha256: if planned.hashed {
            sha256
        } else {
            String::new()
        },
        read: planned.read,
    }
}

/// The snapshot again with the manifest as its description (restic's
/// `tag` does the same: a new snapshot file, the old one deleted).
fn described<S: rustic_core::Open>(
    repository: &rustic_core::Repository<S>,
    made: SnapshotFile,
    manifest: &Manifest,
) -> RusticResult<SnapshotFile> {
    let old = made.id;
    let mut described = made;
    described.description = serde_json::to_string(manifest).ok();
    repository.save_snapshots(vec![described.clone()])?;
    repository.delete_snapshots(&[old])?;
    let backup = described
        .tags
        .iter()
        .find(|t| t.starts_with("backup="))
        .cloned()
        .unwrap_or_default();
    let mut found = repository.get_matching_snapshots(|s| s.tags.contains(&backup))?;
    Ok(found.pop().unwrap_or(described))
}

/// `base` (`NAME-<UTC second>`), or with `-2`, `-3`… when a snapshot of
/// the repository has it already, as the archive format names its folders.
pub(crate) fn unique_id(repository: &Opened, base: &str) -> String {
    let prefix = format!("backup={base}");
    let taken: Vec<String> = tokio::task::block_in_place(|| {
        repository.get_matching_snapshots(|s| s.tags.iter().any(|t| t.starts_with(&prefix)))
    })
    .map(|found| {
        found
            .iter()
            .flat_map(|s| s.tags.iter().filter_map(|t| t.strip_prefix("backup=")))
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default();
    next_free(base, &taken)
}

/// `base`, or the first of `base-2`, `base-3`… not in `taken`.
fn next_free(base: &str, taken: &[String]) -> String {
    let mut id = base.to_string();
    let mut n = 2;
    while taken.contains(&id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

/// The result that says no backup was made.
pub(crate) fn not_made() -> CheckResult {
    CheckResult::new("backup", "result", Status::Crit, "no backup was made")
}

/// What the snapshot's backup says: each item, the snapshot, or why none
/// was made. The backup id when one was.
pub(crate) fn report(
    done: WhileStopped<Option<Result<Taken, String>>>,
    id: &str,
    place: &Place,
    report: &mut Report,
) -> Option<String> {
    report
        .results
        .extend(done.started.into_iter().filter(|r| r.status != Status::Ok));
    let taken = match done.outcome {
        Some(Ok(taken)) => taken,
        None => {
            report.results.push(CheckResult::interrupted("backup"));
            report.results.push(not_made());
            return None;
        }
        Some(Err(why)) => {
            report
                .results
                .push(CheckResult::new("backup", "copy", Status::Crit, why));
            report.results.push(not_made());
            return None;
        }
    };
    for item in &taken.manifest.items {
        let how = item
            .read
            .map_or(String::new(), |r| format!(" ({})", r.as_str()));
        report.results.push(
            CheckResult::new(
                "backup",
                &item.name,
                Status::Ok,
                format!("{} read as {}{how}", human::bytes(item.size), item.file),
            )
            .with_value(item.size as f64, "bytes"),
        );
    }
    let short = &taken.snapshot[..8];
    report.blocks.push(Block::Line(format!(
        "backup {id}: snapshot {short} in restic repository {}: {} read, {} new ({} stored) in {}",
        place.location(),
        human::bytes(taken.read),
        human::bytes(taken.added),
        human::bytes(taken.stored),
        human::took(taken.took)
    )));
    report.extra.insert(
        "backup".into(),
        json!({
            "id": id, "repository": place.location(), "snapshot": taken.snapshot,
            "size": taken.read, "added": taken.added, "stored": taken.stored,
            "manifest": taken.manifest,
        }),
    );
    Some(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::next_free;

    #[test]
    fn a_taken_id_gets_the_next_free_number() {
        let taken = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            next_free("shop-20261207T020000Z", &[]),
            "shop-20261207T020000Z"
        );
        assert_eq!(
            next_free(
                "shop-20261207T020000Z",
                &taken(&["shop-20261207T020000Z", "shop-20261207T020000Z-2"])
            ),
            "shop-20261207T020000Z-3"
        );
    }
}
