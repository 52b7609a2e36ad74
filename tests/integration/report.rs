//! `opsbook report`: the trend of the recorded daily-checks, per UTC day,
//! and an exit code that is how the deployment stands now (the newest
//! run), read past any line of the history that cannot be read.

use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, Workspace, free_port, only_file, result};

fn state(ws: &Workspace) -> String {
    ws.path().join("state").display().to_string()
}
#[test]
fn report_table() {
    let ws = Workspace::new();
    let closed = free_port();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\n{CALM_HOST}checks:\n  api:\n    http: {{ url: \"http://127.0.0.1:{closed}/health\", timeout: 2s }}\n"
        ),
    );
    ws.opsbook(&["daily-check", "--only", "host", "--state-dir", "state"])
        .expect_code(0);
    ws.opsbook(&[
        "daily-check",
        "--only",
        "host,checks",
        "--state-dir",
        "state",
    ])
    .expect_code(2);
    let filters = Filters::new(&ws)
        .regex(r"\b\d{4}-\d\d-\d\d\b", "YYYY-MM-DD")
        .regex(r"\b\d\d:\d\d UTC\b", "hh:mm UTC")
        .regex(r"\b\d+(?:\.\d)?%/\d+(?:\.\d)?%", "[M]%/[M]%")
        .regex(r"\b\d+(?:\.\d)?/\d+(?:\.\d)?\b", "[L]/[L]")
        .regex(r"(\[L\]/\[L\] +)\d+(?:\.\d)?%", "${1}[D]%")
        .regex(r"\bdisk peak \d+(?:\.\d)?%", "disk peak [D]%");
    // Both runs on one UTC day: a test run across midnight sees two days.
    let run = ws.opsbook(&["report", "--since", "7d", "--state-dir", "state"]);
    assert_run(
        &run,
        &filters,
        2,
        r#"
DAY         RUNS  MEMORY AVG/PEAK  LOAD AVG/PEAK  DISK PEAK  FAILING  STATUS
YYYY-MM-DD  2     [M]%/[M]%        [L]/[L]        [D]%       1        crit
memory peak ▄
load peak   ▄
2 runs in the last 7d
crit    report/newest: the newest run, YYYY-MM-DD hh:mm UTC, was crit (1 failing result)
crit: 1 crit, 1 ok in [MS] ms
"#,
        "",
    );

    let run = ws.opsbook(&["report", "--state-dir", "elsewhere"]);
    assert_run(
        &run,
        &filters,
        3,
        r#"
STATUS   SECTION  NAME     MESSAGE
unknown  report   history  no daily-check recorded for this runbook in the last 7d (in `elsewhere`)
unknown: 1 unknown in [MS] ms
"#,
        "",
    );
}

/// A history of an old warning and a newest ok run: `report` exits 0.
#[test]
fn report_exits_with_the_newest_run_not_an_old_warning() {
    let ws = Workspace::new();
    let root = ws.path().display().to_string();
    // One warning (no backup yet) first, then the same runbook made healthy.
    let warned = format!(
        "version: 1\nname: trend\n{CALM_HOST}checks:\n  home:\n    exec: {{ service: none, command: [true] }}\n"
    );
    ws.write("opsbook.yaml", &warned);
    let first = ws.opsbook(&["daily-check", "--only", "checks", "--state-dir", "state"]);
    assert_ne!(first.code, 0, "{}{}", first.stdout, first.stderr);
    // The same runbook (same path and name: same history), now without the failing check.
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: trend\n{CALM_HOST}"),
    );
    let second = ws.opsbook(&["daily-check", "--only", "host", "--state-dir", "state"]);
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
    let run = ws.opsbook(&["report", "--state-dir", "state", "--format", "json"]);
    assert_eq!(run.code, 0, "{root}: {}{}", run.stdout, run.stderr);
    let report = run.json();
    let days = report["days"].as_array().expect("days");
    assert!(
        days.iter().any(|d| d["worst"] != "ok"),
        "the window still shows the earlier problem: {report:#}"
    );
    let newest = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["name"] == "newest")
        .expect("the newest run's result");
    assert_eq!(newest["status"], "ok", "{report:#}");
}

#[test]
fn a_history_line_not_utf8_hides_no_later_record() {
    let ws = Workspace::new();
    let project = format!("opsbook-test-hd-hist-{}", std::process::id());
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\nproject: {project}\n{CALM_HOST}"),
    );
    let check = || ws.opsbook(&["daily-check", "--state-dir", &state(&ws)]);
    check();
    let history = only_file(&ws.path().join("state/history"));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&history)
        .unwrap();
    std::io::Write::write_all(&mut file, b"{\"at\": \"\xff\xfe\"}\n").unwrap();
    drop(file);
    check();
    check();
    // Exit 1: the newest run warned (the project has no container), as `report` says now.
    let report = ws
        .opsbook(&["report", "--state-dir", &state(&ws), "--format", "json"])
        .expect_code(1)
        .json();
    let runs: u64 = report["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["runs"].as_u64().unwrap())
        .sum();
    assert_eq!(runs, 3, "{report:#}");
    assert_eq!(report["skipped_lines"], 1);
    assert!(
        result(&report, "report", "unreadable")["message"]
            .as_str()
            .unwrap()
            .contains("1 unreadable history line")
    );
}

#[test]
fn report_with_a_window_that_is_not_a_duration() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\n{CALM_HOST}"),
    );
    assert_run(
        &ws.opsbook(&["report", "--since", "3 parsecs", "--state-dir", "state"]),
        &Filters::new(&ws),
        3,
        "",
        r#"
error: invalid value '3 parsecs' for '--since <SINCE>': invalid duration `3 parsecs` (write e.g. `500ms`, `30s`, `5m`, `26h`, `7d`)

For more information, try '--help'.
"#,
    );
}

/// `report --uptime`: a check ok in two runs of three, with its response
/// times, and an incident acknowledged and closed; serve shows the same
/// uptime on its page and in /metrics.
#[test]
fn uptime_per_check_and_the_incidents_response_times() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\n{CALM_HOST}checks:\n  flag:\n    file: {{ path: flag }}\nincident: {{ dir: ./incidents }}\n"
        ),
    );
    let flag = ws.path().join("flag");
    for (present, code) in [(true, 0), (false, 2), (true, 0)] {
        if present {
            std::fs::write(&flag, "up").unwrap();
        } else {
            std::fs::remove_file(&flag).unwrap();
        }
        ws.opsbook(&["daily-check", "--only", "checks", "--state-dir", "state"])
            .expect_code(code);
    }
    let opened = ws.opsbook(&[
        "incident",
        "open",
        "--severity",
        "P2",
        "--title",
        "flag gone",
        "--state-dir",
        "state",
    ]);
    assert_eq!(opened.code, 0, "{}{}", opened.stdout, opened.stderr);
    let id = std::fs::read_dir(ws.path().join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    ws.opsbook(&["incident", "ack", &id]).expect_code(0);
    ws.opsbook(&["incident", "close", &id, "--summary", "put back"])
        .expect_code(0);

    let run = ws.opsbook(&["report", "--uptime", "--state-dir", "state"]);
    let filters = Filters::new(&ws)
        .literal(&id, "[ID]")
        .regex(r"\d+ms", "[MS]")
        .regex(r"\d+s\b", "[S]")
        .collapse_blanks();
    assert_run(
        &run,
        &filters,
        0,
        "
SECTION  NAME  UPTIME  OK RUNS  FAILING  P50  P95  P99
checks  flag  66.66%  2/3  [S]  [MS]  [MS]  [MS]
3 runs in the last 7d
INCIDENT  SEVERITY  TO ACKNOWLEDGE  TO RESOLVE  TITLE
[ID]  P2  [S]  [S]  flag gone
1 incident: mean time to acknowledge [S], to resolve [S]
ok: 2 ok in [MS] ms
",
        "",
    );
    let json = ws
        .opsbook(&[
            "report",
            "--uptime",
            "--state-dir",
            "state",
            "--format",
            "json",
        ])
        .json();
    let flag_uptime = &json["uptime"][0];
    assert_eq!(
        (
            &flag_uptime["name"],
            &flag_uptime["runs"],
            &flag_uptime["ok"]
        ),
        (
            &serde_json::json!("flag"),
            &serde_json::json!(3),
            &serde_json::json!(2)
        )
    );
    assert_eq!(flag_uptime["latency_ms"].as_array().unwrap().len(), 3);
    assert_eq!(json["incidents"]["incidents"][0]["severity"], "P2");

    let port = free_port();
    let agent = crate::support::Spawned::new(ws.spawn(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--state-dir",
        "state",
    ]));
    crate::support::eventually(
        "the agent answers",
        std::time::Duration::from_secs(30),
        || crate::serve::get(port, "/metrics", None).is_some(),
    );
    let (_, metrics) = crate::serve::get(port, "/metrics", None).unwrap();
    for window in ["24h", "7d", "30d"] {
        let line = format!(
            "opsbook_check_uptime_ratio{{section=\"checks\",name=\"flag\",window=\"{window}\"}} 0.6666666666666666"
        );
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    let (_, page) = crate::serve::get(port, "/", None).unwrap();
    assert!(
        page.contains(
            "<tr><td>checks</td><td>flag</td><td>66.66%</td><td>66.66%</td><td>66.66%</td><td>"
        ),
        "{page}"
    );
    agent.terminate_within(std::time::Duration::from_secs(10));
}
