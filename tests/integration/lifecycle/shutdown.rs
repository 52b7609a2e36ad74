//! `opsbook shutdown`: reverse order with a grace, `--emergency`, and the
//! confirmation it needs.

use std::time::Duration;

use super::{chain, chain_runbook, filters};
use crate::support::exact::{Filters, assert_run};
use crate::support::{Project, Workspace, result};

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
fn shutdown_without_yes_and_without_a_terminal_stops_nothing() {
    let project = Project::new("x-shutdown");
    project.service("web").start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  web: {{}}\n",
            project.name
        ),
    );
    let filters = Filters::new(&ws).literal(&project.name, "[PROJECT]");
    assert_run(
        &ws.opsbook(&["shutdown"]),
        &filters,
        3,
        "",
        "error: stop 1 running container of `[PROJECT]`: this needs confirmation; without a terminal pass --yes (nothing was changed)\n",
    );
    assert_eq!(project.times("web").state, "running");
}

#[test]
fn shutdown_stops_in_reverse_order_and_checks_nothing_runs() {
    let project = chain("x-shutdown-all", true);
    let ws = Workspace::new();
    ws.write("opsbook.yaml", chain_runbook(&project, ""));
    assert_run(
        &ws.opsbook(&["shutdown", "--yes"]),
        &filters(&ws, &project),
        0,
        r#"
STATUS  SECTION   NAME    MESSAGE
ok      shutdown  web     stopped in [T]s
ok      shutdown  api     stopped in [T]s
ok      shutdown  db      stopped in [T]s
ok      shutdown  verify  no container of `[PROJECT]` is running
ok: 4 ok in [MS] ms
"#,
        r#"
web: stopping [PROJECT]-web-1
web: stopped in [T]s
api: stopping [PROJECT]-api-1
api: stopped in [T]s
db: stopping [PROJECT]-db-1
db: stopped in [T]s
"#,
    );
    for service in ["db", "api", "web"] {
        assert_eq!(project.times(service).state, "exited", "{service}");
    }
    // Already stopped: said so, exit 0.
    assert_run(
        &ws.opsbook(&["shutdown", "--yes"]),
        &filters(&ws, &project),
        0,
        r#"
STATUS  SECTION   NAME  MESSAGE
ok      shutdown  web   already stopped
ok      shutdown  api   already stopped
ok      shutdown  db    already stopped
ok: 3 ok in [MS] ms
"#,
        "",
    );
}

#[test]
fn shutdown_dry_run_shows_the_order_and_stops_nothing() {
    let project = chain("x-shutdown-dry", true);
    let ws = Workspace::new();
    ws.write("opsbook.yaml", chain_runbook(&project, ""));
    assert_run(
        &ws.opsbook(&["shutdown", "--dry-run"]),
        &filters(&ws, &project),
        0,
        r#"
ORDER  SERVICES  ACTION
1      web       stop with 5s grace
2      api       stop with 5s grace
3      db        stop with 5s grace
ok: 1 ok in [MS] ms
"#,
        "",
    );
    for service in ["db", "api", "web"] {
        assert_eq!(project.times(service).state, "running", "{service}");
    }
}
