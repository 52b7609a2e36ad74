//! `notify.targets` against real servers on loopback: a recording HTTP
//! server that checks each kind's payload (healthchecks, ntfy, Discord,
//! Teams, the JSON webhook, PagerDuty) and answers as scripted (a 429 with
//! `Retry-After`), and aiosmtpd (from PyPI) for mail with STARTTLS and
//! AUTH. The runs are daily-checks of one host command check, turned crit
//! and ok by a flag file, so no Docker is needed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::*;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
    at: Instant,
}

impl Seen {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Records every request; `answer` gives the status line and extra
/// headers for the n-th request (from 0).
fn recorder(
    answer: impl Fn(usize) -> (&'static str, &'static str) + Send + 'static,
) -> (u16, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, mut stream) in listener.incoming().flatten().enumerate() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).unwrap_or(0) == 0 {
                continue;
            }
            let mut parts = first.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let target = parts.next().unwrap_or("").to_string();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.trim_end().split_once(':') {
                    headers.push((name.trim().to_string(), value.trim().to_string()));
                }
            }
            let length = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = sender.send(Seen {
                method,
                target,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                at: Instant::now(),
            });
            let (status, extra) = answer(n);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{extra}content-length: 2\r\nconnection: close\r\n\r\nok"
            );
        }
    });
    (port, receiver)
}

fn drain(received: &mpsc::Receiver<Seen>) -> Vec<Seen> {
    received.try_iter().collect()
}

/// A runbook whose one check is crit while `flag` exists.
fn flagged(flag: &Path, notify: &str) -> String {
    format!(
        "version: 1\nname: shop\nchecks:\n  flag:\n    command: {{ run: [sh, -c, \"test ! -e {}\"] }}\n{notify}",
        flag.display()
    )
}

const CHECKS_ONLY: &[&str] = &["daily-check", "--only", "checks", "--state-dir", "state"];

#[test]
fn every_kind_alerts_once_after_its_streak_and_resolves_once() {
    let (port, received) = recorder(|_| ("200 OK", ""));
    let ws = Workspace::new();
    let flag = ws.write("flag", "");
    let base = format!("http://127.0.0.1:{port}");
    let secret = "ZXhhbXBsZS1zZWNyZXQtdG9rZW4";
    ws.write(
        "opsbook.yaml",
        flagged(
            &flag,
            &format!(
                "notify:\n  targets:\n\
                 \x20   ping:\n      healthchecks: {{ url: \"{base}/hc/${{HC_UUID}}\" }}\n      commands: [daily-check]\n\
                 \x20   phone:\n      ntfy: {{ url: \"{base}/ntfy/shop-ops\", token: \"${{NTFY_TOKEN}}\", tags: [shop] }}\n\
                 \x20   chat:\n      discord: {{ url: \"{base}/discord/{secret}\" }}\n\
                 \x20   teams:\n      teams: {{ url: \"{base}/teams/{secret}\" }}\n\
                 \x20   any:\n      webhook: {{ url: \"{base}/hook\", headers: {{ authorization: \"Bearer ${{NTFY_TOKEN}}\" }} }}\n\
                 \x20   pager:\n      pagerduty: {{ routing_key: \"${{PD_KEY}}\", url: \"{base}/pd\" }}\n      on: [crit]\n      after: 2\n"
            ),
        ),
    );
    let env = [
        ("HC_UUID", "5b9c1c4e-7a8f-4e4c-9d1e-2f1a3b4c5d6e"),
        ("NTFY_TOKEN", "tk_ntfy_a1b2c3d4e5f6"),
        ("PD_KEY", "R0UTINGKEY0123456789abcdef012345"),
    ];
    let hc = "/hc/5b9c1c4e-7a8f-4e4c-9d1e-2f1a3b4c5d6e";

    // Run 1: crit. Every alerting target speaks, except the pager (after: 2).
    let run = ws.opsbook_with(CHECKS_ONLY, &env);
    run.expect_code(2);
    let seen = drain(&received);
    let paths: Vec<&str> = seen.iter().map(Seen::path).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "/discord/ZXhhbXBsZS1zZWNyZXQtdG9rZW4".to_string(),
            format!("{hc}/2"),
            format!("{hc}/start"),
            "/hook".to_string(),
            "/ntfy/shop-ops".to_string(),
            "/teams/ZXhhbXBsZS1zZWNyZXQtdG9rZW4".to_string(),
        ]
    );
    assert_eq!(
        paths[0],
        format!("{hc}/start"),
        "the start ping comes first"
    );
    let by_path = |p: &str| seen.iter().find(|s| s.path() == p).unwrap().clone();
    let start = by_path(&format!("{hc}/start"));
    let end = by_path(&format!("{hc}/2"));
    let rid = |s: &Seen| s.target.split("rid=").nth(1).unwrap().to_string();
    assert_eq!(
        rid(&start),
        rid(&end),
        "the pings of one run share a run id"
    );
    assert!(end.body.contains("crit checks/flag"), "{}", end.body);

    let ntfy = by_path("/ntfy/shop-ops");
    assert_eq!(ntfy.method, "POST");
    assert_eq!(ntfy.header("priority"), Some("5"));
    assert_eq!(ntfy.header("tags"), Some("rotating_light,shop"));
    let on = match hostname() {
        h if h.is_empty() => String::new(),
        h => format!(" on {h}"),
    };
    let title = format!("opsbook daily-check of shop{on}: CRIT");
    assert_eq!(ntfy.header("title"), Some(title.as_str()));
    assert_eq!(
        ntfy.header("authorization"),
        Some("Bearer tk_ntfy_a1b2c3d4e5f6")
    );
    assert!(ntfy.body.starts_with("crit checks/flag: "), "{}", ntfy.body);

    let discord = by_path("/discord/ZXhhbXBsZS1zZWNyZXQtdG9rZW4").json();
    let embed = &discord["embeds"][0];
    assert!(
        embed["title"].as_str().unwrap().ends_with(": CRIT"),
        "{discord}"
    );
    assert_eq!(embed["color"], 0xE01E5A);
    assert!(
        embed["description"]
            .as_str()
            .unwrap()
            .starts_with("crit checks/flag: ")
    );
    assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));

    let teams = by_path("/teams/ZXhhbXBsZS1zZWNyZXQtdG9rZW4").json();
    assert_eq!(teams["type"], "message");
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["body"][0]["color"], "Attention");
    assert!(
        card["content"]["body"][2]["text"]
            .as_str()
            .unwrap()
            .starts_with("crit checks/flag")
    );

    let hook = by_path("/hook");
    assert_eq!(
        hook.header("authorization"),
        Some("Bearer tk_ntfy_a1b2c3d4e5f6")
    );
    let hook = hook.json();
    assert_eq!(hook["event"], "alert");
    assert_eq!(hook["status"], "crit");
    assert_eq!(hook["exit_code"], 2);
    assert_eq!(hook["command"], "daily-check");
    assert_eq!(hook["problems"][0]["name"], "flag");

    // Run 2: still crit. Only the pings and the pager (its streak reached 2).
    ws.opsbook_with(CHECKS_ONLY, &env).expect_code(2);
    let seen = drain(&received);
    let mut paths: Vec<&str> = seen.iter().map(Seen::path).collect();
    paths.sort();
    assert_eq!(
        paths,
        [format!("{hc}/2"), format!("{hc}/start"), "/pd".to_string()]
    );
    let pd = seen.iter().find(|s| s.path() == "/pd").unwrap().json();
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["routing_key"], "R0UTINGKEY0123456789abcdef012345");
    let key = pd["dedup_key"].as_str().unwrap().to_string();
    assert!(
        key.starts_with("opsbook/") && key.ends_with("/checks/flag"),
        "{key}"
    );
    assert_eq!(pd["payload"]["severity"], "critical");

    // Run 3: still crit: nobody but the pings speaks again.
    ws.opsbook_with(CHECKS_ONLY, &env).expect_code(2);
    let mut paths: Vec<String> = drain(&received)
        .iter()
        .map(|s| s.path().to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, [format!("{hc}/2"), format!("{hc}/start")]);

    // Run 4: ok. One "resolved" from each that alerted; the pager resolves its key.
    std::fs::remove_file(&flag).unwrap();
    let run = ws.opsbook_with(CHECKS_ONLY, &env);
    run.expect_code(0);
    let seen = drain(&received);
    let mut paths: Vec<&str> = seen.iter().map(Seen::path).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/discord/ZXhhbXBsZS1zZWNyZXQtdG9rZW4".to_string(),
            hc.to_string(),
            format!("{hc}/start"),
            "/hook".to_string(),
            "/ntfy/shop-ops".to_string(),
            "/pd".to_string(),
            "/teams/ZXhhbXBsZS1zZWNyZXQtdG9rZW4".to_string(),
        ]
    );
    let by_path = |p: &str| seen.iter().find(|s| s.path() == p).unwrap().clone();
    let pd = by_path("/pd").json();
    assert_eq!(pd["event_action"], "resolve");
    assert_eq!(pd["dedup_key"], key.as_str());
    assert_eq!(by_path("/hook").json()["event"], "resolved");
    assert_eq!(
        by_path("/ntfy/shop-ops").header("tags"),
        Some("white_check_mark,shop")
    );
    assert!(
        by_path("/ntfy/shop-ops")
            .header("title")
            .unwrap()
            .ends_with(": resolved (OK)"),
        "{:?}",
        by_path("/ntfy/shop-ops")
    );

    // Run 5: ok again: only the pings.
    ws.opsbook_with(CHECKS_ONLY, &env).expect_code(0);
    let mut paths: Vec<String> = drain(&received)
        .iter()
        .map(|s| s.path().to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, [hc.to_string(), format!("{hc}/start")]);
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn retry_after_is_honoured_and_a_dead_target_changes_nothing_and_shows_no_token() {
    // The first answer asks to come back in 2 s; the second takes it.
    let (port, received) = recorder(|n| {
        if n == 0 {
            ("429 Too Many Requests", "retry-after: 2\r\n")
        } else {
            ("200 OK", "")
        }
    });
    let dead = free_port();
    let token = "d1e2a3d4t5o6k7e8n9s0e1c2r3e4t5";
    let ws = Workspace::new();
    let flag = ws.write("flag", "");
    ws.write(
        "opsbook.yaml",
        flagged(
            &flag,
            &format!(
                "notify:\n  targets:\n\
                 \x20   busy:\n      webhook: {{ url: \"http://127.0.0.1:{port}/busy\" }}\n\
                 \x20   gone:\n      discord: {{ url: \"http://127.0.0.1:{dead}/api/webhooks/1/{token}\" }}\n"
            ),
        ),
    );
    let begun = Instant::now();
    let run = ws.opsbook(&[
        "daily-check",
        "--only",
        "checks",
        "--state-dir",
        "state",
        "--format",
        "json",
    ]);
    run.expect_code(2);
    let seen = drain(&received);
    assert_eq!(seen.len(), 2, "{seen:?}");
    let waited = seen[1].at - seen[0].at;
    assert!(
        waited >= Duration::from_millis(1900),
        "the retry came {waited:?} after the 429, not after its Retry-After of 2 s"
    );
    assert_eq!(
        run.json()["status"],
        "crit",
        "the check's verdict, not the messenger's"
    );
    assert!(
        run.stderr
            .contains("notify target `gone` (discord at 127.0.0.1) failed"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(token) && !run.stdout.contains(token),
        "the token in the URL was shown: {}",
        run.stderr
    );
    assert!(
        begun.elapsed() < Duration::from_secs(40),
        "one deadline for all"
    );
}

#[test]
fn a_maintenance_window_holds_alerts_and_what_still_fails_is_alerted_after_it() {
    let (port, received) = recorder(|_| ("200 OK", ""));
    let ws = Workspace::new();
    let flag = ws.write("flag", "");
    let window = ws.path().join("maintenance.flag");
    ws.write(
        "opsbook.yaml",
        flagged(
            &flag,
            &format!(
                "notify:\n  maintenance: {{ file: ./maintenance.flag }}\n  targets:\n\
                 \x20   any:\n      webhook: {{ url: \"http://127.0.0.1:{port}/hook\" }}\n\
                 \x20   ping:\n      healthchecks: {{ url: \"http://127.0.0.1:{port}/hc/check-1\" }}\n\
                 procedures:\n  open-window:\n    steps:\n      - maintenance: 10m\n  close-window:\n    steps:\n      - maintenance: end\n"
            ),
        ),
    );
    std::fs::write(&window, "").unwrap();
    ws.opsbook(CHECKS_ONLY).expect_code(2);
    let mut paths: Vec<String> = drain(&received)
        .iter()
        .map(|s| s.path().to_string())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        ["/hc/check-1/log", "/hc/check-1/start"],
        "held: no alert; the failure is logged, not pinged as down"
    );
    std::fs::remove_file(&window).unwrap();
    ws.opsbook(CHECKS_ONLY).expect_code(2);
    let alerts: Vec<Seen> = drain(&received)
        .into_iter()
        .filter(|s| s.path() == "/hook")
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "still failing after the window: alerted now"
    );

    // A window opened by a step, until its step ends it. The procedure's own
    // runs are heard (`run`), but this webhook has nothing to alert for them.
    ws.opsbook(&["run", "open-window", "--yes", "--state-dir", "state"])
        .expect_code(0);
    drain(&received);
    std::fs::remove_file(&flag).unwrap();
    ws.opsbook(CHECKS_ONLY).expect_code(0);
    let resolved: Vec<Seen> = drain(&received)
        .into_iter()
        .filter(|s| s.path() == "/hook")
        .collect();
    assert!(
        resolved.is_empty(),
        "the resolution is held too: {resolved:?}"
    );
    ws.opsbook(&["run", "close-window", "--yes", "--state-dir", "state"])
        .expect_code(0);
    drain(&received);
    ws.opsbook(CHECKS_ONLY).expect_code(0);
    let resolved: Vec<Seen> = drain(&received)
        .into_iter()
        .filter(|s| s.path() == "/hook")
        .collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].json()["event"], "resolved");
}

/// aiosmtpd on a loopback port with STARTTLS required and AUTH required
/// over TLS; each message it takes is one JSON line in `mailbox`.
struct MailServer {
    child: std::process::Child,
    port: u16,
    mailbox: std::path::PathBuf,
    ca: std::path::PathBuf,
}

impl MailServer {
    fn start(ws: &Workspace, tls: bool) -> MailServer {
        let dir = ws.path().join(if tls { "smtp-tls" } else { "smtp-plain" });
        std::fs::create_dir_all(&dir).unwrap();
        let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
        let (cert, key, csr) = (
            dir.join("cert.pem"),
            dir.join("key.pem"),
            dir.join("cert.csr"),
        );
        let ext = ws.write(
            &format!("{}/leaf.ext", dir.file_name().unwrap().to_str().unwrap()),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
        );
        let openssl = |args: &[&str]| {
            let made = std::process::Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(
                made.status.success(),
                "{}",
                String::from_utf8_lossy(&made.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-days",
                    "1",
                    "-subj",
                    "/CN=opsbook test CA",
                    "-keyout",
                    "ca-key.pem",
                    "-out",
                    "ca.pem",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-subj",
                    "/CN=localhost",
                    "-keyout",
                    "key.pem",
                    "-out",
                    "cert.csr",
                ],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            "cert.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            ext.to_str().unwrap(),
            "-out",
            "cert.pem",
        ]);
        assert!(ca_key.exists() && csr.exists());
        let port = free_port();
        let mailbox = dir.join("mailbox.jsonl");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/smtp_server.py");
        let mut command = std::process::Command::new("python3");
        command
            .arg(script)
            .arg(port.to_string())
            .arg(&mailbox)
            .args(["--user", "ops", "--password", "s3cret-mail-pass"]);
        if tls {
            command.arg("--cert").arg(&cert).arg("--key").arg(&key);
        }
        let child = command.spawn().unwrap();
        eventually("the SMTP server listening", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        MailServer {
            child,
            port,
            mailbox,
            ca,
        }
    }

    fn messages(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.mailbox)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn mail_goes_over_starttls_with_auth_and_a_server_without_tls_gets_nothing() {
    let ws = Workspace::new();
    let server = MailServer::start(&ws, true);
    let flag = ws.write("flag", "");
    let target = |port: u16| {
        format!(
            "notify:\n  targets:\n    mail:\n      email: {{ smtp: \"smtp://localhost:{port}\", from: ops@example.com, to: [management@example.com, oncall@example.com], user: ops, password: \"${{SMTP_PASSWORD}}\", ca_file: ./smtp-tls/ca.pem }}\n      commands: [daily-check, report]\n      on: [ok, warn, crit, unknown]\n"
        )
    };
    assert!(server.ca.exists());
    ws.write("opsbook.yaml", flagged(&flag, &target(server.port)));
    let env = [("SMTP_PASSWORD", "s3cret-mail-pass")];
    let run = ws.opsbook_with(CHECKS_ONLY, &env);
    run.expect_code(2);
    assert!(!run.stderr.contains("failed"), "{}", run.stderr);
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let mail = &messages[0];
    assert_eq!(mail["tls"], true, "the message went over STARTTLS");
    assert_eq!(mail["login"], "ops");
    assert_eq!(mail["from"], "ops@example.com");
    assert_eq!(
        mail["to"],
        serde_json::json!(["management@example.com", "oncall@example.com"])
    );
    let content = mail["content"].as_str().unwrap();
    assert!(
        content.contains("Subject: opsbook daily-check of shop"),
        "{content}"
    );
    assert!(content.contains("crit checks/flag"), "{content}");

    // A digest (`ok` in `on`): the ok run is mailed too, the whole report in it.
    std::fs::remove_file(&flag).unwrap();
    ws.opsbook_with(CHECKS_ONLY, &env).expect_code(0);
    assert_eq!(server.messages().len(), 2);

    // A server that offers no STARTTLS gets no password and no message.
    let plain = MailServer::start(&ws, false);
    ws.write("opsbook.yaml", flagged(&flag, &target(plain.port)));
    let run = ws.opsbook_with(CHECKS_ONLY, &env);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("notify target `mail` (email at localhost) failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3cret-mail-pass"), "{}", run.stderr);
    assert!(plain.messages().is_empty());
}

#[test]
fn targets_are_validated_with_their_line_and_field() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nnotify:\n  targets:\n    a:\n      ntfy: { url: \"https://ntfy.sh/x\", priority: loud }\n      commands: [daily-chek]\n    b:\n      healthchecks: { url: \"https://hc-ping.com/x\" }\n      after: 3\n    c:\n      on: [crit]\n    d:\n      email: { smtp: \"mail.example.com\", from: ops@example.com, to: [] }\n    e:\n      pagerduty: { routing_key: k }\n      on: [ok, crit]\n  maintenance: { cron: \"0 2 * * 0\" }\n",
    );
    let run = ws.opsbook(&["validate"]);
    run.expect_code(3);
    let expected = [
        "opsbook.yaml:5:51: notify.targets.a.ntfy.priority: `loud` is not an ntfy priority",
        "opsbook.yaml:6:18: notify.targets.a.commands: `daily-chek` is not a command a target hears",
        "notify.targets.b: a healthchecks target pings every run",
        "notify.targets.c: a target needs its kind",
        "notify.targets.d.email.smtp: `mail.example.com` is not an smtp:// or smtps:// address",
        "notify.targets.d.email.to: no recipient",
        "notify.maintenance.cron: a recurring window needs its length",
        "opsbook.yaml:16:12: notify.targets.e.on: a pagerduty target raises an alert per failing check and resolves it when it is ok again: `ok` in `on`",
    ];
    for line in expected {
        assert!(
            run.stderr.contains(line),
            "missing `{line}` in:\n{}",
            run.stderr
        );
    }
}

#[test]
fn an_incident_not_acknowledged_in_time_is_escalated_once_and_an_acknowledged_one_never() {
    let (port, received) = recorder(|_| ("200 OK", ""));
    let ws = Workspace::new();
    let flag = ws.path().join("no-flag");
    ws.write(
        "opsbook.yaml",
        flagged(
            &flag,
            &format!(
                "incident:\n  dir: ./incidents\n  severities:\n    P1: {{ respond_within: 1s }}\n\
                 notify:\n  targets:\n    pager:\n      webhook: {{ url: \"http://127.0.0.1:{port}/pager\" }}\n      commands: [escalation]\n"
            ),
        ),
    );
    let open = |title: &str| {
        ws.opsbook(&[
            "incident",
            "open",
            "--severity",
            "P1",
            "--title",
            title,
            "--state-dir",
            "state",
            "--format",
            "json",
        ])
        .expect_code(0)
        .json()["incident"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let waiting = open("api down");
    let answered = open("db slow");
    ws.opsbook(&["incident", "ack", &answered, "--state-dir", "state"])
        .expect_code(0);
    std::thread::sleep(Duration::from_millis(1500));

    // While another process escalates (its claim held, here by flock(1)),
    // this run does not: the two would send the same escalation twice.
    // `-o`: the lock is flock's own, not the sleep's, so killing flock frees it.
    let mut holder = std::process::Command::new("flock")
        .arg("-o")
        .arg(ws.path().join("incidents/.escalation.lock"))
        .args(["sleep", "30"])
        .spawn()
        .expect("flock (util-linux)");
    crate::support::eventually("the claim is held", Duration::from_secs(10), || {
        std::process::Command::new("flock")
            .args(["-n"])
            .arg(ws.path().join("incidents/.escalation.lock"))
            .arg("true")
            .status()
            .is_ok_and(|s| !s.success())
    });
    ws.opsbook(CHECKS_ONLY).expect_code(0);
    assert!(
        drain(&received).is_empty(),
        "escalated under another's claim"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();

    ws.opsbook(CHECKS_ONLY).expect_code(0);
    let seen = drain(&received);
    assert_eq!(
        seen.len(),
        1,
        "one escalation, for the unacknowledged one: {seen:?}"
    );
    let body = seen[0].json();
    assert_eq!(body["command"], "escalation");
    assert_eq!(body["problems"][0]["name"], waiting.as_str());
    let message = body["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("`api down`") && message.contains("not acknowledged within 1s"),
        "{message}"
    );
    let timeline = std::fs::read_to_string(
        ws.path()
            .join("incidents")
            .join(&waiting)
            .join("timeline.jsonl"),
    )
    .unwrap();
    assert!(
        timeline.contains("\"kind\":\"escalated\"") && timeline.contains("escalated to pager"),
        "{timeline}"
    );

    ws.opsbook(CHECKS_ONLY).expect_code(0);
    assert!(
        drain(&received).is_empty(),
        "escalated once, not on every run"
    );
    let shown = ws.opsbook(&["incident", "show", &answered, "--state-dir", "state"]);
    assert!(shown.stdout.contains("acknowledged"), "{}", shown.stdout);
}
