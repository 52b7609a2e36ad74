//! `heal:` in `opsbook serve` against the real engine: a service whose
//! Docker healthcheck starts failing is restarted once (`restart SERVICE`,
//! as by hand), and when it stays unhealthy with its one restart used, heal
//! stops, opens an incident with its evidence and tells the `heal` target,
//! once; every action is on the heal history and in `/metrics`. heal's
//! calls to an engine that never answers hold up neither a due run nor
//! SIGTERM.

use std::time::Duration;

use crate::daily_check::webhook_receiver;
use crate::support::exact::{Filters, assert_run};
use crate::support::hanging::HangingEngine;
use crate::support::{CALM_HOST, Project, Spawned, Workspace, eventually, free_port, terminate};

const LONG: Duration = Duration::from_secs(60);

fn metrics(port: u16) -> String {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    use std::io::{Read, Write};
    let _ = write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn heal_restarts_an_unhealthy_service_once_then_opens_an_incident_and_tells_the_target() {
    let project = Project::new("heal");
    project
        .service("api")
        .healthcheck("test ! -f /tmp/sick")
        .start();
    project
        .service("db")
        .healthcheck("test ! -f /tmp/sick")
        .start();
    project.wait_for_health("api", "healthy", LONG);
    let (hook, received) = webhook_receiver();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\n{CALM_HOST}services:\n  api: {{}}\n  db: {{}}\n\
             startup: {{ timeout: 5s }}\nincident: {{ dir: ./incidents }}\n\
             heal: {{ services: [api], after: 2, max_restarts: 1, window: 1h, backoff: 1s }}\n\
             notify:\n  targets:\n    pager:\n      webhook: {{ url: \"http://127.0.0.1:{hook}/heal\" }}\n      commands: [heal]\n",
            project.name
        ),
    );
    ws.opsbook(&["validate"]).expect_code(0);
    let port = free_port();
    let agent = ws.spawn(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--state-dir",
        "state",
    ]);
    let first_start = project.times("api").started;

    // db is not heal's: it may be sick for ever.
    assert!(project.exec("db", "touch /tmp/sick"));
    assert!(project.exec("api", "touch /tmp/sick"));
    eventually("heal restarted api", LONG, || {
        project.times("api").started != first_start
    });
    let restarted_at = project.times("api").started;

    // The file survives the restart: api stays unhealthy, heal gives up.
    let told = received
        .recv_timeout(LONG)
        .expect("the heal target was told");
    let told: serde_json::Value = serde_json::from_str(&told).unwrap();
    assert_eq!(told["command"], "heal");
    assert_eq!(told["problems"][0]["name"], "api");
    let message = told["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "heal gave up on api: still unhealthy after 1 restart in 1h; incident INC-"
        ),
        "{message}"
    );

    let incidents: Vec<_> = std::fs::read_dir(ws.path().join("incidents"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(incidents.len(), 1, "one incident");
    let record = std::fs::read_to_string(incidents[0].path().join("incident.json")).unwrap();
    assert!(record.contains("heal gave up on api"), "{record}");
    assert!(
        incidents[0].path().join("evidence").is_dir(),
        "with its evidence"
    );

    eventually("the metrics count it", LONG, || {
        let text = metrics(port);
        text.contains("opsbook_heal_restarts_total{service=\"api\"} 1")
            && text.contains("opsbook_heal_gave_up_total{service=\"api\"} 1")
    });
    let text = metrics(port);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let (valid, said) = crate::serve::promtool(body);
    assert!(valid, "promtool: {said}\n{body}");
    // No second restart, no second message, and db was never touched.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        project.times("api").started,
        restarted_at,
        "restarted once only"
    );
    assert!(
        received.recv_timeout(Duration::from_millis(100)).is_err(),
        "told once"
    );
    assert!(!metrics(port).contains("service=\"db\""));
    let history = std::fs::read_to_string(
        std::fs::read_dir(ws.path().join("state/history"))
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with("-heal.jsonl"))
            .unwrap()
            .path(),
    )
    .unwrap();
    let actions: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(actions.len(), 2, "{history}");
    assert_eq!(actions[0]["action"], "restart");
    assert_eq!(actions[1]["action"], "gave-up");

    // Healthy again: heal forgets it gave up (its one restart still counts in the window).
    assert!(project.exec("api", "rm /tmp/sick"));
    project.wait_for_health("api", "healthy", LONG);
    let run = terminate(agent);
    assert!(run.stderr.contains("heal"), "{}", run.stderr);
}

/// A scheduled procedure that counts its runs in `ticks`, every 2 seconds.
pub(crate) const TICKING: &str = "procedures:\n  tick:\n    steps:\n      - sh: \"echo tick >> ticks\"\n\
     schedule:\n  run tick: \"*/2 * * * * *\"\n";

/// How many times the `tick` procedure ran.
pub(crate) fn ticks(ws: &Workspace) -> usize {
    std::fs::read_to_string(ws.path().join("ticks")).map_or(0, |t| t.lines().count())
}

/// The agent stopped by SIGTERM: within 10 s, exit 0, its report as ever;
/// its log.
pub(crate) fn stops_at_once(agent: Spawned, ws: &Workspace, port: u16) -> String {
    let run = agent.terminate_within(Duration::from_secs(15));
    assert!(
        run.took < Duration::from_secs(10),
        "SIGTERM took {:?} to end serve\n{}",
        run.took,
        run.stderr
    );
    let filters = Filters::new(ws)
        .literal(&format!("127.0.0.1:{port}"), "127.0.0.1:[PORT]")
        .regex(
            r"(?m)\bstopped after \d+ runs? in \d+[smh](?: \d+[smh])?$",
            "stopped after [N] runs in [UP]",
        );
    let stderr = run.stderr.clone();
    assert!(stderr.contains(" event=stopped runs="), "{stderr}");
    assert_run(
        &crate::support::Run {
            stderr: String::new(),
            ..run
        },
        &filters,
        0,
        r#"
STATUS  SECTION  NAME     MESSAGE
ok      serve    stopped  stopped after [N] runs in [UP]
ok: 1 ok in [MS] ms
"#,
        "",
    );
    stderr
}

/// Issue 33, item 12: heal looks at an engine that takes every request
/// and never answers the container list. The agent's due runs still start
/// on time, and SIGTERM still ends it within 10 s, exit 0 (it waited out
/// bollard's 120 s timeout before).
#[test]
fn a_hung_docker_call_of_heal_holds_up_neither_a_due_run_nor_sigterm() {
    let engine = HangingEngine::start(|request| {
        request.starts_with("GET ") && request.contains("/containers/json")
    });
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: opsbook-test-heal-hung-{}\n{CALM_HOST}services:\n  api: {{}}\n\
             heal: {{ services: [api] }}\n{TICKING}",
            std::process::id()
        ),
    );
    ws.opsbook(&["validate"]).expect_code(0);
    let port = free_port();
    let agent = Spawned::new(ws.spawn_with(
        &[
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state-dir",
            "state",
        ],
        &[("DOCKER_HOST", engine.host.as_str())],
    ));
    eventually("heal's look at the engine hangs", LONG, || {
        engine.hung() > 0
    });
    let before = ticks(&ws);
    eventually(
        "two due runs started while heal's call hangs",
        Duration::from_secs(30),
        || ticks(&ws) >= before + 2,
    );
    let log = stops_at_once(agent, &ws, port);
    assert!(
        !log.contains("event=dropped"),
        "a look is not waited for:\n{log}"
    );
}
