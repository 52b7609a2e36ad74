//! Heartbeats (issue 36): `heartbeats:` validated with the place of each
//! problem; `opsbook ping` without the agent, graded by daily-check (whole
//! outputs); a real job (a shell loop that curls `/ping/NAME` with the
//! token) pinging a running agent, then late, failing and started without
//! an end, as `/status.json`, `/metrics`, the page and daily-check see it;
//! and the page opened in a real headless browser (Debian's chromium) with
//! the token as the HTTP Basic password.

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, Project, Spawned, Workspace, eventually, free_port};

const TOKEN: &str = "opsbook-beat-token-3e9f1c";

/// A request on loopback with the header lines given: the status code,
/// the head and the body.
fn request(port: u16, method: &str, path: &str, headers: &str) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let code = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (code, head.to_lowercase(), body.to_string())
}

fn bearer() -> String {
    format!("Authorization: Bearer {TOKEN}\r\n")
}

/// The heartbeat `name` as `/status.json` grades it now: status, message.
fn beat(port: u16, name: &str) -> (String, String) {
    let (code, _, body) = request(port, "GET", "/status.json", &bearer());
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let beat = json["heartbeats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no heartbeat {name} in {json}"))
        .clone();
    (
        beat["status"].as_str().unwrap().to_string(),
        beat["message"].as_str().unwrap().to_string(),
    )
}

#[test]
fn heartbeats_are_validated_with_the_place_of_each_problem() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nchecks:\n  web: { tcp: { host: 127.0.0.1, port: 80 } }\nheartbeats:\n  web: { period: 1d }\n  \"a/b\": { period: 1d }\n  both: { period: 1d, cron: \"0 3 * * *\" }\n  neither: { grace: 1h }\n  zero: { period: 0s, grace: 0s }\n  badcron: { cron: \"0 3 * *\" }\n  ok: { cron: \"0 3 * * *\" }\n",
    );
    assert_run(
        &ws.opsbook(&["validate"]),
        &Filters::new(&ws),
        3,
        "",
        "error: opsbook.yaml:5:3: heartbeats.web: `web` is a check's name too: results are found by name, so give the heartbeat another\n\
         error: opsbook.yaml:6:3: heartbeats.a/b: `a/b` is not a heartbeat name: letters, digits, `-`, `_` and `.`, not first `.` or `-` (it is a URL path and a file name)\n\
         error: opsbook.yaml:7:29: heartbeats.both.cron: give `period` or `cron`, not both\n\
         error: opsbook.yaml:8:3: heartbeats.neither: when is it due? give `period: 1d` (after its last ping) or `cron: \"0 3 * * *\"` (at those times)\n\
         error: opsbook.yaml:9:3: heartbeats.zero.period: `heartbeats.zero.period` is 0: give a length of time, like `30s`\n\
         error: opsbook.yaml:9:3: heartbeats.zero.grace: `heartbeats.zero.grace` is 0: give a length of time, like `30s`\n\
         error: opsbook.yaml:10:20: heartbeats.badcron.cron: `0 3 * *` has 4 fields: write five (minute hour day month weekday) or six (seconds first)\n",
    );
}

#[test]
fn opsbook_ping_without_the_agent_is_graded_by_daily_check() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nheartbeats:\n  nightly-export: { period: 1d, grace: 1h }\n  certbot: { cron: \"0 3 * * *\", grace: 30m }\n",
    );
    let filters = Filters::new(&ws).regex(r"\d+s ago", "[N]s ago");
    let check = || {
        ws.opsbook(&[
            "daily-check",
            "--only",
            "heartbeats",
            "--state-dir",
            "state",
        ])
    };
    assert_run(
        &check(),
        &filters,
        1,
        "STATUS  SECTION     NAME            MESSAGE\n\
         warn    heartbeats  nightly-export  no ping yet: due every 1d + 1h grace; the job ends with a request to /ping/nightly-export or `opsbook ping nightly-export`\n\
         warn    heartbeats  certbot         no ping yet: due at `0 3 * * *` + 30m grace; the job ends with a request to /ping/certbot or `opsbook ping certbot`\n\
         warn: 2 warn in [MS] ms\n",
        "",
    );
    assert_run(
        &ws.opsbook(&["ping", "nightly", "--state-dir", "state"]),
        &filters,
        3,
        "",
        "error: unknown heartbeat `nightly` (heartbeats are: nightly-export, certbot)\n",
    );
    assert_run(
        &ws.opsbook(&["ping", "nightly-export", "--state-dir", "state"]),
        &filters,
        0,
        "STATUS  SECTION     NAME            MESSAGE\n\
         ok      heartbeats  nightly-export  recorded: it finished\n\
         ok: 1 ok in [MS] ms\n",
        "",
    );
    ws.opsbook(&["ping", "certbot", "--state-dir", "state"])
        .expect_code(0);
    assert_run(
        &check(),
        &filters,
        0,
        "STATUS  SECTION     NAME            MESSAGE\n\
         ok      heartbeats  nightly-export  pinged [N]s ago; due every 1d + 1h grace\n\
         ok      heartbeats  certbot         pinged [N]s ago; due at `0 3 * * *` + 30m grace\n\
         ok: 2 ok in [MS] ms\n",
        "",
    );
    ws.opsbook(&["ping", "certbot", "--start", "--state-dir", "state"])
        .expect_code(0);
    ws.opsbook(&["ping", "nightly-export", "--fail", "--state-dir", "state"])
        .expect_code(0);
    assert_run(
        &check(),
        &filters,
        2,
        "STATUS  SECTION     NAME            MESSAGE\n\
         crit    heartbeats  nightly-export  its last run failed (a fail ping [N]s ago)\n\
         ok      heartbeats  certbot         running: started [N]s ago\n\
         crit: 1 crit, 1 ok in [MS] ms\n",
        "",
    );
    // The pings are private files in the state folder.
    let file = ws
        .path()
        .join("state/heartbeats")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("certbot/start.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "{}", file.display());
}

/// A job as cron would run it: a shell loop pinging the agent with curl.
fn job(port: u16, pings: u32) -> std::process::Child {
    Command::new("sh")
        .args([
            "-c",
            "i=0; while [ $i -lt $PINGS ]; do curl -fsS -o /dev/null -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:$PORT/ping/export || exit 1; i=$((i+1)); sleep 0.4; done",
        ])
        .env("PINGS", pings.to_string())
        .env("TOKEN", TOKEN)
        .env("PORT", port.to_string())
        .spawn()
        .unwrap()
}

#[test]
fn a_job_pings_the_agent_and_is_graded_on_time_late_failed_and_running_long() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nheartbeats:\n  export: {{ period: 2s, grace: 1s }}\n  certbot: {{ cron: \"0 3 * * *\", grace: 30m }}\n{CALM_HOST}"
        ),
    );
    ws.write("token", format!("{TOKEN}\n"));
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let agent = Spawned::new(ws.spawn(&[
        "serve",
        "--listen",
        &listen,
        "--token-file",
        "token",
        "--state-dir",
        "state",
    ]));
    eventually("the agent answers", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert_eq!(beat(port, "export").0, "warn", "never pinged yet");

    // A ping needs the token, as every request does; unknown names are 404.
    let (code, head, body) = request(port, "GET", "/ping/export", "");
    assert_eq!(
        (code, body.as_str()),
        (
            401,
            "the token is required: `Authorization: Bearer TOKEN`, or TOKEN as the password of HTTP Basic (any user name)\n"
        )
    );
    assert!(
        head.contains("www-authenticate: bearer realm=\"opsbook\""),
        "{head}"
    );
    let (code, _, body) = request(port, "POST", "/ping/exprot", &bearer());
    assert_eq!(
        (code, body.as_str()),
        (
            404,
            "unknown heartbeat `exprot` (heartbeats are: export, certbot)\n"
        )
    );

    // The job runs: on time while it pings.
    let mut running = job(port, 8);
    eventually(
        "the job's pings made it ok",
        Duration::from_secs(10),
        || beat(port, "export").0 == "ok",
    );
    assert!(
        running.wait().unwrap().success(),
        "every ping was answered 2xx"
    );
    // It stops: late once 2s + 1s have passed without a ping.
    eventually("late", Duration::from_secs(15), || {
        beat(port, "export").0 == "crit"
    });
    let (_, message) = beat(port, "export");
    assert!(
        message.starts_with("late: pinged ") && message.ends_with(" ago, due every 2s + 1s grace"),
        "{message}"
    );
    let (_, metrics) = (0, request(port, "GET", "/metrics", &bearer()).2);
    assert!(
        metrics.contains("opsbook_check_status{section=\"heartbeats\",name=\"export\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "opsbook_heartbeat_last_ping_timestamp_seconds{name=\"export\",kind=\"success\"} "
        ),
        "{metrics}"
    );
    let (valid, said) = crate::serve::promtool(&metrics);
    assert!(valid, "promtool: {said}\n{metrics}");

    // It reports a failure (POST, as Healthchecks' clients do): crit.
    let (code, _, body) = request(port, "POST", "/ping/export/fail", &bearer());
    assert_eq!((code, body.as_str()), (200, "OK\n"));
    let (status, message) = beat(port, "export");
    assert_eq!(status, "crit");
    assert!(
        message.starts_with("its last run failed (a fail ping "),
        "{message}"
    );

    // It starts and does not end within its grace: warn.
    assert_eq!(request(port, "GET", "/ping/export/start", &bearer()).0, 200);
    assert_eq!(beat(port, "export").0, "ok", "running within its grace");
    eventually(
        "a run longer than grace warns",
        Duration::from_secs(10),
        || beat(port, "export").0 == "warn",
    );
    let (_, message) = beat(port, "export");
    assert!(
        message.ends_with(" ago and not finished within its 1s grace"),
        "{message}"
    );
    let (_, _, page) = request(port, "GET", "/", &bearer());
    assert!(page.contains("<table id=\"heartbeats\">"), "{page}");
    assert!(
        page.contains("<td><span class=\"badge warn\">warn</span></td><td>export</td><td>started "),
        "{page}"
    );

    // It ends well; daily-check, beside the agent, reads the same pings.
    assert_eq!(request(port, "GET", "/ping/export/0", &bearer()).0, 200);
    assert_eq!(beat(port, "export").0, "ok");
    assert_eq!(request(port, "GET", "/ping/certbot", &bearer()).0, 200);
    let checked = ws.opsbook(&[
        "daily-check",
        "--only",
        "heartbeats",
        "--state-dir",
        "state",
        "--format",
        "json",
    ]);
    checked.expect_code(0);
    let json = checked.json();
    let statuses: Vec<(&str, &str)> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [("export", "ok"), ("certbot", "ok")]);

    let stopped = agent.terminate_within(Duration::from_secs(20));
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    assert!(!stopped.stderr.contains(TOKEN), "{}", stopped.stderr);
}

#[test]
fn a_browser_opens_the_page_with_the_token_as_basic_password() {
    let project = Project::new("beat-page");
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {}\nchecks:\n  backup-disk-mounted:\n    file: {{ path: /mnt/opsbook-no-such-backup-disk }}\nheartbeats:\n  nightly-export: {{ period: 1d, grace: 1h }}\nschedule:\n  daily-check: \"*/2 * * * * *\"\n{CALM_HOST}",
            project.name
        ),
    );
    ws.write("token", format!("{TOKEN}\n"));
    let port = free_port();
    let agent = Spawned::new(ws.spawn(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--token-file",
        "token",
        "--state-dir",
        "state",
    ]));
    eventually("a daily-check ran", Duration::from_secs(60), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && request(port, "GET", "/", &bearer())
                .2
                .contains("id=\"checks\"")
    });
    // A page request without the token is asked for HTTP Basic; a wrong
    // password is refused; any user name with the token is let in.
    let (code, head, _) = request(port, "GET", "/", "");
    assert_eq!(code, 401);
    assert!(
        head.contains("www-authenticate: basic realm=\"opsbook\""),
        "{head}"
    );
    let basic = |user_password: &str| {
        use base64::Engine as _;
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    };
    assert_eq!(request(port, "GET", "/", &basic("admin:wrong")).0, 401);
    assert_eq!(
        request(port, "GET", "/", &basic(&format!("anyone:{TOKEN}"))).0,
        200
    );
    assert_eq!(
        request(
            port,
            "GET",
            "/ping/nightly-export",
            &basic(&format!(":{TOKEN}"))
        )
        .0,
        200
    );

    let url = format!("http://user:{TOKEN}@127.0.0.1:{port}/");
    let chromium = |what: &str| {
        Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                &format!("--user-data-dir={}", ws.path().join("chromium").display()),
                "--window-size=1200,900",
                what,
                &url,
            ])
            .output()
            .expect("chromium (apt-get install -y chromium)")
    };
    let shot = ws.path().join("page.png");
    let took = chromium(&format!("--screenshot={}", shot.display()));
    assert!(
        took.status.success(),
        "{}",
        String::from_utf8_lossy(&took.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        png.len() > 20_000,
        "a page, not a blank or an error: {} bytes",
        png.len()
    );
    // Kept for a person to look at.
    let _ = std::fs::copy(
        &shot,
        std::env::temp_dir().join("opsbook-page-basic-auth.png"),
    );
    let dom = chromium("--dump-dom");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<tr><td><span class=\"badge crit\">crit</span></td><td>backup-disk-mounted</td><td>`/mnt/opsbook-no-such-backup-disk` does not exist</td></tr>"),
        "{dom}"
    );
    assert!(dom.contains("<td>nightly-export</td><td>pinged "), "{dom}");
    let stopped = agent.terminate_within(Duration::from_secs(20));
    assert!(!stopped.stderr.contains(TOKEN), "{}", stopped.stderr);
}
