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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backup::catalog::BackupEntry;
use crate::backup::manifest::{Item, Kind, Manifest};
use crate::backup::verify;
use crate::check::Probe;
use crate::deploy::lifecycle::Lifecycle;
use crate::docker::{ContainerRef, Deployment, ImageRef, Remap, Snapshot, State};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;
use crate::runbook::model::{Backup, Check};
use crate::state::{HostFigures, Record, RecordedResult, StateDir};
use crate::ui::progress::Progress;

use super::{select, settings};

mod record;

pub use record::{DrillRecord, DrilledCheck, FILE, newest_passed};

const SECTION: &str = "drill";
/// How many times cleanup looks for what is left, and the pause between.
const CLEANUP_PASSES: usize = 4;
const CLEANUP_PAUSE: Duration = Duration::from_millis(500);

type Identities = verify::SharedIdentities;

pub async fn run(
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
    clean_leftovers(&deployment, &project, state_dir, report).await;

    let name = drill_id();
    let drill = Drill {
        runbook,
        backup,
        deployment: &deployment,
        lifecycle: Lifecycle::listening(&deployment, progress, SECTION),
        project,
        network: format!("opsbook-drill-{name}"),
        scratch: state_dir.join("drills").join(&name),
        name,
        entry: &entry,
        manifest,
        identities,
        progress,
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

/// A fresh id for the drill's resources (8 hex digits).
fn drill_id() -> String {
    let mut raw = [0u8; 4];
    // Without randomness the time still tells drills apart.
    if getrandom::fill(&mut raw).is_err() {
        raw = (jiff::Timestamp::now().as_millisecond() as u32).to_be_bytes();
    }
    crate::backup::writer::hex(&raw)
}

/// The scratch resources of drills that were killed before they cleaned up.
async fn clean_leftovers(
    deployment: &Deployment,
    project: &str,
    state_dir: &Path,
    report: &mut Report,
) {
    let Ok(drills) = deployment.scratch_drills().await else {
        return;
    };
    for old in drills.into_iter().filter(|d| d.is_leftover_of(project)) {
        let old = old.drill;
        let removed = deployment.remove_scratch(&old).await;
        let _ = std::fs::remove_dir_all(state_dir.join("drills").join(&old));
        let status = if removed.problems.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        };
        report.results.push(CheckResult::new(
            SECTION,
            format!("leftovers {old}"),
            status,
            format!(
                "removed what drill {old} left behind ({}){}",
                removed_counts(&removed),
                problems(&removed.problems)
            ),
        ));
    }
}

fn removed_counts(removed: &crate::docker::Removed) -> String {
    format!(
        "{}, {}, {}",
        crate::ui::human::count(removed.containers, "container"),
        crate::ui::human::count(removed.volumes, "volume"),
        crate::ui::human::count(removed.networks, "network")
    )
}

fn problems(problems: &[String]) -> String {
    if problems.is_empty() {
        String::new()
    } else {
        format!("; {}", problems.join("; "))
    }
}

struct Drill<'a> {
    runbook: &'a Runbook,
    backup: &'a Backup,
    deployment: &'a Deployment,
    lifecycle: Lifecycle<'a>,
    project: String,
    /// The drill's id.
    name: String,
    network: String,
    /// Where the backup's host files are restored to.
    scratch: PathBuf,
    entry: &'a BackupEntry,
    manifest: Manifest,
    identities: Identities,
    progress: Progress<'a>,
}

/// A service's twin.
struct Twin {
    service: String,
    id: String,
    name: String,
}

impl Drill<'_> {
    /// Every step in order; the first failure ends it (its reason).
    async fn run(&self, results: &mut Vec<CheckResult>) -> Result<(), String> {
        self.verify(results).await?;
        let snapshots = self.snapshots(results).await?;
        self.deployment
            .create_scratch_network(&self.network, &self.name)
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

    /// The running container of each service, as it was created.
    async fn snapshots(
        &self,
        results: &mut Vec<CheckResult>,
    ) -> Result<Vec<(String, Snapshot)>, String> {
        let containers = self.deployment.list().await.map_err(|e| e.to_string())?;
        let deployed: Vec<String> = containers.iter().map(|c| c.service.clone()).collect();
        let mut snapshots = Vec::new();
        for service in self.runbook.plan.tiers_with(&deployed).concat() {
            match crate::docker::running_of(&containers, &service) {
                Some(container) => {
                    let snapshot = self
                        .deployment
                        .snapshot(&container.id)
                        .await
                        .map_err(|e| e.to_string())?;
                    snapshots.push((service, snapshot));
                }
                None => results.push(CheckResult::new(
                    SECTION,
                    format!("twin {service}"),
                    Status::Warn,
                    "not running: no twin (a twin copies a running container's configuration)",
                )),
            }
        }
        if snapshots.is_empty() {
            return Err(format!(
                "no container of project `{}` is running: nothing to copy",
                self.project
            ));
        }
        Ok(snapshots)
    }

    /// Scratch volumes filled from the volume items, host files written
    /// into the scratch folder: where the twins' mounts go instead.
    async fn restore_data(
        &self,
        snapshots: &[(String, Snapshot)],
        results: &mut Vec<CheckResult>,
    ) -> Result<Remap, String> {
        let mut remap = Remap::default();
        for (index, item) in self.manifest.items.iter().enumerate() {
            let started = Instant::now();
            let restored = match item.kind {
                Kind::Volume => {
                    let scratch = format!("opsbook-drill-{}-{}", self.name, item.name);
                    self.fill_volume(&scratch, item, snapshots).await?;
                    remap.volumes.insert(item.source.clone(), scratch.clone());
                    format!("volume {} into {scratch}", item.source)
                }
                Kind::File => {
                    let scratch = self.scratch.join(format!("file-{index}"));
                    self.write_file(&scratch, item).await?;
                    remap
                        .paths
                        .insert(PathBuf::from(&item.source), scratch.clone());
                    format!("file {} into {}", item.source, scratch.display())
                }
                // Into the twin, once it runs.
                Kind::Dump => continue,
            };
            results.push(
                CheckResult::new(
                    SECTION,
                    format!("restore {}", item.name),
                    Status::Ok,
                    format!("{restored} ({})", crate::ui::human::bytes(item.size)),
                )
                .with_duration(started.elapsed()),
            );
        }
        Ok(remap)
    }

    async fn fill_volume(
        &self,
        scratch: &str,
        item: &Item,
        snapshots: &[(String, Snapshot)],
    ) -> Result<(), String> {
        let failed =
            |e: &dyn std::fmt::Display| format!("restoring {} into {scratch}: {e}", item.name);
        let root = item
            .archive_root
            .clone()
            .ok_or_else(|| failed(&"the manifest does not say the archive's top folder"))?;
        self.deployment
            .create_scratch_volume(scratch, &self.name)
            .await
            .map_err(|e| failed(&e))?;
        // The helper is made from an image already here: the one of a
        // service mounting the volume, else the runbook's helper image.
        let image = snapshots
            .iter()
            .find(|(_, s)| s.mounts_volume(&item.source))
            .or(snapshots.first())
            .map(|(_, s)| s.image.id.clone())
            .or_else(|| self.backup.helper_image.clone())
            .unwrap_or_default();
        let helper = self
            .deployment
            .scratch_writer(scratch, &root, &image, &self.name)
            .await
            .map_err(|e| failed(&e))?;
        let filled = async {
            self.deployment.empty_volume(&helper).await?;
            let meter = self.progress.meter(&item.name);
            let (chunks, reading) =
                verify::read_back(&self.entry.path, item, &self.identities, meter.counter());
            let uploaded = self
                .deployment
                .upload(&helper, crate::docker::RESTORE_ROOT, chunks)
                .await;
            let read = reading.await.map_err(|e| e.to_string())?;
            meter.done();
            uploaded.map_err(|e| e.to_string())?;
            read.map_err(|e| format!("reading `{}` back: {e}", item.file))
        }
        .await;
        let _ = self.deployment.remove(&helper).await;
        filled.map_err(|e| failed(&e))
    }

    async fn write_file(&self, scratch: &Path, item: &Item) -> Result<(), String> {
        let path = self.entry.path.join(&item.file);
        let (item, identities, scratch) =
            (item.clone(), self.identities.clone(), scratch.to_path_buf());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::os::unix::fs::PermissionsExt;
            if let Some(parent) = scratch.parent() {
                crate::state::files::create_private_dir(parent)?;
            }
            let mut stream = verify::open_stream(&path, &item, &identities)?;
            let mut file = std::fs::File::create(&scratch)?;
            std::io::copy(&mut stream, &mut file)?;
            // A twin's process may not run as root: it must read it.
            file.set_permissions(std::fs::Permissions::from_mode(0o644))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("restoring a file into {}: {e}", self.scratch.display()))
    }

    /// Each tier's twins created, started and gated together, then the
    /// dumps of that tier's services restored into them.
    async fn start_twins(
        &self,
        snapshots: &[(String, Snapshot)],
        remap: &Remap,
        results: &mut Vec<CheckResult>,
    ) -> Result<Vec<Twin>, String> {
        let timeout = self
            .backup
            .drill
            .as_ref()
            .and_then(|d| d.timeout)
            .map_or(self.runbook.plan.startup_timeout, |t| t.std());
        let deadline = Instant::now() + timeout;
        let services: Vec<String> = snapshots.iter().map(|(s, _)| s.clone()).collect();
        let mut twins = Vec::new();
        for tier in self.runbook.plan.start_order(&services) {
            let mut started = Vec::new();
            for service in &tier {
                let Some((_, snapshot)) = snapshots.iter().find(|(s, _)| s == service) else {
                    continue;
                };
                let twin = self.twin(service, snapshot, remap).await?;
                started.push(twin);
            }
            let gates = futures_util::future::join_all(
                started
                    .iter()
                    .map(|twin| self.lifecycle.gate(&twin.id, deadline)),
            )
            .await;
            for (twin, gate) in started.iter().zip(gates) {
                let (status, message) = match &gate {
                    Ok(()) => (Status::Ok, format!("{} ready", twin.name)),
                    Err(state) => (Status::Crit, format!("{} not ready: {state}", twin.name)),
                };
                results.push(CheckResult::new(
                    SECTION,
                    format!("twin {}", twin.service),
                    status,
                    message,
                ));
                if let Err(state) = gate {
                    return Err(format!(
                        "the twin of `{}` did not become ready: {state}",
                        twin.service
                    ));
                }
            }
            for twin in &started {
                self.restore_dumps(twin, results).await?;
            }
            twins.extend(started);
        }
        Ok(twins)
    }

    async fn twin(
        &self,
        service: &str,
        snapshot: &Snapshot,
        remap: &Remap,
    ) -> Result<Twin, String> {
        let name = format!("opsbook-drill-{}-{service}", self.name);
        // The very image the service runs, by id: a tag may have moved since.
        let image = ImageRef {
            name: snapshot.image.id.clone(),
            ..snapshot.image.clone()
        };
        let id = self
            .deployment
            .create_twin(
                snapshot,
                &image,
                (&name, service),
                (&self.network, &self.name),
                remap,
            )
            .await
            .map_err(|e| e.to_string())?;
        self.deployment
            .start(&id)
            .await
            .map_err(|e| format!("starting the twin of `{service}`: {e}"))?;
        Ok(Twin {
            service: service.to_string(),
            id,
            name,
        })
    }

    /// The backup's dumps of `twin`'s service, each streamed into its
    /// `restore` command there.
    async fn restore_dumps(
        &self,
        twin: &Twin,
        results: &mut Vec<CheckResult>,
    ) -> Result<(), String> {
        for item in self.manifest.items.iter().filter(|i| i.kind == Kind::Dump) {
            let Some(dump) = self.backup.dumps.get(&item.name) else {
                continue;
            };
            if dump.service.value != twin.service {
                continue;
            }
            let name = format!("restore {}", item.name);
            let Some(restore) = &dump.restore else {
                results.push(CheckResult::new(
                    SECTION,
                    name,
                    Status::Warn,
                    "no `restore` command in the runbook: not restored in the drill",
                ));
                continue;
            };
            let started = Instant::now();
            let argv = restore.argv();
            let meter = self.progress.meter(&item.name);
            let (chunks, reading) =
                verify::read_back(&self.entry.path, item, &self.identities, meter.counter());
            let ran = self
                .deployment
                .exec_with_stdin(&twin.id, &argv, chunks)
                .await;
            let read = reading.await.map_err(|e| e.to_string())?;
            meter.done();
            let (code, said) = ran.map_err(|e| e.to_string())?;
            if code != Some(0) {
                let said = String::from_utf8_lossy(&said);
                return Err(format!(
                    "dump {}: `{}` exited {} in the twin of `{}`: {}",
                    item.name,
                    argv.join(" "),
                    code.map_or("without a code".to_string(), |c| c.to_string()),
                    twin.service,
                    crate::redact::quote(said.trim())
                ));
            }
            read.map_err(|e| format!("dump {}: reading `{}` back: {e}", item.name, item.file))?;
            results.push(
                CheckResult::new(
                    SECTION,
                    name,
                    Status::Ok,
                    format!(
                        "{}: {} < dump ({})",
                        twin.service,
                        argv.join(" "),
                        crate::ui::human::bytes(item.size)
                    ),
                )
                .with_duration(started.elapsed()),
            );
        }
        Ok(())
    }

    /// `backup.drill.checks` against the twins: exec checks in a service's
    /// twin, http checks with a service's name for the host at its twin.
    async fn checks(&self, twins: &[Twin], results: &mut Vec<CheckResult>) {
        let Some(checks) = self.backup.drill.as_ref().map(|d| &d.checks) else {
            return;
        };
        let refs: Vec<ContainerRef> = twins
            .iter()
            .map(|t| ContainerRef {
                id: t.id.clone(),
                name: t.name.clone(),
                project: self.project.clone(),
                service: t.service.clone(),
                state: State::Running,
                node: None,
            })
            .collect();
        let mut addresses = HashMap::new();
        for twin in twins {
            if let Ok(Some(ip)) = self.deployment.address_on(&twin.id, &self.network).await {
                addresses.insert(twin.service.clone(), ip);
            }
        }
        let probe = Probe::new(self.runbook.redactor());
        let docker = Some((self.deployment, refs.as_slice()));
        let (probe, addresses) = (&probe, &addresses);
        let runs = checks.iter().map(|(name, check)| async move {
            let rewritten = at_twins(check, addresses);
            let check = rewritten.as_ref().unwrap_or(check);
            let mut result = probe.check(&self.runbook.dir, name, check, docker).await;
            result.section = SECTION.to_string();
            result.name = format!("check {name}");
            result
        });
        results.extend(futures_util::future::join_all(runs).await);
    }

    async fn clean_up(&self) -> CheckResult {
        // A request cut short by a signal may still be creating something
        // (a helper, a twin) on the engine: pass again until a pass finds
        // nothing, so that too is removed.
        let mut removed = crate::docker::Removed::default();
        for pass in 0..CLEANUP_PASSES {
            if pass > 0 {
                tokio::time::sleep(CLEANUP_PAUSE).await;
            }
            let this = self.deployment.remove_scratch(&self.name).await;
            let found = this.containers + this.volumes + this.networks;
            removed.containers += this.containers;
            removed.volumes += this.volumes;
            removed.networks += this.networks;
            removed.problems = this.problems;
            if found == 0 && removed.problems.is_empty() {
                break;
            }
        }
        let mut problems_left = removed.problems.clone();
        if let Err(e) = std::fs::remove_dir_all(&self.scratch)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            problems_left.push(format!("cannot remove `{}`: {e}", self.scratch.display()));
        }
        let status = if problems_left.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        };
        CheckResult::new(
            SECTION,
            "cleanup",
            status,
            format!(
                "removed {}{}",
                removed_counts(&removed),
                problems(&problems_left)
            ),
        )
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
        let history = state.history(&format!("{}-drills", self.runbook.data_lock_key()));
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
                })
                .collect(),
        };
        let verdict = if record.passed { "passed" } else { "failed" };
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

/// An http check whose host names a service, pointed at that service's
/// twin; `None` for any other check.
fn at_twins(check: &Check, addresses: &HashMap<String, String>) -> Option<Check> {
    let http = check.http.as_ref()?;
    let mut url: url::Url = http.url.value.parse().ok()?;
    let ip = addresses.get(url.host_str()?)?;
    url.set_host(Some(ip)).ok()?;
    let mut http = http.clone();
    http.url.value = url.to_string();
    Some(Check {
        http: Some(http),
        exec: None,
        command: None,
        file: None,
        tcp: None,
        unit: None,
        prometheus: None,
        value: check.value.clone(),
        failing_for: None,
        retry: check.retry.clone(),
        hint: check.hint.clone(),
    })
}
