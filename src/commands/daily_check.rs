//! `opsbook daily-check`: the operators' morning checklist in one concurrent
//! run. Host figures, every service's container, error lines in the logs,
//! the runbook's checks and the age of the newest backup, each graded; then
//! the run is recorded in the history and, when it is bad enough, notified.
//!
//! Everything runs at once under one deadline (`--timeout`): whatever has not
//! answered by then is reported unknown, so nothing holds the run.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::time::timeout_at;

use crate::backup::catalog;
use crate::check::Probe;
use crate::check::containers;
use crate::check::docker_disk;
use crate::check::logs;
use crate::check::logs::files::Offsets;
use crate::check::resources::{self, Resources};
use crate::deploy;
use crate::docker::Stack;
use crate::docker::{Container, ContainerRef, Deployment};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::host::{DiskUsage, HostSnapshot};
use crate::notify;
use crate::redact::Redactor;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::runbook::units;
use crate::state::{HostFigures, Record, RecordedResult, ResourceFigures, StateDir};

/// The pause between runs under `--wait`.
const WAIT_PAUSE: Duration = Duration::from_secs(2);

/// The parts of a daily check `--only` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Host,
    Containers,
    Logs,
    Checks,
    Backups,
}

pub struct Options {
    pub only: Vec<Part>,
    pub timeout: Duration,
    pub wait: Option<Duration>,
    pub state_dir: PathBuf,
    /// Take the lock, record the run in the history and notify (a daily
    /// check); off for the one inside an incident's evidence, which must
    /// neither wait for a lock nor count as a run.
    pub record: bool,
}

impl Options {
    fn wants(&self, part: Part) -> bool {
        self.only.is_empty() || self.only.contains(&part)
    }
}

/// One run's results and the figures the history keeps.
struct Pass {
    results: Vec<CheckResult>,
    host: Option<HostSnapshot>,
    containers: Vec<Container>,
    resources: Vec<Resources>,
    /// Where the host log files were read up to.
    read_up_to: Option<Offsets>,
}

pub async fn run(runbook: &Runbook, options: &Options, report: &mut Report) -> Result<(), Error> {
    let state = StateDir::open(&options.state_dir)?;
    let key = runbook.state_key();
    let _lock = if options.record {
        Some(state.lock(&key, "daily-check")?)
    } else {
        None
    };
    let history = state.history(&key);
    let previous = history.last();
    tracing::debug!(previous = previous.is_some(), "locked, history read");
    let redactor = runbook.redactor();

    // Every pass of `--wait` reads the log files from where the last run
    // stopped: a later pass must not lose the lines an earlier one saw.
    let offsets_path = crate::state::log_offsets(&options.state_dir, &key);
    let offsets = Offsets::load(&offsets_path);
    let first = Instant::now();
    let pass = loop {
        let started_at = jiff::Timestamp::now();
        let clock = Instant::now();
        let pass = one_pass(runbook, options, previous.as_ref(), &offsets, redactor).await;
        let status = Status::worst(pass.results.iter().map(|r| r.status));
        let Some(wait) = options.wait else {
            break (pass, started_at, clock);
        };
        if status == Status::Ok || first.elapsed() + WAIT_PAUSE >= wait {
            break (pass, started_at, clock);
        }
        tracing::info!(%status, "not passing yet; running again");
        tokio::time::sleep(WAIT_PAUSE).await;
    };
    let (mut pass, started_at, clock) = pass;
    report.started_at = started_at;
    report.results = std::mem::take(&mut pass.results);
    sustained(runbook, &history, started_at, &mut report.results);
    if let Some(host) = &pass.host {
        report.extra.insert("host".into(), serde_json::json!(host));
    }
    if options.wants(Part::Containers) {
        report
            .extra
            .insert("resources".into(), serde_json::json!(pass.resources));
    }

    if !options.record {
        return Ok(());
    }
    if let Some(read_up_to) = &pass.read_up_to
        && let Err(e) = read_up_to.save(&offsets_path)
    {
        tracing::warn!("where the log files were read up to was not kept: {e}");
    }
    let record = record(report, &pass, clock.elapsed());
    if let Err(e) = history.append(&record) {
        tracing::warn!("the run was not recorded: {e}");
    }
    if let Some(webhook) = runbook
        .model
        .notify
        .as_ref()
        .and_then(|n| n.webhook.as_ref())
    {
        let on: Option<Vec<String>> = webhook
            .on
            .as_ref()
            .map(|levels| levels.iter().map(|l| l.value.clone()).collect());
        let window =
            notify::maintenance::active(runbook, &options.state_dir, jiff::Timestamp::now());
        if notify::wanted(report.status(), on.as_deref()) && window.is_none() && notify::enabled() {
            let host = pass.host.as_ref().and_then(|h| h.hostname.as_deref());
            let sent = match notify::webhook_url(runbook) {
                Some(Ok(url)) => notify::send(&url, report, host, redactor).await,
                Some(Err(e)) => Err(e),
                None => Ok(()),
            };
            if let Err(e) = sent {
                tracing::warn!("{}", redactor.redact(&e));
            }
        }
    }
    if notify::enabled() {
        crate::incident::escalate::overdue(runbook, &options.state_dir).await;
    }
    Ok(())
}

/// Checks with `for:` graded against the runs before this one (twice the
/// longest window of history is read: enough to see where a streak began).
fn sustained(
    runbook: &Runbook,
    history: &crate::state::History,
    now: jiff::Timestamp,
    results: &mut [CheckResult],
) {
    let Some(longest) = runbook
        .model
        .checks
        .values()
        .filter_map(|c| c.failing_for.map(|d| d.std()))
        .max()
    else {
        return;
    };
    let back = jiff::SignedDuration::try_from(longest * 2).unwrap_or(jiff::SignedDuration::ZERO);
    let from = now.checked_sub(back).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    crate::check::sustain::apply(results, runbook, &history.since(from).records, now);
}

type Work<'a> = Pin<Box<dyn Future<Output = Vec<CheckResult>> + Send + 'a>>;

/// Runs every part once. Work that needs no Docker (host, HTTP checks,
/// backups) starts at once; the Docker parts start as soon as the container
/// list is in (logs and exec need only ids), while the containers are
/// inspected for grading. All of it shares one deadline.
async fn one_pass(
    runbook: &Runbook,
    options: &Options,
    previous: Option<&Record>,
    offsets: &Offsets,
    redactor: &Redactor,
) -> Pass {
    let deadline = tokio::time::Instant::now() + options.timeout;
    let seconds = options.timeout.as_secs();
    let host = options.wants(Part::Host).then(|| {
        let paths: Vec<PathBuf> = runbook
            .plan
            .thresholds
            .disk_paths
            .iter()
            .map(PathBuf::from)
            .collect();
        tokio::spawn(HostSnapshot::measure(paths))
    });

    let probe = Probe::new(redactor);
    let read_up_to = std::sync::Mutex::new(None);
    let mut free_of_docker: Vec<(String, Work<'_>)> = Vec::new();
    if options.wants(Part::Checks) {
        for (name, check) in &runbook.model.checks {
            if check.exec.is_none() {
                let probe = &probe;
                free_of_docker.push((
                    format!("checks {name}"),
                    Box::pin(
                        async move { vec![probe.check(&runbook.dir, name, check, None).await] },
                    ),
                ));
            }
        }
    }
    if options.wants(Part::Logs) {
        let read_up_to = &read_up_to;
        free_of_docker.push((
            "logs files".into(),
            Box::pin(async move {
                let (results, next) = logs::files(runbook, offsets.clone(), redactor).await;
                if let Ok(mut slot) = read_up_to.lock() {
                    *slot = Some(next);
                }
                results
            }),
        ));
        free_of_docker.push((
            "logs units".into(),
            Box::pin(logs::units(runbook, options.timeout, redactor)),
        ));
    }
    if options.wants(Part::Backups) && runbook.model.backup.is_some() {
        free_of_docker.push(("backups newest".into(), Box::pin(check_backups(runbook))));
    }
    let independent = join_all(
        free_of_docker
            .into_iter()
            .map(|(label, job)| bounded(deadline, seconds, label, job)),
    );

    let docker_part = docker_part(runbook, options, previous, &probe, redactor, deadline);
    let ((docker_results, containers, resources), independent) =
        tokio::join!(docker_part, independent);
    let host = match host {
        Some(task) => task.await.ok(),
        None => None,
    };
    let mut results = host
        .as_ref()
        .map(|h| h.grade(&runbook.plan.thresholds))
        .unwrap_or_default();
    results.extend(docker_results);
    results.extend(independent.into_iter().flatten());
    Pass {
        results,
        host,
        containers,
        resources,
        read_up_to: read_up_to.into_inner().ok().flatten(),
    }
}

/// The parts that need Docker: the containers graded, exec checks and the
/// log scan, all started as soon as the container list is in, under the
/// run's deadline, with the running containers' resource use sampled
/// meanwhile. The results, and the inspected containers and their
/// resources the history keeps.
async fn docker_part(
    runbook: &Runbook,
    options: &Options,
    previous: Option<&Record>,
    probe: &Probe<'_>,
    redactor: &Redactor,
    deadline: tokio::time::Instant,
) -> (Vec<CheckResult>, Vec<Container>, Vec<Resources>) {
    let seconds = options.timeout.as_secs();
    let mut results = Vec::new();
    let exec_checks: Vec<_> = runbook
        .model
        .checks
        .iter()
        .filter(|(_, check)| check.exec.is_some() && options.wants(Part::Checks))
        .collect();
    let logs = options.wants(Part::Logs) && logs::wanted(runbook);
    let docker_disk = runbook
        .model
        .thresholds
        .docker_disk
        .as_ref()
        .filter(|_| options.wants(Part::Host));
    if !options.wants(Part::Containers) && !logs && exec_checks.is_empty() && docker_disk.is_none()
    {
        return (results, Vec::new(), Vec::new());
    }
    let (deployment, refs, stack) = match timeout_at(deadline, listed(runbook)).await {
        Ok(Ok(listed)) => listed,
        Ok(Err(e)) => {
            results.push(engine_unknown(e.to_string()));
            for (name, _) in exec_checks {
                results.push(CheckResult::new(
                    "checks",
                    name,
                    Status::Unknown,
                    "Docker is unreachable",
                ));
            }
            return (results, Vec::new(), Vec::new());
        }
        Err(_) => {
            results.push(engine_unknown(
                "Docker did not list the containers before the run's deadline (--timeout)",
            ));
            return (results, Vec::new(), Vec::new());
        }
    };
    let (deployment, refs) = (&deployment, &refs);
    if stack.is_none()
        && refs.is_empty()
        && runbook.model.services.is_empty()
        && options.wants(Part::Containers)
    {
        results.push(nothing_deployed(runbook, deployment.endpoint()));
    }

    let exec_refs = &exec_refs(runbook, stack.as_ref(), refs);
    let stack_ref = &stack;
    let mut work: Vec<(String, Work<'_>)> = Vec::new();
    for (name, check) in exec_checks {
        work.push((
            format!("checks {name}"),
            Box::pin(async move {
                vec![
                    probe
                        .check(&runbook.dir, name, check, Some((deployment, exec_refs)))
                        .await,
                ]
            }),
        ));
    }
    if let Some(limits) = docker_disk {
        work.push((
            format!("host {}", docker_disk::NAME),
            Box::pin(async move {
                let used = deployment.disk_use().await.map_err(|e| e.to_string());
                vec![docker_disk::grade(limits, used)]
            }),
        ));
    }
    // After the execs: their requests go out first, ahead of 50 log streams.
    if logs {
        work.push((
            "logs all".into(),
            Box::pin(async move {
                match stack_ref {
                    Some(stack) => {
                        logs::services(runbook, deployment, &stack.services, redactor).await
                    }
                    None => logs::containers(runbook, deployment, refs, redactor).await,
                }
            }),
        ));
    }
    let inspected = async {
        if !options.wants(Part::Containers) {
            return (Vec::new(), Vec::new());
        }
        match timeout_at(deadline, deployment.inspect(refs)).await {
            Ok(Ok(containers)) => {
                tracing::debug!("inspected");
                graded(runbook, stack_ref.as_ref(), containers, previous)
            }
            Ok(Err(e)) => (vec![engine_unknown(e.to_string())], Vec::new()),
            Err(_) => (
                vec![engine_unknown(
                    "containers were not inspected before the run's deadline (--timeout)",
                )],
                Vec::new(),
            ),
        }
    };
    // Sampled once inspected (the inspect has the pids), while the logs and
    // execs run: the gap between the two CPU samples costs the run little.
    let sampled = async {
        let (graded, containers) = inspected.await;
        let sampled = if options.wants(Part::Containers) {
            timeout_at(deadline, resources::sample(deployment, &containers))
                .await
                .ok()
        } else {
            Some(Vec::new())
        };
        ((graded, containers), sampled)
    };
    let (((graded, containers), sampled), batches) = tokio::join!(
        sampled,
        join_all(
            work.into_iter()
                .map(|(label, job)| bounded(deadline, seconds, label, job))
        )
    );
    results.extend(graded);
    let measured = resources::grade_all(runbook, &containers, sampled, seconds, &mut results);
    // Exec checks come back first (runbook order); logs go before them.
    let mut batches = batches;
    if logs && let Some(logs) = batches.pop() {
        results.extend(logs);
    }
    for batch in batches {
        results.extend(batch);
    }
    (results, containers, measured)
}

/// Where exec checks may run: the listed containers, and a stack's
/// running tasks on other nodes.
fn exec_refs(runbook: &Runbook, stack: Option<&Stack>, refs: &[ContainerRef]) -> Vec<ContainerRef> {
    match (stack, &runbook.plan.project) {
        (Some(stack), Some(project)) => crate::docker::with_remote_tasks(stack, refs, project),
        _ => refs.to_vec(),
    }
}

/// The containers graded, or a stack's services (not its task containers:
/// the ones Swarm replaced stay behind, exited, in its history); and the
/// containers whose resources count (a stack's running ones).
fn graded(
    runbook: &Runbook,
    stack: Option<&Stack>,
    containers: Vec<Container>,
    previous: Option<&Record>,
) -> (Vec<CheckResult>, Vec<Container>) {
    let Some(stack) = stack else {
        return (grade_containers(runbook, &containers, previous), containers);
    };
    let span = if previous.is_some() {
        "since the last check"
    } else {
        "in the task history"
    };
    let graded = crate::check::tasks::services(runbook, stack, previous.map(|p| p.at), span)
        .into_iter()
        .map(|(_, result)| result)
        .collect();
    let running = containers
        .into_iter()
        .filter(|c| c.state == crate::docker::State::Running)
        .collect();
    (graded, running)
}

/// Connects to Docker and lists the containers, in startup order; for a
/// Swarm stack, its services and tasks too, and the containers are its
/// tasks' on this node.
async fn listed(
    runbook: &Runbook,
) -> Result<(Deployment, Vec<ContainerRef>, Option<Stack>), Error> {
    let mut deployment = Deployment::connect(runbook.plan.project.clone()).await?;
    tracing::debug!("connected to Docker");
    let stack = if deploy::resolve(runbook, &deployment).await?.is_swarm() {
        deployment = deploy::into_stack(deployment);
        Some(Stack::read(&deployment).await?)
    } else {
        None
    };
    let mut refs = deployment.list().await?;
    tracing::debug!(containers = refs.len(), "listed");
    refs.sort_by_key(|c| runbook.plan.startup_position(&c.service));
    Ok((deployment, refs, stack))
}

/// No container at all, and no service the runbook expects: say which
/// runbook was used and what it looked for, rather than grade only the host.
fn nothing_deployed(runbook: &Runbook, endpoint: &str) -> CheckResult {
    let message = match &runbook.plan.project {
        Some(project) => format!(
            "no container of compose project `{project}` on {endpoint} (runbook {})",
            runbook.display
        ),
        None => format!(
            "no compose project found on {endpoint}: runbook {} looks at every compose project (pass --runbook FILE for a deployment's own)",
            runbook.display
        ),
    };
    CheckResult::new("containers", "deployment", Status::Warn, message)
}

/// Docker could not say: one unknown result for the engine.
fn engine_unknown(message: impl Into<String>) -> CheckResult {
    CheckResult::new("docker", "engine", Status::Unknown, message)
}

/// The job's results, or one unknown result naming it if the deadline comes first.
async fn bounded(
    deadline: tokio::time::Instant,
    seconds: u64,
    label: String,
    job: Work<'_>,
) -> Vec<CheckResult> {
    match timeout_at(deadline, job).await {
        Ok(results) => results,
        Err(_) => {
            let (section, name) = label
                .split_once(' ')
                .unwrap_or((label.as_str(), label.as_str()));
            let message =
                format!("did not finish within the run's {seconds}s deadline (--timeout)");
            vec![CheckResult::new(section, name, Status::Unknown, message)]
        }
    }
}

/// Every listed service must have a running (and, with a healthcheck,
/// healthy) container whose restart count has not grown since the last run;
/// containers the runbook does not list are held to the same.
fn grade_containers(
    runbook: &Runbook,
    containers: &[Container],
    previous: Option<&Record>,
) -> Vec<CheckResult> {
    let all_projects = runbook.plan.project.is_none();
    let mut results = Vec::new();
    for container in containers {
        let critical = runbook.is_critical(&container.service);
        let (mut status, mut message) = containers::grade(container, critical);
        let before = previous
            .and_then(|p| p.restarts.get(&container.name))
            .copied();
        if let Some(before) = before
            && container.restart_count > before
        {
            status = status.max(Status::Warn);
            message.push_str(&format!(
                "; restarted {} times since the last check",
                container.restart_count - before
            ));
        }
        let name = containers::result_name(container, all_projects);
        results.push(
            CheckResult::new("containers", name, status, message)
                .with_value(container.restart_count as f64, "count"),
        );
    }
    for service in runbook.model.services.keys() {
        if !containers.iter().any(|c| c.service == *service) {
            let (status, message) = containers::missing(runbook.is_critical(service));
            results.push(CheckResult::new("containers", service, status, message));
        }
    }
    results
}

/// The newest complete backup against `max_age`, and the free space where backups go.
async fn check_backups(runbook: &Runbook) -> Vec<CheckResult> {
    let Some(backup) = &runbook.model.backup else {
        return Vec::new();
    };
    let dir = runbook.backup_dir(backup);
    let max_age = runbook.plan.backup_max_age;
    let disk_limits = runbook.plan.thresholds.disk;
    let shown = backup.dir.clone();
    let found = tokio::task::spawn_blocking(move || {
        let listing = catalog::list(&dir);
        let disk = DiskUsage::read(&crate::state::files::nearest_existing(&dir));
        (listing, disk)
    })
    .await;
    let Ok((listing, disk)) = found else {
        return vec![CheckResult::new(
            "backups",
            "newest",
            Status::Unknown,
            "the backup check did not finish",
        )];
    };
    let mut results = Vec::new();
    if let (Ok(backups), Some(max_age)) = (&listing, backup.drill.as_ref().and_then(|d| d.max_age))
    {
        results.push(check_drill(backups, max_age.std()));
    }
    results.push(match listing {
        Err(e) => CheckResult::new(
            "backups",
            "newest",
            Status::Unknown,
            format!("cannot read `{shown}`: {e}"),
        ),
        // A safety backup (taken before a restore) is not the scheduled
        // backup: it must not hide that the scheduled one stopped, as the
        // copies' check does not let it either.
        Ok(backups) => match backups.iter().rev().find(|b| !b.safety) {
            None if backups.is_empty() => CheckResult::new(
                "backups",
                "newest",
                Status::Warn,
                format!("no backup yet in {shown}"),
            ),
            None => CheckResult::new(
                "backups",
                "newest",
                Status::Warn,
                format!("no backup yet in {shown}, only safety backups taken before restores"),
            ),
            Some(newest) => aged(
                "newest",
                &format!("newest backup `{}`", newest.id),
                newest.created_at,
                max_age,
            ),
        },
    });
    results.push(disk.grade("backups", "free space", disk_limits));
    results.extend(check_copies(runbook, max_age).await);
    results
}

/// The newest passed restore drill against `backup.drill.max_age`; a
/// newer drill that failed is a warn of its own.
fn check_drill(backups: &[catalog::BackupEntry], max_age: Duration) -> CheckResult {
    use crate::backup::drill::{DrillRecord, newest_passed};
    let newest = backups
        .iter()
        .filter_map(|b| DrillRecord::read(&b.path).map(|d| (b, d)))
        .max_by_key(|(_, d)| d.at);
    match (newest, newest_passed(backups)) {
        (None, _) => CheckResult::new(
            "backups",
            "drill",
            Status::Warn,
            "no backup was drilled yet: run `opsbook backup drill`",
        ),
        (Some((backup, failed)), passed) if !failed.passed => CheckResult::new(
            "backups",
            "drill",
            Status::Warn,
            format!(
                "the newest drill (of `{}`, {}) failed: {}{}",
                backup.id,
                failed.at.strftime("%Y-%m-%d %H:%M:%SZ"),
                failed.failure.as_deref().unwrap_or("a check failed"),
                passed.map_or(String::new(), |(b, d)| format!(
                    "; the last that passed was of `{}`, {}",
                    b.id,
                    d.at.strftime("%Y-%m-%d %H:%M:%SZ")
                ))
            ),
        ),
        (Some((backup, drill)), _) => aged(
            "drill",
            &format!("newest passed drill (of `{}`)", backup.id),
            drill.at,
            max_age,
        ),
    }
}

/// Per copy target, the newest complete copy against `max_age`: an
/// off-site copy that silently stopped is the failure nobody notices.
async fn check_copies(runbook: &Runbook, max_age: Duration) -> Vec<CheckResult> {
    if crate::copies::copies(runbook).is_empty() {
        return Vec::new();
    }
    let targets = match crate::copies::Target::all(runbook, None) {
        Ok(targets) => targets,
        Err(problem) => {
            return vec![CheckResult::new(
                "backups",
                "copies",
                Status::Unknown,
                problem,
            )];
        }
    };
    let mut results = Vec::new();
    for target in targets {
        let name = format!("copy {}", target.name);
        results.push(match target.list().await {
            Err(problem) => CheckResult::new(
                "backups",
                &name,
                Status::Crit,
                format!("cannot list {}: {problem}", target.location()),
            ),
            Ok(listed) => match listed.iter().rev().find(|b| !b.safety) {
                None => CheckResult::new(
                    "backups",
                    &name,
                    Status::Warn,
                    format!("no copy yet on {}", target.location()),
                ),
                Some(newest) => aged(
                    &name,
                    &format!("newest copy `{}` on {}", newest.id, target.location()),
                    newest.created_at,
                    max_age,
                ),
            },
        });
    }
    results
}

/// A backup's age graded: warn past `max_age`, crit past twice that.
fn aged(name: &str, what: &str, created_at: jiff::Timestamp, max_age: Duration) -> CheckResult {
    let age = jiff::Timestamp::now()
        .as_second()
        .saturating_sub(created_at.as_second())
        .max(0);
    let age = Duration::from_secs(age.unsigned_abs());
    let status = if age > max_age * 2 {
        Status::Crit
    } else if age > max_age {
        Status::Warn
    } else {
        Status::Ok
    };
    let limit = match status {
        Status::Ok => String::new(),
        _ => format!(", older than max_age {}", units::Duration(max_age)),
    };
    CheckResult::new(
        "backups",
        name,
        status,
        format!(
            "{what} is {} old{limit}",
            crate::ui::human::seconds(age.as_secs())
        ),
    )
    .with_value(age.as_secs() as f64, "seconds")
}

/// The history's record of this run.
fn record(report: &Report, pass: &Pass, took: Duration) -> Record {
    let (host, containers) = (&pass.host, &pass.containers);
    let figures = host
        .as_ref()
        .map_or_else(HostFigures::default, |h| HostFigures {
            memory_percent: h.memory.map(|m| m.percent()),
            swap_percent: h.swap.map(|s| s.percent()),
            load_per_core: h.load_per_core(),
            disks: h
                .disks
                .iter()
                .filter_map(|d| d.usage.map(|u| (d.path.display().to_string(), u.percent())))
                .collect(),
        });
    Record {
        at: report.started_at,
        command: report.command.clone(),
        status: report.status(),
        duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        host: figures,
        restarts: containers
            .iter()
            .map(|c| (c.name.clone(), c.restart_count))
            .collect(),
        resources: pass
            .resources
            .iter()
            .map(|r| {
                (
                    r.container.clone(),
                    ResourceFigures {
                        service: r.name.clone(),
                        cpu_percent: r.usage.cpu_percent,
                        memory_bytes: r.usage.memory_used,
                        memory_percent: r.memory_percent,
                    },
                )
            })
            .collect(),
        results: report
            .results
            .iter()
            .map(|r| RecordedResult {
                section: r.section.clone(),
                name: r.name.clone(),
                status: r.status,
                value: r.value,
            })
            .collect(),
    }
}
