//! `opsbook status` against live containers on the real engine, and against
//! an engine that is not there.

use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, Project, Workspace, eventually, result};

const LONG: Duration = Duration::from_secs(30);

fn runbook(project: &Project, services: &str) -> String {
    format!(
        "version: 1\nname: shop\nproject: {}\nservices:\n{services}{CALM_HOST}",
        project.name
    )
}

#[test]
fn live_containers_are_graded_by_state_and_health() {
    let project = Project::new("status");
    project.service("db").healthcheck("true").start();
    project
        .service("cache")
        .healthcheck("echo cache is down; exit 1")
        .start();
    project.service("worker").start();
    project.stop("worker");
    project.wait_for_health("db", "healthy", Duration::from_secs(20));
    project.wait_for_health("cache", "unhealthy", Duration::from_secs(20));

    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(
            &project,
            "  db: { critical: true }\n  cache: { critical: true }\n  api: { depends_on: [db], critical: true }\n  worker: {}\n",
        ),
    );
    let report = ws
        .opsbook(&["status", "--format", "json"])
        .expect_code(2)
        .json();
    assert_eq!(report["status"], "crit");
    let db = result(&report, "containers", "db");
    assert_eq!(db["status"], "ok");
    assert_eq!(db["message"], "running, healthy");
    let cache = result(&report, "containers", "cache");
    assert_eq!(cache["status"], "crit");
    assert_eq!(cache["message"], "running but unhealthy: cache is down");
    let worker = result(&report, "containers", "worker");
    assert_eq!(worker["status"], "warn", "not critical: warn");
    assert!(
        worker["message"].as_str().unwrap().starts_with("exited"),
        "{worker}"
    );
    let api = result(&report, "containers", "api");
    assert_eq!(api["status"], "crit");
    assert_eq!(api["message"], "no container for this service");
    assert_eq!(result(&report, "host", "memory")["status"], "ok");

    let containers = report["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 3);
    let db = containers.iter().find(|c| c["service"] == "db").unwrap();
    assert_eq!(db["name"], project.container_name("db"));
    assert_eq!(db["state"], "running");
    assert_eq!(db["health"], "healthy");
    assert_eq!(db["restart_count"], 0);
    assert_eq!(db["image"], crate::support::FIXTURE_IMAGE);

    let run = ws.opsbook(&["status"]);
    run.expect_code(2);
    let table = &run.stdout;
    for needle in [
        "SERVICE",
        "CONTAINER",
        "RESTARTS",
        "UPTIME",
        "IMAGE",
        "unhealthy",
        "missing",
        "host: ",
    ] {
        assert!(table.contains(needle), "no `{needle}` in\n{table}");
    }
    assert!(table.contains(&project.container_name("cache")), "{table}");
    assert!(
        table.contains("crit    containers/cache: running but unhealthy: cache is down"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .last()
            .unwrap()
            .starts_with("crit: 2 crit, 1 warn, "),
        "{table}"
    );
}

#[test]
fn exit_code_follows_the_worst_status() {
    let project = Project::new("exit");
    project.service("web").start();
    project.service("worker").start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(&project, "  web: { critical: true }\n  worker: {}\n"),
    );

    // All OK: exit 0, and --quiet prints nothing at all.
    ws.opsbook(&["status"]).expect_code(0);
    let quiet = ws.opsbook(&["status", "--quiet"]);
    quiet.expect_code(0);
    assert_eq!(quiet.stdout, "");
    assert_eq!(quiet.stderr, "");

    // A non-critical service down: warn, exit 1, and --quiet speaks up.
    project.stop("worker");
    let quiet = ws.opsbook(&["status", "--quiet"]);
    quiet.expect_code(1);
    assert!(
        quiet.stdout.contains("warn    containers/worker"),
        "{}",
        quiet.stdout
    );

    // A threshold crossed: memory above `crit: 0%` is crit, exit 2.
    let hot = runbook(&project, "  web: { critical: true }\n").replace(
        "memory: { warn: 100%, crit: 100% }",
        "memory: { warn: 0%, crit: 0% }",
    );
    ws.write("hot.yaml", hot);
    let report = ws
        .opsbook(&["status", "--runbook", "hot.yaml", "--format", "json"])
        .expect_code(2)
        .json();
    let memory = result(&report, "host", "memory");
    assert_eq!(memory["status"], "crit");
    assert_eq!(memory["unit"], "percent");
    assert!(
        memory["message"]
            .as_str()
            .unwrap()
            .contains("(above crit 0%)"),
        "{memory}"
    );
}

#[test]
fn the_embedded_default_looks_at_every_compose_project() {
    let project = Project::new("default");
    project.service("web").start();
    let ws = Workspace::new();
    let report = ws.opsbook(&["status", "--format", "json"]).json();
    assert_eq!(report["runbook"], "embedded:default");
    let web = result(&report, "containers", &format!("{}/web", project.name));
    assert_eq!(web["status"], "ok");
}

#[test]
fn docker_unreachable_is_one_line_and_exit_3_within_5_seconds() {
    let ws = Workspace::new();
    let socket = ws.path().join("no-docker.sock");
    let host = format!("unix://{}", socket.display());
    let run = ws.opsbook_with(&["status"], &[("DOCKER_HOST", &host)]);
    run.expect_code(3);
    assert!(run.took < Duration::from_secs(5), "took {:?}", run.took);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with(&format!("error: cannot reach Docker at `{host}`: ")),
        "{}",
        run.stderr
    );

    // JSON readers still get one object saying why.
    let run = ws.opsbook_with(&["status", "--format", "json"], &[("DOCKER_HOST", &host)]);
    let report = run.expect_code(3).json();
    assert_eq!(report["status"], "unknown");
    assert!(
        report["results"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach Docker"),
        "{report}"
    );
}

/// db (healthy, critical), worker (exited 3), web (running, no healthcheck),
/// and api listed but with no container.
pub(crate) fn mixed_project(tag: &str) -> Project {
    let project = Project::fixed_width(tag);
    project.service("db").healthcheck("true").start();
    project.service("worker").script("exit 3").start();
    project.service("web").start();
    project.wait_for_health("db", "healthy", LONG);
    eventually("worker exited", LONG, || {
        project.times("worker").state == "exited"
    });
    project
}

pub(crate) fn mixed_runbook(project: &Project, rest: &str) -> String {
    format!(
        "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{ critical: true }}\n  web: {{ depends_on: [db] }}\n  worker: {{}}\n  api: {{ depends_on: [db] }}\n{CALM_HOST}{rest}",
        project.name
    )
}

#[test]
fn status_table() {
    let project = mixed_project("x-status");
    let ws = Workspace::new();
    ws.write("opsbook.yaml", mixed_runbook(&project, ""));
    let filters = Filters::new(&ws)
        .literal(&project.name, "[PROJECT]")
        .regex(
            r"(running +(?:healthy|none) +\d+ +)(?:\d+m(?: \d+s)?|\d+s)",
            "${1}[UP]",
        )
        .resource_columns()
        .host();
    assert_run(
        &ws.opsbook(&["status"]),
        &filters,
        1,
        r#"
SERVICE  CONTAINER                                   STATUS  STATE    HEALTH   RESTARTS  UPTIME  CPU %  MEM  MEM %  PIDS  IMAGE
db       [PROJECT]-db-1                              ok      running  healthy  0         [UP]    [CPU]  [MEM]  [MEM%]  [PIDS]  opsbook-fixture:1
worker   [PROJECT]-worker-1                          warn    exited   none     0         -       -  -  -  -  opsbook-fixture:1
web      [PROJECT]-web-1                             ok      running  none     0         [UP]    [CPU]  [MEM]  [MEM%]  [PIDS]  opsbook-fixture:1
api      -                                           warn    missing  -        -         -       -  -  -  -  -
host: [HOST] · memory [N]% of [SIZE] · swap [N]% · load [LOAD]/core ([N] cores) · disk / [N]%
warn    containers/worker: exited with code 3
warn    containers/api: no container for this service
warn: 2 warn, 6 ok in [MS] ms
"#,
        "",
    );
}

#[test]
fn status_when_docker_cannot_be_reached() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  web: {{}}\n",
            crate::support::empty_project()
        ),
    );
    let host = format!("unix://{}/no-docker.sock", ws.path().display());
    assert_run(
        &ws.opsbook_with(&["status"], &[("DOCKER_HOST", &host)]),
        &Filters::new(&ws),
        3,
        "",
        "error: cannot reach Docker at `unix://[WS]/no-docker.sock`: Socket not found: [WS]/no-docker.sock\n",
    );
}

#[test]
fn status_of_a_deployment_where_all_is_well() {
    let project = Project::fixed_width("x-status-ok");
    project.service("db").healthcheck("true").start();
    project.service("web").start();
    project.wait_for_health("db", "healthy", LONG);
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(
            &project,
            "  db: { critical: true }\n  web: { depends_on: [db] }\n",
        ),
    );
    let filters = Filters::new(&ws)
        .literal(&project.name, "[PROJECT]")
        .regex(
            r"(running +(?:healthy|none) +\d+ +)(?:\d+m(?: \d+s)?|\d+s)",
            "${1}[UP]",
        )
        .resource_columns()
        .host();
    assert_run(
        &ws.opsbook(&["status"]),
        &filters,
        0,
        r#"
SERVICE  CONTAINER                                   STATUS  STATE    HEALTH   RESTARTS  UPTIME  CPU %  MEM  MEM %  PIDS  IMAGE
db       [PROJECT]-db-1                              ok      running  healthy  0         [UP]    [CPU]  [MEM]  [MEM%]  [PIDS]  opsbook-fixture:1
web      [PROJECT]-web-1                             ok      running  none     0         [UP]    [CPU]  [MEM]  [MEM%]  [PIDS]  opsbook-fixture:1
host: [HOST] · memory [N]% of [SIZE] · swap [N]% · load [LOAD]/core ([N] cores) · disk / [N]%
ok: 6 ok in [MS] ms
"#,
        "",
    );
}
