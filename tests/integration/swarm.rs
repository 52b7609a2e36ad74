//! A runbook on Docker Swarm: a single-node swarm whose node is a real
//! Docker engine (Debian's docker.io, `opsbook-node:test`) in a container
//! of the test engine, its socket in a folder under /tmp. The stack is made
//! by the runbook's `startup.up`, `docker stack deploy` with a compose
//! file; opsbook does the rest: it decides the mode, scales and redeploys
//! services tier by tier, waits for Swarm to converge, and grades
//! services by their tasks.
//!
//! The node (a container with every capability but CAP_SYS_RESOURCE,
//! which this machine's sandbox does not grant, so not `--privileged`;
//! the host's cgroups mounted for its engine) is started once and left
//! running for later tests and runs, like the extra engines.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{FIXTURE_IMAGE, Project, Workspace, eventually, result};

const NODE_IMAGE: &str = "opsbook-node:test";
const NODES: &str = "/tmp/opsbook-swarm";

fn docker(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(["-H", host])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The engine of node `name`, started (once) if it does not answer, with
/// the fixture image loaded: its `unix://` URL.
pub fn node(name: &str) -> String {
    let dir = format!("{NODES}/{name}");
    let host = format!("unix://{dir}/docker.sock");
    if !crate::engines::answers(&host) {
        let container = format!("opsbook-swarm-{name}");
        let _ = Command::new("docker")
            .args(["rm", "-f", &container])
            .output();
        std::fs::create_dir_all(&dir).unwrap();
        docker(
            "unix:///var/run/docker.sock",
            &[
                "run",
                "-d",
                "--name",
                &container,
                "--hostname",
                name,
                "--cap-add",
                "ALL",
                "--cap-drop",
                "SYS_RESOURCE",
                "--security-opt",
                "seccomp=unconfined",
                "--security-opt",
                "apparmor=unconfined",
                "--security-opt",
                "systempaths=unconfined",
                "--device-cgroup-rule",
                "a *:* rwm",
                "-v",
                "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                "--tmpfs",
                "/run",
                "-v",
                &format!("{dir}:/run/node"),
                NODE_IMAGE,
                "--cgroup-parent",
                &format!("/opsbook-swarm-{name}"),
            ],
        );
        eventually(
            &format!("node {name}'s engine answers"),
            Duration::from_secs(60),
            || crate::engines::answers(&host),
        );
    }
    let loaded = Command::new("sh")
        .args([
            "-c",
            &format!("docker save {FIXTURE_IMAGE} | docker -H {host} load"),
        ])
        .output()
        .unwrap();
    assert!(loaded.status.success());
    host
}

/// A single-node swarm: node `s1`, initialised once.
fn single() -> &'static str {
    static STARTED: OnceLock<String> = OnceLock::new();
    STARTED.get_or_init(|| {
        let host = node("s1");
        if docker(&host, &["info", "--format", "{{.Swarm.LocalNodeState}}"]) != "active" {
            docker(&host, &["swarm", "init"]);
        }
        host
    })
}

/// A stack removed when the test ends, however it ends.
struct StackGuard {
    host: String,
    name: String,
}

impl Drop for StackGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["-H", &self.host, "stack", "rm", &self.name])
            .output();
    }
}

/// Keeps running until SIGTERM, and ends at once on it.
const CALM: &str = r#"["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]"#;

fn stack_file(extra: &str) -> String {
    format!(
        r#"version: "3.8"
services:
  db:
    image: {FIXTURE_IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1; touch /tmp/ready; while :; do sleep 1; done"]
    healthcheck: {{ test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, retries: 3 }}
  web:
    image: {FIXTURE_IMAGE}
    command: {CALM}
    deploy: {{ replicas: 2, update_config: {{ parallelism: 2, delay: 0s }} }}
{extra}"#
    )
}

fn workspace(stack: &str, runbook_extra: &str, stack_extra: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write("stack.yml", stack_file(stack_extra));
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {stack}\n{}services:\n  db: {{ critical: true }}\n  web: {{ depends_on: [db], critical: true }}\n{runbook_extra}startup:\n  up: [docker, stack, deploy, -c, stack.yml, {stack}]\n  timeout: 60s\n  verify: [db-ready]\nchecks:\n  db-ready:\n    exec: {{ service: db, command: [test, -f, /tmp/ready] }}\n",
            crate::support::CALM_HOST
        ),
    );
    ws
}

fn replicas(host: &str, service: &str) -> String {
    docker(
        host,
        &[
            "service",
            "inspect",
            service,
            "--format",
            "{{.Spec.Mode.Replicated.Replicas}} {{index .Spec.Labels \"opsbook.replicas\"}}",
        ],
    )
}

fn task_ids(host: &str, service: &str) -> Vec<String> {
    let ids = docker(
        host,
        &[
            "service",
            "ps",
            service,
            "-q",
            "--filter",
            "desired-state=running",
        ],
    );
    let mut ids: Vec<String> = ids.lines().map(str::to_string).collect();
    ids.sort();
    ids
}

#[test]
fn a_stack_is_created_scaled_down_and_up_tier_by_tier_redeployed_and_graded_by_service() {
    let host = single();
    let stack = Project::new("sw").name.replace('-', "_");
    let _guard = StackGuard {
        host: host.to_string(),
        name: stack.clone(),
    };
    let ws = workspace(&stack, "", "");
    let env = [("DOCKER_HOST", host)];
    let run = |args: &[&str]| ws.opsbook_with(args, &env);

    // Before the first deploy the engine is a swarm, but has no such stack.
    let validate = run(&["validate", "--format", "json"]);
    validate.expect_code(0);
    let mode = validate.json()["mode"].as_str().unwrap().to_string();
    assert!(
        mode.starts_with(&format!("compose (auto: no swarm stack `{stack}`")),
        "{mode}"
    );

    // startup.up deploys the stack; opsbook waits tier by tier for it.
    let started = run(&["startup", "--format", "json"]);
    started.expect_code(0);
    let report = started.json();
    let db = result(&report, "startup", "db");
    assert_eq!(db["status"], "ok", "{report:#}");
    assert!(
        db["message"]
            .as_str()
            .unwrap()
            .starts_with("converged: 1/1 running on s1"),
        "{report:#}"
    );
    assert!(
        result(&report, "startup", "web")["message"]
            .as_str()
            .unwrap()
            .starts_with("converged: 2/2 running on s1"),
        "{report:#}"
    );
    assert_eq!(result(&report, "checks", "db-ready")["status"], "ok");
    let mode = run(&["validate", "--format", "json"]).json()["mode"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        mode.starts_with(&format!(
            "swarm (auto: stack `{stack}` has 2 services on {host}"
        )),
        "{mode}"
    );

    // status and daily-check: per service, replicas and nodes.
    let status = run(&["status", "--format", "json"]);
    status.expect_code(0);
    let status = status.json();
    assert_eq!(
        result(&status, "services", "web")["message"],
        "2/2 running on s1"
    );
    let web = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "web")
        .unwrap();
    assert_eq!(web["running"], 2);
    assert_eq!(web["wanted"], 2);
    assert_eq!(web["tasks"], "2 running");
    let text = run(&["status"]);
    assert!(
        text.stdout
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            == [
                "SERVICE", "STATUS", "REPLICAS", "TASKS", "NODES", "FAILED", "IMAGE"
            ],
        "{}",
        text.stdout
    );
    let state = ws.path().join("state");
    let state = state.to_str().unwrap();
    let check = run(&["daily-check", "--format", "json", "--state-dir", state]);
    check.expect_code(0);
    let check = check.json();
    assert_eq!(result(&check, "services", "db")["status"], "ok");
    assert_eq!(result(&check, "checks", "db-ready")["status"], "ok");

    // shutdown: reverse order to zero, the replicas kept on the service.
    let stopped = run(&["shutdown", "--yes", "--format", "json"]);
    stopped.expect_code(0);
    let stopped = stopped.json();
    let names: Vec<&str> = stopped["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "db"], "{stopped:#}");
    assert_eq!(replicas(host, &format!("{stack}_web")), "0 2");
    assert_eq!(replicas(host, &format!("{stack}_db")), "0 1");
    assert!(task_ids(host, &format!("{stack}_web")).is_empty());
    let down = run(&["daily-check", "--format", "json", "--state-dir", state]);
    down.expect_code(2);
    assert_eq!(
        result(&down.json(), "services", "web")["message"],
        "scaled to 0 by opsbook shutdown (2 replicas to start again)"
    );

    // startup scales them back to what they had, and forgets it.
    run(&["startup", "--yes"]).expect_code(0);
    assert_eq!(replicas(host, &format!("{stack}_web")), "2");
    assert_eq!(replicas(host, &format!("{stack}_db")), "1");

    // restart: a forced update, every task of web replaced, db untouched.
    let web_before = task_ids(host, &format!("{stack}_web"));
    let db_before = task_ids(host, &format!("{stack}_db"));
    let restarted = run(&["restart", "web", "--yes", "--format", "json"]);
    restarted.expect_code(0);
    assert!(
        result(&restarted.json(), "restart", "web")["message"]
            .as_str()
            .unwrap()
            .starts_with("redeployed: 2/2 running on s1"),
    );
    let web_after = task_ids(host, &format!("{stack}_web"));
    assert_eq!(web_after.len(), 2);
    assert!(web_after.iter().all(|id| !web_before.contains(id)));
    assert_eq!(task_ids(host, &format!("{stack}_db")), db_before);
}

#[test]
fn a_service_that_cannot_converge_fails_startup_with_its_tasks_error_and_its_dependents_wait() {
    let host = single();
    let stack = Project::new("swbad").name.replace('-', "_");
    let _guard = StackGuard {
        host: host.to_string(),
        name: stack.clone(),
    };
    // db's tasks exit at once, again and again; web depends on it.
    let ws = workspace(&stack, "", "");
    ws.write(
        "stack.yml",
        stack_file("").replace(
            "command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 1; touch /tmp/ready; while :; do sleep 1; done\"]",
            "command: [\"sh\", \"-c\", \"echo broken; exit 3\"]",
        ),
    );
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write("opsbook.yaml", text.replace("timeout: 60s", "timeout: 8s"));
    let env = [("DOCKER_HOST", host)];
    let started = ws.opsbook_with(&["startup", "--format", "json"], &env);
    started.expect_code(2);
    let report = started.json();
    let db = result(&report, "startup", "db");
    assert_eq!(db["status"], "crit");
    let message = db["message"].as_str().unwrap();
    assert!(
        message.starts_with("not converged within the timeout: 0/1 running")
            && message.contains(&format!("{stack}_db.1 failed on s1"))
            && message.contains("non-zero exit (3)"),
        "{message}"
    );
    assert_eq!(
        result(&report, "startup", "web")["message"],
        "not changed: db did not converge"
    );
    // daily-check counts the failed tasks.
    let check = ws.opsbook_with(
        &["daily-check", "--format", "json", "--state-dir", "st"],
        &env,
    );
    let check = check.json();
    let db = result(&check, "services", "db");
    assert_eq!(db["status"], "crit");
    assert!(db["value"].as_f64().unwrap() >= 1.0, "{db:#}");
    assert!(
        db["message"]
            .as_str()
            .unwrap()
            .contains("failed since the last check"),
        "{db:#}"
    );
}

#[test]
fn mode_swarm_against_an_engine_outside_a_swarm_is_a_clear_error_and_changes_nothing() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nproject: shop\nmode: swarm\nservices:\n  web: {}\n",
    );
    let run = ws.opsbook(&["status"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains(
            "says `mode: swarm`, but the engine at unix:///var/run/docker.sock is not in a swarm"
        ),
        "{}",
        run.stderr
    );
    ws.write("opsbook.yaml", "version: 1\nmode: swarm\n");
    let run = ws.opsbook(&["validate"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("`mode: swarm` needs `project:`"),
        "{}",
        run.stderr
    );
}
