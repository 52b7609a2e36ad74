//! `opsbook startup`, `shutdown` and `restart` against real containers: the
//! order is read back from Docker's own StartedAt / FinishedAt.

use std::time::Duration;

use crate::support::{CALM_HOST, Project, Workspace, eventually, result, terminate};

const LONG: Duration = Duration::from_secs(60);

/// db (healthy two seconds after it starts), cache (no healthcheck), api
/// needs both, web needs api. Created, not started.
fn shop(tag: &str) -> Project {
    let project = Project::new(tag);
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
fn emergency_shutdown_kills_at_once() {
    let project = Project::new("emergency");
    // Ignores SIGTERM: a graceful stop would wait out the whole grace.
    for service in ["db", "api"] {
        project.service(service).script("trap '' TERM").start();
    }
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nproject: {}\nservices:\n  db: {{}}\n  api: {{ depends_on: [db] }}\nshutdown:\n  grace: 60s\n", project.name),
    );
    let run = ws.opsbook(&["shutdown", "--emergency", "--yes", "--format", "json"]);
    let report = run.expect_code(0).json();
    assert!(run.took < Duration::from_secs(10), "took {:?}", run.took);
    assert_eq!(result(&report, "shutdown", "verify")["status"], "ok");
    for service in ["db", "api"] {
        let times = project.times(service);
        assert_eq!(
            (times.state.as_str(), times.exit_code),
            ("exited", 137),
            "{service} was killed"
        );
    }
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
fn restart_one_service_with_and_without_its_dependents() {
    let project = Project::new("restart");
    for service in ["db", "cache", "api", "web"] {
        project.service(service).start();
    }
    let ws = Workspace::new();
    ws.write("opsbook.yaml", runbook(&project, ""));
    let before = |service: &str| started(&project, service);
    let (db, web) = (before("db"), before("web"));
    let api = before("api");

    let report = ws
        .opsbook(&["restart", "api", "--yes", "--format", "json"])
        .expect_code(0)
        .json();
    let message = result(&report, "restart", "api")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("stopped in ") && message.contains("; started, ready in "),
        "{message}"
    );
    assert!(before("api") > api, "api restarted");
    assert_eq!(
        before("web"),
        web,
        "web untouched without --with-dependents"
    );
    assert_eq!(before("db"), db, "dependencies untouched");

    let api = before("api");
    ws.opsbook(&["restart", "api", "--with-dependents", "--yes"])
        .expect_code(0);
    assert!(before("api") > api);
    assert!(before("web") > web, "web restarted with its dependency");
    assert!(before("web") > before("api"), "web started after api");
    assert_eq!(before("db"), db);

    let run = ws.opsbook(&["restart", "nope", "--yes"]);
    run.expect_code(3);
    assert_eq!(
        run.stderr,
        "error: unknown service `nope` (services are: db, cache, api, web)\n"
    );
    ws.opsbook(&["restart", "api"]).expect_code(3);
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
fn sigterm_mid_restart_starts_again_what_it_stopped() {
    let project = Project::new("restart-term");
    // db ignores SIGTERM: its stop waits out the grace, time to send a signal.
    project
        .service("db")
        .script("trap '' TERM; sleep 3600")
        .start();
    project.service("api").start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {}\n{CALM_HOST}services:\n  db: {{}}\n  api: {{ depends_on: [db] }}\nshutdown:\n  grace: 4s\n",
            project.name
        ),
    );
    let child = ws.spawn(&["restart", "--yes", "--format", "json"]);
    eventually("api was stopped", LONG, || {
        project.times("api").state == "exited"
    });
    std::thread::sleep(Duration::from_millis(300));
    let report = terminate(child).expect_code(2).json();
    assert_eq!(result(&report, "restart", "interrupted")["status"], "crit");
    for service in ["db", "api"] {
        assert_eq!(
            project.times(service).state,
            "running",
            "{service} was started again after the signal"
        );
    }
}
