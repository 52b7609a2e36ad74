//! Containers as opsbook sees them: their state and health, listed (one
//! request) and inspected (restart counts, health output, limits), built
//! here from Docker's own answers.

use std::collections::HashMap;

use bollard::query_parameters::ListContainersOptionsBuilder;
use futures_util::future::join_all;
use serde::Serialize;

use super::Deployment;
use super::labels::Labels;
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Health {
    /// The container has no healthcheck.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// A container as the list shows it.
#[derive(Debug, Clone)]
pub(crate) struct ContainerRef {
    pub id: String,
    pub name: String,
    pub project: String,
    pub service: String,
    pub state: State,
    /// The swarm node it runs on, when that is not this engine's (a task's
    /// container elsewhere in the swarm: reached through `on_node`).
    pub node: Option<String>,
}

impl State {
    /// Whether the container's processes run (or are held): what a stop stops.
    pub(crate) fn is_up(self) -> bool {
        matches!(self, State::Running | State::Restarting | State::Paused)
    }
}

/// The first running container of `service`: where an exec check, an exec
/// step and a dump run.
pub(crate) fn running_of<'a>(
    containers: &'a [ContainerRef],
    service: &str,
) -> Option<&'a ContainerRef> {
    containers
        .iter()
        .find(|c| c.service == service && c.state == State::Running)
}

/// Those of `services` that have a running container: what a stop takes down
/// and what must come up again after it.
pub(crate) fn running_services(containers: &[ContainerRef], services: &[String]) -> Vec<String> {
    services
        .iter()
        .filter(|s| running_of(containers, s).is_some())
        .cloned()
        .collect()
}

/// One container as opsbook sees it, inspected.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Container {
    /// The values of its secret-named environment variables
    /// (`DB_PASSWORD=…`), for the redactor: never shown themselves.
    #[serde(skip)]
    pub secrets: Vec<String>,
    pub id: String,
    pub name: String,
    pub project: String,
    pub service: String,
    pub state: State,
    pub health: Health,
    /// The output of the most recent healthcheck, trimmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_output: Option<String>,
    /// Health probes failed in a row (Docker's `FailingStreak`).
    #[serde(skip)]
    pub failing_streak: u64,
    pub restart_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<jiff::Timestamp>,
    /// Its memory limit in bytes, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<u64>,
    /// Its CPU limit in cores (`--cpus`, or quota over period), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<f64>,
    /// Its init process on the engine's host, while it runs.
    #[serde(skip)]
    pub pid: Option<u32>,
    /// A Swarm task's container: the task, as `web.1` (service and slot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

impl Deployment {
    /// Every container of the project, running or not, as the list shows it
    /// (one request): enough to read logs or exec, not restarts or health output.
    pub(crate) async fn list(&self) -> Result<Vec<ContainerRef>, Error> {
        let key = self.labels.project();
        let label = match &self.project {
            Some(project) => format!("{key}={project}"),
            None => key.to_string(),
        };
        let filters = HashMap::from([("label".to_string(), vec![label])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.failed("listing containers", e))?;
        let mut refs: Vec<ContainerRef> = summaries
            .into_iter()
            .filter_map(|s| ref_from(s, self.labels))
            .collect();
        refs.sort_by(|a, b| {
            (&a.project, &a.service, &a.name).cmp(&(&b.project, &b.service, &b.name))
        });
        Ok(refs)
    }

    /// The listed containers in full, inspected concurrently (restart counts
    /// and healthcheck output are only in the inspect), in the same order.
    pub(crate) async fn inspect(&self, refs: &[ContainerRef]) -> Result<Vec<Container>, Error> {
        let inspects = join_all(
            refs.iter()
                .map(|r| self.docker.inspect_container(&r.id, None)),
        )
        .await;
        let mut containers = Vec::with_capacity(refs.len());
        for inspect in inspects {
            match inspect {
                Ok(inspect) => containers.push(container_from(inspect, self.labels)),
                // Removed between the list and the inspect: it is not there any more.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(self.failed("inspecting a container", e)),
            }
        }
        Ok(containers)
    }

    /// `list` then `inspect`.
    pub(crate) async fn containers(&self) -> Result<Vec<Container>, Error> {
        let refs = self.list().await?;
        self.inspect(&refs).await
    }

    /// One container, inspected now (for polling its state while it starts).
    pub(crate) async fn inspect_one(&self, id: &str) -> Result<Container, Error> {
        self.docker
            .inspect_container(id, None)
            .await
            .map(|inspect| container_from(inspect, self.labels))
            .map_err(|e| self.failed("inspecting a container", e))
    }

    /// A container's whole inspect, as Docker's JSON (for evidence: the
    /// caller masks what must not leave the process).
    pub(crate) async fn inspect_raw(&self, id: &str) -> Result<serde_json::Value, Error> {
        let inspect = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| self.failed("inspecting a container", e))?;
        serde_json::to_value(inspect).map_err(|e| Error::Usage(format!("inspect of {id}: {e}")))
    }
}

fn ref_from(summary: bollard::models::ContainerSummary, scheme: Labels) -> Option<ContainerRef> {
    let labels = summary.labels.unwrap_or_default();
    let (project, service) = scheme.read(&labels);
    let state = summary
        .state
        .map_or(State::Unknown, |s| state_named(s.as_ref()));
    Some(ContainerRef {
        id: summary.id?,
        name: summary
            .names
            .and_then(|names| names.into_iter().next())
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        project,
        service,
        state,
        node: None,
    })
}

/// The values of the secret-named variables of a container's environment
/// (`NAME=value` entries).
fn secret_values(env: &[String]) -> Vec<String> {
    env.iter()
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, value)| !value.is_empty() && crate::redact::looks_secret(name))
        .map(|(_, value)| value.to_string())
        .collect()
}

fn container_from(inspect: bollard::models::ContainerInspectResponse, scheme: Labels) -> Container {
    let labels = inspect
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    let (project, service) = scheme.read(&labels);
    let task = scheme.task(&labels, &project);
    let image = inspect
        .config
        .as_ref()
        .and_then(|c| c.image.clone())
        .or(inspect.image.clone())
        .unwrap_or_default();
    let host = inspect.host_config.as_ref();
    let memory_limit = host
        .and_then(|h| h.memory)
        .and_then(|m| u64::try_from(m).ok())
        .filter(|m| *m > 0);
    let cpu_limit = host.and_then(cpu_limit);
    let state = inspect.state.unwrap_or_default();
    let health = state.health.as_ref();
    let health_output = health
        .and_then(|h| h.log.as_ref())
        .and_then(|log| log.last())
        .and_then(|last| last.output.as_deref())
        .map(|output| output.trim().to_string())
        .filter(|output| !output.is_empty());
    let secrets = inspect
        .config
        .as_ref()
        .and_then(|c| c.env.as_ref())
        .map(|env| secret_values(env))
        .unwrap_or_default();
    Container {
        secrets,
        id: inspect.id.unwrap_or_default(),
        name: inspect
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        project,
        service,
        state: state
            .status
            .map_or(State::Unknown, |s| state_named(s.as_ref())),
        health: health_from(health.and_then(|h| h.status)),
        health_output,
        failing_streak: health
            .and_then(|h| h.failing_streak)
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        restart_count: inspect
            .restart_count
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        exit_code: state.exit_code,
        image,
        started_at: timestamp(state.started_at.as_deref()),
        finished_at: timestamp(state.finished_at.as_deref()),
        memory_limit,
        cpu_limit,
        pid: state
            .pid
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0),
        task,
    }
}

/// `--cpus` (nano CPUs), else `--cpu-quota` over `--cpu-period` (100 ms by default).
fn cpu_limit(host: &bollard::models::HostConfig) -> Option<f64> {
    if let Some(nano) = host.nano_cpus.filter(|n| *n > 0) {
        return Some(nano as f64 / 1e9);
    }
    let quota = host.cpu_quota.filter(|q| *q > 0)?;
    let period = host.cpu_period.filter(|p| *p > 0).unwrap_or(100_000);
    Some(quota as f64 / period as f64)
}

/// Both of Docker's state enums (list and inspect) print the same words.
fn state_named(word: &str) -> State {
    match word {
        "created" => State::Created,
        "running" => State::Running,
        "paused" => State::Paused,
        "restarting" => State::Restarting,
        "removing" => State::Removing,
        "exited" => State::Exited,
        "dead" => State::Dead,
        _ => State::Unknown,
    }
}

fn health_from(status: Option<bollard::models::HealthStatusEnum>) -> Health {
    use bollard::models::HealthStatusEnum as H;
    match status {
        Some(H::STARTING) => Health::Starting,
        Some(H::HEALTHY) => Health::Healthy,
        Some(H::UNHEALTHY) => Health::Unhealthy,
        _ => Health::None,
    }
}

/// Docker writes `0001-01-01T00:00:00Z` for "never".
pub(super) fn timestamp(text: Option<&str>) -> Option<jiff::Timestamp> {
    let at: jiff::Timestamp = text?.parse().ok()?;
    (at.as_second() > 0).then_some(at)
}
