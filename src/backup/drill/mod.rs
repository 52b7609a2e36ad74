//! `opsbook backup drill [ID|latest]`: proof that a backup brings the
//! application back, without touching anything live. The backup is
//! verified; its volumes are restored into scratch volumes and its files
//! into a scratch folder; each running service gets a twin (same image and
//! configuration, on an internal network of its own, no published ports,
//! see `docker::scratch`), started tier by tier behind the startup health
//! gate; each dump is streamed into its `restore` command in its service's
//! twin once that tier is ready; then `backup.drill.checks` run against the
//! twins. The outcome goes in the backup's folder (`drill.json`) and the
//! drill history; every scratch resource is removed at the end, after a
//! failure or a signal too, and those of a drill that was killed are
//! removed by the next one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backup::catalog::BackupEntry;
use crate::backup::manifest::Manifest;
use crate::backup::repository;
use crate::backup::verify;
use crate::deploy::lifecycle::Lifecycle;
use crate::docker::{Deployment, ScratchDrill};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;
use crate::runbook::model::Backup;
use crate::state::{HostFigures, Record, RecordedResult, StateDir};
use crate::ui::progress::Progress;

use super::{select, settings};

mod cleanup;
mod data;
mod leftovers;
mod record;
mod twins;

pub(crate) use record::{DrillRecord, DrilledCheck, FILE, history, newest_passed, passed};

const SECTION: &str = "drill";
/// How long each item may take to be restored into the scratch resources
/// when `backup.drill.restore_timeout` is not given: long enough for a big
/// database to load, short enough that a hung one ends the same night.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(3600);

type Identities = verify::SharedIdentities;

pub(crate) async fn run(
    runbook: &Runbook,
    id: Option<&str>,
    identity: Option<&Path>,
    state_dir: &Path,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let backup = settings(runbook)?;
    let project = runbook.require_project("backup drill")?;
    let dir = runbook.backup_dir(backup);
    let brought = match repository::Place::of(runbook, backup)? {
        Some(place) => Some(Brought::out(runbook, &place, id, &dir, progress).await?),
        None => None,
    };
    let id = brought.as_ref().map_or(id, |b| Some(b.id.as_str()));
    let entry = select(&dir, id, false)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Usage(format!("no backup in {}", dir.display())))?;
    let manifest = Manifest::read(&entry.path).map_err(|e| {
        Error::Usage(format!(
            "cannot read the manifest of {}: {e}; nothing was changed",
            entry.id
        ))
    })?;
    let identities: Identities = Arc::new(match identity {
        Some(path) => verify::identities(path).map_err(Error::Usage)?,
        None => Vec::new(),
    });
    let state = StateDir::open(state_dir)?;
    let _lock = state.lock(
        &format!("{}-drill", runbook.data_lock_key()),
        "backup drill",
    )?;
    let deployment = Deployment::connect(Some(project.clone())).await?;
    crate::deploy::refuse_on_stack(runbook, &deployment, "backup drill").await?;
    leftovers::clean_leftovers(&deployment, &project, state_dir, report).await;

    let name = drill_id();
    let owner = leftovers::this_drill(&name, &project);
    let drill = Drill {
        runbook,
        backup,
        deployment: &deployment,
        lifecycle: Lifecycle::listening(&deployment, progress, SECTION),
        project,
        network: format!("opsbook-drill-{name}"),
        scratch: state_dir.join("drills").join(&name),
        name,
        owner,
        entry: &entry,
        manifest,
        identities,
        progress,
        repository: brought.as_ref().map(|b| b.location.clone()),
    };
    let started = Instant::now();
    let mut results = Vec::new();
    let interrupt = drill.lifecycle.interrupt.clone();
    // The signal first: a step that noticed it too must not name the drill's
    // end as its own failure ("interrupted while waiting").
    let outcome = tokio::select! {
        biased;
        () = interrupt.raised() => Err("interrupted by a signal".to_string()),
        outcome = drill.run(&mut results) => outcome,
    };
    // A step that saw the signal may have ended first, in the same poll.
    let outcome = match outcome {
        Err(_) if interrupt.is_raised() => Err("interrupted by a signal".to_string()),
        outcome => outcome,
    };
    if let Err(failure) = &outcome {
        results.push(CheckResult::new(
            SECTION,
            "drill",
            Status::Crit,
            failure.clone(),
        ));
    }
    results.push(drill.clean_up().await);
    let record = drill.record(&results, outcome.err(), started.elapsed());
    results.push(drill.keep(&record, &state, report));
    report.results.extend(results);
    Ok(())
}

/// A snapshot of the runbook's repository brought out whole as a backup
/// of the archive format, to drill as one: removed when dropped.
struct Brought {
    id: String,
    location: String,
    folder: PathBuf,
}

impl Brought {
    /// Snapshot `id` (or the newest) brought out into `dir`; its lock is
    /// held while it is read.
    async fn out(
        runbook: &Runbook,
        place: &repository::Place,
        id: Option<&str>,
        dir: &Path,
        progress: Progress<'_>,
    ) -> Result<Brought, Error> {
        let reading = repository::export::Reading::open(runbook, place, id, dir, progress).await?;
        let folder = reading.bring_out(true).await;
        let id = reading.id.clone();
        reading.release().await;
        Ok(Brought {
            id,
            location: place.location(),
            folder: folder?,
        })
    }
}

impl Drop for Brought {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// A fresh id for the drill's resources (8 hex digits).
fn drill_id() -> String {
    let mut raw = [0u8; 4];
    // Without randomness the time still tells drills apart.
    if getrandom::fill(&mut raw).is_err() {
        raw = (jiff::Timestamp::now().as_millisecond() as u32).to_be_bytes();
    }
    crate::backup::writer::hex(&raw)
}

struct Drill<'a> {
    runbook: &'a Runbook,
    backup: &'a Backup,
    deployment: &'a Deployment,
    lifecycle: Lifecycle<'a>,
    project: String,
    /// The drill's id.
    name: String,
    /// The labels of its scratch resources: its id, project and process.
    owner: ScratchDrill,
    network: String,
    /// Where the backup's host files are restored to.
    scratch: PathBuf,
    entry: &'a BackupEntry,
    manifest: Manifest,
    identities: Identities,
    progress: Progress<'a>,
    /// The restic repository the backup was brought out of, if it was.
    repository: Option<String>,
}

/// A service's twin.
struct Twin {
    service: String,
    id: String,
    name: String,
}

impl Drill<'_> {
    /// How long each tier of twins may take to become ready, and the checks
    /// to answer: `backup.drill.timeout`, else `startup.timeout`.
    fn timeout(&self) -> Duration {
        self.backup
            .drill
            .as_ref()
            .and_then(|d| d.timeout)
            .map_or(self.runbook.plan.startup_timeout, |t| t.std())
    }

    /// How long each item may take to be restored into the scratch
    /// resources: `backup.drill.restore_timeout`, else an hour.
    fn restore_timeout(&self) -> Duration {
        self.backup
            .drill
            .as_ref()
            .and_then(|d| d.restore_timeout)
            .map_or(RESTORE_TIMEOUT, |t| t.std())
    }

    /// Every step in order; the first failure ends it (its reason).
    async fn run(&self, results: &mut Vec<CheckResult>) -> Result<(), String> {
        self.verify(results).await?;
        let snapshots = self.snapshots(results).await?;
        self.deployment
            .create_scratch_network(&self.network, &self.owner)
            .await
            .map_err(|e| e.to_string())?;
        let remap = self.restore_data(&snapshots, results).await?;
        let twins = self.start_twins(&snapshots, &remap, results).await?;
        self.checks(&twins, results).await;
        Ok(())
    }

    /// Every item read back whole against the manifest, as `backup verify` does.
    async fn verify(&self, results: &mut Vec<CheckResult>) -> Result<(), String> {
        self.progress
            .say(format!("drill {}: verifying {}", self.name, self.entry.id));
        let checked = verify::items(&self.entry.path, &self.manifest.items, &self.identities).await;
        let mut bad = Vec::new();
        for (name, outcome) in checked {
            if let Err(problem) = outcome {
                results.push(CheckResult::new(
                    SECTION,
                    format!("verify {name}"),
                    Status::Crit,
                    problem,
                ));
                bad.push(name);
            }
        }
        if bad.is_empty() {
            results.push(CheckResult::new(
                SECTION,
                "verify",
                Status::Ok,
                format!(
                    "{}: {} read back whole",
                    self.entry.id,
                    crate::ui::human::count(self.manifest.items.len(), "item")
                ),
            ));
            Ok(())
        } else {
            Err(format!("the backup does not verify ({})", bad.join(", ")))
        }
    }

    fn record(
        &self,
        results: &[CheckResult],
        failure: Option<String>,
        took: Duration,
    ) -> DrillRecord {
        let status = Status::worst(
            results
                .iter()
                .filter(|r| r.name != "cleanup")
                .map(|r| r.status),
        );
        DrillRecord {
            drill: self.name.clone(),
            at: jiff::Timestamp::now(),
            passed: failure.is_none() && status.severity() <= Status::Warn.severity(),
            status,
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            checks: results
                .iter()
                .filter(|r| r.name.starts_with("check "))
                .map(|r| DrilledCheck {
                    name: r.name.trim_start_matches("check ").to_string(),
                    status: r.status,
                    message: r.message.clone(),
                })
                .collect(),
            failure,
        }
    }

    /// The outcome in the backup's folder and the drill history.
    fn keep(&self, record: &DrillRecord, state: &StateDir, report: &Report) -> CheckResult {
        let history = history(state, self.runbook);
        let line = Record {
            at: report.started_at,
            command: "backup drill".to_string(),
            status: record.status,
            duration_ms: record.duration_ms,
            host: HostFigures::default(),
            restarts: Default::default(),
            resources: Default::default(),
            results: record
                .checks
                .iter()
                .map(|c| RecordedResult {
                    section: SECTION.to_string(),
                    name: c.name.clone(),
                    status: c.status,
                    value: None,
                    held: false,
                })
                .collect(),
        };
        let verdict = if record.passed { "passed" } else { "failed" };
        if let Some(location) = &self.repository {
            // Brought out of the repository for the drill: its folder goes.
            let (status, message) = match history.append(&line) {
                Ok(()) => (
                    Status::Ok,
                    format!(
                        "drill {} of {} (snapshot of restic repository {location}) {verdict}: in the drill history",
                        self.name, self.entry.id
                    ),
                ),
                Err(e) => (
                    Status::Warn,
                    format!("drill {verdict}, but not in the history: {e}"),
                ),
            };
            return CheckResult::new(SECTION, "recorded", status, message);
        }
        match (record.write(&self.entry.path), history.append(&line)) {
            (Ok(()), Ok(())) => CheckResult::new(
                SECTION,
                "recorded",
                Status::Ok,
                format!(
                    "drill {} of {} {verdict}: in {}/{}",
                    self.name,
                    self.entry.id,
                    self.entry.id,
                    crate::backup::drill::FILE
                ),
            ),
            (Err(e), _) => CheckResult::new(
                SECTION,
                "recorded",
                Status::Warn,
                format!(
                    "drill {verdict}, but cannot write {}: {e}",
                    crate::backup::drill::FILE
                ),
            ),
            (_, Err(e)) => CheckResult::new(
                SECTION,
                "recorded",
                Status::Warn,
                format!("drill {verdict}, but not in the history: {e}"),
            ),
        }
    }
}
