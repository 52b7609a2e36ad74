//! The check kinds the runbook pages ask for (issue 36), through the real
//! binary against real servers on 127.0.0.1: https with `insecure`,
//! `server_name` and certificate limits, header values from `${VAR}`
//! masked everywhere, WebSockets (ws:// and wss://), the ports listening
//! and the processes running on the host and in a container, and a file's
//! content changed since the last run.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{Project, Workspace, free_port, result};

/// `daily-check --only checks` of `checks` (YAML under `checks:`), as JSON.
fn checks(
    ws: &Workspace,
    project: Option<&str>,
    checks: &str,
    env: &[(&str, &str)],
) -> serde_json::Value {
    let project = project.map_or(String::new(), |p| format!("project: {p}\n"));
    let services = if project.is_empty() {
        ""
    } else {
        "services:\n  api: {}\n"
    };
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: probes\n{project}{services}checks:\n{checks}"),
    );
    let run = ws.opsbook_with(
        &[
            "daily-check",
            "--only",
            "checks",
            "--state-dir",
            "state",
            "--format",
            "json",
        ],
        env,
    );
    assert!(run.code < 3, "{}{}", run.stdout, run.stderr);
    run.json()
}

/// A check's status and message, its latency written `[T]`.
fn graded(report: &serde_json::Value, name: &str) -> (String, String) {
    let r = result(report, "checks", name);
    let latency = regex::Regex::new(r"\d+(\.\d+)? m?s\b").unwrap();
    (
        r["status"].as_str().unwrap_or_default().to_string(),
        latency
            .replace_all(r["message"].as_str().unwrap_or_default(), "[T]")
            .into_owned(),
    )
}

/// A server of tests/servers/probe_server.py, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(ws: &Workspace, args: &[&str]) -> Server {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/probe_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .current_dir(ws.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("its port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("no port from probe_server.py {args:?} (scripts/test.sh installs websockets): {line:?}")
        });
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA (`ca.pem`) and a certificate it signed for `api.test` valid `days`
/// (`cert.pem`, `key.pem`), made by openssl in the workspace.
fn certificate(ws: &Workspace, days: u32) {
    ws.write(
        "leaf.ext",
        "subjectAltName=DNS:api.test\nbasicConstraints=CA:FALSE\n",
    );
    let days = days.to_string();
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=opsbook probe CA",
            "-days",
            "30",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=api.test",
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
            &days,
        ],
    ];
    for step in steps {
        let status = Command::new("openssl")
            .args(step)
            .current_dir(ws.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl (scripts/test.sh installs it)");
        assert!(status.success(), "openssl {step:?}");
    }
}

#[test]
fn https_checks_take_any_certificate_ask_by_name_and_grade_its_lifetime() {
    let ws = Workspace::new();
    certificate(&ws, 5);
    let server = Server::start(&ws, &["http", "cert.pem", "key.pem"]);
    let url = format!("https://127.0.0.1:{}/health", server.port);
    let report = checks(
        &ws,
        None,
        &format!(
            "  insecure:\n    http: {{ url: \"{url}\", insecure: true, cert: {{ warn: 30d, crit: 7d }} }}\n\
             \x20 named:\n    http: {{ url: \"{url}\", server_name: api.test, ca: ca.pem, contains: \"host=api.test:\", cert: {{ warn: 3d }} }}\n\
             \x20 default:\n    http: {{ url: \"{url}\", server_name: api.test, ca: ca.pem }}\n\
             \x20 strict:\n    http: {{ url: \"{url}\", timeout: 5s }}\n"
        ),
        &[],
    );
    assert_eq!(
        graded(&report, "insecure"),
        (
            "crit".into(),
            "200 in [T]; TLS certificate expires in 5 days".into()
        )
    );
    assert_eq!(graded(&report, "named"), ("ok".into(), "200 in [T]".into()));
    assert_eq!(
        graded(&report, "default"),
        (
            "warn".into(),
            "200 in [T]; TLS certificate expires in 5 days".into()
        )
    );
    let (status, message) = graded(&report, "strict");
    assert_eq!(status, "crit");
    assert!(
        message.starts_with("request failed: ") && message.contains("certificate"),
        "{message}"
    );
}

#[test]
fn header_values_come_from_the_environment_and_are_masked_everywhere() {
    let ws = Workspace::new();
    ws.write(
        ".env",
        "API_TOKEN=wrong-token-5678abcd\nTENANT=acme-tenant\n",
    );
    let server = Server::start(&ws, &["http"]);
    let yaml = format!(
        // The check is named after the tenant: a header that carries no
        // credential (`X-Tenant`) is not masked, nor is what it names.
        "  acme-tenant:\n    http: {{ url: \"http://127.0.0.1:{}/secure\", headers: {{ Authorization: \"Bearer ${{API_TOKEN}}\", X-Tenant: \"${{TENANT}}\" }} }}\n",
        server.port
    );
    let report = checks(&ws, None, &yaml, &[]);
    assert_eq!(
        graded(&report, "acme-tenant"),
        (
            "crit".into(),
            "status 401, expected 200: \"denied: auth=****\"".into()
        )
    );
    for args in [
        &[
            "daily-check",
            "--only",
            "checks",
            "--state-dir",
            "state",
            "-v",
        ][..],
        &[
            "daily-check",
            "--only",
            "checks",
            "--state-dir",
            "state",
            "--format",
            "json",
            "-v",
        ][..],
        &["validate"][..],
    ] {
        let run = ws.opsbook(args);
        for text in [&run.stdout, &run.stderr] {
            assert!(!text.contains("wrong-token-5678abcd"), "{args:?}: {text}");
        }
    }
    let history = std::fs::read_dir(ws.path().join("state/history")).unwrap();
    for file in history {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        assert!(!text.contains("wrong-token"), "{text}");
    }
    // The environment comes before .env.
    let report = checks(&ws, None, &yaml, &[("API_TOKEN", "right-token-1234")]);
    assert_eq!(
        graded(&report, "acme-tenant"),
        ("ok".into(), "200 in [T]".into())
    );
}

#[test]
fn websocket_checks_connect_send_and_grade_the_reply_and_its_latency() {
    let ws = Workspace::new();
    certificate(&ws, 20);
    let plain = Server::start(&ws, &["ws"]);
    let tls = Server::start(&ws, &["ws", "cert.pem", "key.pem"]);
    let closed = free_port();
    let url = format!("ws://127.0.0.1:{}/ws", plain.port);
    let secure = format!("wss://127.0.0.1:{}/ws", tls.port);
    let report = checks(
        &ws,
        None,
        &format!(
            "  ok:\n    websocket: {{ url: \"{url}\", send: ping, expect: pong, max_latency: 1s }}\n\
             \x20 slow:\n    websocket: {{ url: \"{url}\", send: slow, expect: pong, max_latency: 50ms }}\n\
             \x20 wrong:\n    websocket: {{ url: \"{url}\", send: ping, expect: nope, timeout: 1s }}\n\
             \x20 connect:\n    websocket: {{ url: \"{url}\" }}\n\
             \x20 closed:\n    websocket: {{ url: \"ws://127.0.0.1:{closed}/ws\" }}\n\
             \x20 secure:\n    websocket: {{ url: \"{secure}\", insecure: true, send: hello, expect: echo }}\n\
             \x20 untrusted:\n    websocket: {{ url: \"{secure}\", send: hello }}\n"
        ),
        &[],
    );
    assert_eq!(
        graded(&report, "ok"),
        (
            "ok".into(),
            format!("{url}: a reply containing `pong` in [T]")
        )
    );
    assert_eq!(
        graded(&report, "slow"),
        (
            "warn".into(),
            format!("{url}: a reply containing `pong` in [T], slower than max_latency 50ms")
        )
    );
    assert_eq!(
        graded(&report, "wrong"),
        (
            "crit".into(),
            format!("{url}: no reply containing `nope` within 1s; last: \"pong\"")
        )
    );
    assert_eq!(
        graded(&report, "connect"),
        ("ok".into(), format!("{url}: connected in [T]"))
    );
    assert_eq!(
        graded(&report, "closed"),
        (
            "crit".into(),
            format!(
                "ws://127.0.0.1:{closed}/ws: cannot connect: Connection refused (os error 111)"
            )
        )
    );
    assert_eq!(
        graded(&report, "secure"),
        (
            "ok".into(),
            format!("{secure}: a reply containing `echo` in [T]")
        )
    );
    let (status, message) = graded(&report, "untrusted");
    assert_eq!(status, "crit");
    assert!(
        message.starts_with(&format!(
            "{secure}: TLS handshake failed: invalid peer certificate"
        )),
        "{message}"
    );
}

#[test]
fn ports_and_processes_are_looked_for_in_a_container_and_on_the_host() {
    let project = Project::new("probes");
    project
        .service("api")
        .script("httpd -p 8080; httpd -p 9000")
        .start();
    crate::support::eventually("httpd listening", Duration::from_secs(30), || {
        project.exec("api", "cat /proc/net/tcp6 /proc/net/tcp | grep -q ':2328 '")
    });
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed = free_port();
    // Two processes of a name no other test runs: a copy of sleep.
    let ws = Workspace::new();
    let name = format!("obk-nap-{}", std::process::id() % 100_000);
    let copy = ws.path().join(&name);
    std::fs::copy("/bin/sleep", &copy).unwrap();
    let mut naps: Vec<Child> = (0..2)
        .map(|_| Command::new(&copy).arg("60").spawn().unwrap())
        .collect();
    let report = checks(
        &ws,
        Some(&project.name),
        &format!(
            "  listeners:\n    port: {{ expect: [8080, 9000], service: api }}\n\
             \x20 audit:\n    port: {{ expect: [8080, 5432], service: api }}\n\
             \x20 host:\n    port: {{ expect: [{open_port}, {closed}], where: host }}\n\
             \x20 web:\n    process: {{ service: api, name: httpd }}\n\
             \x20 worker:\n    process: {{ service: api, name: node }}\n\
             \x20 naps:\n    process: {{ name: {name}, where: host }}\n\
             \x20 gone:\n    process: {{ name: obk-no-such, where: host }}\n"
        ),
        &[],
    );
    for nap in &mut naps {
        let _ = nap.kill();
        let _ = nap.wait();
    }
    assert_eq!(
        graded(&report, "listeners"),
        ("ok".into(), "listening: 8080, 9000".into())
    );
    assert_eq!(
        graded(&report, "audit"),
        (
            "crit".into(),
            "not listening: 5432; listening, not expected: 9000".into()
        )
    );
    let (status, message) = graded(&report, "host");
    assert_eq!(status, "crit");
    // Whatever else listens on this host is unexpected; the port held
    // open here is expected, and not named.
    let others = message.strip_prefix(&format!("not listening: {closed}"));
    assert!(
        others.is_some_and(|rest| rest.is_empty()
            || rest.starts_with("; listening, not expected: ")
                && !rest.split([' ', ',']).any(|p| p == open_port.to_string())),
        "{message}"
    );
    assert_eq!(
        graded(&report, "web"),
        ("ok".into(), "`httpd` runs in `api`: 2 processes".into())
    );
    assert_eq!(
        graded(&report, "worker"),
        ("crit".into(), "no `node` process runs in `api`".into())
    );
    assert_eq!(
        graded(&report, "naps"),
        (
            "ok".into(),
            format!("`{name}` runs on the host: 2 processes")
        )
    );
    assert_eq!(
        graded(&report, "gone"),
        (
            "crit".into(),
            "no `obk-no-such` process runs on the host".into()
        )
    );
    drop(open);
}

#[test]
fn a_changed_file_grades_once_then_is_ok_until_it_changes_again() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    let conf = ws.write("nginx.conf", "worker_processes 1;\n");
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let env = [("TZ", "UTC")];
    let yaml = "  nginx-conf:\n    file: { path: nginx.conf, changed: warn }\n";
    // The minute a run happened in, as the message gives it.
    let run = || {
        let before = jiff::Timestamp::now();
        let report = checks(&ws, None, yaml, &env);
        let after = jiff::Timestamp::now();
        let minute = |t: jiff::Timestamp| t.strftime("%Y-%m-%d %H:%M").to_string();
        (
            graded(&report, "nginx-conf"),
            [minute(before), minute(after)],
        )
    };
    let shown = conf.display();
    let ((status, message), first) = run();
    assert_eq!(status, "ok");
    assert_eq!(
        message,
        format!(
            "`{shown}`: a file, mode 0644, 20B; first look: its checksum is kept to tell a change"
        )
    );
    let ((status, message), second) = run();
    assert_eq!(status, "ok");
    assert!(
        first
            .iter()
            .any(|m| message == format!("`{shown}`: a file, mode 0644, 20B; unchanged since {m}")),
        "{message}"
    );
    std::fs::write(&conf, "worker_processes 4;\n").unwrap();
    let ((status, message), third) = run();
    assert_eq!(status, "warn");
    assert!(
        second
            .iter()
            .any(|m| message == format!("`{shown}`: a file, mode 0644, 20B; changed since {m}")),
        "{message}"
    );
    let ((status, message), _) = run();
    assert_eq!(status, "ok");
    assert!(
        third
            .iter()
            .any(|m| message == format!("`{shown}`: a file, mode 0644, 20B; unchanged since {m}")),
        "{message}"
    );
    // crit when the runbook says so.
    std::fs::write(&conf, "worker_processes 8;\n").unwrap();
    let report = checks(
        &ws,
        None,
        "  nginx-conf:\n    file: { path: nginx.conf, changed: crit }\n",
        &env,
    );
    assert_eq!(graded(&report, "nginx-conf").0, "crit");
}

#[test]
fn the_new_kinds_are_validated_with_their_place() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nservices:\n  api: {}\nchecks:\n\
         \x20 a:\n    port: { expect: [80, 70000], where: host }\n\
         \x20 b:\n    port: { expect: [], service: api }\n\
         \x20 c:\n    port: { expect: [80], service: api, where: host }\n\
         \x20 d:\n    process: { name: node }\n\
         \x20 e:\n    process: { name: node, service: web }\n\
         \x20 f:\n    websocket: { url: \"http://127.0.0.1/ws\" }\n\
         \x20 g:\n    http: { url: \"https://127.0.0.1/\", insecure: true, cert: { warn: 7d, crit: 30d } }\n\
         \x20 h:\n    file: { path: a.conf, changed: ok }\n\
         \x20 i:\n    port: { expect: [80], where: host, listen: all }\n\
         \x20 j:\n    http: { url: \"https://127.0.0.1/\", cert: 30d }\n",
    );
    let run = ws.opsbook(&["validate"]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert_eq!(
        run.stderr,
        "error: opsbook.yaml:6:26: checks.a.port.expect: port 70000 is not between 1 and 65535\n\
         error: opsbook.yaml:8:21: checks.b.port.expect: `expect` is empty: list the ports that must listen, like [80, 443]\n\
         error: opsbook.yaml:10:48: checks.c.port.where: look on the host (`where: host`) or in a service (`service: api`), not both\n\
         error: opsbook.yaml:12:5: checks.d.process: say where to look: `where: host`, or `service: NAME` for a service's container\n\
         error: opsbook.yaml:14:37: checks.e.process.service: unknown service `web` (services are: api)\n\
         error: opsbook.yaml:16:23: checks.f.websocket.url: `http://127.0.0.1/ws` is not a ws:// or wss:// URL\n\
         error: opsbook.yaml:18:5: checks.g.http.cert.warn: warn 7d is shorter than crit 30d: a warning comes before the crit\n\
         error: opsbook.yaml:20:36: checks.h.file.changed: unknown variant `ok`, expected one of warn, crit\n\
         error: opsbook.yaml:22:40: checks.i.port.listen: unknown field `listen`, expected one of expect, where, service, timeout\n\
         error: opsbook.yaml:24:46: checks.j.http.cert: expected certificate expiry limits, e.g. `cert: { warn: 30d, crit: 7d }`\n"
    );
}

#[test]
fn incident_evidence_lists_the_processes_using_the_most_memory() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: probes\nproject: opsbook-test-probes-none\nincident:\n  dir: ./incidents\n  severities:\n    P1: { respond_within: 15m }\n",
    );
    let run = ws.opsbook(&[
        "incident",
        "open",
        "--severity",
        "P1",
        "--title",
        "memory",
        "--state-dir",
        "state",
        "--format",
        "json",
    ]);
    assert!(run.code < 3, "{}{}", run.stdout, run.stderr);
    let id = run.json()["incident"]["id"].as_str().unwrap().to_string();
    let evidence = ws
        .path()
        .join("incidents")
        .join(id)
        .join("evidence/host.json");
    let host: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(evidence).unwrap()).unwrap();
    let top = host["top_memory"].as_array().expect("top_memory");
    assert_eq!(top.len(), 10, "{host:#}");
    let rss: Vec<u64> = top.iter().map(|p| p["rss"].as_u64().unwrap()).collect();
    assert!(rss.windows(2).all(|w| w[0] >= w[1]), "{rss:?}");
    // By name: another process's arguments may hold a secret.
    assert!(
        top.iter()
            .all(|p| p["pid"].is_u64() && p["name"].is_string() && p.get("command").is_none()),
        "{top:?}"
    );
}
