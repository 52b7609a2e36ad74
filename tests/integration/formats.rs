//! The four report formats, each checked for shape: JSON parses into the
//! contract's envelope, JUnit is well-formed XML with failures for warn and
//! crit, Prometheus is valid text exposition, the table is plain text.

use std::time::Duration;

use crate::support::{Project, Workspace};

/// A report with ok, warn and crit results: a healthy critical service, a
/// stopped non-critical one, and memory above `crit: 0%`.
fn mixed(tag: &str) -> (Project, Workspace) {
    let project = Project::new(tag);
    project.service("db").healthcheck("true").start();
    project.service("worker").start();
    project.stop("worker");
    project.wait_for_health("db", "healthy", Duration::from_secs(20));
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {}\nservices:\n  db: {{ critical: true }}\n  worker: {{}}\nthresholds:\n  memory: {{ warn: 0%, crit: 0% }}\n  load: {{ warn: 1000, crit: 1000 }}\n  swap: {{ warn: 100%, crit: 100% }}\n  disk: {{ warn: 100%, crit: 100% }}\n",
            project.name
        ),
    );
    (project, ws)
}

#[test]
fn json_is_the_contract_envelope() {
    let (_project, ws) = mixed("json");
    let run = ws.opsbook(&["status", "--format", "json"]);
    let report = run.expect_code(2).json();
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys[..6],
        [
            "command",
            "runbook",
            "status",
            "started_at",
            "duration_ms",
            "results"
        ]
    );
    assert_eq!(report["command"], "status");
    assert_eq!(report["status"], "crit");
    let started: jiff::Timestamp = report["started_at"]
        .as_str()
        .unwrap()
        .parse()
        .expect("RFC 3339");
    assert!(started <= jiff::Timestamp::now());
    assert!(report["duration_ms"].is_u64());
    for result in report["results"].as_array().unwrap() {
        for key in ["section", "name", "status", "message"] {
            assert!(result[key].is_string(), "{key} in {result}");
        }
    }
    assert_eq!(run.stderr, "", "diagnostics only on stderr, and none here");
}

#[test]
fn junit_is_well_formed_with_failures_for_warn_and_crit() {
    let (_project, ws) = mixed("junit");
    let run = ws.opsbook(&["status", "--format", "junit"]);
    run.expect_code(2);
    let xml = roxmltree::Document::parse(&run.stdout).expect("well-formed XML");
    let root = xml.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let failed = |name: &str| {
        cases
            .iter()
            .find(|c| c.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no testcase {name}"))
            .children()
            .find(|n| n.has_tag_name("failure"))
            .and_then(|f| f.attribute("type").map(str::to_string))
    };
    assert_eq!(failed("db"), None);
    assert_eq!(failed("worker"), Some("warn".into()));
    assert_eq!(failed("memory"), Some("crit".into()));
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(
        suites.len(),
        2,
        "one suite per section: containers and host"
    );
}

#[test]
fn prometheus_is_text_exposition() {
    let (project, ws) = mixed("prom");
    let run = ws.opsbook(&["status", "--format", "prometheus"]);
    run.expect_code(2);
    let sample =
        regex::Regex::new(r#"^[a-z_]+\{([a-z_]+="(?:[^"\\]|\\.)*",?)+\} -?[0-9.e+]+$"#).unwrap();
    for line in run.stdout.lines() {
        assert!(
            line.starts_with("# HELP ") || line.starts_with("# TYPE ") || sample.is_match(line),
            "not exposition format: {line}"
        );
    }
    let runbook = "opsbook.yaml";
    assert!(run.stdout.contains(&format!(
        "opsbook_status{{command=\"status\",runbook=\"{runbook}\"}} 2\n"
    )));
    assert!(run.stdout.contains(&format!(
        "opsbook_check_status{{command=\"status\",runbook=\"{runbook}\",section=\"containers\",name=\"worker\"}} 1\n"
    )));
    assert!(
        run.stdout
            .contains("section=\"host\",name=\"memory\",unit=\"percent\"} ")
    );
    assert!(
        !run.stdout.contains(&project.name),
        "container names are not labels"
    );
}

#[test]
fn table_is_plain_text_without_colour() {
    let (_project, ws) = mixed("table");
    let run = ws.opsbook(&["status", "--no-color"]);
    run.expect_code(2);
    assert!(
        !run.stdout.contains('\u{1b}'),
        "no escape codes:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.lines().all(|l| l == l.trim_end()),
        "no trailing blanks"
    );
    let last = run.stdout.lines().last().unwrap();
    assert!(last.starts_with("crit: 1 crit, 1 warn, "), "{last}");
}

#[test]
fn an_invalid_runbook_in_json_is_one_unknown_object() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nservices:\n  api: { depends_on: [db] }\n",
    );
    let run = ws.opsbook(&["validate", "--format", "json"]);
    let report = run.expect_code(3).json();
    assert_eq!(report["status"], "unknown");
    assert_eq!(
        report["results"][0]["message"],
        "opsbook.yaml:3:23: services.api.depends_on: unknown service `db` (services are: api)"
    );
    assert_eq!(run.stderr.lines().count(), 1);
}
