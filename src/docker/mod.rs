//! The only code that talks to Docker (bollard). Everything else sees a
//! `Deployment` (the containers of one compose project, or of every project)
//! and opsbook's own `Container` type, built here at the boundary.
//!
//! Connections negotiate the API version: field engines range from Debian's
//! 20.10 (API 1.41) upwards, and opsbook never assumes a newer API.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{
    KillContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use futures_util::future::join_all;
use serde::Serialize;

use crate::error::Error;

mod cgroup;
mod disk;
mod engine;
mod host_look;
mod recreate;
mod scratch;
mod secret;
mod ssh;
mod stats;
mod swarm;
mod volume;
pub use disk::{DiskUse, KindUse};
pub use engine::Engine;
pub use host_look::HostLook;
pub use recreate::{ImageRef, Snapshot, short_id};
pub use scratch::{DRILL_LABEL, Remap, Removed, ScratchDrill};
pub use secret::SwarmSecret;
pub use stats::Usage;
pub use swarm::{
    Awaited, REPLICAS_LABEL, Stack, StackService, Standing, SwarmMode, SwarmRole, Task, TaskState,
    containers_with_tasks, nodes_of, running, standing, standing_for, with_remote_tasks,
};
pub use volume::{RESTORE_ROOT, VolumeReader, VolumeUser};

pub const PROJECT_LABEL: &str = "com.docker.compose.project";
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
pub const VOLUME_LABEL: &str = "com.docker.compose.volume";
/// The stack a Swarm service (and its tasks' containers) belongs to.
pub const STACK_LABEL: &str = "com.docker.stack.namespace";
/// A Swarm task's container: its service's full name (`STACK_SERVICE`).
const SWARM_SERVICE_LABEL: &str = "com.docker.swarm.service.name";
/// A Swarm task's container: its task's name (`STACK_SERVICE.SLOT.ID`).
const SWARM_TASK_LABEL: &str = "com.docker.swarm.task.name";

/// Which labels tell a container's project and service: compose's, or a
/// Swarm stack's (the service named without its `STACK_` prefix, as the
/// runbook names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Labels {
    Compose,
    Stack,
}

impl Labels {
    fn project(self) -> &'static str {
        match self {
            Labels::Compose => PROJECT_LABEL,
            Labels::Stack => STACK_LABEL,
        }
    }

    /// A Swarm task's name without its stack and its id (`web.1`).
    fn task(self, labels: &HashMap<String, String>, project: &str) -> Option<String> {
        if self != Labels::Stack {
            return None;
        }
        let full = labels.get(SWARM_TASK_LABEL)?;
        let short = full.strip_prefix(&format!("{project}_")).unwrap_or(full);
        Some(
            short
                .rsplit_once('.')
                .map_or(short, |(task, _)| task)
                .to_string(),
        )
    }

    /// The project and the service of a container with these `labels`.
    fn read(self, labels: &HashMap<String, String>) -> (String, String) {
        let project = labels.get(self.project()).cloned().unwrap_or_default();
        let service = match self {
            Labels::Compose => labels.get(SERVICE_LABEL).cloned().unwrap_or_default(),
            Labels::Stack => {
                let full = labels.get(SWARM_SERVICE_LABEL).map_or("", String::as_str);
                full.strip_prefix(&format!("{project}_"))
                    .unwrap_or(full)
                    .to_string()
            }
        };
        (project, service)
    }
}

/// How long a command waits for the engine to answer at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Over ssh: the first answer also waits for `docker system dial-stdio`
/// to start on the host, after the login (which has `CONNECT_TIMEOUT`).
const SSH_ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// The containers of one compose project (or of every project, when the
/// runbook names none) on one Docker engine.
pub struct Deployment {
    docker: Docker,
    endpoint: String,
    project: Option<String>,
    labels: Labels,
    /// The engines of the swarm's other nodes, by host name (a stack's).
    nodes: Arc<swarm::Nodes>,
    /// The ssh login an `ssh://` engine is reached through (shared by this
    /// process's deployments of that host), closed with the last of them.
    _login: Option<Arc<ssh::SshEngine>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
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
pub enum Health {
    /// The container has no healthcheck.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// A container as the list shows it.
#[derive(Debug, Clone)]
pub struct ContainerRef {
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
    pub fn is_up(self) -> bool {
        matches!(self, State::Running | State::Restarting | State::Paused)
    }
}

/// The first running container of `service`: where an exec check, an exec
/// step and a dump run.
pub fn running_of<'a>(containers: &'a [ContainerRef], service: &str) -> Option<&'a ContainerRef> {
    containers
        .iter()
        .find(|c| c.service == service && c.state == State::Running)
}

/// Those of `services` that have a running container: what a stop takes down
/// and what must come up again after it.
pub fn running_services(containers: &[ContainerRef], services: &[String]) -> Vec<String> {
    services
        .iter()
        .filter(|s| running_of(containers, s).is_some())
        .cloned()
        .collect()
}

/// One container as opsbook sees it, inspected.
#[derive(Debug, Clone, Serialize)]
pub struct Container {
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

/// Whether the engine this process's variables name runs on another machine.
pub fn engine_is_remote() -> bool {
    Engine::from_env().is_remote()
}

impl Deployment {
    /// Connects to the engine `$DOCKER_HOST` names (else the local socket),
    /// as the docker CLI would (`Engine::from_env`).
    pub async fn connect(project: Option<String>) -> Result<Deployment, Error> {
        Deployment::connect_to(&Engine::from_env(), project).await
    }

    /// Connects to `engine`, negotiating the API version, within 5
    /// seconds. A failure names the endpoint it tried. `tcp://` with TLS
    /// verifies the engine against the CA; `ssh://` logs in with the
    /// system's ssh (`ssh`).
    pub async fn connect_to(engine: &Engine, project: Option<String>) -> Result<Deployment, Error> {
        let endpoint = engine.host.clone();
        let unreachable = |reason: String| Error::DockerUnreachable {
            endpoint: endpoint.clone(),
            reason,
        };
        let (docker, login) = if endpoint.starts_with("ssh://") {
            let engine = ssh::login(&endpoint, engine.ssh_config.as_deref(), CONNECT_TIMEOUT)
                .await
                .map_err(unreachable)?;
            (engine.docker.clone(), Some(engine))
        } else if let (Some(certs), true) = (&engine.tls, endpoint.starts_with("tcp://")) {
            let docker = Docker::connect_with_ssl(
                &endpoint,
                &certs.join("key.pem"),
                &certs.join("cert.pem"),
                &certs.join("ca.pem"),
                120,
                bollard::API_DEFAULT_VERSION,
            )
            .map_err(|e| unreachable(crate::error::one_line(&e)))?;
            (docker, None)
        } else {
            let docker = Docker::connect_with_host(&endpoint)
                .map_err(|e| unreachable(crate::error::one_line(&e)))?;
            (docker, None)
        };
        let answer_within = if login.is_some() {
            SSH_ANSWER_TIMEOUT
        } else {
            CONNECT_TIMEOUT
        };
        let docker = match tokio::time::timeout(answer_within, docker.negotiate_version()).await {
            Ok(Ok(docker)) => docker,
            Ok(Err(e)) => {
                let mut reason = crate::error::one_line(&e);
                if let Some(why) = match &login {
                    Some(login) => login.why_not().await,
                    None => None,
                } {
                    reason = format!("{reason}; {why}");
                }
                return Err(unreachable(reason));
            }
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {}s",
                    answer_within.as_secs()
                )));
            }
        };
        Ok(Deployment {
            docker,
            endpoint,
            project,
            labels: Labels::Compose,
            nodes: Arc::default(),
            _login: login,
        })
    }

    /// The same engine, its containers seen as the tasks of the Swarm
    /// stack named as the project: `list`, `inspect`, logs and exec then
    /// work on the stack's containers on this node.
    pub fn into_stack(self) -> Deployment {
        Deployment {
            labels: Labels::Stack,
            ..self
        }
    }

    /// `into_stack`, with the engines of the swarm's other nodes by host
    /// name: what a task elsewhere is exec'd in and its volumes read through.
    pub fn into_stack_with(self, nodes: HashMap<String, Engine>) -> Deployment {
        Deployment {
            labels: Labels::Stack,
            nodes: Arc::new(swarm::Nodes::new(nodes)),
            ..self
        }
    }

    /// Whether this deployment is a Swarm stack's (`into_stack`).
    pub fn is_stack(&self) -> bool {
        self.labels == Labels::Stack
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The project (or stack) this deployment is of.
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// Every container of the project, running or not, as the list shows it
    /// (one request): enough to read logs or exec, not restarts or health output.
    pub async fn list(&self) -> Result<Vec<ContainerRef>, Error> {
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
    pub async fn inspect(&self, refs: &[ContainerRef]) -> Result<Vec<Container>, Error> {
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
    pub async fn containers(&self) -> Result<Vec<Container>, Error> {
        let refs = self.list().await?;
        self.inspect(&refs).await
    }

    /// One container, inspected now (for polling its state while it starts).
    pub async fn inspect_one(&self, id: &str) -> Result<Container, Error> {
        self.docker
            .inspect_container(id, None)
            .await
            .map(|inspect| container_from(inspect, self.labels))
            .map_err(|e| self.failed("inspecting a container", e))
    }

    /// Whether `image` is on the engine's host (no registry is asked).
    pub async fn image_exists(&self, image: &str) -> Result<bool, Error> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(self.failed("inspecting an image", e)),
        }
    }

    /// Starts a stopped container. Starting a running one is not an error.
    pub async fn start(&self, id: &str) -> Result<(), Error> {
        match self.docker.start_container(id, None).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(self.failed("starting a container", e)),
        }
    }

    /// Stops a container: SIGTERM (or its stop signal), then SIGKILL after
    /// `grace`. Stopping a stopped one is not an error.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<(), Error> {
        let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::new().t(seconds).build();
        match self.docker.stop_container(id, Some(options)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(self.failed("stopping a container", e)),
        }
    }

    /// Freezes a running container's processes (`docker pause`); pausing a
    /// paused one is not an error.
    pub async fn pause(&self, id: &str) -> Result<(), Error> {
        match self.docker.pause_container(id).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("already paused") =>
            {
                Ok(())
            }
            Err(e) => Err(self.failed("pausing a container", e)),
        }
    }

    /// Lets a paused container run again (`docker unpause`); one not
    /// paused is not an error.
    pub async fn unpause(&self, id: &str) -> Result<(), Error> {
        match self.docker.unpause_container(id).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("not paused") =>
            {
                Ok(())
            }
            Err(e) => Err(self.failed("unpausing a container", e)),
        }
    }

    /// Kills a container at once (SIGKILL). Killing a stopped one is not an error.
    pub async fn kill(&self, id: &str) -> Result<(), Error> {
        let options = KillContainerOptionsBuilder::new().signal("KILL").build();
        match self.docker.kill_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // 409: not running.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(self.failed("killing a container", e)),
        }
    }

    /// Runs `argv` in a container, streaming its stdout into `sink` and
    /// keeping its stderr (capped); returns the exit code and stderr.
    pub async fn exec_streaming(
        &self,
        id: &str,
        argv: &[String],
        sink: &tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> Result<(Option<i64>, Vec<u8>), Error> {
        self.run_exec(id, argv, None, |chunk| async move {
            sink.send(chunk).await.is_ok()
        })
        .await
    }

    /// Runs `argv` in a container with `stdin` streamed into it (closed at
    /// the end), keeping stdout and stderr (capped); returns the exit code
    /// and stderr.
    pub async fn exec_with_stdin(
        &self,
        id: &str,
        argv: &[String],
        stdin: tokio::sync::mpsc::Receiver<Vec<u8>>,
    ) -> Result<(Option<i64>, Vec<u8>), Error> {
        let mut stdout = Vec::new();
        let (code, mut stderr) = self
            .run_exec(id, argv, Some(stdin), |chunk| {
                append_capped(&mut stdout, &chunk);
                async { true }
            })
            .await?;
        // What a failing restore command printed is on either stream.
        append_capped(&mut stderr, &stdout);
        Ok((code, stderr))
    }

    /// Runs `argv` in a container and waits for it to end, keeping at most
    /// `EXEC_OUTPUT_CAP` bytes of each stream (the rest is read and dropped,
    /// so a chatty command cannot fill memory). The caller bounds the time.
    pub async fn exec(&self, container_id: &str, argv: &[String]) -> Result<ExecOutput, Error> {
        let mut stdout = Vec::new();
        let (exit_code, stderr) = self
            .run_exec(container_id, argv, None, |chunk| {
                append_capped(&mut stdout, &chunk);
                async { true }
            })
            .await?;
        Ok(ExecOutput {
            exit_code,
            stdout,
            stderr,
        })
    }

    /// Creates, starts and reads one exec: `stdin` (if any) is fed to it,
    /// stdout chunks go to `on_stdout` (which answers whether to keep
    /// reading), stderr is kept up to the cap.
    async fn run_exec<F, Next>(
        &self,
        id: &str,
        argv: &[String],
        stdin: Option<tokio::sync::mpsc::Receiver<Vec<u8>>>,
        mut on_stdout: F,
    ) -> Result<(Option<i64>, Vec<u8>), Error>
    where
        F: FnMut(Vec<u8>) -> Next,
        Next: std::future::Future<Output = bool>,
    {
        let options = CreateExecOptions {
            attach_stdin: Some(stdin.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(argv.to_vec()),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(id, options)
            .await
            .map_err(|e| self.failed("creating an exec", e))?;
        let mut stderr = Vec::new();
        if let StartExecResults::Attached {
            mut output,
            mut input,
        } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| self.failed("starting an exec", e))?
        {
            // Fed concurrently with the reading, so neither side can block
            // the other; the end of the chunks closes the command's stdin.
            let feeding = stdin.map(|mut chunks| {
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    while let Some(chunk) = chunks.recv().await {
                        input.write_all(&chunk).await?;
                    }
                    input.shutdown().await
                })
            });
            while let Some(chunk) = output.next().await {
                match chunk.map_err(|e| self.failed("reading an exec's output", e))? {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        if !on_stdout(message.to_vec()).await {
                            break;
                        }
                    }
                    LogOutput::StdErr { message } => append_capped(&mut stderr, &message),
                    LogOutput::StdIn { .. } => {}
                }
            }
            if let Some(feeding) = feeding {
                match feeding.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => append_capped(&mut stderr, format!("\n(stdin: {e})").as_bytes()),
                    Err(e) => append_capped(&mut stderr, format!("\n(stdin: {e})").as_bytes()),
                }
            }
        }
        let inspect = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| self.failed("inspecting an exec", e))?;
        Ok((inspect.exit_code, stderr))
    }

    /// A container's whole inspect, as Docker's JSON (for evidence: the
    /// caller masks what must not leave the process).
    pub async fn inspect_raw(&self, id: &str) -> Result<serde_json::Value, Error> {
        let inspect = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| self.failed("inspecting a container", e))?;
        serde_json::to_value(inspect).map_err(|e| Error::Usage(format!("inspect of {id}: {e}")))
    }

    /// The last `lines` lines of a container's log (stdout and stderr, in
    /// order), at most `cap` bytes of them.
    pub async fn tail_logs(&self, id: &str, lines: u32, cap: usize) -> Result<Vec<u8>, Error> {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = self.docker.logs(id, Some(options));
        let mut kept = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failed("reading logs", e))?;
            let bytes = chunk.into_bytes();
            let room = cap.saturating_sub(kept.len());
            kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        Ok(kept)
    }

    /// Streams a container's log (stdout and stderr) written since `since`,
    /// handing each chunk to `on_chunk` as it arrives: never the whole log.
    pub async fn scan_logs(
        &self,
        container_id: &str,
        since: jiff::Timestamp,
        on_chunk: impl FnMut(&[u8]),
    ) -> Result<(), Error> {
        let stream = self.docker.logs(container_id, Some(logs_since(since)));
        self.drain_logs(stream, "reading logs", on_chunk).await
    }

    /// Hands each chunk of a log stream to `on_chunk` as it arrives.
    async fn drain_logs(
        &self,
        stream: impl futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>>,
        action: &str,
        mut on_chunk: impl FnMut(&[u8]),
    ) -> Result<(), Error> {
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failed(action, e))?;
            on_chunk(chunk.as_ref());
        }
        Ok(())
    }

    fn failed(&self, action: &str, source: bollard::errors::Error) -> Error {
        Error::Docker {
            endpoint: self.endpoint.clone(),
            action: action.to_string(),
            source,
        }
    }
}

/// Both streams of a log, from `since` on.
fn logs_since(since: jiff::Timestamp) -> bollard::query_parameters::LogsOptions {
    LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .since(i32::try_from(since.as_second()).unwrap_or(0))
        .build()
}

/// How much of each stream of an exec is kept.
pub const EXEC_OUTPUT_CAP: usize = 64 * 1024;

/// What a command run in a container printed and how it ended.
#[derive(Debug, Default, Clone)]
pub struct ExecOutput {
    pub exit_code: Option<i64>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

pub(super) fn append_capped(buffer: &mut Vec<u8>, bytes: &[u8]) {
    let room = EXEC_OUTPUT_CAP.saturating_sub(buffer.len());
    buffer.extend_from_slice(&bytes[..bytes.len().min(room)]);
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
    Container {
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
fn timestamp(text: Option<&str>) -> Option<jiff::Timestamp> {
    let at: jiff::Timestamp = text?.parse().ok()?;
    (at.as_second() > 0).then_some(at)
}
