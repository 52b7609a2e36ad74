//! Taking a backup (`opsbook backup`): volumes read from their folder on this host or through
//! Docker's archive endpoint (`backup.read`), host files, and database dumps exec'd in their service, each streamed through
//! zstd (or gzip), optionally age, and sha256 into its own file of a staging
//! folder renamed when complete (`crate::backup`). The services in
//! `backup.stop` are stopped for the copy and always started again: on
//! success, on failure, on a signal. On a Swarm stack each volume is read
//! through the engine of the node it lives on, each dump exec'd in a task
//! wherever it runs, and `backup.stop` scales services to zero and back.

use std::collections::HashMap;
use std::path::Path;

use serde_json::json;

use crate::backup::catalog;
use crate::backup::collect::{self, Collected, Collector, Elsewhere, Route, Source};
use crate::backup::manifest::Manifest;
use crate::backup::repository;
use crate::backup::scope;
use crate::backup::staging::{self, Staging};
use crate::deploy::homes::{Home, Homes};
use crate::deploy::lifecycle::{Lifecycle, WhileStopped};
use crate::docker::{self, Container, Deployment};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::runbook::model::Backup;
use crate::state::StateDir;
use crate::steps::{Setup, hooks};
use crate::ui::human;
use crate::ui::progress::Progress;

use super::settings;

/// Makes one backup of the runbook's items into `report`; the id of the
/// backup made, or `None` when none was (a dry run, a failure: the report
/// says why).
pub(crate) async fn create(
    runbook: &Runbook,
    dry_run: bool,
    state_dir: &Path,
    progress: Progress<'_>,
    offsite: &dyn super::Offsite,
    report: &mut Report,
) -> Result<Option<String>, Error> {
    let backup = settings(runbook)?;
    let recipients = collect::recipients(backup)?;
    let dir = runbook.backup_dir(backup);
    let deployment = crate::deploy::connect(runbook, "backup").await?;
    let on_stack = deployment.is_stack();
    let containers = deployment.containers().await?;
    // Every item is resolved first: an unknown volume stops here, before anything is stopped.
    let (sources, missing, elsewhere) = resolve(runbook, backup, &deployment, on_stack).await?;
    // So is a volume `backup.read: direct` cannot read directly.
    let routes = routes(backup, &deployment, &elsewhere, &sources).await?;
    let stop: Vec<String> = backup.stop.iter().map(|s| s.value.clone()).collect();
    // A repository is opened first: a wrong password stops nothing.
    let place = repository::Place::of(runbook, backup)?;
    if dry_run {
        let into = place.as_ref().map(repository::Place::location);
        let into = into.unwrap_or_else(|| dir.display().to_string());
        show_plan(report, &sources, &routes, &elsewhere, &stop, &into);
        report.results.extend(missing);
        report.results.push(CheckResult::dry_run("backup"));
        return Ok(None);
    }

    // A wrong password, or a file that matches nothing, stops nothing.
    let opened = match &place {
        Some(place) if missing.is_empty() => Some(place.open().await?),
        Some(_) => {
            report.results.extend(missing);
            report.results.push(repository::take::not_made());
            return Ok(None);
        }
        None => None,
    };
    let state = StateDir::open(state_dir)?;
    let _lock = state.lock(&runbook.data_lock_key(), "backup")?;
    // restic's lock beside ours: a prune elsewhere waits for this backup.
    let held = locked(place.as_ref(), opened.as_ref(), report).await?;
    // A backup's own hooks hold no backup step: validation refuses one.
    let hook_setup = Setup {
        runbook,
        progress,
        yes: true,
        backups: None,
        state_dir,
    };
    if !hooks::run(hook_setup, "backup.before", &backup.before, report).await {
        report.results.push(CheckResult::new(
            "backup",
            "result",
            Status::Crit,
            "a backup.before step failed: no backup was made, nothing was stopped",
        ));
        return Ok(None);
    }
    // Heard from here to the end: by the collection, then by the copies.
    let interrupt = Interrupt::listen();
    let stopping = Stopping {
        runbook,
        backup,
        deployment: &deployment,
        containers: &containers,
        elsewhere: &elsewhere,
        progress,
        interrupt: &interrupt,
    };
    let id = match (place, opened) {
        (Some(place), Some(opened)) => {
            let done = into_repository(&stopping, recipients, &sources, opened).await;
            if let Some(held) = held {
                held.release().await;
            }
            let done = done?;
            hooks::run(hook_setup, "backup.after", &backup.after, report).await;
            repository::take::report(done.1, &done.0, &place, report)
        }
        _ => {
            let staging = Staging::open(&dir, runbook.name())?;
            let done = {
                let (partial, sources) = (&staging.partial, &sources);
                stopping
                    .collect(recipients, async |collector: &Collector<'_>| {
                        collector.collect_all(sources, partial, progress).await
                    })
                    .await?
            };
            finished(&stopping, done, staging, missing, &dir, hook_setup, report).await?
        }
    };
    if let Some(id) = &id {
        offsite.send(runbook, &dir, id, &interrupt, report).await;
    }
    Ok(id)
}

/// A restic lock on the repository, when the backup goes to one.
async fn locked(
    place: Option<&repository::Place>,
    opened: Option<&repository::Opened>,
    report: &mut Report,
) -> Result<Option<repository::lock::Held>, Error> {
    let (Some(place), Some(opened)) = (place, opened) else {
        return Ok(None);
    };
    let held = place.lock(opened, false, "backup").await?;
    report
        .results
        .extend(repository::lock::removed(&held, "backup"));
    Ok(Some(held))
}

/// The backup as one snapshot of the repository: its id, and how it went.
async fn into_repository(
    stopping: &Stopping<'_>,
    recipients: Vec<age::x25519::Recipient>,
    sources: &[Source],
    opened: repository::Opened,
) -> Result<
    (
        String,
        WhileStopped<Option<Result<repository::take::Taken, String>>>,
    ),
    Error,
> {
    let runbook = stopping.runbook;
    let created_at = jiff::Timestamp::now();
    let base = format!(
        "{}-{}",
        staging::safe(runbook.name()),
        created_at.strftime("%Y%m%dT%H%M%SZ")
    );
    let id = repository::take::unique_id(&opened, &base);
    let manifest = staging::manifest(runbook, stopping.containers, created_at, false, Vec::new());
    let done = stopping
        .collect(recipients, async |collector: &Collector<'_>| {
            repository::take::archive(collector, sources, opened, &id, runbook.name(), manifest)
                .await
        })
        .await?;
    Ok((id, done))
}

/// The archive-format backup's end: the services' starts reported, `after`
/// run, then the backup named and reported, or discarded with why.
async fn finished(
    stopping: &Stopping<'_>,
    done: WhileStopped<Option<Result<Vec<Collected>, String>>>,
    staging: Staging,
    missing: Vec<CheckResult>,
    dir: &Path,
    hook_setup: Setup<'_>,
    report: &mut Report,
) -> Result<Option<String>, Error> {
    report
        .results
        .extend(done.started.into_iter().filter(|r| r.status != Status::Ok));
    // Whether or not the copy worked: `after` undoes what `before` did.
    hooks::run(hook_setup, "backup.after", &stopping.backup.after, report).await;
    let items = match done.outcome {
        Some(Ok(items)) if missing.is_empty() => items,
        outcome => {
            staging.discard();
            report.results.extend(missing);
            match outcome {
                None => report.results.push(CheckResult::interrupted("backup")),
                Some(Err(reason)) => {
                    report
                        .results
                        .push(CheckResult::new("backup", "copy", Status::Crit, reason))
                }
                Some(Ok(_)) => {}
            }
            report.results.push(repository::take::not_made());
            return Ok(None);
        }
    };
    let id = finish(
        stopping.runbook,
        dir,
        staging,
        stopping.containers,
        &items,
        report,
    )?;
    Ok(Some(id))
}

/// What copying while `backup.stop` is stopped needs.
struct Stopping<'a> {
    runbook: &'a Runbook,
    backup: &'a Backup,
    deployment: &'a Deployment,
    containers: &'a [Container],
    elsewhere: &'a Elsewhere,
    progress: Progress<'a>,
    interrupt: &'a Interrupt,
}

impl Stopping<'_> {
    /// `copy` run while `backup.stop` is stopped (scaled to zero on a
    /// stack); the services start again whatever happens. The outcome is
    /// `None` when a signal cut it short.
    async fn collect<T>(
        &self,
        recipients: Vec<age::x25519::Recipient>,
        copy: impl AsyncFnOnce(&Collector<'_>) -> Result<T, String>,
    ) -> Result<WhileStopped<Option<Result<T, String>>>, Error> {
        let (backup, deployment, interrupt) = (self.backup, self.deployment, self.interrupt);
        let stop: Vec<String> = backup.stop.iter().map(|s| s.value.clone()).collect();
        // Stop what must not write during the copy; it starts again whatever happens.
        let lifecycle = Lifecycle {
            deployment,
            progress: self.progress,
            interrupt: interrupt.clone(),
            section: "backup",
        };
        let running = if deployment.is_stack() {
            crate::deploy::scale::scaled_up(&crate::docker::Stack::read(deployment).await?, &stop)
        } else {
            docker::running_services(&deployment.list().await?, &stop)
        };
        let collector = Collector {
            deployment,
            containers: self.containers,
            elsewhere: self.elsewhere,
            backup,
            recipients,
            helper_image: backup
                .helper_image
                .clone()
                .or_else(|| self.containers.first().map(|c| c.image.clone())),
        };
        let collector = &collector;
        let done = lifecycle
            .while_stopped(&self.runbook.plan, &running, |all_stopped| async move {
                if !all_stopped {
                    // A signal cuts the stopping short: said as the signal.
                    if interrupt.is_raised() {
                        return None;
                    }
                    return Some(Err("a service in `backup.stop` did not stop".to_string()));
                }
                tokio::select! {
                    copied = copy(collector) => Some(copied),
                    () = interrupt.raised() => None,
                }
            })
            .await;
        Ok(done)
    }
}

/// What to copy: every volume (which must exist), every file a pattern
/// matches (one that matches none is a crit result), every dump; on a
/// stack, the other nodes' engines its volumes and dumps are on.
async fn resolve(
    runbook: &Runbook,
    backup: &Backup,
    deployment: &Deployment,
    on_stack: bool,
) -> Result<(Vec<Source>, Vec<CheckResult>, Elsewhere), Error> {
    let mut sources = Vec::new();
    let mut elsewhere = Elsewhere::default();
    let homes = match on_stack {
        true => Some(Homes::read(deployment).await?),
        false => None,
    };
    for volume in &backup.volumes {
        let found = match &homes {
            Some(homes) => homes
                .volume(&volume.value, "backup.volumes")
                .await?
                .map(|found| {
                    if let Some(engine) = found.home.engine {
                        elsewhere.volumes.insert(found.full.clone(), engine);
                    }
                    found.full
                }),
            None => deployment.find_volume(&volume.value).await?,
        };
        match found {
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
    if !backup.files.is_empty() && crate::docker::engine_is_remote() {
        return Err(super::remote_files(deployment.endpoint()));
    }
    let mut missing = Vec::new();
    for pattern in &backup.files {
        let matched = scope::expand(&runbook.resolve(pattern));
        if matched.is_empty() {
            missing.push(CheckResult::new(
                "backup",
                format!("file {pattern}"),
                Status::Crit,
                format!("`{pattern}` matches no file"),
            ));
        }
        for path in matched {
            let name = scope::file_name(runbook, &path);
            sources.push(Source::File { name, path });
        }
    }
    for (name, dump) in &backup.dumps {
        if let Some(homes) = &homes {
            let service = &dump.service.value;
            let task = homes.running_task(service).await.map_err(|why| {
                Error::Usage(format!(
                    "dump `{name}` (backup.dumps): service `{service}`'s task cannot be reached: {why}; nothing was stopped"
                ))
            })?;
            if let Some((
                Home {
                    engine: Some(engine),
                    ..
                },
                id,
            )) = task
            {
                elsewhere.dumps.insert(service.clone(), (engine, id));
            }
        }
        sources.push(Source::Dump {
            name: name.clone(),
            service: dump.service.value.clone(),
            argv: dump.command.argv(),
        });
    }
    Ok((sources, missing, elsewhere))
}

/// How each volume will be read, by full name.
async fn routes(
    backup: &Backup,
    deployment: &Deployment,
    elsewhere: &Elsewhere,
    sources: &[Source],
) -> Result<HashMap<String, Route>, Error> {
    let mut routes = HashMap::new();
    for source in sources {
        if let Source::Volume { full, .. } = source {
            let engine = elsewhere.volume_engine(full, deployment);
            let route = collect::route(engine, backup.read, full).await?;
            routes.insert(full.clone(), route);
        }
    }
    Ok(routes)
}

/// The dry run: each item, where it comes from and how it is read, what
/// stops, where it goes.
fn show_plan(
    report: &mut Report,
    sources: &[Source],
    routes: &HashMap<String, Route>,
    elsewhere: &Elsewhere,
    stop: &[String],
    into: &str,
) {
    let rows = sources
        .iter()
        .map(|s| match s {
            Source::Volume { name, full } => {
                let engine = match elsewhere.volumes.get(full) {
                    Some(node) => format!(" of {}", node.endpoint()),
                    None => String::new(),
                };
                let read = match routes.get(full) {
                    Some(Route::Direct(path)) => format!("direct from {}", path.display()),
                    Some(Route::Archive(why)) => format!("archive endpoint{engine} ({why})"),
                    None => String::new(),
                };
                vec!["volume".into(), name.clone(), full.clone(), read]
            }
            Source::File { name, path } => vec![
                "file".into(),
                name.clone(),
                path.display().to_string(),
                "host".into(),
            ],
            Source::Folder {
                name, full, path, ..
            } => vec![
                "volume".into(),
                name.clone(),
                full.clone(),
                format!("direct from {}", path.display()),
            ],
            Source::Dump {
                name,
                service,
                argv,
            } => vec![
                "dump".into(),
                name.clone(),
                format!("{service}: {}", argv.join(" ")),
                "exec".into(),
            ],
        })
        .collect();
    report.blocks.push(Block::Table {
        header: vec!["kind", "item", "source", "read"],
        rows,
    });
    if !stop.is_empty() {
        report.blocks.push(Block::Line(format!(
            "stopped during the copy, started again after: {}",
            stop.join(", ")
        )));
    }
    report.blocks.push(Block::Line(format!("into {into}")));
}

/// Writes the manifest and renames the backup into place, then reports each
/// item (warning when one shrank below half of the previous backup's).
fn finish(
    runbook: &Runbook,
    dir: &Path,
    staging: Staging,
    containers: &[Container],
    items: &[Collected],
    report: &mut Report,
) -> Result<String, Error> {
    let previous = catalog::list(dir)
        .ok()
        .and_then(|all| all.into_iter().rev().find(|b| !b.safety))
        .and_then(|b| Manifest::read(&b.path).ok());
    let manifest = staging::manifest(
        runbook,
        containers,
        staging.created_at,
        false,
        items.iter().map(|c| c.item.clone()).collect(),
    );
    staging.finish(&manifest, runbook.redactor())?;
    let id = staging.id.clone();
    for Collected { item, warnings, .. } in items {
        let before = previous
            .as_ref()
            .and_then(|p| p.items.iter().find(|i| i.name == item.name));
        let (status, message) = match before {
            Some(before) if item.size < before.size / 2 => (
                Status::Warn,
                format!(
                    "{} is less than half of the previous backup's {}: has data gone missing?",
                    human::bytes(item.size),
                    human::bytes(before.size)
                ),
            ),
            _ => (
                Status::Ok,
                format!(
                    "{} stored as {}",
                    human::bytes(item.size),
                    human::bytes(item.stored_size)
                ),
            ),
        };
        report.results.push(
            CheckResult::new("backup", &item.name, status, message)
                .with_value(item.size as f64, "bytes"),
        );
        for warning in warnings {
            report.results.push(CheckResult::new(
                "backup",
                &item.name,
                Status::Warn,
                warning.clone(),
            ));
        }
    }
    report.blocks.push(summary(items));
    report
        .blocks
        .push(Block::Line(format!("backup {id} in {}", dir.display())));
    report.extra.insert(
        "backup".into(),
        json!({"id": id, "dir": dir, "manifest": manifest}),
    );
    Ok(id)
}

/// The summary table: item, size, stored size, ratio, time.
fn summary(items: &[Collected]) -> Block {
    let rows = items
        .iter()
        .map(|Collected { item, took, .. }| {
            let ratio = if item.stored_size == 0 {
                0.0
            } else {
                item.size as f64 / item.stored_size as f64
            };
            vec![
                item.name.clone(),
                human::bytes(item.size),
                human::bytes(item.stored_size),
                format!("{ratio:.1}x"),
                human::took(*took),
            ]
        })
        .collect();
    Block::Table {
        header: vec!["item", "size", "stored", "ratio", "time"],
        rows,
    }
}
