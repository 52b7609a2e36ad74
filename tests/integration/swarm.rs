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

use crate::fleet::docker;
use crate::support::{FIXTURE_IMAGE, Project, Workspace, eventually, result};

const NODE_IMAGE: &str = "opsbook-node:test";
const NODES: &str = "/tmp/opsbook-swarm";

/// The engine of node `name` (on the test engine's `network`, or its
/// default bridge), started if it does not answer, with the fixture image
/// loaded: its `unix://` URL.
pub fn node(name: &str, network: Option<&str>) -> String {
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
                "--network",
                network.unwrap_or("bridge"),
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
    crate::engines::load_fixture(&host);
    host
}

/// A single-node swarm: node `s1`, initialised once.
fn single() -> &'static str {
    static STARTED: OnceLock<String> = OnceLock::new();
    STARTED.get_or_init(|| {
        let host = node("s1", None);
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
    deploy: {{ replicas: 2, update_config: {{ parallelism: 2, delay: 0s, failure_action: continue }} }}
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
    let hooks = "shutdown:\n  before:\n    - sh: touch shutdown-before\n  after:\n    - sh: touch shutdown-after\n";
    let ws = workspace(&stack, hooks, "");
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
    assert_eq!(
        names,
        [
            "shutdown.before 1 sh: touch shutdown-before",
            "web",
            "db",
            "shutdown.after 1 sh: touch shutdown-after"
        ],
        "{stopped:#}"
    );
    assert!(
        ws.path().join("shutdown-before").exists() && ws.path().join("shutdown-after").exists()
    );
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
            .contains("failed in the task history"),
        "{db:#}"
    );

    // An incident's evidence: the services and tasks, the inspect of each
    // failed task's container, each service's log through the manager.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text + "incident:\n  dir: ./incidents\n  severities:\n    P1: { respond_within: 15m }\n",
    );
    let opened = ws.opsbook_with(
        &[
            "incident",
            "open",
            "--severity",
            "P1",
            "--title",
            "db",
            "--format",
            "json",
        ],
        &env,
    );
    opened.expect_code(0);
    let opened = opened.json();
    let evidence: Vec<&str> = opened["incident"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for wanted in [
        "services.json".to_string(),
        format!("logs/{stack}_db.log"),
        format!("logs/{stack}_web.log"),
    ] {
        assert!(
            evidence.contains(&wanted.as_str()),
            "{wanted} in {evidence:?}"
        );
    }
    let prefix = format!("inspect/{stack}_db.1.");
    let inspects: Vec<&&str> = evidence.iter().filter(|f| f.starts_with(&prefix)).collect();
    assert!(!inspects.is_empty(), "{evidence:?}");
    let folder = ws
        .path()
        .join("incidents")
        .join(opened["incident"]["id"].as_str().unwrap())
        .join("evidence");
    let inspect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join(inspects[0])).unwrap()).unwrap();
    assert_eq!(inspect["State"]["ExitCode"], 3, "{inspect:#}");
    let log = std::fs::read_to_string(folder.join(format!("logs/{stack}_db.log"))).unwrap();
    assert!(log.contains("broken"), "{log}");
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

const CLUSTER_NET: &str = "opsbook-swarm-net";

/// A three-node swarm on a network of its own: c1 the manager, c2 and c3
/// workers, each joined once (a node started again rejoins by itself).
fn cluster() -> &'static str {
    static STARTED: OnceLock<String> = OnceLock::new();
    STARTED.get_or_init(|| {
        let local = "unix:///var/run/docker.sock";
        if Command::new("docker")
            .args(["network", "inspect", CLUSTER_NET])
            .output()
            .is_ok_and(|o| !o.status.success())
        {
            docker(local, &["network", "create", CLUSTER_NET]);
        }
        let manager = node("c1", Some(CLUSTER_NET));
        if docker(&manager, &["info", "--format", "{{.Swarm.LocalNodeState}}"]) != "active" {
            let ip = docker(
                local,
                &[
                    "inspect",
                    "opsbook-swarm-c1",
                    "--format",
                    &format!(
                        "{{{{(index .NetworkSettings.Networks \"{CLUSTER_NET}\").IPAddress}}}}"
                    ),
                ],
            );
            docker(&manager, &["swarm", "init", "--advertise-addr", &ip]);
        }
        let address = docker(&manager, &["info", "--format", "{{.Swarm.NodeAddr}}"]);
        let token = docker(&manager, &["swarm", "join-token", "-q", "worker"]);
        for name in ["c2", "c3"] {
            let worker = node(name, Some(CLUSTER_NET));
            if docker(&worker, &["info", "--format", "{{.Swarm.LocalNodeState}}"]) != "active" {
                docker(
                    &worker,
                    &[
                        "swarm",
                        "join",
                        "--token",
                        &token,
                        &format!("{address}:2377"),
                    ],
                );
            }
        }
        eventually("three nodes ready", Duration::from_secs(60), || {
            nodes_ready(&manager) == ["c1", "c2", "c3"]
        });
        manager
    })
}

/// The host names of the nodes the manager sees as ready.
fn nodes_ready(manager: &str) -> Vec<String> {
    let listed = docker(
        manager,
        &[
            "node",
            "ls",
            "--format",
            "{{.Hostname}} {{.Status}} {{.Availability}}",
        ],
    );
    let mut ready: Vec<String> = listed
        .lines()
        .filter(|l| l.ends_with(" Ready Active"))
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .collect();
    ready.sort();
    ready
}

/// The nodes a converged message names: `converged: 2/2 running on c1, c3 (1s)`.
fn nodes_named(message: &str) -> Vec<String> {
    let on = message.split(" running on ").nth(1).unwrap_or_default();
    let on = on.split(" (").next().unwrap_or_default();
    let on = on.split(':').next().unwrap_or_default();
    let mut nodes: Vec<String> = on.split(", ").map(str::to_string).collect();
    nodes.sort();
    nodes
}

/// Puts the cluster back as the test found it, however the test ends.
struct ClusterGuard {
    manager: String,
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["start", "opsbook-swarm-c3"])
            .output();
        for name in ["c1", "c2", "c3"] {
            let _ = Command::new("docker")
                .args([
                    "-H",
                    &self.manager,
                    "node",
                    "update",
                    "--availability",
                    "active",
                    name,
                ])
                .output();
        }
    }
}

#[test]
fn over_three_nodes_tasks_are_placed_a_stopped_node_is_seen_and_a_drain_mid_restart_converges_elsewhere()
 {
    let manager = cluster();
    let stack = Project::new("swc").name.replace('-', "_");
    let _stack = StackGuard {
        host: manager.to_string(),
        name: stack.clone(),
    };
    let _cluster = ClusterGuard {
        manager: manager.to_string(),
    };
    let extra = format!(
        "  api:\n    image: {FIXTURE_IMAGE}\n    command: [\"sh\", \"-c\", \"echo ERROR starting on $$(hostname); trap 'exit 0' TERM; while :; do sleep 1; done\"]\n    deploy: {{ replicas: 3, placement: {{ max_replicas_per_node: 1 }}, restart_policy: {{ delay: 1s }} }}\n"
    );
    let ws = workspace(&stack, "", &extra);
    // db (and its exec check) on a worker.
    let file = std::fs::read_to_string(ws.path().join("stack.yml")).unwrap();
    ws.write(
        "stack.yml",
        file.replacen(
            "retries: 3 }\n",
            "retries: 3 }\n    deploy: { placement: { constraints: [node.hostname == c2] } }\n",
            1,
        ),
    );
    // The fleet file says how to reach each node's engine.
    let hosts: String = ["c1", "c2", "c3"]
        .iter()
        .map(|n| {
            format!(
                "  {n}: {{ docker: \"unix://{NODES}/{n}/docker.sock\", runbook: opsbook.yaml }}\n"
            )
        })
        .collect();
    ws.write("fleet.yaml", format!("version: 1\nhosts:\n{hosts}"));
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace(
            "  web: { depends_on: [db], critical: true }\n",
            "  web: { depends_on: [db], critical: true }\n  api: { depends_on: [db], critical: true }\n",
        ) + "logs: { since: 1h, match: ['ERROR'], warn: 1, crit: 100 }\n",
    );
    let env = [("DOCKER_HOST", manager), ("OPSBOOK_FLEET", "fleet.yaml")];
    let run = |args: &[&str]| {
        let args: Vec<&str> = ["--runbook", "opsbook.yaml"]
            .iter()
            .chain(args)
            .copied()
            .collect();
        ws.opsbook_with(&args, &env)
    };

    // Placement: api has a task on every node; db's check runs on c2,
    // through c2's engine.
    let started = run(&["startup", "--format", "json"]);
    started.expect_code(0);
    let report = started.json();
    assert_eq!(
        result(&report, "checks", "db-ready")["status"],
        "ok",
        "{report:#}"
    );
    assert!(
        result(&report, "startup", "db")["message"]
            .as_str()
            .unwrap()
            .starts_with("converged: 1/1 running on c2")
    );
    // Logs through each service's log endpoint: api's three tasks, one on
    // each node, each wrote one error line.
    let logs = run(&["daily-check", "--format", "json", "--only", "logs"]);
    let logs = logs.json();
    let api = result(&logs, "logs", "api");
    assert_eq!(api["status"], "warn", "{logs:#}");
    assert_eq!(api["value"], 3.0, "{logs:#}");
    assert_eq!(result(&logs, "logs", "web")["status"], "ok", "{logs:#}");
    // Without the fleet file c2 cannot be reached: the check did not run.
    let unreached = ws.opsbook_with(
        &["daily-check", "--format", "json", "--only", "checks"],
        &[("DOCKER_HOST", manager)],
    );
    let unreached = unreached.json();
    let db_ready = result(&unreached, "checks", "db-ready");
    assert_eq!(db_ready["status"], "unknown", "{unreached:#}");
    assert!(
        db_ready["message"]
            .as_str()
            .unwrap()
            .starts_with("not run: it runs on swarm node `c2`, whose engine opsbook cannot reach"),
        "{db_ready:#}"
    );
    let api = result(&report, "startup", "api")["message"]
        .as_str()
        .unwrap();
    assert!(api.starts_with("converged: 3/3 running on "), "{report:#}");
    assert_eq!(nodes_named(api), ["c1", "c2", "c3"], "{api}");

    // A node that stops: its task is missing, Swarm's reason is quoted.
    docker("unix:///var/run/docker.sock", &["stop", "opsbook-swarm-c3"]);
    eventually("c3 is down", Duration::from_secs(60), || {
        nodes_ready(manager) == ["c1", "c2"]
    });
    let state = ws.path().join("state");
    let state = state.to_str().unwrap();
    let check = run(&[
        "daily-check",
        "--format",
        "json",
        "--state-dir",
        state,
        "--only",
        "containers",
    ]);
    check.expect_code(1);
    let check = check.json();
    let api = result(&check, "services", "api");
    assert_eq!(api["status"], "warn", "{check:#}");
    let message = api["message"].as_str().unwrap();
    assert!(
        message.starts_with("2/3 running on ") && message.contains("1 missing"),
        "{message}"
    );
    assert!(message.contains("no suitable node"), "{message}");

    // Back: the node rejoins and the missing task is placed again.
    docker(
        "unix:///var/run/docker.sock",
        &["start", "opsbook-swarm-c3"],
    );
    eventually("api runs 3/3 again", Duration::from_secs(90), || {
        let status = run(&["status", "--format", "json"]).json();
        status["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["service"] == "api" && s["running"] == 3)
    });

    // A drain while web restarts: Swarm moves its tasks, and the restart
    // waits until they run elsewhere.
    let child = ws.spawn_with(
        &[
            "--runbook",
            "opsbook.yaml",
            "restart",
            "web",
            "--yes",
            "--format",
            "json",
        ],
        &env,
    );
    std::thread::sleep(Duration::from_millis(300));
    docker(
        manager,
        &["node", "update", "--availability", "drain", "c3"],
    );
    let restarted = crate::support::finish(child);
    restarted.expect_code(0);
    let web = result(&restarted.json(), "restart", "web")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(web.starts_with("redeployed: 2/2 running on "), "{web}");
    assert!(!nodes_named(&web).contains(&"c3".to_string()), "{web}");
    // What the restart waited for: web runs only elsewhere.
    let status = run(&["status", "--format", "json"]).json();
    let web_nodes = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "web")
        .map(|s| s["nodes"].clone());
    assert!(
        web_nodes
            .as_ref()
            .and_then(|n| n.as_array())
            .is_some_and(|n| !n.is_empty() && n.iter().all(|node| node != "c3")),
        "{status:#}"
    );
    // The drain moves the other services' tasks too, which the restart of
    // web does not wait for: Swarm has them off c3 soon after.
    eventually(
        "no task runs on the drained c3",
        Duration::from_secs(60),
        || {
            let status = run(&["status", "--format", "json"]).json();
            status["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["state"] == "running")
                .all(|t| t["node"] != "c3")
        },
    );
}

#[test]
fn update_and_rollback_of_a_stack_are_swarms_own_and_a_failed_update_is_rolled_back() {
    let host = single();
    let stack = Project::new("swup").name.replace('-', "_");
    let _guard = StackGuard {
        host: host.to_string(),
        name: stack.clone(),
    };
    // `update.backup`: the runbook's backup first (a dump of db, in its task).
    let ws = workspace(
        &stack,
        "update: { backup: true }\nbackup:\n  dir: backups\n  dumps:\n    marker: { service: db, command: [echo, hi] }\n",
        "",
    );
    let env = [("DOCKER_HOST", host)];
    let run = |args: &[&str]| ws.opsbook_with(args, &env);
    run(&["startup"]).expect_code(0);
    // A second name for the same image, and an image whose tasks fail.
    docker(host, &["tag", FIXTURE_IMAGE, "opsbook-fixture:next"]);
    let build = Command::new("sh")
        .args([
            "-c",
            &format!(
                "printf 'FROM {FIXTURE_IMAGE}\\nENTRYPOINT [\"sh\", \"-c\", \"exit 1\"]\\n' | DOCKER_BUILDKIT=0 docker -H {host} build -q -t opsbook-fixture:broken -"
            ),
        ])
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let image = |service: &str| {
        docker(
            host,
            &[
                "service",
                "inspect",
                &format!("{stack}_{service}"),
                "--format",
                "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
            ],
        )
    };

    let updated = run(&[
        "update",
        "--image",
        "web=opsbook-fixture:next",
        "--yes",
        "--format",
        "json",
    ]);
    updated.expect_code(0);
    assert_eq!(
        result(&updated.json(), "update", "backup first")["status"],
        "ok",
        "{}",
        updated.stdout
    );
    assert_eq!(
        std::fs::read_dir(ws.path().join("backups"))
            .unwrap()
            .count(),
        1
    );
    let message = result(&updated.json(), "update", "web")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("opsbook-fixture:1 → opsbook-fixture:next: 2/2 running on s1"),
        "{message}"
    );
    assert_eq!(image("web"), "opsbook-fixture:next");

    // rollback: Swarm's own, to the spec before the last update.
    let rolled = run(&["rollback", "web", "--yes", "--format", "json"]);
    rolled.expect_code(0);
    let message = result(&rolled.json(), "rollback", "web")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("rolled back (Swarm's rollback): 2/2 running on s1"),
        "{message}"
    );
    assert_eq!(image("web"), FIXTURE_IMAGE);

    // A failed update: Swarm pauses it (db's update_config is the
    // default), opsbook rolls it back, and db runs as before.
    let db_before = task_ids(host, &format!("{stack}_db"));
    let failed = run(&[
        "update",
        "--image",
        "db=opsbook-fixture:broken",
        "--yes",
        "--format",
        "json",
    ]);
    failed.expect_code(2);
    let report = failed.json();
    let db = result(&report, "update", "db");
    assert_eq!(db["status"], "crit", "{report:#}");
    assert!(
        db["message"].as_str().unwrap().starts_with(
            "opsbook-fixture:1 → opsbook-fixture:broken failed: Swarm paused the update"
        ),
        "{report:#}"
    );
    assert_eq!(
        result(&report, "put back", "db")["status"],
        "ok",
        "{report:#}"
    );
    assert_eq!(image("db"), FIXTURE_IMAGE);
    let db_after = task_ids(host, &format!("{stack}_db"));
    assert_eq!(db_after.len(), 1);
    assert_ne!(
        db_after, db_before,
        "db's task was replaced and replaced back"
    );
}

#[test]
fn sigterm_mid_startup_leaves_the_next_tier_as_it_was_and_its_replicas_remembered() {
    let host = single();
    let stack = Project::new("swsig").name.replace('-', "_");
    let _guard = StackGuard {
        host: host.to_string(),
        name: stack.clone(),
    };
    let ws = workspace(&stack, "", "");
    // db takes 8 s to be healthy: the signal comes while startup waits for it.
    let file = std::fs::read_to_string(ws.path().join("stack.yml")).unwrap();
    let file = file
        .replacen("sleep 1; touch /tmp/ready", "sleep 8; touch /tmp/ready", 1)
        .replacen("retries: 3 }", "retries: 3, start_period: 30s }", 1);
    ws.write("stack.yml", file);
    let env = [("DOCKER_HOST", host)];
    ws.opsbook_with(&["startup"], &env).expect_code(0);
    ws.opsbook_with(&["shutdown", "--yes"], &env).expect_code(0);
    assert_eq!(replicas(host, &format!("{stack}_web")), "0 2");
    // The specs opsbook sent back keep their healthcheck.
    assert_eq!(
        docker(
            host,
            &[
                "service",
                "inspect",
                &format!("{stack}_db"),
                "--format",
                "{{json .Spec.TaskTemplate.ContainerSpec.Healthcheck.Test}}",
            ],
        ),
        r#"["CMD","test","-f","/tmp/ready"]"#
    );

    let child = ws.spawn_with(&["startup", "--format", "json"], &env);
    eventually("db is scaled up", Duration::from_secs(20), || {
        replicas(host, &format!("{stack}_db")) == "1"
    });
    std::thread::sleep(Duration::from_millis(500));
    let report = crate::support::terminate(child);
    report.expect_code(2);
    let report = report.json();
    assert!(
        result(&report, "startup", "db")["message"]
            .as_str()
            .unwrap()
            .starts_with("interrupted while waiting: "),
        "{report:#}"
    );
    assert_eq!(
        result(&report, "startup", "web")["message"],
        "not changed: interrupted"
    );
    assert_eq!(result(&report, "startup", "interrupted")["status"], "crit");
    // web was not touched: still at 0, its replicas still remembered.
    assert_eq!(replicas(host, &format!("{stack}_web")), "0 2");
}

#[test]
fn rotate_secret_makes_a_new_version_and_swarm_gives_it_to_the_services_that_use_it() {
    let host = single();
    let stack = Project::new("swsec").name.replace('-', "_");
    let _guard = StackGuard {
        host: host.to_string(),
        name: stack.clone(),
    };
    let ws = workspace(&stack, "", "");
    let file = std::fs::read_to_string(ws.path().join("stack.yml")).unwrap();
    let file = file.replacen(
        "    deploy: { replicas: 2",
        "    secrets: [db_password]\n    deploy: { replicas: 2",
        1,
    ) + "secrets:\n  db_password:\n    file: ./db_password.txt\n";
    ws.write("stack.yml", file);
    ws.write("db_password.txt", "old-password");
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text + "procedures:\n  rotate-db-password:\n    steps:\n      - rotate_secret: { secret: db_password }\n",
    );
    let env = [("DOCKER_HOST", host)];
    ws.opsbook_with(&["startup"], &env).expect_code(0);
    let web = format!("{stack}_web");
    let in_web = || {
        let containers = docker(
            host,
            &[
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.swarm.service.name={web}"),
            ],
        );
        containers
            .lines()
            .map(|id| docker(host, &["exec", id, "cat", "/run/secrets/db_password"]))
            .collect::<Vec<_>>()
    };
    assert_eq!(in_web(), ["old-password", "old-password"]);

    let run = ws.opsbook_with(
        &["run", "rotate-db-password", "--yes", "--format", "json"],
        &env,
    );
    run.expect_code(0);
    let secret_name = docker(
        host,
        &[
            "service",
            "inspect",
            &web,
            "--format",
            "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}} {{.File.Name}}{{end}}",
        ],
    );
    let (name, target) = secret_name.split_once(' ').unwrap();
    assert!(
        name.starts_with(&format!("{stack}_db_password-")),
        "{secret_name}"
    );
    assert_eq!(target, "db_password");
    assert!(
        run.stdout
            .contains(&format!("secret `{stack}_db_password` → `{name}`")),
        "{}",
        run.stdout
    );
    // Every task now reads the new value: 32 random bytes, base64url.
    eventually(
        "web's tasks have the new secret",
        Duration::from_secs(30),
        || {
            let values = in_web();
            values.len() == 2 && values.iter().all(|v| v.len() == 43 && v != "old-password")
        },
    );
    let value = in_web().remove(0);
    assert!(!run.stdout.contains(&value) && !run.stderr.contains(&value));
    // The old secret is kept; db, which does not use it, was not touched.
    docker(
        host,
        &["secret", "inspect", &format!("{stack}_db_password")],
    );
}

#[test]
fn the_status_of_a_stack_is_a_table_of_its_services_whole() {
    let host = single();
    let stack = Project::new("swx").name.replace('-', "_");
    let _guard = StackGuard {
        host: host.to_string(),
        name: stack.clone(),
    };
    let ws = workspace(&stack, "", "");
    let env = [("DOCKER_HOST", host)];
    ws.opsbook_with(&["startup"], &env).expect_code(0);
    // A service the runbook lists that the stack does not have.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace(
            "  web: { depends_on: [db], critical: true }\n",
            "  web: { depends_on: [db], critical: true }\n  cache: {}\n",
        ),
    );
    let filters = crate::support::exact::Filters::new(&ws)
        .literal(&stack, "[STACK]")
        .host();
    crate::support::exact::assert_run(
        &ws.opsbook_with(&["status"], &env),
        &filters,
        1,
        r#"
SERVICE  STATUS  REPLICAS  TASKS      NODES  FAILED  IMAGE
db       ok      1/1       1 running  s1     0       opsbook-fixture:1
web      ok      2/2       2 running  s1     0       opsbook-fixture:1
cache    warn    missing   -          -      -       -
host: [HOST] · memory [N]% of [SIZE] · swap [N]% · load [LOAD]/core ([N] cores) · disk / [N]%
warn    services/cache: no service `cache` in stack `[STACK]`
warn: 1 warn, 6 ok in [MS] ms
"#,
        "",
    );

    // Not done on a stack: refused, saying so, with nothing changed.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text + "backup:\n  dir: backups\n  volumes: [dbdata]\n  stop: [web]\n",
    );
    let before = task_ids(host, &format!("{stack}_web"));
    // A volume no task mounts and this engine does not have: refused,
    // by `shutdown --backup` too, before anything stops.
    for args in [&["backup"][..], &["shutdown", "--backup", "--yes"]] {
        let unknown = ws.opsbook_with(args, &env);
        unknown.expect_code(3);
        assert!(
            unknown
                .stderr
                .contains("unknown volume `dbdata` (backup.volumes): nothing was stopped"),
            "{args:?}: {}",
            unknown.stderr
        );
    }
    assert!(!ws.path().join("backups").exists());
    assert_eq!(task_ids(host, &format!("{stack}_web")), before);

    // `shutdown --backup`: the backup (web at 0 for it, and back), then
    // the shutdown.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace(
            "  volumes: [dbdata]\n",
            "  dumps:\n    marker: { service: db, command: [echo, hi], restore: [sh, -c, 'cat > /tmp/restored'] }\n",
        ),
    );
    let shut = ws.opsbook_with(&["shutdown", "--backup", "--yes", "--format", "json"], &env);
    shut.expect_code(0);
    let shut = shut.json();
    assert_eq!(result(&shut, "backup", "marker")["value"], 3.0, "{shut:#}");
    assert_eq!(
        std::fs::read_dir(ws.path().join("backups"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(replicas(host, &format!("{stack}_web")), "0 2");
    assert_eq!(replicas(host, &format!("{stack}_db")), "0 1");

    // Restoring the dump with db at 0: db is scaled up first (to the
    // replicas shutdown remembered), the dump goes into its new task.
    let restored = ws.opsbook_with(
        &["restore", "--yes", "--no-safety-backup", "--format", "json"],
        &env,
    );
    restored.expect_code(0);
    let restored = restored.json();
    assert!(
        result(&restored, "restore", "db")["message"]
            .as_str()
            .unwrap()
            .starts_with("was not running: started first for dump `marker`"),
        "{restored:#}"
    );
    assert_eq!(
        result(&restored, "restore", "marker")["status"],
        "ok",
        "{restored:#}"
    );
    assert_eq!(replicas(host, &format!("{stack}_db")), "1");
    let db = docker(
        host,
        &[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={stack}_db"),
        ],
    );
    assert_eq!(docker(host, &["exec", &db, "cat", "/tmp/restored"]), "hi");
}

/// What a volume holds, read in the running task of `service` on a node:
/// each entry's name, type, mode, owner and size, and each file's content.
fn volume_listing(node: &str, stack: &str, service: &str) -> String {
    let container = docker(
        node,
        &[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={stack}_{service}"),
        ],
    );
    docker(
        node,
        &[
            "exec",
            &container,
            "sh",
            "-c",
            "cd /data && find . | sort | while read -r f; do stat -c '%n %F %a %u:%g %s' \"$f\"; [ -f \"$f\" ] && [ ! -L \"$f\" ] && cat \"$f\"; done",
        ],
    )
}

#[test]
fn a_volume_on_a_worker_is_backed_up_through_its_node_and_restored_exactly() {
    let manager = cluster();
    let stack = Project::new("swb").name.replace('-', "_");
    let _stack = StackGuard {
        host: manager.to_string(),
        name: stack.clone(),
    };
    let c2 = format!("unix://{NODES}/c2/docker.sock");
    let ws = workspace(&stack, "", "");
    // db keeps its data in a volume on c2; what it holds at first, seeded once.
    let seed = "mkdir -p /data/sub; [ -f /data/a ] || { echo one > /data/a; echo two > /data/sub/b; chmod 640 /data/sub/b; chown 7:9 /data/sub/b; ln -s a /data/link; }";
    let file = std::fs::read_to_string(ws.path().join("stack.yml")).unwrap();
    ws.write(
        "stack.yml",
        file.replacen(
            "command: [\"sh\", \"-c\", \"trap",
            &format!("command: [\"sh\", \"-c\", \"{seed}; trap"),
            1,
        )
        .replacen(
            "retries: 3 }\n",
            "retries: 3 }\n    volumes: [dbdata:/data]\n    deploy: { placement: { constraints: [node.hostname == c2] } }\n",
            1,
        ) + "volumes:\n  dbdata: {}\n",
    );
    let hosts: String = ["c1", "c2", "c3"]
        .iter()
        .map(|n| {
            format!(
                "  {n}: {{ docker: \"unix://{NODES}/{n}/docker.sock\", runbook: opsbook.yaml }}\n"
            )
        })
        .collect();
    ws.write("fleet.yaml", format!("version: 1\nhosts:\n{hosts}"));
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text + "backup:\n  dir: backups\n  volumes: [dbdata]\n  stop: [web]\n  dumps:\n    first: { service: db, command: [cat, /data/a], restore: [sh, -c, 'cat > /data/a'] }\n",
    );
    let fleet_env = [("DOCKER_HOST", manager), ("OPSBOOK_FLEET", "fleet.yaml")];
    let run = |args: &[&str]| {
        let args: Vec<&str> = ["--runbook", "opsbook.yaml"]
            .iter()
            .chain(args)
            .copied()
            .collect();
        ws.opsbook_with(&args, &fleet_env)
    };
    run(&["startup"]).expect_code(0);
    let original = volume_listing(&c2, &stack, "db");
    assert!(
        original.contains("./sub/b regular file 640 7:9 4\ntwo"),
        "{original}"
    );

    // Without the fleet file c2 cannot be reached: refused, nothing stopped.
    let web = task_ids(manager, &format!("{stack}_web"));
    let refused = ws.opsbook_with(&["backup"], &[("DOCKER_HOST", manager)]);
    refused.expect_code(3);
    assert!(
        refused.stderr.contains(
            "volume `dbdata` (backup.volumes) lives on swarm node `c2`, where its service's task runs, and cannot be reached"
        ),
        "{}",
        refused.stderr
    );
    assert!(!ws.path().join("backups").exists());
    assert_eq!(task_ids(manager, &format!("{stack}_web")), web);

    // c2's engine is on a unix socket here, but in its own mount
    // namespace: its volume's path is not this host's, so not read directly.
    let plan = run(&["backup", "--dry-run"]);
    plan.expect_code(0);
    assert!(
        plan.stdout
            .contains(&format!("archive endpoint of {c2} (the engine (process "))
            && plan.stdout.contains(
                ") is in another mount namespace: the paths it names are not this host's)"
            ),
        "{}",
        plan.stdout
    );

    // Through c2's engine: the volume (its archive) and the dump (exec'd
    // in db's task there); web scaled to 0 for the copy and back to 2.
    let made = run(&["backup", "--format", "json"]);
    made.expect_code(0);
    let made = made.json();
    assert_eq!(
        result(&made, "backup", "dbdata")["status"],
        "ok",
        "{made:#}"
    );
    assert_eq!(result(&made, "backup", "first")["value"], 4.0, "{made:#}");
    let items = made["backup"]["manifest"]["items"].as_array().unwrap();
    assert_eq!(items[0]["source"], format!("{stack}_dbdata"), "{made:#}");
    assert_eq!(items[0]["read"], "archive", "{made:#}");
    assert_eq!(replicas(manager, &format!("{stack}_web")), "2");
    assert_ne!(task_ids(manager, &format!("{stack}_web")), web);

    // The data changes; the volume is restored exactly (db scaled to 0
    // and back around it), then the dump, in db's task on c2.
    let db = docker(
        &c2,
        &[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={stack}_db"),
        ],
    );
    docker(
        &c2,
        &[
            "exec",
            &db,
            "sh",
            "-c",
            "echo changed > /data/a; rm /data/link; echo three > /data/c",
        ],
    );
    let restored = run(&["restore", "--yes", "--format", "json"]);
    restored.expect_code(0);
    let restored = restored.json();
    for item in ["dbdata", "first"] {
        assert_eq!(
            result(&restored, "restore", item)["status"],
            "ok",
            "{restored:#}"
        );
    }
    // The safety backup took the dump in db's task on c2 too.
    assert_eq!(
        result(&restored, "restore", "safety backup")["status"],
        "ok",
        "{restored:#}"
    );
    assert_eq!(volume_listing(&c2, &stack, "db"), original);
    assert_eq!(replicas(manager, &format!("{stack}_db")), "1");
    assert_eq!(replicas(manager, &format!("{stack}_web")), "2");
}

#[test]
fn sigterm_mid_backup_of_a_stack_scales_what_it_stopped_back_up_and_keeps_no_backup() {
    let host = single();
    let stack = Project::new("swbs").name.replace('-', "_");
    let _guard = StackGuard {
        host: host.to_string(),
        name: stack.clone(),
    };
    let ws = workspace(&stack, "", "");
    // The dump takes a while: the signal comes while web is at zero for it.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text + "backup:\n  dir: backups\n  stop: [web]\n  dumps:\n    slow: { service: db, command: [sh, -c, 'sleep 30; echo late'] }\n",
    );
    let env = [("DOCKER_HOST", host)];
    ws.opsbook_with(&["startup"], &env).expect_code(0);
    let web = format!("{stack}_web");
    let child = ws.spawn_with(&["backup", "--format", "json"], &env);
    eventually("web is at 0 for the copy", Duration::from_secs(30), || {
        replicas(host, &web) == "0 2" && task_ids(host, &web).is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    let report = crate::support::terminate(child);
    report.expect_code(2);
    let report = report.json();
    assert_eq!(
        result(&report, "backup", "interrupted")["status"],
        "crit",
        "{report:#}"
    );
    assert_eq!(
        result(&report, "backup", "result")["message"],
        "no backup was made",
        "{report:#}"
    );
    // What the backup scaled down is scaled up again, its label cleared.
    assert_eq!(replicas(host, &web), "2");
    eventually("web runs 2/2 again", Duration::from_secs(30), || {
        task_ids(host, &web).len() == 2
    });
    let listed = ws.opsbook_with(&["backup", "list", "--format", "json"], &env);
    listed.expect_code(0);
    assert_eq!(
        listed.json()["backups"],
        serde_json::json!([]),
        "{}",
        listed.stdout
    );
}
