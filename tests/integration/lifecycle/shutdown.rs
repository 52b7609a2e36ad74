//! `opsbook shutdown`: reverse order with a grace, `--emergency`, and the
//! confirmation it needs.

use std::time::Duration;

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
