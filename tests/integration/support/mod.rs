//! Test fixtures: a temporary workspace to write runbooks into and run the
//! real `opsbook` binary from, and a `Project` of compose-labelled containers
//! on the real Docker engine, created through bollard exactly as compose
//! would label them and always removed when the test ends. `exact` is the
//! harness of the whole-output tests; `hanging` has peers that never
//! answer (an engine, a webhook); `s3` an object store that misbehaves on
//! purpose.

pub mod exact;
pub mod hanging;
pub mod rclone;
pub mod registry;
pub mod s3;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::exec::CreateExecOptions;
use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};

/// Built by `scripts/test.sh` from `tests/fixture/Dockerfile`.
pub const FIXTURE_IMAGE: &str = "opsbook-fixture:1";

/// Built by `scripts/test.sh` (scripts/debian-image.sh real) from Debian's packages:
/// PostgreSQL, Redis, nginx, SQLite, Mosquitto, Prometheus, Alertmanager,
/// Node.js and Python with their clients (tests/images/real/).
pub const REAL_IMAGE: &str = "opsbook-real:test";

/// A long-running command that stops at once on SIGTERM (a plain `sleep` as
/// PID 1 ignores it and makes every stop wait out its grace period).
pub const IDLE: &[&str] = &["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"];

/// Thresholds no machine crosses, so only what a test sets up decides the status.
pub const CALM_HOST: &str = "thresholds:\n  memory: { warn: 100%, crit: 100% }\n  swap: { warn: 100%, crit: 100% }\n  load: { warn: 1000, crit: 1000 }\n  disk: { warn: 100%, crit: 100%, paths: [\"/\"] }\n";

/// A temporary folder to write runbooks into and run opsbook from.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("temporary folder"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        std::fs::write(&path, content).expect("write file");
        path
    }

    /// Runs the real binary in this folder, without colour or an inherited
    /// `$OPSBOOK_RUNBOOK`.
    pub fn opsbook(&self, args: &[&str]) -> Run {
        self.opsbook_with(args, &[])
    }

    pub fn opsbook_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = assert_cmd::Command::cargo_bin("opsbook").expect("opsbook binary");
        command
            .current_dir(self.path())
            .env_remove("OPSBOOK_RUNBOOK")
            .env("NO_COLOR", "1")
            .args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        let started = Instant::now();
        let output = command.output().expect("run opsbook");
        Run::from(output, started.elapsed())
    }
}

impl Workspace {
    /// Starts the binary in the background (same environment as `opsbook`).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.spawn_with(args, &[])
    }

    pub fn spawn_with(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("opsbook"))
            .current_dir(self.path())
            .env_remove("OPSBOOK_RUNBOOK")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start opsbook")
    }

    /// Starts the binary in the background under `ulimit -n open_files`
    /// (through `sh`, which `exec`s it: the child's pid is the binary's).
    pub fn spawn_with_open_files(&self, open_files: u32, args: &[&str]) -> std::process::Child {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {open_files} && exec \"$0\" \"$@\""))
            .arg(assert_cmd::cargo::cargo_bin("opsbook"))
            .args(args)
            .current_dir(self.path())
            .env_remove("OPSBOOK_RUNBOOK")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start opsbook under sh")
    }
}

/// Encrypts the workspace's backups: a new age identity in `key.txt` (its
/// public key appended to the runbook's `backup:` as the recipient, which
/// must be the last section) and an unrelated one in `other.txt`.
pub fn encrypt_backups(ws: &Workspace) -> age::x25519::Identity {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let other = age::x25519::Identity::generate();
    ws.write(
        "key.txt",
        format!("{}\n", identity.to_string().expose_secret()),
    );
    ws.write(
        "other.txt",
        format!("{}\n", other.to_string().expose_secret()),
    );
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).expect("runbook");
    ws.write(
        "opsbook.yaml",
        format!(
            "{text}  encrypt:\n    recipients: [{}]\n",
            identity.to_public()
        ),
    );
    identity
}

/// Sends SIGTERM to a binary started with `spawn` and waits for it to end.
/// Waits for a background run to end by itself.
pub fn finish(child: std::process::Child) -> Run {
    let started = Instant::now();
    let output = child.wait_with_output().expect("wait for opsbook");
    Run::from(output, started.elapsed())
}

/// Waits for a background run to end by itself within `within`; one that
/// does not is killed (SIGKILL) and the test fails, showing what it said.
/// Its streams are read as it goes, so a full pipe cannot stall it.
pub fn finish_within(mut child: std::process::Child, within: Duration) -> Run {
    use std::io::Read;
    let started = Instant::now();
    let drain = |stream: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut stream) = stream {
                let _ = stream.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for opsbook") {
            break Some(status);
        }
        if started.elapsed() >= within {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let run = Run {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
        took: started.elapsed(),
    };
    assert!(
        status.is_some(),
        "opsbook did not end within {within:?}: killed\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout,
        run.stderr
    );
    run
}

pub fn terminate(child: std::process::Child) -> Run {
    let started = Instant::now();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM {}", child.id());
    let output = child.wait_with_output().expect("wait for opsbook");
    Run::from(output, started.elapsed())
}

/// A binary started in the background that is killed, not left behind,
/// if the test ends first (a failed assertion).
pub struct Spawned {
    child: Option<std::process::Child>,
}

impl Spawned {
    pub fn new(child: std::process::Child) -> Spawned {
        Spawned { child: Some(child) }
    }

    /// The binary's process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// Sends SIGTERM and waits at most `within` for the binary to end; one
    /// still running then is killed, and its run has code -1.
    pub fn terminate_within(self, within: Duration) -> Run {
        self.signal_within("TERM", within)
    }

    /// The same with SIGINT (Ctrl-C).
    pub fn interrupt_within(self, within: Duration) -> Run {
        self.signal_within("INT", within)
    }

    fn signal_within(mut self, signal: &str, within: Duration) -> Run {
        let mut child = self.child.take().expect("a running binary");
        let started = Instant::now();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {}", child.id());
        let mut ended = false;
        while started.elapsed() < within {
            if child.try_wait().is_ok_and(|status| status.is_some()) {
                ended = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !ended {
            let _ = child.kill();
        }
        let took = started.elapsed();
        let output = child.wait_with_output().expect("wait for opsbook");
        let mut run = Run::from(output, took);
        if !ended {
            run.code = -1;
        }
        run
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Run {
    fn from(output: Output, took: Duration) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            took,
        }
    }

    /// An HTTP answer seen as a run, for `exact::assert_run`: the status
    /// code as the exit code, the body as stdout, nothing on stderr.
    pub fn http(code: u16, body: &str) -> Run {
        Run {
            code: i32::from(code),
            stdout: body.to_string(),
            stderr: String::new(),
            took: Duration::ZERO,
        }
    }

    /// Asserts the exit code, showing both streams when it is wrong.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// The JSON result with this section and name.
pub fn result<'a>(
    report: &'a serde_json::Value,
    section: &str,
    name: &str,
) -> &'a serde_json::Value {
    report["results"]
        .as_array()
        .and_then(|results| {
            results
                .iter()
                .find(|r| r["section"] == section && r["name"] == name)
        })
        .unwrap_or_else(|| panic!("no result {section}/{name} in {report:#}"))
}

/// A connection to the real engine, with a runtime to drive it from sync tests.
pub struct Engine {
    pub runtime: tokio::runtime::Runtime,
    pub docker: Docker,
}

impl Engine {
    pub fn connect() -> Engine {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let docker = runtime.block_on(async {
            let docker = Docker::connect_with_defaults().map_err(|e| e.to_string())?;
            docker.negotiate_version().await.map_err(|e| e.to_string())
        });
        let docker = docker.unwrap_or_else(|e| {
            panic!(
                "no Docker engine answered ({e}). These tests need a real one: run \
                 `scripts/test.sh` (as root it installs docker.io and starts dockerd), \
                 or start dockerd and set DOCKER_HOST"
            )
        });
        let image = runtime.block_on(docker.inspect_image(FIXTURE_IMAGE));
        if image.is_err() {
            panic!(
                "the fixture image `{FIXTURE_IMAGE}` is missing: run `scripts/test.sh`, which builds it"
            );
        }
        Engine { runtime, docker }
    }
}

/// A project label no container carries: commands that ask Docker find
/// nothing of it.
pub fn empty_project() -> String {
    format!("opsbook-test-exact-empty-{:07}", std::process::id())
}

static PROJECTS: AtomicUsize = AtomicUsize::new(0);

/// The containers of one compose project made for one test. Dropping it
/// removes every container and volume carrying its project label.
pub struct Project {
    pub name: String,
    pub engine: Engine,
}

impl Project {
    pub fn new(tag: &str) -> Project {
        let n = PROJECTS.fetch_add(1, Ordering::SeqCst);
        Project::named(format!("opsbook-test-{tag}-{}-{n}", std::process::id()))
    }

    /// Like `new`, with a name of the same length on every run (the pid
    /// padded to 7 digits, the count to 3): tables that show container names
    /// keep their column widths, so exact-output tests can compare them whole.
    pub fn fixed_width(tag: &str) -> Project {
        let n = PROJECTS.fetch_add(1, Ordering::SeqCst);
        Project::named(format!(
            "opsbook-test-{tag}-{:07}-{n:03}",
            std::process::id()
        ))
    }

    fn named(name: String) -> Project {
        let project = Project {
            name,
            engine: Engine::connect(),
        };
        project.remove_all();
        project
    }

    pub fn service(&self, service: &str) -> ServiceSpec<'_> {
        ServiceSpec {
            project: self,
            service: service.to_string(),
            script: None,
            healthcheck: None,
            ports: Vec::new(),
            mounts: Vec::new(),
            env: Vec::new(),
            restart_on_failure: false,
            memory_limit: None,
            cpus: None,
            runs: None,
            network: None,
            image: None,
            labels: Vec::new(),
        }
    }

    /// Creates the project's network `<project>_default` (compose's name
    /// and labels) once; removed with the project.
    pub fn network(&self) -> String {
        let name = format!("{}_default", self.name);
        let labels = HashMap::from([
            ("com.docker.compose.project".to_string(), self.name.clone()),
            (
                "com.docker.compose.network".to_string(),
                "default".to_string(),
            ),
        ]);
        let exists = self
            .engine
            .runtime
            .block_on(self.engine.docker.inspect_network(
                &name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            ))
            .is_ok();
        if !exists {
            let options = bollard::models::NetworkCreateRequest {
                name: name.clone(),
                labels: Some(labels),
                ..Default::default()
            };
            self.engine
                .runtime
                .block_on(self.engine.docker.create_network(options))
                .expect("create network");
        }
        name
    }

    /// Creates a volume `<project>_<name>`, labelled as compose labels it.
    pub fn volume(&self, name: &str) -> String {
        let full = format!("{}_{name}", self.name);
        let labels = HashMap::from([
            ("com.docker.compose.project".to_string(), self.name.clone()),
            ("com.docker.compose.volume".to_string(), name.to_string()),
        ]);
        let options = bollard::models::VolumeCreateRequest {
            name: Some(full.clone()),
            labels: Some(labels),
            ..Default::default()
        };
        self.engine
            .runtime
            .block_on(self.engine.docker.create_volume(options))
            .expect("create volume");
        full
    }

    pub fn container_name(&self, service: &str) -> String {
        format!("{}-{service}-1", self.name)
    }

    pub fn stop(&self, service: &str) {
        let options = StopContainerOptionsBuilder::new().t(1).build();
        self.engine
            .runtime
            .block_on(
                self.engine
                    .docker
                    .stop_container(&self.container_name(service), Some(options)),
            )
            .expect("stop container");
    }

    /// Runs a shell command in the service's container, waits for it to
    /// end, and says whether it exited 0.
    pub fn exec(&self, service: &str, shell: &str) -> bool {
        self.run_in(service, shell).0
    }

    /// Runs a shell command in the service's container and returns its
    /// stdout, asserting it exited 0.
    pub fn output(&self, service: &str, shell: &str) -> String {
        let (ok, stdout) = self.run_in(service, shell);
        assert!(ok, "`{shell}` failed in {service}:\n{stdout}");
        stdout
    }

    fn run_in(&self, service: &str, shell: &str) -> (bool, String) {
        let docker = &self.engine.docker;
        self.engine.runtime.block_on(async {
            let options = CreateExecOptions {
                cmd: Some(vec!["sh".to_string(), "-c".to_string(), shell.to_string()]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            };
            // A container that is not running has no exec: that is a "no".
            let exec = match docker
                .create_exec(&self.container_name(service), options)
                .await
            {
                Ok(exec) => exec,
                Err(e) => return (false, e.to_string()),
            };
            let mut stdout = String::new();
            // Stopped between the create and the start: a "no" as well.
            let started = match docker.start_exec(&exec.id, None).await {
                Ok(started) => started,
                Err(e) => return (false, e.to_string()),
            };
            if let bollard::exec::StartExecResults::Attached { mut output, .. } = started {
                use futures_util::StreamExt;
                while let Some(chunk) = output.next().await {
                    if let Ok(bollard::container::LogOutput::StdOut { message }) = chunk {
                        stdout.push_str(&String::from_utf8_lossy(&message));
                    }
                }
            }
            // The container went away while the command ran: a "no" too.
            match docker.inspect_exec(&exec.id).await {
                Ok(inspect) => (inspect.exit_code == Some(0), stdout),
                Err(e) => (false, e.to_string()),
            }
        })
    }

    pub fn inspect(&self, service: &str) -> bollard::models::ContainerInspectResponse {
        self.engine
            .runtime
            .block_on(
                self.engine
                    .docker
                    .inspect_container(&self.container_name(service), None),
            )
            .expect("inspect container")
    }

    /// State, StartedAt and FinishedAt of the service's container.
    pub fn times(&self, service: &str) -> ContainerTimes {
        let state = self.inspect(service).state.unwrap_or_default();
        let at = |text: Option<String>| {
            text.and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .filter(|t| t.as_second() > 0)
        };
        ContainerTimes {
            state: state.status.map(|s| s.to_string()).unwrap_or_default(),
            started: at(state.started_at),
            finished: at(state.finished_at),
            exit_code: state.exit_code.unwrap_or_default(),
        }
    }

    pub fn restart_count(&self, service: &str) -> i64 {
        self.inspect(service).restart_count.unwrap_or_default()
    }

    /// Waits until the container's health status reads `want`.
    pub fn wait_for_health(&self, service: &str, want: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let inspect = self.inspect(service);
            let health = inspect
                .state
                .and_then(|s| s.health)
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .unwrap_or_default();
            if health == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{service} did not become {want} within {within:?} (is {health})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn remove_all(&self) {
        let docker = &self.engine.docker;
        self.engine.runtime.block_on(async {
            let filters = HashMap::from([(
                "label",
                vec![format!("com.docker.compose.project={}", self.name)],
            )]);
            let options = ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build();
            for container in docker
                .list_containers(Some(options))
                .await
                .unwrap_or_default()
            {
                if let Some(id) = container.id {
                    let options = RemoveContainerOptionsBuilder::new()
                        .force(true)
                        .v(true)
                        .build();
                    let _ = docker.remove_container(&id, Some(options)).await;
                }
            }
            let filters = HashMap::from([(
                "label",
                vec![format!("com.docker.compose.project={}", self.name)],
            )]);
            let options = bollard::query_parameters::ListVolumesOptionsBuilder::new()
                .filters(&filters)
                .build();
            if let Ok(listed) = docker.list_volumes(Some(options)).await {
                for volume in listed.volumes.unwrap_or_default() {
                    let _ = docker
                        .remove_volume(
                            &volume.name,
                            None::<bollard::query_parameters::RemoveVolumeOptions>,
                        )
                        .await;
                }
            }
            let _ = docker
                .remove_network(&format!("{}_default", self.name))
                .await;
        });
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        self.remove_all();
    }
}

#[derive(Debug, Clone)]
pub struct ContainerTimes {
    pub state: String,
    pub started: Option<jiff::Timestamp>,
    pub finished: Option<jiff::Timestamp>,
    pub exit_code: i64,
}

/// One service's container, as compose would create it.
pub struct ServiceSpec<'a> {
    project: &'a Project,
    service: String,
    script: Option<String>,
    healthcheck: Option<Vec<String>>,
    ports: Vec<(u16, u16)>,
    mounts: Vec<String>,
    env: Vec<String>,
    restart_on_failure: bool,
    memory_limit: Option<i64>,
    cpus: Option<f64>,
    /// An image and command of its own instead of the fixture's idle shell.
    runs: Option<(String, Vec<String>)>,
    /// The network it joins, reachable there by its service name.
    network: Option<String>,
    image: Option<String>,
    /// Labels beside compose's basic four (Compose v2's full set, say).
    labels: Vec<(String, String)>,
}

impl ServiceSpec<'_> {
    /// Runs `argv` from `image` (its own entrypoint) instead of idling in
    /// the fixture image.
    pub fn runs(mut self, image: &str, argv: &[&str]) -> Self {
        self.runs = Some((
            image.to_string(),
            argv.iter().map(|a| a.to_string()).collect(),
        ));
        self
    }

    /// Joins the project's network (`Project::network`), reachable there
    /// by its service name, as compose's default network makes it.
    pub fn networked(mut self) -> Self {
        self.network = Some(self.project.network());
        self
    }

    /// Joins another project's network instead, by its service name there
    /// (a database managed outside the deployment).
    pub fn joins(mut self, network: &str) -> Self {
        self.network = Some(network.to_string());
        self
    }

    /// Another image than the fixture (one a test made from it).
    pub fn image(mut self, image: &str) -> Self {
        self.image = Some(image.to_string());
        self
    }

    /// A shell script run first; the container then idles until stopped.
    pub fn script(mut self, shell: &str) -> Self {
        self.script = Some(shell.to_string());
        self
    }

    /// Publishes `container` on 127.0.0.1:`host`.
    pub fn port(mut self, container: u16, host: u16) -> Self {
        self.ports.push((container, host));
        self
    }

    /// Mounts a volume at `path`.
    pub fn mount(mut self, volume: &str, path: &str) -> Self {
        self.mounts.push(format!("{volume}:{path}"));
        self
    }

    /// Sets `KEY=value` in its environment.
    pub fn env(mut self, pair: &str) -> Self {
        self.env.push(pair.to_string());
        self
    }

    /// Docker restarts it when it exits non-zero (and counts the restarts).
    pub fn restart_on_failure(mut self) -> Self {
        self.restart_on_failure = true;
        self
    }

    /// Limits its memory to `mib` MiB (`docker run -m`), swap included.
    pub fn memory_limit(mut self, mib: i64) -> Self {
        self.memory_limit = Some(mib * 1024 * 1024);
        self
    }

    /// Limits it to `cpus` cores (`docker run --cpus`).
    pub fn cpus(mut self, cpus: f64) -> Self {
        self.cpus = Some(cpus);
        self
    }

    /// One more label on the container.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.to_string(), value.to_string()));
        self
    }

    /// A shell healthcheck run every second; one failure makes it unhealthy.
    pub fn healthcheck(mut self, shell: &str) -> Self {
        self.healthcheck = Some(vec!["CMD-SHELL".into(), shell.into()]);
        self
    }

    pub fn create(self) -> String {
        let project = self.project;
        let mut labels = HashMap::from([
            (
                "com.docker.compose.project".to_string(),
                project.name.clone(),
            ),
            (
                "com.docker.compose.service".to_string(),
                self.service.clone(),
            ),
            (
                "com.docker.compose.container-number".to_string(),
                "1".to_string(),
            ),
            ("com.docker.compose.oneoff".to_string(), "False".to_string()),
        ]);
        labels.extend(self.labels.iter().cloned());
        let second = 1_000_000_000;
        let command = match &self.script {
            Some(script) => vec![
                "sh".to_string(),
                "-c".to_string(),
                format!("{script}\n{}", IDLE[2]),
            ],
            None => IDLE.iter().map(|s| s.to_string()).collect(),
        };
        let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = self
            .ports
            .iter()
            .map(|(container, host)| {
                let binding = PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(host.to_string()),
                };
                (format!("{container}/tcp"), Some(vec![binding]))
            })
            .collect();
        let (image, command) = match self.runs {
            Some((image, argv)) => (image, argv),
            None => (
                self.image.unwrap_or_else(|| FIXTURE_IMAGE.to_string()),
                command,
            ),
        };
        let networking = self.network.as_ref().map(|network| {
            let endpoint = bollard::models::EndpointSettings {
                aliases: Some(vec![self.service.clone()]),
                ..Default::default()
            };
            bollard::models::NetworkingConfig {
                endpoints_config: Some(HashMap::from([(network.clone(), endpoint)])),
            }
        });
        let network_mode = self.network.clone();
        let body = ContainerCreateBody {
            image: Some(image),
            cmd: Some(command),
            networking_config: networking,
            env: Some(self.env.clone()),
            labels: Some(labels),
            exposed_ports: Some(self.ports.iter().map(|(c, _)| format!("{c}/tcp")).collect()),
            host_config: Some(HostConfig {
                port_bindings: Some(port_bindings),
                binds: Some(self.mounts.clone()),
                memory: self.memory_limit,
                network_mode,
                // No swap beyond the limit: what it holds stays counted as memory.
                memory_swap: self.memory_limit,
                nano_cpus: self.cpus.map(|c| (c * 1e9) as i64),
                restart_policy: self.restart_on_failure.then_some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::ON_FAILURE),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            healthcheck: self.healthcheck.map(|test| HealthConfig {
                test: Some(test),
                interval: Some(second),
                // A probe may take this long on a loaded machine (pg_isready
                // under parallel builds took over 1 s) before it counts as failed.
                timeout: Some(5 * second),
                retries: Some(1),
                start_period: Some(0),
                start_interval: None,
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new()
            .name(&project.container_name(&self.service))
            .build();
        project
            .engine
            .runtime
            .block_on(project.engine.docker.create_container(Some(options), body))
            .expect("create container")
            .id
    }

    pub fn start(self) -> String {
        let project = self.project;
        let id = self.create();
        project
            .engine
            .runtime
            .block_on(project.engine.docker.start_container(&id, None))
            .expect("start container");
        id
    }
}

/// Sets the mode of a file or folder.
pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether `path` is a symbolic link (not followed).
pub fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// The one file in `folder` (the state folder's history or locks).
pub fn only_file(folder: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

/// Polls `condition` every 200 ms until it holds, failing after `within`.
pub fn eventually(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
