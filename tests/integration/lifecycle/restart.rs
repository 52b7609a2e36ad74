//! `opsbook restart`: the named services (and with `--with-dependents`
//! what depends on them) stopped in reverse order and started again in
//! order; exited services left alone; a signal never leaves them down.

use std::time::Duration;

use super::{LONG, chain, chain_runbook, filters, runbook, started};
use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, Project, Workspace, empty_project, eventually, result, terminate};

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

#[test]
fn restart_of_an_unknown_service() {
    let ws = Workspace::new();
    let project = empty_project();
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\nproject: {project}\nservices:\n  db: {{}}\n  api: {{ depends_on: [db] }}\n"),
    );
    let filters = Filters::new(&ws).literal(&project, "[PROJECT]");
    assert_run(
        &ws.opsbook(&["restart", "nosuchservice", "--yes"]),
        &filters,
        3,
        "",
        "error: unknown service `nosuchservice` (services are: db, api)\n",
    );
}

#[test]
fn restart_leaves_exited_services_alone_and_a_signal_cuts_its_waits_short() {
    let project = Project::new("hd-restart");
    project.service("db").start();
    // Never healthy: a restart that waits for it would wait the full timeout.
    project
        .service("api")
        .healthcheck("test -f /nowhere")
        .start();
    // Of the project but not in the runbook, and exited before the restart.
    project.service("oneoff").script("exit 0").start();
    eventually("oneoff exited", LONG, || {
        project.times("oneoff").state == "exited"
    });
    let oneoff_before = project.times("oneoff");
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\n  api: {{ depends_on: [db] }}\n\
             startup:\n  timeout: 120s\nshutdown:\n  grace: 1s\n",
            project.name
        ),
    );
    let plan = ws
        .opsbook(&["restart", "--dry-run", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(plan["plan"]["start"], serde_json::json!([["db"], ["api"]]));
    assert_eq!(plan["left_alone"], serde_json::json!(["oneoff"]));

    let api_before = project.times("api").started;
    let child = ws.spawn(&["restart", "--yes", "--format", "json"]);
    eventually("api was started again", LONG, || {
        let now = project.times("api");
        now.state == "running" && now.started != api_before
    });
    let run = terminate(child);
    assert!(
        run.took < Duration::from_secs(20),
        "the signal ended the wait: took {:?}\n{}",
        run.took,
        run.stderr
    );
    run.expect_code(2);
    let report = run.json();
    let api = result(&report, "restart", "api");
    assert!(
        api["message"].as_str().unwrap().contains("not waited for"),
        "{api}"
    );
    assert!(
        result(&report, "restart", "oneoff")["message"]
            .as_str()
            .unwrap()
            .contains("left alone")
    );
    assert_eq!(project.times("db").state, "running");
    assert_eq!(project.times("api").state, "running");
    let oneoff = project.times("oneoff");
    assert_eq!(oneoff.state, "exited");
    assert_eq!(
        oneoff.started, oneoff_before.started,
        "oneoff was never started"
    );
}

#[test]
fn restart_of_one_service_stops_and_starts_only_it() {
    let project = chain("x-restart-one", true);
    let ws = Workspace::new();
    ws.write("opsbook.yaml", chain_runbook(&project, ""));
    project.wait_for_health("db", "healthy", LONG);
    let web = started(&project, "web");
    assert_run(
        &ws.opsbook(&["restart", "api", "--yes"]),
        &filters(&ws, &project),
        0,
        r#"
STATUS  SECTION  NAME  MESSAGE
ok      restart  api   stopped in [T]s; started, ready in [T]s
ok: 1 ok in [MS] ms
"#,
        r#"
api: stopping [PROJECT]-api-1
api: stopped in [T]s
api: starting [PROJECT]-api-1
api: started, ready in [T]s
"#,
    );
    assert_eq!(started(&project, "web"), web, "web was not restarted");
}

#[test]
fn restart_dry_run_shows_the_stop_and_start_order() {
    let project = chain("x-restart-dry", true);
    let ws = Workspace::new();
    ws.write("opsbook.yaml", chain_runbook(&project, ""));
    let db = started(&project, "db");
    assert_run(
        &ws.opsbook(&["restart", "--dry-run"]),
        &filters(&ws, &project),
        0,
        r#"
stop   1. web   2. api   3. db
start  1. db   2. api   3. web
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert_eq!(started(&project, "db"), db, "nothing was restarted");
}

#[test]
fn restart_of_a_stopped_deployment_leaves_it_alone() {
    let project = chain("x-restart-stopped", false);
    let ws = Workspace::new();
    ws.write("opsbook.yaml", chain_runbook(&project, ""));
    assert_run(
        &ws.opsbook(&["restart", "--yes"]),
        &filters(&ws, &project),
        0,
        r#"
STATUS  SECTION  NAME  MESSAGE
ok      restart  db    not running before the restart: left alone (`opsbook startup` starts it)
ok      restart  api   not running before the restart: left alone (`opsbook startup` starts it)
ok      restart  web   not running before the restart: left alone (`opsbook startup` starts it)
ok: 3 ok in [MS] ms
"#,
        "",
    );
    for service in ["db", "api", "web"] {
        assert_eq!(project.times(service).state, "created", "{service}");
    }
}
