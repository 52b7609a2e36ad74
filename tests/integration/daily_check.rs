//! `opsbook daily-check` (and `report`) against live containers, real HTTP
//! servers, real log output and real files.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::status::{mixed_project, mixed_runbook};
use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, Project, Workspace, eventually, free_port, result};

const LONG: Duration = Duration::from_secs(30);

/// A runbook for `project` with calm host thresholds and the given sections.
fn runbook(project: &str, rest: &str) -> String {
    format!("version: 1\nname: shop\nproject: {project}\n{CALM_HOST}{rest}")
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
fn wait_for_port(port: u16) {
    eventually(&format!("port {port} open"), LONG, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// A web service serving `health` (JSON) and an index page on `port`.
fn web(project: &Project, service: &str, port: u16, health: &str) {
    project
        .service(service)
        .script(&format!(
            "mkdir -p /www; echo '{health}' > /www/health; echo '<h1>Shop</h1>' > /www/index.html; httpd -p 8080 -h /www"
        ))
        .port(8080, port)
        .start();
    wait_for_port(port);
}

fn manifest(ws: &Workspace, id: &str, age: Duration) {
    let created = jiff::Timestamp::now() - jiff::SignedDuration::try_from(age).unwrap();
    ws.write(
        &format!("backups/{id}/manifest.json"),
        format!(r#"{{"created_at": "{created}"}}"#),
    );
}

#[test]
fn a_healthy_deployment_passes_and_quiet_prints_nothing() {
    let project = Project::new("dc-green");
    let port = free_port();
    project
        .service("db")
        .healthcheck("true")
        .script("echo ready > /tmp/state")
        .start();
    web(
        &project,
        "web",
        port,
        r#"{"status": "ok", "db": {"up": true}}"#,
    );
    project.wait_for_health("db", "healthy", LONG);
    let ws = Workspace::new();
    manifest(&ws, "shop-fresh", Duration::from_secs(3600));
    ws.write(
        "opsbook.yaml",
        runbook(
            &project.name,
            &format!(
                "services:\n  db: {{ critical: true }}\n  web: {{ depends_on: [db] }}\n\
                 checks:\n  health:\n    http: {{ url: \"http://127.0.0.1:{port}/health\", json: {{ status: ok, db.up: true }}, timeout: 2s, max_latency: 2s }}\n\
                 \x20 home:\n    http: {{ url: \"http://127.0.0.1:{port}/\", contains: Shop }}\n\
                 \x20 db-state:\n    exec: {{ service: db, command: [cat, /tmp/state], stdout_contains: ready }}\n\
                 logs:\n  since: 1h\n  match: ['(?i)\\berror\\b']\n  warn: 1\n\
                 backup:\n  dir: ./backups\n  max_age: 26h\n"
            ),
        ),
    );
    let state = ws.path().join("state");
    let state = state.to_str().unwrap();
    let report = ws
        .opsbook(&["daily-check", "--state-dir", state, "--format", "json"])
        .expect_code(0)
        .json();
    for (section, name) in [
        ("host", "memory"),
        ("containers", "db"),
        ("containers", "web"),
        ("logs", "db"),
        ("checks", "health"),
        ("checks", "home"),
        ("checks", "db-state"),
        ("backups", "newest"),
        ("backups", "free space"),
    ] {
        assert_eq!(
            result(&report, section, name)["status"],
            "ok",
            "{section}/{name}: {report:#}"
        );
    }
    assert_eq!(
        result(&report, "checks", "db-state")["message"],
        "`cat /tmp/state` succeeded: \"ready\""
    );
    let quiet = ws.opsbook(&["daily-check", "--state-dir", state, "--quiet"]);
    quiet.expect_code(0);
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""));
}

#[test]
fn failures_are_crit_and_say_what_came_back() {
    let project = Project::new("dc-red");
    let port = free_port();
    let closed = free_port();
    project.service("db").start();
    project.stop("db");
    project
        .service("cache")
        .healthcheck("echo cache is down; exit 1")
        .start();
    web(&project, "web", port, r#"{"status": "degraded"}"#);
    project.wait_for_health("cache", "unhealthy", LONG);
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(
            &project.name,
            &format!(
                "services:\n  db: {{ critical: true }}\n  cache: {{ critical: true }}\n  web: {{}}\n\
                 checks:\n  health:\n    http: {{ url: \"http://127.0.0.1:{port}/health\", json: {{ status: ok }} }}\n\
                 \x20 missing:\n    http: {{ url: \"http://127.0.0.1:{port}/nope\" }}\n\
                 \x20 down:\n    http: {{ url: \"http://127.0.0.1:{closed}/health\", timeout: 2s }}\n\
                 \x20 cache-ping:\n    exec: {{ service: cache, command: [sh, -c, \"echo NOPE; exit 3\"] }}\n    hint: restart the cache\n\
                 \x20 cache-pong:\n    exec: {{ service: cache, command: [echo, PING], stdout_contains: PONG }}\n\
                 \x20 db-ready:\n    exec: {{ service: db, command: [\"true\"] }}\n\
                 \x20 slow:\n    exec: {{ service: web, command: [sleep, \"10\"], timeout: 1s }}\n"
            ),
        ),
    );
    let state = ws.path().join("state");
    let run = ws.opsbook(&[
        "daily-check",
        "--state-dir",
        state.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let report = run.expect_code(2).json();
    assert!(run.took < Duration::from_secs(8), "took {:?}", run.took);
    let check = |section: &str, name: &str| {
        let r = result(&report, section, name);
        (
            r["status"].as_str().unwrap().to_string(),
            r["message"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(check("containers", "db").0, "crit");
    assert_eq!(
        check("containers", "cache"),
        ("crit".into(), "running but unhealthy: cache is down".into())
    );
    assert_eq!(
        check("checks", "health"),
        (
            "crit".into(),
            "`status` is \"degraded\", expected \"ok\"".into()
        )
    );
    assert!(
        check("checks", "missing")
            .1
            .starts_with("status 404, expected 200"),
        "{:?}",
        check("checks", "missing")
    );
    assert_eq!(check("checks", "down").0, "crit");
    assert!(
        check("checks", "down").1.starts_with("request failed: "),
        "{:?}",
        check("checks", "down")
    );
    assert_eq!(
        check("checks", "cache-ping"),
        (
            "crit".into(),
            "`sh -c echo NOPE; exit 3` exited 3: \"NOPE\" (hint: restart the cache)".into()
        )
    );
    assert_eq!(
        check("checks", "cache-pong"),
        (
            "crit".into(),
            "output of `echo PING` does not contain `PONG`: \"PING\"".into()
        )
    );
    assert_eq!(
        check("checks", "db-ready"),
        ("crit".into(), "no running container of service `db`".into())
    );
    assert_eq!(
        check("checks", "slow"),
        ("crit".into(), "`sleep 10` gave no answer within 1s".into())
    );

    // The same run in JUnit: well-formed, the failures are failures.
    let junit = ws.opsbook(&[
        "daily-check",
        "--state-dir",
        state.to_str().unwrap(),
        "--format",
        "junit",
    ]);
    junit.expect_code(2);
    let xml = roxmltree::Document::parse(&junit.stdout).expect("well-formed XML");
    let failures = xml
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    assert_eq!(failures, 9, "{}", junit.stdout);
}

/// Accepts connections and never answers.
fn black_hole() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[test]
fn a_hanging_endpoint_is_crit_within_its_own_timeout() {
    let port = black_hole();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(
            "none",
            &format!(
                "checks:\n  hang:\n    http: {{ url: \"http://127.0.0.1:{port}/\", timeout: 1s }}\n  \
                 forever:\n    http: {{ url: \"http://127.0.0.1:{port}/\", timeout: 60s }}\n"
            ),
        ),
    );
    let state = ws.path().join("state");
    let run = ws.opsbook(&[
        "daily-check",
        "--only",
        "checks",
        "--timeout",
        "3s",
        "--state-dir",
        state.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let report = run.expect_code(2).json();
    assert!(run.took < Duration::from_secs(5), "took {:?}", run.took);
    assert_eq!(
        result(&report, "checks", "hang")["message"],
        "no answer within 1s"
    );
    let forever = result(&report, "checks", "forever");
    assert_eq!(forever["status"], "unknown");
    assert_eq!(
        forever["message"],
        "did not finish within the run's 3s deadline (--timeout)"
    );
}

#[test]
fn error_lines_in_logs_warn_and_secrets_never_leave() {
    let project = Project::new("dc-logs");
    project
        .service("api")
        .script(
            "echo 'ERROR login failed for bob password=hunter2'; echo 'all good'; \
             echo 'FATAL upstream said Bearer abcdefghijkl'; echo 'ERROR cannot reach postgres://shop:s3cretpw@db/shop'",
        )
        .start();
    project.service("db").start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(
            &project.name,
            "services:\n  db: {}\n  api: {}\nlogs:\n  since: 10m\n  match: ['(?i)\\berror\\b', '(?i)\\bfatal\\b']\n  warn: 1\n  crit: 100\n",
        ),
    );
    let state = ws.path().join("state");
    let state = state.to_str().unwrap();
    eventually("log lines written", LONG, || {
        ws.opsbook(&[
            "daily-check",
            "--only",
            "logs",
            "--state-dir",
            state,
            "--format",
            "json",
        ])
        .code
            == 1
    });
    let report = ws
        .opsbook(&[
            "daily-check",
            "--only",
            "logs",
            "--state-dir",
            state,
            "--format",
            "json",
        ])
        .json();
    let api = result(&report, "logs", "api");
    assert_eq!(api["status"], "warn");
    assert_eq!(api["value"], 3.0);
    assert_eq!(
        api["message"],
        "3 matching lines in the last 10m: \"ERROR login failed for bob password=****\", \
         \"FATAL upstream said Bearer ****\", \"ERROR cannot reach postgres://shop:****@db/shop\""
    );
    assert_eq!(result(&report, "logs", "db")["status"], "ok");
    for format in ["table", "json", "junit", "prometheus"] {
        let run = ws.opsbook(&[
            "daily-check",
            "--only",
            "logs",
            "--state-dir",
            state,
            "--format",
            format,
        ]);
        for secret in ["hunter2", "abcdefghijkl", "s3cretpw"] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{secret} in {format}"
            );
        }
    }
    for entry in walk(ws.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        assert!(!text.contains("hunter2"), "secret in {}", entry.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn backup_age_is_graded_against_max_age() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook("none", "backup:\n  dir: ./backups\n  max_age: 26h\n"),
    );
    let state = ws.path().join("state");
    let newest = || {
        let report = ws
            .opsbook(&[
                "daily-check",
                "--only",
                "backups",
                "--state-dir",
                state.to_str().unwrap(),
                "--format",
                "json",
            ])
            .json();
        let r = result(&report, "backups", "newest").clone();
        assert_eq!(result(&report, "backups", "free space")["status"], "ok");
        (
            r["status"].as_str().unwrap().to_string(),
            r["message"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        newest(),
        ("warn".into(), "no backup yet in ./backups".into())
    );
    // A backup still being written (or killed half-way) does not count.
    ws.write(".keep", "");
    manifest(&ws, ".shop-partial", Duration::from_secs(60));
    assert_eq!(newest().0, "warn");
    manifest(&ws, "shop-old", Duration::from_secs(60 * 3600));
    assert_eq!(
        newest(),
        (
            "crit".into(),
            "newest backup `shop-old` is 2d 12h old, older than max_age 26h".into()
        )
    );
    manifest(&ws, "shop-stale", Duration::from_secs(30 * 3600));
    assert_eq!(
        newest(),
        (
            "warn".into(),
            "newest backup `shop-stale` is 1d 6h old, older than max_age 26h".into()
        )
    );
    manifest(&ws, "shop-fresh", Duration::from_secs(3 * 3600));
    assert_eq!(
        newest(),
        ("ok".into(), "newest backup `shop-fresh` is 3h old".into())
    );
}

#[test]
fn docker_unreachable_is_exit_3_with_host_results() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook("shop", "services:\n  db: { critical: true }\n"),
    );
    let state = ws.path().join("state");
    let host = format!("unix://{}/docker.sock", ws.path().display());
    let run = ws.opsbook_with(
        &[
            "daily-check",
            "--state-dir",
            state.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[("DOCKER_HOST", &host)],
    );
    let report = run.expect_code(3).json();
    assert!(run.took < Duration::from_secs(6));
    assert_eq!(result(&report, "host", "memory")["status"], "ok");
    let engine = result(&report, "docker", "engine");
    assert_eq!(engine["status"], "unknown");
    assert!(
        engine["message"].as_str().unwrap().contains(&host),
        "{engine}"
    );
}

#[test]
fn a_crossed_threshold_is_crit() {
    let ws = Workspace::new();
    let hot = runbook("none", "").replace(
        "memory: { warn: 100%, crit: 100% }",
        "memory: { warn: 0%, crit: 0% }",
    );
    ws.write("opsbook.yaml", hot);
    let state = ws.path().join("state");
    let report = ws
        .opsbook(&[
            "daily-check",
            "--only",
            "host",
            "--state-dir",
            state.to_str().unwrap(),
            "--format",
            "json",
        ])
        .expect_code(2)
        .json();
    assert_eq!(result(&report, "host", "memory")["status"], "crit");
}

#[test]
fn runs_are_recorded_and_report_reads_them() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", runbook("none", ""));
    let state = ws.path().join("state");
    let state_arg = state.to_str().unwrap();
    for _ in 0..3 {
        ws.opsbook(&["daily-check", "--only", "host", "--state-dir", state_arg])
            .expect_code(0);
    }
    let histories: Vec<_> = std::fs::read_dir(state.join("history"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(histories.len(), 1);
    let text = std::fs::read_to_string(histories[0].path()).unwrap();
    assert_eq!(text.lines().count(), 3);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["command"], "daily-check");
    assert!(first["host"]["memory_percent"].is_f64());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let report = ws
        .opsbook(&["report", "--state-dir", state_arg, "--format", "json"])
        .expect_code(0)
        .json();
    let days = report["days"].as_array().unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0]["runs"], 3);
    assert!(days[0]["memory_peak"].as_f64().unwrap() > 0.0);
    let table = ws.opsbook(&["report", "--state-dir", state_arg]);
    assert!(table.stdout.contains("memory peak ▄"), "{}", table.stdout);
    assert!(
        table.stdout.contains("3 runs in the last 7d"),
        "{}",
        table.stdout
    );

    // No history: nothing to evaluate.
    let other = ws.path().join("elsewhere");
    let run = ws.opsbook(&["report", "--state-dir", other.to_str().unwrap()]);
    run.expect_code(3);
    assert!(
        run.stdout
            .contains("no daily-check recorded for this runbook in the last 7d"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_second_run_of_the_same_runbook_exits_3_naming_the_holder() {
    let port = black_hole();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(
            "none",
            &format!(
                "checks:\n  hang:\n    http: {{ url: \"http://127.0.0.1:{port}/\", timeout: 4s }}\n"
            ),
        ),
    );
    let state = ws.path().join("state");
    let first = ws.spawn(&[
        "daily-check",
        "--only",
        "checks",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    let lock_dir = state.join("locks");
    eventually("the first run holds the lock", LONG, || {
        std::fs::read_dir(&lock_dir)
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.starts_with("pid ")))
            })
            .unwrap_or(false)
    });
    let second = ws.opsbook(&[
        "daily-check",
        "--only",
        "checks",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    second.expect_code(3);
    assert!(
        second.stderr.starts_with(&format!(
            "error: another run of this runbook holds the lock: pid {} (daily-check)",
            first.id()
        )),
        "{}",
        second.stderr
    );
    assert_eq!(first.wait_with_output().unwrap().status.code(), Some(2));
    // Released when the holder ends.
    ws.opsbook(&[
        "daily-check",
        "--only",
        "host",
        "--state-dir",
        state.to_str().unwrap(),
    ])
    .expect_code(0);
}

#[test]
fn a_restart_since_the_last_run_is_a_warn() {
    let project = Project::new("dc-restart");
    project
        .service("worker")
        .script("while [ ! -f /tmp/crash ]; do sleep 0.2; done; rm /tmp/crash; exit 1")
        .restart_on_failure()
        .start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(&project.name, "services:\n  worker: {}\n"),
    );
    let state = ws.path().join("state");
    let args = [
        "daily-check",
        "--only",
        "containers",
        "--state-dir",
        state.to_str().unwrap(),
        "--format",
        "json",
    ];
    ws.opsbook(&args).expect_code(0);
    assert!(project.exec("worker", "touch /tmp/crash"));
    eventually("the worker restarted", LONG, || {
        project.restart_count("worker") == 1
    });
    eventually("the worker is running again", LONG, || {
        let report = ws.opsbook(&args).json();
        result(&report, "containers", "worker")["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("running"))
    });
    // That last run already saw the restart; record a clean baseline, crash again, look once.
    assert!(project.exec("worker", "touch /tmp/crash"));
    eventually("the worker restarted again", LONG, || {
        project.restart_count("worker") == 2
    });
    std::thread::sleep(Duration::from_millis(500));
    let report = ws.opsbook(&args).json();
    let worker = result(&report, "containers", "worker");
    assert_eq!(worker["status"], "warn", "{worker}");
    assert_eq!(
        worker["message"],
        "running; restarted 1 times since the last check"
    );
    let report = ws.opsbook(&args).expect_code(0).json();
    assert_eq!(
        result(&report, "containers", "worker")["status"],
        "ok",
        "only once"
    );
}

#[test]
fn wait_runs_again_until_everything_passes() {
    let project = Project::new("dc-wait");
    project
        .service("db")
        .script("(sleep 3; touch /tmp/ready) &")
        .start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(&project.name, "services:\n  db: {}\nchecks:\n  ready:\n    exec: { service: db, command: [test, -f, /tmp/ready] }\n"),
    );
    let state = ws.path().join("state");
    let state = state.to_str().unwrap();
    ws.opsbook(&["daily-check", "--only", "checks", "--state-dir", state])
        .expect_code(2);
    let run = ws.opsbook(&[
        "daily-check",
        "--only",
        "checks",
        "--state-dir",
        state,
        "--wait",
        "30s",
    ]);
    run.expect_code(0);
    // Header, one result, summary: only the last run is printed.
    assert_eq!(run.stdout.lines().count(), 3, "{}", run.stdout);
}

/// Answers one POST with 200 and hands its body over.
pub(crate) fn webhook_receiver() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            let _ = sender.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (port, receiver)
}

#[test]
fn bad_runs_are_notified_and_a_dead_webhook_changes_nothing() {
    let (port, received) = webhook_receiver();
    let ws = Workspace::new();
    let state = ws.path().join("state");
    let args = [
        "daily-check",
        "--only",
        "backups",
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let with_webhook = |url: String, on: &str| {
        runbook(
            "none",
            &format!("backup:\n  dir: ./backups\nnotify:\n  webhook: {{ url: \"{url}\"{on} }}\n"),
        )
    };
    ws.write(
        "opsbook.yaml",
        with_webhook(format!("http://127.0.0.1:{port}/hook"), ""),
    );
    ws.opsbook(&args).expect_code(1);
    let body: serde_json::Value =
        serde_json::from_str(&received.recv_timeout(LONG).unwrap()).unwrap();
    assert_eq!(body["status"], "warn");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("opsbook daily-check of `opsbook.yaml`"),
        "{text}"
    );
    assert!(
        text.contains("*WARN*") && text.contains("no backup yet in ./backups"),
        "{text}"
    );

    ws.write(
        "opsbook.yaml",
        with_webhook(format!("http://127.0.0.1:{port}/hook"), ", on: [crit]"),
    );
    ws.opsbook(&args).expect_code(1);
    assert!(
        received.recv_timeout(Duration::from_secs(1)).is_err(),
        "warn is not in `on`"
    );

    ws.write(
        "opsbook.yaml",
        with_webhook(format!("http://127.0.0.1:{}/hook", free_port()), ""),
    );
    let run = ws.opsbook(&args);
    run.expect_code(1);
    assert!(
        run.stderr.contains("notification to the webhook failed"),
        "{}",
        run.stderr
    );
}

/// `openssl s_server` with a certificate valid for `days`, trusted through the check's `ca`.
pub(crate) struct TlsServer {
    child: Child,
    pub(crate) port: u16,
}

impl TlsServer {
    pub(crate) fn start(ws: &Workspace, days: u32) -> TlsServer {
        // A CA (what the check trusts) and a server certificate it signed.
        ws.write(
            "leaf.ext",
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        );
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=opsbook test CA",
                "-days",
                "30",
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-extfile",
                "leaf.ext",
                "-out",
                "cert.pem",
                "-days",
            ],
        ];
        for (n, step) in steps.iter().enumerate() {
            let mut command = std::process::Command::new("openssl");
            command
                .args(*step)
                .current_dir(ws.path())
                .stderr(Stdio::null())
                .stdout(Stdio::null());
            match n {
                0 => command.args(["-keyout", "ca.key", "-out", "ca.pem"]),
                2 => command.arg(days.to_string()),
                _ => &mut command,
            };
            let status = command
                .status()
                .expect("openssl (scripts/test.sh installs it)");
            assert!(status.success(), "openssl {step:?}");
        }
        let port = free_port();
        let child = std::process::Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-www",
                "-accept",
                &port.to_string(),
                "-cert",
                "cert.pem",
                "-key",
                "key.pem",
            ])
            .current_dir(ws.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port);
        TlsServer { child, port }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_certificate_expiring_within_14_days_is_a_warn() {
    let ws = Workspace::new();
    let server = TlsServer::start(&ws, 7);
    ws.write(
        "opsbook.yaml",
        runbook(
            "none",
            &format!(
                "checks:\n  tls:\n    http: {{ url: \"https://127.0.0.1:{}/\", ca: ca.pem }}\n",
                server.port
            ),
        ),
    );
    let state = ws.path().join("state");
    let report = ws
        .opsbook(&[
            "daily-check",
            "--only",
            "checks",
            "--state-dir",
            state.to_str().unwrap(),
            "--format",
            "json",
        ])
        .expect_code(1)
        .json();
    let tls = result(&report, "checks", "tls");
    let message = tls["message"].as_str().unwrap();
    assert!(message.starts_with("200 in "), "{message}");
    assert!(
        message.ends_with("; TLS certificate expires in 7 days"),
        "{message}"
    );
}

#[test]
fn a_project_without_containers_is_named_with_the_runbook_and_the_engine() {
    let ws = Workspace::new();
    // Other tests run compose projects on the same engine at the same time,
    // so "no project at all" cannot be arranged here: a runbook naming a
    // project that has no container takes the same path with its own words.
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nproject: opsbook-test-nothing-here\n{CALM_HOST}"),
    );
    let run = ws.opsbook(&["daily-check", "--state-dir", "state"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("no container of compose project `opsbook-test-nothing-here` on"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("(runbook opsbook.yaml)"),
        "{}",
        run.stdout
    );
}

/// Serves `/health` (200, `{"status": "ok"}`) and nothing else (404) on a
/// free port of 127.0.0.1, for as long as the test runs.
fn tiny_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buffer = [0; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request);
            let (status, body) = if request.starts_with("GET /health ") {
                ("200 OK", r#"{"status": "ok"}"#)
            } else {
                ("404 Not Found", "not here")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}
#[test]
fn daily_check_table() {
    let project = mixed_project("x-daily");
    let port = tiny_server();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        mixed_runbook(
            &project,
            &format!(
                "checks:\n  health:\n    http: {{ url: \"http://127.0.0.1:{port}/health\", json: {{ status: ok }} }}\n\
                 \x20 gone:\n    http: {{ url: \"http://127.0.0.1:{port}/gone\" }}\n\
                 \x20 db-file:\n    exec: {{ service: db, command: [cat, /nope] }}\n    hint: the db writes it when it starts\n"
            ),
        ),
    );
    let filters = Filters::new(&ws)
        .literal(&project.name, "[PROJECT]")
        .regex(r"(?m)\b200 in \d+ ms$", "200 in [MS] ms")
        .resource_results()
        .host();
    let run = ws.opsbook(&["daily-check", "--state-dir", "state"]);
    assert_run(
        &run,
        &filters,
        2,
        r#"
STATUS  SECTION     NAME     MESSAGE
ok      host        memory   memory [N]% used ([SIZE] of [SIZE])
ok      host        swap     [SWAP]
ok      host        load     load [LOAD] per core ([LOAD] over [N] cores)
ok      host        disk /   / [N]% used ([SIZE] free)
ok      containers  db       running, healthy
warn    containers  worker   exited with code 3
ok      containers  web      running
warn    containers  api      no container for this service
ok      resources   db       memory [MEM] of [SIZE] host ([N]%); cpu [CPU]% of one core (no CPU limit); [PIDS]
ok      resources   web      memory [MEM] of [SIZE] host ([N]%); cpu [CPU]% of one core (no CPU limit); [PIDS]
crit    checks      db-file  `cat /nope` exited 1: "cat: can't open '/nope': No such file or directory" (hint: the db writes it when it starts)
ok      checks      health   200 in [MS] ms
crit    checks      gone     status 404, expected 200: "not here"
crit: 2 crit, 2 warn, 9 ok in [MS] ms
"#,
        "",
    );
}

#[test]
fn daily_check_when_docker_cannot_be_reached_still_grades_the_host() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(
            &crate::support::empty_project(),
            "services:\n  web: { critical: true }\n",
        ),
    );
    let host = format!("unix://{}/no-docker.sock", ws.path().display());
    let run = ws.opsbook_with(
        &["daily-check", "--state-dir", "state"],
        &[("DOCKER_HOST", &host)],
    );
    assert_run(
        &run,
        &Filters::new(&ws).host(),
        3,
        r#"
STATUS   SECTION  NAME    MESSAGE
ok       host     memory  memory [N]% used ([SIZE] of [SIZE])
ok       host     swap    [SWAP]
ok       host     load    load [LOAD] per core ([LOAD] over [N] cores)
ok       host     disk /  / [N]% used ([SIZE] free)
unknown  docker   engine  cannot reach Docker at `unix://[WS]/no-docker.sock`: Socket not found: [WS]/no-docker.sock
unknown: 1 unknown, 4 ok in [MS] ms
"#,
        "",
    );
}

#[test]
fn daily_check_while_another_run_holds_the_lock() {
    let port = black_hole();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(
            "none",
            &format!(
                "checks:\n  hang:\n    http: {{ url: \"http://127.0.0.1:{port}/\", timeout: 10s }}\n"
            ),
        ),
    );
    let first = ws.spawn(&["daily-check", "--only", "checks", "--state-dir", "state"]);
    let locks = ws.path().join("state/locks");
    eventually("the first run holds the lock", LONG, || {
        std::fs::read_dir(&locks).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.starts_with("pid ")))
        })
    });
    let filters = Filters::new(&ws)
        .literal(&format!("pid {} ", first.id()), "pid [PID] ")
        .regex(
            r"\bstate/locks/shop-[0-9a-f]+\.lock",
            "state/locks/shop-[HASH].lock",
        );
    assert_run(
        &ws.opsbook(&["daily-check", "--only", "checks", "--state-dir", "state"]),
        &filters,
        3,
        "",
        "error: another run of this runbook holds the lock: pid [PID] (daily-check) (lock `state/locks/shop-[HASH].lock`)\n",
    );
    assert_eq!(first.wait_with_output().unwrap().status.code(), Some(2));
}
