//! One pass of a daily check: every part run once, concurrently, under
//! one deadline. Work that needs no Docker (the host, HTTP checks, host log
//! files and journals, the backups) starts at once; the Docker parts (the
//! containers graded, checks in containers, the docker disk use, the log scan)
//! start as soon as the container list is in, while the containers are
//! inspected and sampled. Whatever has not answered by the deadline is one
//! unknown result naming it.

use std::path::{Path, PathBuf};

use futures_util::future::join_all;
use tokio::time::timeout_at;

use crate::check::Probe;
use crate::check::containers;
use crate::check::docker_disk;
use crate::check::logs;
use crate::check::resources::{self, Resources};
use crate::docker::{Container, ContainerRef, Deployment, Stack};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::host::HostSnapshot;
use crate::runbook::Runbook;
use crate::runbook::model::{Check, DockerDiskLimits, Images};
use crate::state::Record;

use super::{Above, Looked, Options, Part, Pass, Work};

/// Runs every part once. Work that needs no Docker (host, HTTP checks,
/// backups) starts at once; the Docker parts start as soon as the container
/// list is in (logs and exec need only ids), while the containers are
/// inspected for grading. All of it shares one deadline.
pub(super) async fn one_pass<'a>(
    runbook: &'a Runbook,
    options: &Options,
    previous: Option<&Record>,
    last: Looked<'_>,
    above: Above<'a>,
) -> Pass {
    let offsets = last.offsets;
    let redactor = runbook.redactor();
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
        // CPU and network, when graded, are sampled over the same gap as
        // the containers' CPU, while the rest of the pass goes on.
        let gap = runbook
            .plan
            .thresholds
            .sampled()
            .then_some(resources::CPU_SAMPLE_GAP);
        tokio::spawn(HostSnapshot::measure(paths, gap))
    });

    let probe = Probe::new(redactor).watching(last.checksums.clone());
    let read_up_to = std::sync::Mutex::new(None);
    let mut free_of_docker: Vec<(String, Work<'_>)> = Vec::new();
    if options.wants(Part::Checks) {
        for (name, check) in &runbook.model.checks {
            if !check.needs_docker() {
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
        free_of_docker.extend((above.backups)());
    }
    let independent = join_all(
        free_of_docker
            .into_iter()
            .map(|(label, job)| bounded(deadline, seconds, label, job)),
    );

    let docker_part = docker_part(runbook, options, previous, &probe, above, deadline);
    let (docker, independent) = tokio::join!(docker_part, independent);
    let host = match host {
        Some(task) => task.await.ok(),
        None => None,
    };
    let mut results = host
        .as_ref()
        .map(|h| crate::check::host::host(h, &runbook.plan.thresholds))
        .unwrap_or_default();
    results.extend(docker.results);
    results.extend(independent.into_iter().flatten());
    if options.wants(Part::Heartbeats) {
        results.extend(crate::check::heartbeats::results(
            runbook,
            &options.state_dir,
            jiff::Timestamp::now(),
        ));
    }
    Pass {
        results,
        host,
        containers: docker.containers,
        resources: docker.resources,
        read_up_to: read_up_to.into_inner().ok().flatten(),
        checksums: probe.watched(),
        secrets: docker.secrets,
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
    above: Above<'_>,
    deadline: tokio::time::Instant,
) -> Docker {
    let seconds = options.timeout.as_secs();
    let wanted = Wanted::of(runbook, options);
    if !options.wants(Part::Containers)
        && !wanted.logs
        && wanted.docker_checks.is_empty()
        && wanted.docker_disk.is_none()
        && wanted.images.is_none()
    {
        return Docker::default();
    }
    let listing = match listed_by(runbook, above, deadline, &wanted).await {
        Ok(listing) => listing,
        Err(unknown) => {
            return Docker {
                results: unknown,
                ..Docker::default()
            };
        }
    };
    let mut results = Vec::new();
    if listing.stack.is_none()
        && listing.refs.is_empty()
        && runbook.model.services.is_empty()
        && options.wants(Part::Containers)
    {
        results.push(nothing_deployed(runbook, listing.deployment.endpoint()));
    }
    let exec_refs = exec_refs(runbook, listing.stack.as_ref(), &listing.refs);
    let work = jobs(runbook, &wanted, probe, &listing, &exec_refs);
    let (inspected, batches) = tokio::join!(
        inspected_and_sampled(runbook, options, previous, &listing, deadline),
        join_all(
            work.into_iter()
                .map(|(label, job)| bounded(deadline, seconds, label, job))
        )
    );
    let Inspected {
        graded,
        containers,
        sampled,
        secrets,
    } = inspected;
    results.extend(graded);
    let measured = resources::grade_all(runbook, &containers, sampled, seconds, &mut results);
    // Exec checks come back first (runbook order); logs go before them.
    let mut batches = batches;
    if wanted.logs
        && let Some(logs) = batches.pop()
    {
        results.extend(logs);
    }
    for batch in batches {
        results.extend(batch);
    }
    Docker {
        results,
        containers,
        resources: measured,
        secrets,
    }
}

/// What the Docker part gives: its results, the inspected containers and
/// their resources the history keeps, and their environments' secrets.
#[derive(Default)]
struct Docker {
    results: Vec<CheckResult>,
    containers: Vec<Container>,
    resources: Vec<Resources>,
    secrets: Vec<String>,
}

/// What of the Docker part this run asks for.
struct Wanted<'r> {
    docker_checks: Vec<(&'r String, &'r Check)>,
    logs: bool,
    docker_disk: Option<&'r DockerDiskLimits>,
    /// `images.check`, and the state folder its answers are kept in.
    images: Option<(&'r Images, &'r Path)>,
}

impl<'r> Wanted<'r> {
    fn of(runbook: &'r Runbook, options: &'r Options) -> Wanted<'r> {
        Wanted {
            docker_checks: runbook
                .model
                .checks
                .iter()
                .filter(|(_, check)| check.needs_docker() && options.wants(Part::Checks))
                .collect(),
            logs: options.wants(Part::Logs) && logs::wanted(runbook),
            docker_disk: runbook
                .model
                .thresholds
                .docker_disk
                .as_ref()
                .filter(|_| options.wants(Part::Host)),
            images: runbook
                .model
                .images
                .as_ref()
                .filter(|i| i.check && options.wants(Part::Images))
                .map(|i| (i, options.state_dir.as_path())),
        }
    }
}

/// The deployment and its containers, in startup order, and a stack's look.
struct Listing {
    deployment: Deployment,
    refs: Vec<ContainerRef>,
    stack: Option<Stack>,
}

/// The listing within the deadline, or the unknown results saying why not.
async fn listed_by(
    runbook: &Runbook,
    above: Above<'_>,
    deadline: tokio::time::Instant,
    wanted: &Wanted<'_>,
) -> Result<Listing, Vec<CheckResult>> {
    match timeout_at(deadline, listed(runbook, above)).await {
        Ok(Ok(listing)) => Ok(listing),
        Ok(Err(e)) => {
            let mut results = vec![engine_unknown(e.to_string())];
            for (name, _) in &wanted.docker_checks {
                results.push(CheckResult::new(
                    "checks",
                    *name,
                    Status::Unknown,
                    "Docker is unreachable",
                ));
            }
            Err(results)
        }
        Err(_) => Err(vec![engine_unknown(
            "Docker did not list the containers before the run's deadline (--timeout)",
        )]),
    }
}

/// The exec checks, the docker disk use and the log scan, each a job
/// labelled for the deadline's message; the logs last, so the execs'
/// requests go out first, ahead of 50 log streams.
fn jobs<'a>(
    runbook: &'a Runbook,
    wanted: &Wanted<'a>,
    probe: &'a Probe<'_>,
    listing: &'a Listing,
    exec_refs: &'a [ContainerRef],
) -> Vec<(String, Work<'a>)> {
    let redactor = runbook.redactor();
    let deployment = &listing.deployment;
    let mut work: Vec<(String, Work<'_>)> = Vec::new();
    for (name, check) in &wanted.docker_checks {
        let (name, check) = (*name, *check);
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
    if let Some(limits) = wanted.docker_disk {
        work.push((
            format!("host {}", docker_disk::NAME),
            Box::pin(async move {
                let used = deployment.disk_use().await.map_err(|e| e.to_string());
                vec![docker_disk::grade(limits, used)]
            }),
        ));
    }
    if let Some((images, state_dir)) = wanted.images {
        work.push((
            "images registries".into(),
            Box::pin(crate::images::check::check(
                runbook,
                deployment,
                &listing.refs,
                images,
                state_dir,
            )),
        ));
    }
    if wanted.logs {
        work.push((
            "logs all".into(),
            Box::pin(async move {
                match &listing.stack {
                    Some(stack) => {
                        logs::services(runbook, deployment, &stack.services, redactor).await
                    }
                    None => logs::containers(runbook, deployment, &listing.refs, redactor).await,
                }
            }),
        ));
    }
    work
}

/// The containers inspected and graded, then their resource use sampled
/// (the inspect has the pids) while the logs and execs run: the gap
/// between the two CPU samples costs the run little.
async fn inspected_and_sampled(
    runbook: &Runbook,
    options: &Options,
    previous: Option<&Record>,
    listing: &Listing,
    deadline: tokio::time::Instant,
) -> Inspected {
    let deployment = &listing.deployment;
    let inspected = timeout_at(deadline, deployment.inspect(&listing.refs)).await;
    // Their secret-named variables' values, which a log line or an exec's
    // output may print: masked in the report whatever parts were asked.
    let secrets = match &inspected {
        Ok(Ok(containers)) => containers.iter().flat_map(|c| c.secrets.clone()).collect(),
        _ => Vec::new(),
    };
    if !options.wants(Part::Containers) {
        return Inspected {
            graded: Vec::new(),
            containers: Vec::new(),
            sampled: Some(Vec::new()),
            secrets,
        };
    }
    let (graded, containers) = match inspected {
        Ok(Ok(containers)) => {
            tracing::debug!("inspected");
            graded(runbook, listing.stack.as_ref(), containers, previous)
        }
        Ok(Err(e)) => (vec![engine_unknown(e.to_string())], Vec::new()),
        Err(_) => (
            vec![engine_unknown(
                "containers were not inspected before the run's deadline (--timeout)",
            )],
            Vec::new(),
        ),
    };
    let sampled = timeout_at(deadline, resources::sample(deployment, &containers))
        .await
        .ok();
    Inspected {
        graded,
        containers,
        sampled,
        secrets,
    }
}

/// The containers inspected: graded, kept for the history, sampled, and
/// the secrets of their environments.
struct Inspected {
    graded: Vec<CheckResult>,
    containers: Vec<Container>,
    sampled: Option<Vec<(String, Option<crate::docker::Usage>)>>,
    secrets: Vec<String>,
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
        return (
            containers::grade_all(runbook, &containers, previous),
            containers,
        );
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
async fn listed(runbook: &Runbook, above: Above<'_>) -> Result<Listing, Error> {
    let deployment = (above.connect)().await?;
    tracing::debug!("connected to Docker");
    let stack = if deployment.is_stack() {
        Some(Stack::read(&deployment).await?)
    } else {
        None
    };
    let mut refs = deployment.list().await?;
    tracing::debug!(containers = refs.len(), "listed");
    refs.sort_by_key(|c| runbook.plan.startup_position(&c.service));
    Ok(Listing {
        deployment,
        refs,
        stack,
    })
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
