//! `opsbook startup`: pre-flight, create, start tier by tier, wait until
//! ready, verify; its dry run; a dependency that never gets ready; a signal.

use std::time::Duration;

use super::{LONG, chain, chain_runbook, filters, runbook, shop, started};
use crate::support::exact::assert_run;
use crate::support::{Project, Workspace, eventually, result, terminate};

#[test]
fn dry_run_and_a_failing_preflight_change_nothing() {
    let project = shop("dry");
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(
            &project,
            "startup:\n  preflight: { min_free_memory: 1000000GiB, files: [compose.yml] }\n",
        ),
    );
    // The dry run shows the plan and that the pre-flight would stop it.
    let run = ws.opsbook(&["startup", "--dry-run"]);
    run.expect_code(2);
    assert!(
        run.stdout.contains("start, wait until ready"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("crit    preflight/memory: "),
        "{}",
        run.stdout
    );
    let report = ws
        .opsbook(&["startup", "--format", "json"])
        .expect_code(2)
        .json();
    assert_eq!(result(&report, "preflight", "memory")["status"], "crit");
    let file = result(&report, "preflight", "file compose.yml");
    assert_eq!(file["status"], "crit");
    assert!(
        file["message"].as_str().unwrap().contains("No such file"),
        "{file}"
    );
    assert_eq!(result(&report, "preflight", "docker")["status"], "ok");
    for service in ["db", "cache", "api", "web"] {
        assert_eq!(
            project.times(service).state,
            "created",
            "{service} was not started"
        );
    }
    // --skip-preflight goes ahead.
    ws.opsbook(&["startup", "--skip-preflight"]).expect_code(0);
    let run = ws.opsbook(&["shutdown", "--dry-run", "--format", "json"]);
    let report = run.expect_code(0).json();
    assert_eq!(
        report["plan"]["tiers"],
        serde_json::json!([["web"], ["api"], ["db", "cache"]])
    );
    assert_eq!(
        project.times("web").state,
        "running",
        "dry run stops nothing"
    );
}

#[test]
fn a_dependency_that_never_gets_healthy_starts_no_dependent() {
    let project = Project::new("sick");
    project
        .service("db")
        .healthcheck("echo db is sick; exit 1")
        .create();
    project.service("cache").create();
    project.service("api").create();
    project.service("web").create();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(&project, "startup:\n  timeout: 4s\n"),
    );
    let run = ws.opsbook(&["startup", "--format", "json"]);
    let report = run.expect_code(2).json();
    assert!(run.took < Duration::from_secs(12), "took {:?}", run.took);
    let db = result(&report, "startup", "db");
    assert_eq!(db["status"], "crit");
    assert!(
        db["message"]
            .as_str()
            .unwrap()
            .starts_with("not ready: running, health unhealthy: \"db is sick\""),
        "{db}"
    );
    assert_eq!(
        result(&report, "startup", "api")["message"],
        "not started: `db` is not ready"
    );
    assert_eq!(
        result(&report, "startup", "web")["message"],
        "not started: `api` is not ready"
    );
    assert_eq!(project.times("api").state, "created");
    assert_eq!(project.times("web").state, "created");
    assert_eq!(
        project.times("cache").state,
        "running",
        "what started stays up"
    );
    assert!(
        run.stderr
            .contains("the services that started are left running"),
        "{}",
        run.stderr
    );
}

#[test]
fn startup_up_creates_missing_containers() {
    let project = Project::new("up");
    let ws = Workspace::new();
    let create = |service: &str| {
        format!(
            "docker create --name {project}-{service}-1 --label com.docker.compose.project={project} \
             --label com.docker.compose.service={service} {image} sh -c \"trap 'exit 0' TERM; sleep 3600 & wait\"\n",
            project = project.name,
            image = crate::support::FIXTURE_IMAGE,
        )
    };
    ws.write(
        "up.sh",
        format!("set -e\necho creating\n{}{}", create("db"), create("api")),
    );
    let services = "services:\n  db: {}\n  api: { depends_on: [db] }\n";
    ws.write(
        "no-up.yaml",
        format!("version: 1\nproject: {}\n{services}", project.name),
    );
    let report = ws
        .opsbook(&["startup", "--runbook", "no-up.yaml", "--format", "json"])
        .expect_code(2)
        .json();
    let db = result(&report, "startup", "db");
    assert!(
        db["message"].as_str().unwrap().contains("add `startup.up`"),
        "{db}"
    );

    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {}\n{services}startup:\n  up: [sh, up.sh]\n",
            project.name
        ),
    );
    let report = ws
        .opsbook(&["startup", "--format", "json"])
        .expect_code(0)
        .json();
    let up = result(&report, "startup", "up");
    assert!(
        up["message"]
            .as_str()
            .unwrap()
            .starts_with("`sh up.sh` succeeded: \"creating"),
        "{up}"
    );
    assert_eq!(project.times("db").state, "running");
    assert_eq!(project.times("api").state, "running");
    assert!(started(&project, "api") >= started(&project, "db"));
}

#[test]
fn sigterm_during_startup_starts_nothing_new_and_reports() {
    let project = Project::new("sigterm");
    project.service("db").healthcheck("exit 1").create();
    project.service("cache").create();
    project.service("api").create();
    project.service("web").create();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(&project, "startup:\n  timeout: 60s\n"),
    );
    let child = ws.spawn(&["startup", "--format", "json"]);
    eventually("db started", LONG, || {
        project.times("db").state == "running"
    });
    std::thread::sleep(Duration::from_millis(500));
    let report = terminate(child).expect_code(2).json();
    assert_eq!(result(&report, "startup", "interrupted")["status"], "crit");
    let db = result(&report, "startup", "db");
    assert!(
        db["message"]
            .as_str()
            .unwrap()
            .contains("interrupted while waiting"),
        "{db}"
    );
    assert_eq!(
        result(&report, "startup", "api")["message"],
        "not started: `db` is not ready"
    );
    assert_eq!(project.times("api").state, "created");
}

#[test]
fn startup_starts_tier_by_tier_then_verifies() {
    let project = chain("x-startup", false);
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        chain_runbook(
            &project,
            "checks:\n  db-ready:\n    exec: { service: db, command: [test, -f, /tmp/ready] }\n\
             startup:\n  timeout: 40s\n  verify: [db-ready]\n",
        ),
    );
    assert_run(
        &ws.opsbook(&["startup"]),
        &filters(&ws, &project),
        0,
        r#"
STATUS  SECTION    NAME        MESSAGE
ok      preflight  docker      Docker answers
ok      startup    db          started, ready in [T]s
ok      startup    api         started, ready in [T]s
ok      startup    web         started, ready in [T]s
ok      checks     db-ready    `test -f /tmp/ready` succeeded
ok      criteria   memory      memory [N]% used, below crit 100%
ok      criteria   restarting  no service is restarting
ok: 7 ok in [MS] ms
"#,
        r#"
db: starting [PROJECT]-db-1
db: started, ready in [T]s
api: starting [PROJECT]-api-1
api: started, ready in [T]s
web: starting [PROJECT]-web-1
web: started, ready in [T]s
"#,
    );
    for service in ["db", "api", "web"] {
        assert_eq!(project.times(service).state, "running", "{service}");
    }
}

#[test]
fn startup_dry_run_shows_the_tiers_and_starts_nothing() {
    let project = chain("x-startup-dry", false);
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        chain_runbook(
            &project,
            "checks:\n  db-ready:\n    exec: { service: db, command: [test, -f, /tmp/ready] }\n\
             startup:\n  verify: [db-ready]\n",
        ),
    );
    assert_run(
        &ws.opsbook(&["startup", "--dry-run"]),
        &filters(&ws, &project),
        0,
        r#"
TIER  SERVICE  ACTION
1     db       start, wait until ready
2     api      start, wait until ready
3     web      start, wait until ready
then verify: db-ready
ok: 2 ok in [MS] ms
"#,
        "",
    );
    for service in ["db", "api", "web"] {
        assert_eq!(project.times(service).state, "created", "{service}");
    }
}

#[test]
fn startup_with_a_failing_preflight_starts_nothing() {
    let project = chain("x-startup-pre", false);
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        chain_runbook(
            &project,
            "startup:\n  preflight: { files: [compose.yml, opsbook.yaml] }\n",
        ),
    );
    assert_run(
        &ws.opsbook(&["startup"]),
        &filters(&ws, &project),
        2,
        r#"
STATUS  SECTION    NAME               MESSAGE
ok      preflight  docker             Docker answers
crit    preflight  file compose.yml   `[WS]/compose.yml`: No such file or directory (os error 2)
ok      preflight  file opsbook.yaml  present and readable
crit: 1 crit, 2 ok in [MS] ms
"#,
        "pre-flight failed: nothing was started\n",
    );
    for service in ["db", "api", "web"] {
        assert_eq!(project.times(service).state, "created", "{service}");
    }
}
