//! `prometheus` checks (issue 18) against a real Prometheus from Debian's
//! package (the real-software image): instant queries graded by `value`,
//! the worst of several series named, and every answer without a number
//! (no series, a range, a refused query, no server) crit with its reason.

use std::time::Duration;

use crate::support::{Project, REAL_IMAGE, Workspace, eventually, free_port, result};

#[test]
fn prometheus_queries_are_graded_by_their_value_and_say_why_when_they_cannot_be() {
    let project = Project::new("prom");
    let port = free_port();
    project
        .service("prometheus")
        .runs(REAL_IMAGE, &["prometheus-serve"])
        .port(9090, port)
        .start();
    eventually("Prometheus ready", Duration::from_secs(60), || {
        project.exec(
            "prometheus",
            "busybox wget -qO /dev/null 127.0.0.1:9090/-/ready",
        )
    });
    let closed = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let check = |name: &str, query: &str, value: &str| {
        format!(
            "  {name}:\n    prometheus: {{ url: \"{url}\", query: '{query}' }}\n    value: {value}\n"
        )
    };
    let checks = [
        check("error-rate", "vector(0.42)", "{ above: { warn: 0.3, crit: 0.5 } }"),
        check(
            "p95",
            "label_replace(vector(0.2), \"job\", \"a\", \"\", \"\") or label_replace(vector(1.5), \"job\", \"b\", \"\", \"\")",
            "{ above: { warn: 800ms, crit: 1s } }",
        ),
        check("fine", "scalar(vector(99.5))", "{ below: { warn: 95%, crit: 90% } }"),
        check("missing", "absent(vector(1))", "{ above: { crit: 1 } }"),
        check("nan", "vector(0) / vector(0)", "{ above: { crit: 1 } }"),
        check("range", "vector(1)[5m:1m]", "{ above: { crit: 1 } }"),
        check("typo", "rate(up[5m]", "{ above: { crit: 1 } }"),
    ]
    .concat();
    // `no_data` grades an answer without data: no series, NaN, ±Inf.
    let quiet = |name: &str, query: &str, no_data: &str| {
        format!(
            "  {name}:\n    prometheus: {{ url: \"{url}\", query: '{query}', no_data: {no_data} }}\n    value: {{ above: {{ warn: 800ms, crit: 1s }} }}\n"
        )
    };
    let checks = [
        checks,
        quiet("quiet-p95", "vector(0) / vector(0)", "ok"),
        quiet("quiet-missing", "absent(vector(1))", "ok"),
        quiet("infinite", "vector(1) / vector(0)", "warn"),
        quiet("still-graded", "vector(1.5)", "ok"),
    ]
    .concat();
    let down = format!(
        "  down:\n    prometheus: {{ url: \"http://127.0.0.1:{closed}\", query: up }}\n    value: {{ below: {{ crit: 1 }} }}\n"
    );
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nchecks:\n{checks}{down}"),
    );
    let run = ws.opsbook(&["daily-check", "--only", "checks", "--format", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    let graded = |name: &str| {
        let r = result(&report, "checks", name);
        (
            r["status"].as_str().unwrap().to_string(),
            r["message"].as_str().unwrap().to_string(),
        )
    };
    let pair = |status: &str, message: &str| (status.to_string(), message.to_string());
    assert_eq!(
        graded("error-rate"),
        pair("warn", "value 0.42, above warn 0.3")
    );
    assert_eq!(
        graded("p95"),
        pair(
            "crit",
            "{job=\"b\"}: value 1.5s, above crit 1s (worst of 2 series)"
        )
    );
    assert_eq!(graded("fine"), pair("ok", "value 99.5%"));
    assert_eq!(
        graded("missing"),
        pair(
            "crit",
            "no data: the query returned no series (if none means zero, add `or vector(0)`, or set `no_data`)"
        )
    );
    assert_eq!(
        graded("nan"),
        pair(
            "crit",
            "no data: the value is NaN (0/0, as a rate over no traffic gives) (if that means no traffic, set `no_data: ok`)"
        )
    );
    assert_eq!(
        graded("quiet-p95"),
        pair(
            "ok",
            "no data: the value is NaN (0/0, as a rate over no traffic gives) (no_data: ok)"
        )
    );
    assert_eq!(
        graded("quiet-missing"),
        pair("ok", "no data: the query returned no series (no_data: ok)")
    );
    assert_eq!(
        graded("infinite"),
        pair("warn", "no data: the value is +Inf (no_data: warn)")
    );
    assert_eq!(
        graded("still-graded"),
        pair("crit", "value 1.5s, above crit 1s")
    );
    assert_eq!(
        graded("range"),
        pair(
            "crit",
            "the query answers a matrix, not a number: write an instant query (no `[5m]` range at its end)"
        )
    );
    let (status, message) = graded("typo");
    assert_eq!(status, "crit");
    assert!(
        message.starts_with("Prometheus refused the query (bad_data): "),
        "{message}"
    );
    let (status, message) = graded("down");
    assert_eq!(status, "crit");
    assert!(
        message.starts_with(&format!(
            "cannot reach Prometheus at http://127.0.0.1:{closed}"
        )),
        "{message}"
    );
    let p95 = result(&report, "checks", "p95");
    assert_eq!(
        (p95["value"].as_f64(), p95["unit"].as_str()),
        (Some(1.5), Some("seconds"))
    );
}

#[test]
fn prometheus_checks_are_validated_with_their_place() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nchecks:\n  a:\n    prometheus: { url: \"http://127.0.0.1:9090\", query: up }\n  b:\n    prometheus: { url: \"not a url\", query: \"\" }\n    value: { json: x, above: { crit: 1 } }\n",
    );
    let run = ws.opsbook(&["validate"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        "error: opsbook.yaml:4:5: checks.a.prometheus: a prometheus check grades the query's value: give `value: { above: … }` or `below`\n\
         error: opsbook.yaml:6:24: checks.b.prometheus.url: `not a url` is not an http:// or https:// URL\n\
         error: opsbook.yaml:6:44: checks.b.prometheus.query: `query` is empty: write a PromQL query\n\
         error: opsbook.yaml:7:5: checks.b.value: a prometheus check's value is the query's answer: no `regex`, `json` or `response_time`\n"
    );
}
