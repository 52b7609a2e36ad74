//! `heal:` in `opsbook serve` against the real engine: a service whose
//! Docker healthcheck starts failing is restarted once (`restart SERVICE`,
//! as by hand), and when it stays unhealthy with its one restart used, heal
//! stops, opens an incident with its evidence and tells the `heal` target,
//! once; every action is on the heal history and in `/metrics`.

use std::time::Duration;

use crate::daily_check::webhook_receiver;
use crate::support::{CALM_HOST, Project, Workspace, eventually, free_port, terminate};

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
