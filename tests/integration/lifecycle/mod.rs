//! The lifecycle commands, `opsbook startup`, `shutdown` and `restart`,
//! against real containers (a file each, and here what they share): the
//! order is read back from Docker's own StartedAt / FinishedAt.

mod restart;
mod shutdown;
mod startup;

use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, Project, Workspace, result};

const LONG: Duration = Duration::from_secs(60);

/// db (healthy two seconds after it starts), cache (no healthcheck), api
/// needs both, web needs api. Created, not started. The name has the same
/// width on every run, for the whole-output tests.
fn shop(tag: &str) -> Project {
    let project = Project::fixed_width(tag);
    project
        .service("db")
        .script("(sleep 2; touch /tmp/ready) &")
        .healthcheck("test -f /tmp/ready")
        .create();
    project.service("cache").create();
    project.service("api").create();
    project.service("web").create();
    project
}

fn runbook(project: &Project, extra: &str) -> String {
    format!(
        "version: 1\nname: shop\nproject: {}\n{CALM_HOST}\
         services:\n  db: {{ critical: true }}\n  cache: {{}}\n  api: {{ depends_on: [db, cache] }}\n  web: {{ depends_on: [api] }}\n\
         shutdown:\n  grace: 5s\n{extra}",
        project.name
    )
}

/// db (healthy a second after it starts), api needs db, web needs api: a
/// tier each, so the progress lines come in one order. Started when
/// `start`, else only created. For the whole-output tests.
fn chain(tag: &str, start: bool) -> Project {
    let project = Project::fixed_width(tag);
    let db = project
        .service("db")
        .script("(sleep 1; touch /tmp/ready) &")
        .healthcheck("test -f /tmp/ready");
    if start {
        db.start();
        project.service("api").start();
        project.service("web").start();
    } else {
        db.create();
        project.service("api").create();
        project.service("web").create();
    }
    project
}

fn chain_runbook(project: &Project, extra: &str) -> String {
    format!(
        "version: 1\nname: shop\nproject: {}\n{CALM_HOST}\
         services:\n  db: {{ critical: true }}\n  api: {{ depends_on: [db] }}\n  web: {{ depends_on: [api] }}\n\
         shutdown:\n  grace: 5s\n{extra}",
        project.name
    )
}

/// The project's name, and the times of stops, starts and waits.
fn filters(ws: &Workspace, project: &Project) -> Filters {
    Filters::new(ws)
        .literal(&project.name, "[PROJECT]")
        .regex(r"\bin \d+\.\ds\b", "in [T]s")
        .regex(
            r"\bmemory \d+\.\d% used, below crit 100%",
            "memory [N]% used, below crit 100%",
        )
}

fn started(project: &Project, service: &str) -> jiff::Timestamp {
    project
        .times(service)
        .started
        .unwrap_or_else(|| panic!("{service} never started"))
}

fn finished(project: &Project, service: &str) -> jiff::Timestamp {
    project
        .times(service)
        .finished
        .unwrap_or_else(|| panic!("{service} never finished"))
}

#[test]
fn startup_goes_in_dependency_order_and_shutdown_in_reverse() {
    let project = shop("order");
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(
            &project,
            "checks:\n  db-ready:\n    exec: { service: db, command: [test, -f, /tmp/ready] }\n\
             startup:\n  timeout: 40s\n  verify: [db-ready]\n  preflight: { min_free_memory: 16MiB, min_free_disk: 16MiB, files: [opsbook.yaml] }\n",
        ),
    );
    let report = ws
        .opsbook(&["startup", "--format", "json"])
        .expect_code(0)
        .json();
    for service in ["db", "cache", "api", "web"] {
        let r = result(&report, "startup", service);
        assert!(
            r["message"]
                .as_str()
                .unwrap()
                .starts_with("started, ready in"),
            "{r}"
        );
        assert_eq!(project.times(service).state, "running");
    }
    assert_eq!(
        result(&report, "preflight", "file opsbook.yaml")["status"],
        "ok"
    );
    assert_eq!(result(&report, "checks", "db-ready")["status"], "ok");
    assert_eq!(result(&report, "criteria", "restarting")["status"], "ok");
    // api waited for db to be healthy (2 s after db started); web for api.
    let db = started(&project, "db");
    let api = started(&project, "api");
    assert!(
        api.duration_since(db) >= jiff::SignedDuration::from_secs(2),
        "db {db} api {api}"
    );
    assert!(started(&project, "web") > api);
    assert!(api > started(&project, "cache"));

    // Again: everything already runs, nothing is touched.
    let again = ws.opsbook(&["startup", "--format", "json"]);
    let report = again.expect_code(0).json();
    assert_eq!(
        result(&report, "startup", "web")["message"],
        "already running"
    );
    assert_eq!(
        started(&project, "db"),
        db,
        "a running service is left alone"
    );
    assert!(again.took < Duration::from_secs(5), "took {:?}", again.took);

    // Shutdown needs --yes without a terminal, and then stops nothing.
    let refused = ws.opsbook(&["shutdown"]);
    refused.expect_code(3);
    assert!(refused.stderr.contains("pass --yes"), "{}", refused.stderr);
    assert_eq!(project.times("web").state, "running");

    let report = ws
        .opsbook(&["shutdown", "--yes", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(result(&report, "shutdown", "verify")["status"], "ok");
    for service in ["db", "cache", "api", "web"] {
        assert_eq!(project.times(service).state, "exited", "{service}");
    }
    let (web, api, db) = (
        finished(&project, "web"),
        finished(&project, "api"),
        finished(&project, "db"),
    );
    assert!(web <= api && api <= db, "web {web} api {api} db {db}");
    assert!(finished(&project, "cache") >= api);

    let report = ws
        .opsbook(&["shutdown", "--yes", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(
        result(&report, "shutdown", "db")["message"],
        "already stopped"
    );
}

#[test]
fn commands_that_change_containers_need_a_project() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nservices:\n  db: {}\nbackup:\n  dir: ./backups\n  files: [opsbook.yaml]\n",
    );
    let filters = Filters::new(&ws);
    for command in ["startup", "shutdown", "restart", "backup"] {
        assert_run(
            &ws.opsbook(&[command, "--yes", "--state-dir", "state"]),
            &filters,
            3,
            "",
            &format!(
                "error: {command} needs `project` in the runbook (`opsbook.yaml`): \
                 it acts on the containers of one compose project\n"
            ),
        );
    }
    assert!(!ws.path().join("backups").exists(), "no backup was made");
}
