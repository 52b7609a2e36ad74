//! Making a backup: volumes read through Docker's archive endpoint, host
//! files, and database dumps exec'd in their service, each streamed through
//! zstd (or gzip), optionally age, and sha256 into its own file of a folder
//! written under a `.` name and renamed when complete. The services in
//! `backup.stop` are stopped for the copy and always started again: on
//! success, on failure, on a signal.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::backup::catalog;
use crate::backup::manifest::Manifest;
use crate::docker::Deployment;
use crate::error::Error;
use crate::history::StateDir;
use crate::host::human_bytes;
use crate::interrupt::Interrupt;
use crate::lifecycle::Lifecycle;
use crate::progress::Progress;
use crate::report::{Block, Report};
use crate::runbook::Runbook;
use crate::status::{CheckResult, Status};

use super::copy::{self, Copier, Source, Staging};
use super::settings;

pub async fn create(
    runbook: &Runbook,
    dry_run: bool,
    state_dir: &Path,
    progress: Progress,
    report: &mut Report,
) -> Result<(), Error> {
    let backup = settings(runbook)?;
    let recipients = copy::recipients(backup)?;
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
    if !crate::sections::hooks::run(
        runbook,
        "backup.before",
        &backup.before,
        progress,
        state_dir,
        report,
    )
    .await
    {
        report.results.push(CheckResult::new(
            "backup",
            "result",
            Status::Crit,
            "a backup.before step failed: no backup was made, nothing was stopped",
        ));
        return Ok(());
    }
    let staging = Staging::open(&dir, runbook.name())?;

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

    let copier = Copier {
        deployment: &deployment,
        containers: &containers,
        backup,
        recipients,
        helper_image: backup
            .helper_image
            .clone()
            .or_else(|| containers.first().map(|c| c.image.clone())),
    };
    let copy = async {
        if stop_failed {
            return Err("a service in `backup.stop` did not stop".to_string());
        }
        copier.copy_all(&sources, &staging.partial, progress).await
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
    // Whether or not the copy worked: `after` undoes what `before` did.
    crate::sections::hooks::run(
        runbook,
        "backup.after",
        &backup.after,
        progress,
        state_dir,
        report,
    )
    .await;

    let items = match copied {
        Some(Ok(items)) if missing.is_empty() => items,
        outcome => {
            staging.discard();
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
    let manifest = copy::manifest(
        runbook,
        &containers,
        staging.created_at,
        false,
        items.iter().map(|(item, _)| item.clone()).collect(),
    );
    staging.finish(&manifest)?;
    let id = &staging.id;

    for (item, _) in &items {
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
    report.blocks.push(copy::summary(&items));
    report
        .blocks
        .push(Block::Line(format!("backup {id} in {}", dir.display())));
    report.extra.insert(
        "backup".into(),
        json!({"id": id, "dir": dir, "manifest": manifest}),
    );
    Ok(())
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
