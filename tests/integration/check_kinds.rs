//! The checks beyond yes/no (issue 15): numbers read from an exec check's
//! output, a host command's output, a JSON path and a response time, graded
//! above and below thresholds; file and tcp checks; and `for:`, crit only
//! once every run over the window failed.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use crate::support::{Project, Workspace, result};

/// `daily-check --only checks` of `checks` (YAML under `checks:`), as JSON.
fn checks(ws: &Workspace, project: Option<&str>, checks: &str) -> serde_json::Value {
    let project = project.map_or(String::new(), |p| format!("project: {p}\n"));
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: kinds\n{project}checks:\n{checks}"),
    );
    let run = ws.opsbook(&[
        "daily-check",
        "--only",
        "checks",
        "--state-dir",
        "state",
        "--format",
        "json",
    ]);
    assert!(run.code < 3, "{}{}", run.stdout, run.stderr);
    run.json()
}

fn graded(report: &serde_json::Value, name: &str) -> (String, String) {
    let r = result(report, "checks", name);
    (
        r["status"].as_str().unwrap_or_default().to_string(),
        r["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn exec_values_are_graded_above_and_below_in_their_unit() {
    let project = Project::new("kinds-exec");
    project.service("db").start();
    let ws = Workspace::new();
    let report = checks(
        &ws,
        Some(&project.name),
        "  connections:\n    exec: { service: db, command: [echo, \"152\"] }\n    value: { above: { warn: 120, crit: 150 } }\n\
         \x20 few:\n    exec: { service: db, command: [echo, \"97\"] }\n    value: { above: { warn: 120, crit: 150 } }\n\
         \x20 memory:\n    exec: { service: db, command: [sh, -c, \"echo '# Memory'; echo used_memory:471859200\"] }\n    value: { regex: 'used_memory:(\\d+)', above: { warn: 400MiB, crit: 512MiB } }\n\
         \x20 hits:\n    exec: { service: db, command: [echo, '{\"stats\": {\"hit_rate\": 89.5}}'] }\n    value: { json: stats.hit_rate, below: { warn: 95%, crit: 90% } }\n",
    );
    assert_eq!(
        graded(&report, "connections"),
        (
            "crit".into(),
            "`echo 152`: value 152, above crit 150".into()
        )
    );
    assert_eq!(
        graded(&report, "few"),
        ("ok".into(), "`echo 97`: value 97".into())
    );
    let memory = graded(&report, "memory");
    assert_eq!(memory.0, "warn", "{memory:?}");
    assert!(
        memory.1.ends_with("value 450.0 MiB, above warn 400.0 MiB"),
        "{memory:?}"
    );
    assert_eq!(result(&report, "checks", "memory")["value"], 471_859_200.0);
    assert_eq!(result(&report, "checks", "memory")["unit"], "bytes");
    let hits = graded(&report, "hits");
    assert_eq!(hits.0, "crit", "{hits:?}");
    assert!(hits.1.ends_with("value 89.5%, below crit 90%"), "{hits:?}");
}

#[test]
fn a_host_command_check_reads_its_number_and_a_bad_number_says_why() {
    let ws = Workspace::new();
    let report = checks(
        &ws,
        None,
        "  updates:\n    command: { run: [sh, -c, \"echo 3\"] }\n    value: { above: { warn: 0, crit: 10 } }\n\
         \x20 broken:\n    command: { run: [sh, -c, \"echo relation does not exist\"] }\n    value: { above: { crit: 150 } }\n\
         \x20 failing:\n    command: { run: [sh, -c, \"echo nope >&2; exit 4\"] }\n",
    );
    assert_eq!(
        graded(&report, "updates"),
        (
            "warn".into(),
            "`sh -c echo 3`: value 3, above warn 0".into()
        )
    );
    assert_eq!(
        graded(&report, "broken"),
        (
            "crit".into(),
            "`sh -c echo relation does not exist`: cannot read the value: `relation does not exist` is not a number".into()
        )
    );
    assert_eq!(
        graded(&report, "failing"),
        (
            "crit".into(),
            "`sh -c echo nope >&2; exit 4` exited 4: \"nope\"".into()
        )
    );
}

/// A one-request HTTP server on loopback: a JSON body, a little late.
fn serve_once(body: &'static str, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request);
            std::thread::sleep(delay);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn http_json_paths_and_response_times_are_values() {
    let json_port = serve_once(r#"{"db": {"connections": 88}}"#, Duration::ZERO);
    let slow_port = serve_once("{}", Duration::from_millis(400));
    let ws = Workspace::new();
    let report = checks(
        &ws,
        None,
        &format!(
            "  pool:\n    http: {{ url: \"http://127.0.0.1:{json_port}/\" }}\n    value: {{ json: db.connections, above: {{ warn: 80, crit: 100 }} }}\n\
             \x20 latency:\n    http: {{ url: \"http://127.0.0.1:{slow_port}/\" }}\n    value: {{ response_time: true, above: {{ warn: 300ms, crit: 5s }} }}\n"
        ),
    );
    let pool = graded(&report, "pool");
    assert_eq!(pool.0, "warn", "{pool:?}");
    assert!(pool.1.ends_with("; value 88, above warn 80"), "{pool:?}");
    let latency = graded(&report, "latency");
    assert_eq!(latency.0, "warn", "{latency:?}");
    assert!(latency.1.contains("above warn 300ms"), "{latency:?}");
}

#[test]
fn file_checks_judge_mode_content_and_absence() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    let secret = ws.write(
        "secrets/minio.env",
        "MINIO_ROOT_USER=minioadmin\nMINIO_ROOT_PASSWORD=x\n",
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let fine = ws.write("uploads/a.jpg", "jpeg");
    std::fs::set_permissions(&fine, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let report = checks(
        &ws,
        None,
        "  secret:\n    file: { path: secrets/minio.env, mode: \"0600\", not_contains: [minioadmin] }\n\
         \x20 upload:\n    file: { path: uploads/a.jpg, type: file, mode: \"0644\", max_size: 1KiB, contains: [jpe?g] }\n\
         \x20 gone:\n    file: { path: install.lock, exists: false }\n",
    );
    assert_eq!(
        graded(&report, "secret"),
        (
            "crit".into(),
            format!(
                "`{}`: mode 0644, expected 0600; line 1 matches `minioadmin`, which it must not",
                secret.display()
            )
        )
    );
    let upload = graded(&report, "upload");
    assert_eq!(upload.0, "ok", "{upload:?}");
    let gone = graded(&report, "gone");
    assert_eq!(gone.0, "ok", "{gone:?}");
}

#[test]
fn tcp_checks_tell_an_open_port_from_a_closed_one() {
    let open = TcpListener::bind("127.0.0.1:0").expect("bind");
    let open_port = open.local_addr().expect("address").port();
    let closed_port = {
        let gone = TcpListener::bind("127.0.0.1:0").expect("bind");
        gone.local_addr().expect("address").port()
    };
    let ws = Workspace::new();
    let report = checks(
        &ws,
        None,
        &format!(
            "  mqtt:\n    tcp: {{ host: 127.0.0.1, port: {open_port}, timeout: 2s }}\n\
             \x20 postgres:\n    tcp: {{ host: 127.0.0.1, port: {closed_port}, timeout: 2s }}\n"
        ),
    );
    assert_eq!(graded(&report, "mqtt").0, "ok", "{report:#}");
    let closed = graded(&report, "postgres");
    assert_eq!(closed.0, "crit", "{closed:?}");
    assert!(
        closed.1.starts_with(&format!("127.0.0.1:{closed_port}: ")),
        "{closed:?}"
    );
    drop(open);
}

#[test]
fn for_makes_a_failing_check_crit_only_once_the_whole_window_failed() {
    let ws = Workspace::new();
    let failing = "  errors:\n    command: { run: [\"false\"] }\n    for: 2s\n";
    let first = checks(&ws, None, failing);
    let (status, message) = graded(&first, "errors");
    assert_eq!(status, "warn");
    assert!(
        message.ends_with("(for: 2s: no earlier run of this check to tell how long)"),
        "{message}"
    );
    let second = checks(&ws, None, failing);
    let (status, message) = graded(&second, "errors");
    assert_eq!(status, "warn");
    assert!(message.contains("of the 2s it may)"), "{message}");
    std::thread::sleep(Duration::from_millis(2200));
    let third = checks(&ws, None, failing);
    let (status, message) = graded(&third, "errors");
    assert_eq!(status, "crit", "{message}");
    assert!(
        message.contains(" (failing for ") && message.ends_with("s)"),
        "{message}"
    );
    assert_eq!(third["status"], "crit");
}

#[test]
fn value_thresholds_are_validated_with_their_place() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nchecks:\n  a:\n    command: { run: [\"true\"] }\n    value: { above: { warn: 200, crit: 150 } }\n  b:\n    command: { run: [\"true\"] }\n    value: { above: { warn: 1GiB, crit: 90% } }\n  c:\n    tcp: { host: 127.0.0.1, port: 70000 }\n",
    );
    let run = ws.opsbook(&["validate"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        "error: opsbook.yaml:5:29: checks.a.value.above.warn: warn 200 is above crit 150: a warning comes before the crit\n\
         error: opsbook.yaml:8:41: checks.b.value: a percentage among size thresholds: write them all the same way\n\
         error: opsbook.yaml:10:35: checks.c.tcp.port: port 70000 is not between 1 and 65535\n"
    );
}

#[test]
fn report_gives_the_trend_of_a_numeric_check() {
    let ws = Workspace::new();
    ws.write("count", "3");
    let growth = "  db-size:\n    command: { run: [cat, count] }\n    value: { above: { warn: 100MiB, crit: 1GiB } }\n";
    for size in ["1048576", "2097152", "4194304"] {
        ws.write("count", size);
        checks(&ws, None, growth);
    }
    let run = ws.opsbook(&["report", "--state-dir", "state", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    let trend = &report["values"][0];
    assert_eq!(trend["check"], "db-size", "{report:#}");
    assert_eq!(trend["readings"], 3);
    assert_eq!(trend["min"], 1_048_576.0);
    assert_eq!(trend["max"], 4_194_304.0);
    assert_eq!(trend["unit"], "bytes");
    let table = ws.opsbook(&["report", "--state-dir", "state"]);
    assert!(
        table
            .stdout
            .contains("db-size  3         1.0 MiB  2.3 MiB  4.0 MiB  ▁▃█"),
        "{}",
        table.stdout
    );
}

/// The log part of a daily check, once every service has logged its last line.
fn logs_report(
    ws: &Workspace,
    project: &Project,
    yaml: &str,
    services: &[&str],
) -> serde_json::Value {
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: logs\nproject: {}\n{yaml}", project.name),
    );
    for service in services {
        crate::support::eventually("the last line logged", Duration::from_secs(30), || {
            project.exec(service, "test -f /tmp/logged")
        });
    }
    let run = ws.opsbook(&[
        "daily-check",
        "--only",
        "logs",
        "--state-dir",
        "state",
        "--format",
        "json",
    ]);
    assert!(run.code < 3, "{}{}", run.stdout, run.stderr);
    run.json()
}

#[test]
fn log_rates_per_service_settings_windows_and_json_fields_are_graded() {
    let project = Project::new("kinds-logs");
    project
        .service("web")
        .script("for i in $(seq 1 88); do echo \"GET / 200 $i\"; done; for i in $(seq 1 12); do echo \"GET / 500 $i\"; done; touch /tmp/logged")
        .start();
    project
        .service("api")
        .script("echo '{\"path\": \"/a\", \"responseTime\": 12}'; echo '{\"path\": \"/b\", \"responseTime\": 1500}'; echo '{\"path\": \"/c\", \"responseTime\": \"2400\"}'; touch /tmp/logged")
        .start();
    project
        .service("old")
        .script("echo 'GET / 500 long ago'; touch /tmp/logged")
        .start();
    let ws = Workspace::new();
    crate::support::eventually("old's line logged", Duration::from_secs(30), || {
        project.exec("old", "test -f /tmp/logged")
    });
    // Out of old's own two-second window by the time the check runs.
    std::thread::sleep(Duration::from_secs(3));
    let report = logs_report(
        &ws,
        &project,
        "services:\n  web: {}\n  api:\n    logs: { json_field: { field: responseTime, above: 1000, warn: 1, crit: 3 } }\n\
         \x20 old:\n    logs: { since: 2s, match: ['\\b5\\d\\d\\b'] }\n\
         logs:\n  since: 10m\n  match: ['\\b5\\d\\d\\b']\n  warn: 1000\n  rate: { warn: 5%, crit: 10% }\n",
        &["web", "api"],
    );
    let old = result(&report, "logs", "old");
    assert_eq!(
        (old["status"].as_str(), old["message"].as_str()),
        (Some("ok"), Some("no matching lines in the last 2s"))
    );
    let web = result(&report, "logs", "web");
    assert_eq!(web["status"], "crit", "{report:#}");
    assert!(
        web["message"]
            .as_str()
            .unwrap_or_default()
            .ends_with("; 12.0% of 100 lines, above crit 10%"),
        "{web:#}"
    );
    let api = result(&report, "logs", "api");
    assert_eq!(api["status"], "warn", "{report:#}");
    assert_eq!(
        api["message"],
        "2 lines with `responseTime` above 1000 in the last 10m"
    );
}

#[test]
fn host_log_files_are_read_from_where_the_last_check_stopped_across_a_rotation() {
    let ws = Workspace::new();
    ws.write("access.log", "GET / 500 before\n");
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: files\nlogs:\n  files:\n    access.log: { match: ['\\b5\\d\\d\\b'], warn: 2, crit: 5 }\n",
    );
    let check = || {
        let run = ws.opsbook(&[
            "daily-check",
            "--only",
            "logs",
            "--state-dir",
            "state",
            "--format",
            "json",
        ]);
        assert!(run.code < 3, "{}{}", run.stdout, run.stderr);
        let report = run.json();
        let file = result(&report, "logs", "file access.log");
        (
            file["status"].as_str().unwrap_or_default().to_string(),
            file["message"].as_str().unwrap_or_default().to_string(),
        )
    };
    let (status, message) = check();
    assert_eq!(status, "ok");
    assert!(message.starts_with("first look at this file"), "{message}");
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(ws.path().join("access.log"))
        .expect("the log");
    writeln!(log, "GET / 200 fine\nGET /a 502 upstream\nGET /b 503 down").expect("append");
    drop(log);
    let (status, message) = check();
    assert_eq!(status, "warn", "{message}");
    assert!(
        message.starts_with("2 matching lines since the last check: "),
        "{message}"
    );
    // logrotate: the file moves to access.log.1 after one more line, a new one starts.
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(ws.path().join("access.log"))
        .expect("the log");
    writeln!(log, "GET /c 500 late").expect("append");
    drop(log);
    std::fs::rename(ws.path().join("access.log"), ws.path().join("access.log.1")).expect("rotate");
    ws.write(
        "access.log",
        "GET /d 500 new\nGET /e 504 new\nGET /f 500 new\nGET /g 500 new\n",
    );
    let (status, message) = check();
    assert_eq!(status, "crit", "{message}");
    assert!(
        message.starts_with("5 matching lines since the last check (across a rotation): "),
        "{message}"
    );
    let (status, message) = check();
    assert_eq!(status, "ok", "{message}");
    assert_eq!(message, "no matching lines since the last check");
}

#[test]
fn every_pass_of_wait_reads_the_log_files_from_where_the_last_run_stopped() {
    let ws = Workspace::new();
    ws.write("access.log", "GET / 200 before\n");
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: files\nlogs:\n  files:\n    access.log: { match: ['\\b5\\d\\d\\b'], warn: 1, crit: 5 }\n",
    );
    let check = |extra: &[&str]| {
        let mut args = vec!["daily-check", "--only", "logs", "--state-dir", "state"];
        args.extend(extra);
        args.extend(["--format", "json"]);
        let run = ws.opsbook(&args);
        let report = run.json();
        let file = result(&report, "logs", "file access.log");
        (
            run.code,
            file["message"].as_str().unwrap_or_default().to_string(),
        )
    };
    assert_eq!(check(&[]).0, 0);
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(ws.path().join("access.log"))
        .expect("the log");
    writeln!(log, "GET /a 502 upstream").expect("append");
    drop(log);
    // Three passes over 5s: each still sees the line the first one saw.
    let (code, message) = check(&["--wait", "5s"]);
    assert_eq!(code, 1, "{message}");
    assert!(
        message.starts_with("1 matching lines since the last check: "),
        "{message}"
    );
    // The run kept where its passes read up to: the next starts after it.
    assert_eq!(
        check(&[]),
        (0, "no matching lines since the last check".to_string())
    );
}

#[test]
fn five_and_fifteen_minute_load_and_inodes_are_graded_when_asked() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nthresholds:\n  load5: { warn: 0, crit: 1000 }\n  load15: { warn: 999, crit: 1000 }\n  inodes: { warn: 0%, crit: 100% }\n  disk: { warn: 100%, crit: 100%, paths: [\"/\"] }\n",
    );
    let run = ws.opsbook(&[
        "daily-check",
        "--only",
        "host",
        "--state-dir",
        "state",
        "--format",
        "json",
    ]);
    assert!(run.code < 3, "{}", run.stderr);
    let report = run.json();
    assert_eq!(
        result(&report, "host", "load5")["status"],
        "warn",
        "{report:#}"
    );
    assert_eq!(
        result(&report, "host", "load15")["status"],
        "ok",
        "{report:#}"
    );
    let inodes = result(&report, "host", "inodes /");
    assert!(
        inodes["message"]
            .as_str()
            .unwrap_or_default()
            .contains("% of inodes used"),
        "{inodes:#}"
    );
    // Not asked: not graded.
    let plain = Workspace::new();
    let report = plain
        .opsbook(&[
            "daily-check",
            "--only",
            "host",
            "--state-dir",
            "state",
            "--format",
            "json",
        ])
        .json();
    assert!(
        !report["results"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .any(|r| r["name"] == "load5" || r["name"] == "inodes /"),
        "{report:#}"
    );
}

#[test]
fn tls_tcp_checks_verify_the_certificate_and_warn_before_it_expires() {
    let ws = Workspace::new();
    let server = crate::daily_check::TlsServer::start(&ws, 7);
    let port = server.port;
    let report = checks(
        &ws,
        None,
        &format!(
            "  mqtts:\n    tcp: {{ host: 127.0.0.1, port: {port}, tls: true, ca: ca.pem, timeout: 5s }}\n\
             \x20 untrusted:\n    tcp: {{ host: 127.0.0.1, port: {port}, tls: true, timeout: 5s }}\n"
        ),
    );
    let (status, message) = graded(&report, "mqtts");
    assert_eq!(status, "warn", "{message}");
    assert!(
        message.ends_with("the certificate expires in 7 days"),
        "{message}"
    );
    let (status, message) = graded(&report, "untrusted");
    assert_eq!(status, "crit", "{message}");
    assert!(message.contains("TLS handshake failed"), "{message}");
}

#[test]
fn a_check_with_retry_is_tried_again_before_it_fails() {
    let ws = Workspace::new();
    let report = checks(
        &ws,
        None,
        "  flaky:\n    command: { run: [sh, -c, \"if [ -f tried ]; then echo up; else touch tried; exit 1; fi\"] }\n    retry: { count: 2, delay: 100ms }\n\
         \x20 down:\n    command: { run: [sh, -c, \"echo down; exit 1\"] }\n    retry: { count: 2, delay: 300ms }\n\
         \x20 once:\n    command: { run: [sh, -c, \"exit 1\"] }\n",
    );
    assert_eq!(
        graded(&report, "flaky"),
        ("ok".into(), "`sh -c if [ -f tried ]; then echo up; else touch tried; exit 1; fi` succeeded: \"up\" (try 2 of 3)".into())
    );
    let (status, message) = graded(&report, "down");
    assert_eq!(status, "crit");
    assert!(message.ends_with(" (try 3 of 3)"), "{message}");
    let took = result(&report, "checks", "down")["duration_ms"]
        .as_u64()
        .unwrap();
    assert!(took >= 600, "two pauses of 300ms: {took}ms");
    let (status, message) = graded(&report, "once");
    assert_eq!(status, "crit");
    assert!(!message.contains("try"), "{message}");

    ws.write(
        "opsbook.yaml",
        "version: 1\nchecks:\n  a:\n    command: { run: [\"true\"] }\n    retry: { count: 0, delay: 0s }\n",
    );
    let run = ws.opsbook(&["validate"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        "error: opsbook.yaml:5:5: checks.a.retry.delay: `checks.a.retry.delay` is 0: give a length of time, like `30s`\n\
         error: opsbook.yaml:5:21: checks.a.retry.count: retry 0 times? give 1 to 10\n"
    );
}
