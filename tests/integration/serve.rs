//! `opsbook serve` against the real engine and real HTTP: a seconds-level
//! schedule firing daily-checks, `/metrics` checked by Prometheus' own
//! `promtool` (from the real-software image), `/healthz` going 503 when a
//! critical service stops and 200 again when it is back, `/healthz/CHECK`,
//! the status page, a second agent refused by the lock, SIGHUP with a
//! broken runbook refused and the old one kept, SIGTERM stopping it, and
//! listening beyond loopback refused without a token and enforced with one,
//! and an escalation to a webhook that never answers holding up neither a
//! due run nor SIGTERM.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, Project, Run, Workspace, eventually, free_port, terminate};

const LONG: Duration = Duration::from_secs(60);

/// A GET on loopback: the status code and the body.
pub(crate) fn get(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let code = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// `promtool check metrics` on `text`, in the real-software image.
pub(crate) fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("docker")
        .args([
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "opsbook-real:test",
        ])
        .args(["promtool", "check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn runbook(project: &Project) -> String {
    format!(
        "version: 1\nname: shop\nproject: {}\nservices:\n  web: {{ critical: true }}\n\
         checks:\n  web-answers:\n    exec: {{ service: web, command: [\"true\"] }}\n\
         schedule:\n  timezone: Europe/Berlin\n  daily-check: \"*/2 * * * * *\"\n{CALM_HOST}",
        project.name
    )
}

#[test]
fn serve_runs_its_schedule_and_answers_metrics_health_and_the_page() {
    let project = Project::new("serve");
    project.service("web").start();
    let ws = Workspace::new();
    ws.write("opsbook.yaml", runbook(&project));
    ws.opsbook(&["validate"]).expect_code(0);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut agent = ws.spawn(&["serve", "--listen", &listen, "--state-dir", "state"]);

    eventually("a daily-check made /healthz 200", LONG, || {
        get(port, "/healthz", None).is_some_and(|(code, _)| code == 200)
    });
    let (_, body) = get(port, "/healthz", None).unwrap();
    assert!(body.starts_with("healthy: the daily-check of "), "{body}");
    let (code, body) = get(port, "/healthz/web-answers", None).unwrap();
    assert_eq!(code, 200, "{body}");
    let (code, _) = get(port, "/healthz/no-such-check", None).unwrap();
    assert_eq!(code, 404);

    let (code, metrics) = get(port, "/metrics", None).unwrap();
    assert_eq!(code, 200);
    let (valid, said) = promtool(&metrics);
    assert!(valid, "promtool: {said}\n{metrics}");
    for line in [
        "opsbook_build_info{version=\"",
        "opsbook_daily_check_status 0",
        "opsbook_check_status{section=\"checks\",name=\"web-answers\"} 0",
        "opsbook_runs_total{command=\"daily-check\",outcome=\"ok\"}",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }

    let (code, html) = get(port, "/", None).unwrap();
    assert_eq!(code, 200);
    assert!(html.contains("<h1>opsbook: opsbook.yaml</h1>"), "{html}");
    assert!(html.contains("id=\"schedule\"") && html.contains("*/2 * * * * *"));

    // A second agent of the same runbook: the lock refuses it.
    let second = ws.opsbook(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
        "--state-dir",
        "state",
    ]);
    second.expect_code(3);
    assert!(
        second.stderr.contains("holds the lock"),
        "{}",
        second.stderr
    );

    // The critical service stops: 503, saying why; back: 200.
    project.stop("web");
    eventually("/healthz 503 with web down", LONG, || {
        get(port, "/healthz", None).is_some_and(|(code, body)| code == 503 && body.contains("crit"))
    });
    let started = Command::new("docker")
        .args(["start", &project.container_name("web")])
        .output()
        .unwrap();
    assert!(started.status.success());
    eventually("/healthz 200 with web back", LONG, || {
        get(port, "/healthz", None).is_some_and(|(code, _)| code == 200)
    });

    // SIGHUP with a broken runbook: refused, the old one kept and serving.
    ws.write(
        "opsbook.yaml",
        "version: 1\nschedule:\n  daily-check: \"not cron\"\n",
    );
    signal(&agent, "HUP");
    std::thread::sleep(Duration::from_secs(3));
    let (_, metrics) = get(port, "/metrics", None).unwrap();
    assert!(
        metrics.contains("opsbook_reloads_total{result=\"refused\"} 1"),
        "{metrics}"
    );
    assert!(get(port, "/healthz", None).is_some_and(|(code, _)| code == 200));

    signal(&agent, "TERM");
    let status = wait(&mut agent);
    let mut stderr = String::new();
    agent
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status, Some(0), "{stderr}");
    for event in [
        "event=serving",
        "event=run command=daily-check",
        "event=\"reload refused\"",
        "event=stopped",
    ] {
        assert!(stderr.contains(event), "{event} not in\n{stderr}");
    }
}

fn wait(child: &mut Child) -> Option<i32> {
    for _ in 0..300 {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    None
}

#[test]
fn beyond_loopback_a_token_is_required_and_enforced() {
    let project = Project::new("serve-token");
    project.service("web").start();
    let ws = Workspace::new();
    ws.write("opsbook.yaml", runbook(&project));
    let port = free_port();
    let wide = format!("0.0.0.0:{port}");
    let refused = ws.opsbook(&["serve", "--listen", &wide, "--state-dir", "state"]);
    refused.expect_code(3);
    assert!(
        refused.stderr.contains("needs a token"),
        "{}",
        refused.stderr
    );

    let token = "opsbook-test-token-0f8c2a";
    ws.write("token", format!("{token}\n"));
    let mut agent = ws.spawn(&[
        "serve",
        "--listen",
        &wide,
        "--token-file",
        "token",
        "--state-dir",
        "state",
    ]);
    eventually("the agent answers", LONG, || {
        get(port, "/metrics", Some(token)).is_some()
    });
    let (code, body) = get(port, "/metrics", None).unwrap();
    assert_eq!(code, 401, "{body}");
    let (code, _) = get(port, "/metrics", Some("wrong")).unwrap();
    assert_eq!(code, 401);
    let (code, _) = get(port, "/metrics", Some(token)).unwrap();
    assert_eq!(code, 200);
    signal(&agent, "TERM");
    assert_eq!(wait(&mut agent), Some(0));
}

/// The status page in a real headless browser (Debian's chromium),
/// against a deployment with secrets planted in a container's env,
/// logs and healthcheck output: it renders, every result of the JSON of the
/// same cache is on it, and no planted secret is anywhere on it.
#[test]
fn the_status_page_renders_in_chromium_matches_the_json_and_shows_no_secret() {
    let (_project, ws) = crate::secrets::planted("serve-page");
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        format!("{text}schedule:\n  daily-check: \"*/15 * * * * *\"\n"),
    );
    let port = free_port();
    let mut agent = ws.spawn(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--state-dir",
        "state",
    ]);
    eventually("a daily-check in the cache", LONG, || {
        get(port, "/status.json", None).is_some_and(|(_, body)| body.contains("\"results\""))
    });
    // The JSON before and after the page: the same run (`at`) both times,
    // or a run landed in between and it is tried again.
    let status = || -> serde_json::Value {
        let (_, body) = get(port, "/status.json", None).unwrap();
        serde_json::from_str(&body).unwrap()
    };
    let (dom, json) = (0..5)
        .find_map(|_| {
            let before = status();
            let dom = chromium(port);
            let after = status();
            (before["daily_check"]["at"] == after["daily_check"]["at"]).then_some((dom, after))
        })
        .expect("a page and a JSON of the same run");
    let at = json["daily_check"]["at"].as_str().unwrap();
    assert!(dom.contains(at.get(..19).unwrap()), "{at} not in\n{dom}");
    assert!(dom.contains("<h1>opsbook: opsbook.yaml</h1>"), "{dom}");
    // Nothing for a script or the network to fetch: it reads with both off.
    let (_, source) = get(port, "/", None).unwrap();
    for absent in ["<script", " src=", "href=\"http", "url("] {
        assert!(!source.contains(absent), "{absent} in the page:\n{source}");
    }
    let results = json["daily_check"]["results"].as_array().unwrap();
    let shown_sections = ["containers", "checks", "host", "logs", "resources"];
    let mut compared = 0;
    for r in results {
        if !shown_sections.contains(&r["section"].as_str().unwrap()) {
            continue;
        }
        let row = format!(
            "<td><span class=\"badge {0}\">{0}</span></td><td>{1}</td><td>{2}</td>",
            r["status"].as_str().unwrap(),
            text_node(r["name"].as_str().unwrap()),
            text_node(r["message"].as_str().unwrap()),
        );
        assert!(dom.contains(&row), "{row}\nnot in the page:\n{dom}");
        compared += 1;
    }
    assert!(compared >= 3, "{json:#}");
    crate::secrets::assert_masked("the status page", dom.as_bytes());
    let (_, metrics) = get(port, "/metrics", None).unwrap();
    crate::secrets::assert_masked("/metrics", metrics.as_bytes());
    crate::secrets::assert_masked("/status.json", json.to_string().as_bytes());
    signal(&agent, "TERM");
    assert_eq!(wait(&mut agent), Some(0));
}

/// The page as chromium rendered it. (`--dump-dom` itself needs script:
/// that the page has none is asserted on its source instead.)
fn chromium(port: u16) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args(["--headless=new", "--no-sandbox", "--disable-gpu"])
        .args(["--disable-dev-shm-usage", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("chromium (scripts/test.sh installs Debian's chromium)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Text as the DOM serializes it inside an element.
fn text_node(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}

/// SIGTERM while a scheduled backup has a service stopped: the agent passes
/// it on, the backup ends as the command does on a signal (the service
/// started again, no backup listed), and the agent exits 0.
#[test]
fn sigterm_mid_scheduled_backup_starts_the_service_again_and_lists_no_backup() {
    let project = Project::new("serve-backup");
    project.service("db").start();
    project.service("api").start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {}\nservices:\n  db: {{}}\n  api: {{ depends_on: [db] }}\n\
             shutdown:\n  grace: 1s\n\
             backup:\n  dir: ./backups\n  stop: [api]\n  dumps:\n    slow:\n      service: db\n      command: [sh, -c, \"sleep 20; echo rows\"]\n\
             schedule:\n  backup: \"*/2 * * * * *\"\n",
            project.name
        ),
    );
    ws.opsbook(&["validate"]).expect_code(0);
    let port = free_port();
    let mut agent = ws.spawn(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--state-dir",
        "state",
    ]);
    eventually("the scheduled backup stopped api", LONG, || {
        project.times("api").state != "running"
    });
    std::thread::sleep(Duration::from_secs(1));
    signal(&agent, "TERM");
    assert_eq!(wait(&mut agent), Some(0));
    let mut stderr = String::new();
    agent
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("event=stopping waiting_for=backup"),
        "{stderr}"
    );
    assert!(
        stderr.contains("event=run command=backup outcome=crit"),
        "{stderr}"
    );
    assert_eq!(project.times("api").state, "running", "{stderr}");
    let list = ws
        .opsbook(&["backup", "list", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(list["backups"].as_array().unwrap().len(), 0, "{list:#}");
}

#[test]
fn each_copy_target_has_metrics_of_its_own() {
    let project = Project::new("servecopy");
    project.service("web").start();
    let ws = Workspace::new();
    ws.write("data.txt", "the data");
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  web: {{}}\n{CALM_HOST}\
             backup:\n  dir: ./backups\n  files: [data.txt]\n  max_age: 1h\n  copies:\n    usb: {{ folder: ./usb }}\n\
             schedule:\n  daily-check: \"*/2 * * * * *\"\n",
            project.name
        ),
    );
    std::fs::create_dir(ws.path().join("usb")).unwrap();
    ws.opsbook(&["backup", "--state-dir", "state"])
        .expect_code(0);
    let port = free_port();
    let agent = ws.spawn(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--state-dir",
        "state",
    ]);
    eventually("the copy target in /metrics", LONG, || {
        get(port, "/metrics", None)
            .is_some_and(|(_, m)| m.contains("opsbook_backup_copy_status{target=\"usb\"} 0"))
    });
    let (_, metrics) = get(port, "/metrics", None).unwrap();
    let (valid, said) = promtool(&metrics);
    assert!(valid, "promtool: {said}\n{metrics}");
    let made: f64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("opsbook_backup_copy_last_success_timestamp_seconds{target=\"usb\"} ")
        })
        .unwrap_or_else(|| panic!("no copy timestamp in\n{metrics}"))
        .parse()
        .unwrap();
    let now = jiff::Timestamp::now().as_second() as f64;
    assert!(
        (now - made).abs() < 120.0,
        "the copy was made {} s ago",
        now - made
    );
    crate::support::terminate(agent);
}

/// A daily-check recorded by hand, then the agent started with a schedule
/// that does not fire while the test runs: what `/status.json` and the
/// page show is that run, read back from the history, on every run of the
/// test. The agent's own output, once SIGTERM stops it, is compared whole.
#[test]
fn serve_answers_status_json_and_the_page_from_the_history_and_stops_on_sigterm() {
    let project = Project::fixed_width("x-serve");
    project.service("web").start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  web: {{ critical: true }}\n\
             checks:\n  web-answers:\n    exec: {{ service: web, command: [\"true\"] }}\n\
             schedule:\n  timezone: UTC\n  daily-check: \"0 4 29 2 *\"\n{CALM_HOST}",
            project.name
        ),
    );
    ws.opsbook(&["daily-check", "--state-dir", "state"])
        .expect_code(0);
    let port = free_port();
    let agent = ws.spawn(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--state-dir",
        "state",
    ]);
    eventually("the agent answers", LONG, || {
        get(port, "/status.json", None).is_some()
    });

    let (code, body) = get(port, "/status.json", None).unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let pretty = format!("{}\n", serde_json::to_string_pretty(&json).unwrap());
    let filters = Filters::new(&ws)
        .literal(&project.name, "[PROJECT]")
        .regex(r#""(at|started_at)": "[^"]+""#, r#""${1}": "[TIME]""#)
        .regex(r#""value": -?\d[\d.eE+-]*"#, r#""value": [N]"#);
    assert_run(
        &Run::http(code, &pretty),
        &filters,
        200,
        r#"
{
  "runbook": "opsbook.yaml",
  "started_at": "[TIME]",
  "daily_check": {
    "at": "[TIME]",
    "status": "ok",
    "results": [
      {
        "section": "host",
        "name": "memory",
        "status": "ok",
        "message": "(from the history: before this agent started)",
        "value": [N],
        "unit": null
      },
      {
        "section": "host",
        "name": "swap",
        "status": "ok",
        "message": "(from the history: before this agent started)",
        "value": [N],
        "unit": null
      },
      {
        "section": "host",
        "name": "load",
        "status": "ok",
        "message": "(from the history: before this agent started)",
        "value": [N],
        "unit": null
      },
      {
        "section": "host",
        "name": "disk /",
        "status": "ok",
        "message": "(from the history: before this agent started)",
        "value": [N],
        "unit": null
      },
      {
        "section": "containers",
        "name": "web",
        "status": "ok",
        "message": "(from the history: before this agent started)",
        "value": [N],
        "unit": null
      },
      {
        "section": "resources",
        "name": "web",
        "status": "ok",
        "message": "(from the history: before this agent started)",
        "value": [N],
        "unit": null
      },
      {
        "section": "checks",
        "name": "web-answers",
        "status": "ok",
        "message": "(from the history: before this agent started)",
        "value": [N],
        "unit": null
      }
    ]
  },
  "backups": {
    "count": 0,
    "newest": null,
    "drill": null
  },
  "incidents": [],
  "heal": {},
  "maintenance": null,
  "jobs": {
    "daily-check": {
      "runs": {},
      "last": null,
      "running": false
    }
  }
}
"#,
        "",
    );

    let (code, page) = get(port, "/", None).unwrap();
    assert_eq!(code, 200);
    let from = page.find("<h2>Services</h2>").expect("the services");
    let to = page.find("<h2>Host and logs</h2>").expect("the host");
    assert_eq!(
        &page[from..to],
        concat!(
            r#"<h2>Services</h2><table id="services"><tr><th>status</th><th>name</th><th>message</th></tr>"#,
            r#"<tr><td><span class="badge ok">ok</span></td><td>web</td><td>(from the history: before this agent started)</td></tr></table>"#,
            r#"<h2>Checks</h2><table id="checks"><tr><th>status</th><th>name</th><th>message</th></tr>"#,
            r#"<tr><td><span class="badge ok">ok</span></td><td>web-answers</td><td>(from the history: before this agent started)</td></tr></table>"#,
        ),
    );

    let filters = Filters::new(&ws)
        .regex(r"\btime=\S+", "time=[TIME]")
        .literal(&format!("127.0.0.1:{port}"), "127.0.0.1:[PORT]")
        .regex(
            r"(?m)\bstopped after 0 runs in \d+[smh](?: \d+[smh])?$",
            "stopped after 0 runs in [UP]",
        );
    assert_run(
        &terminate(agent),
        &filters,
        0,
        r#"
STATUS  SECTION  NAME     MESSAGE
ok      serve    stopped  stopped after 0 runs in [UP]
ok: 1 ok in [MS] ms
"#,
        r#"
time=[TIME] event=serving listen=http://127.0.0.1:[PORT] runbook=opsbook.yaml jobs=daily-check
time=[TIME] event=stopped runs=0
"#,
    );
}

/// Issue 33, item 12: an overdue incident is escalated to a webhook that
/// takes the request and never answers. The agent's due runs still start
/// on time, and SIGTERM still ends it within 10 s, exit 0 (the escalation
/// held the scheduler for its 30 s deadline before).
#[test]
fn a_hung_escalation_holds_up_neither_a_due_run_nor_sigterm() {
    let webhook = crate::support::hanging::HangingServer::start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\n{CALM_HOST}\
             incident:\n  dir: ./incidents\n  severities:\n    P1: {{ respond_within: 1s }}\n\
             notify:\n  targets:\n    pager:\n      webhook: {{ url: \"http://127.0.0.1:{}/pager\" }}\n      commands: [escalation]\n{}",
            webhook.port,
            crate::heal::TICKING
        ),
    );
    let opened = ws
        .opsbook(&[
            "incident",
            "open",
            "--severity",
            "P1",
            "--title",
            "api down",
            "--state-dir",
            "state",
            "--format",
            "json",
        ])
        .expect_code(0)
        .json();
    let opened: jiff::Timestamp = opened["incident"]["opened_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    eventually("the incident is overdue", LONG, || {
        jiff::Timestamp::now() > opened + jiff::SignedDuration::from_millis(1500)
    });
    let port = free_port();
    let agent = crate::support::Spawned::new(ws.spawn(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--state-dir",
        "state",
    ]));
    eventually("the escalation reached the webhook", LONG, || {
        webhook.held() > 0
    });
    let before = crate::heal::ticks(&ws);
    eventually(
        "two due runs started while the escalation hangs",
        Duration::from_secs(20),
        || crate::heal::ticks(&ws) >= before + 2,
    );
    let log = crate::heal::stops_at_once(agent, &ws, port);
    assert!(
        log.contains(
            " event=dropped unfinished=escalation reason=\"not done 5s after the signal\"\n"
        ),
        "{log}"
    );
}
