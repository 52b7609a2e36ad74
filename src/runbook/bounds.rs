//! Values that parse but make no sense, refused at validation with their
//! place: a zero timeout, grace or age; a NaN threshold; an empty name, an
//! empty command; a header with a line break, a method with a space, a
//! status that is no HTTP status, a URL that does not parse; a pattern that
//! matches the empty string (it would mask or count everything).

use super::command::Command;
use super::model::{HttpCheck, Model, Step};
use super::units::Duration;

/// One problem: the field's dotted path and what is wrong with it.
pub(super) type Finding = (String, String);

/// Every nonsense value of the runbook.
pub(super) fn check(model: &Model) -> Vec<Finding> {
    let mut found = Vec::new();
    names(model, &mut found);
    durations(model, &mut found);
    let t = &model.thresholds;
    for (name, load) in [
        ("load", &t.load),
        ("load5", &t.load5),
        ("load15", &t.load15),
    ] {
        if let Some(load) = load
            && !(load.warn.value.is_finite() && load.crit.value.is_finite())
        {
            found.push((
                format!("thresholds.{name}"),
                "the load limits must be numbers (not `.nan` or `.inf`)".into(),
            ));
        }
    }
    for (name, check) in &model.checks {
        if let Some(http) = &check.http {
            request(http, &format!("checks.{name}.http"), &mut found);
        }
        if let Some(exec) = &check.exec {
            command(
                &exec.command,
                &format!("checks.{name}.exec.command"),
                &mut found,
            );
        }
        if let Some(host) = &check.command {
            command(&host.run, &format!("checks.{name}.command.run"), &mut found);
        }
    }
    for (field, steps) in step_lists(model) {
        for (index, step) in steps.iter().enumerate() {
            self::step(step, &format!("{field}[{index}]"), &mut found);
        }
    }
    if let Some(backup) = &model.backup {
        for (name, dump) in &backup.dumps {
            let field = format!("backup.dumps.{name}");
            command(&dump.command, &format!("{field}.command"), &mut found);
            if let Some(restore) = &dump.restore {
                command(restore, &format!("{field}.restore"), &mut found);
            }
        }
    }
    if let Some(startup) = &model.startup
        && let Some(up) = &startup.up
    {
        command(up, "startup.up", &mut found);
    }
    for pattern in &model.redact {
        matches_empty(&pattern.value, "redact", "mask every character", &mut found);
    }
    if let Some(logs) = &model.logs {
        for pattern in &logs.patterns {
            matches_empty(&pattern.value, "logs.match", "count every line", &mut found);
        }
    }
    found
}

fn names(model: &Model, found: &mut Vec<Finding>) {
    for (field, value) in [("name", &model.name), ("project", &model.project)] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            found.push((field.into(), format!("`{field}` is empty")));
        }
    }
    if model.services.keys().any(|name| name.trim().is_empty()) {
        found.push(("services".into(), "a service name is empty".into()));
    }
}

fn durations(model: &Model, found: &mut Vec<Finding>) {
    let mut given: Vec<(String, Option<Duration>)> = vec![
        (
            "startup.timeout".into(),
            model.startup.as_ref().and_then(|s| s.timeout),
        ),
        (
            "shutdown.grace".into(),
            model.shutdown.as_ref().and_then(|s| s.grace),
        ),
        (
            "backup.max_age".into(),
            model.backup.as_ref().and_then(|b| b.max_age),
        ),
        (
            "logs.since".into(),
            model.logs.as_ref().and_then(|l| l.since),
        ),
    ];
    let t = &model.thresholds;
    let host = [
        ("memory", t.memory.as_ref().and_then(|l| l.lasting)),
        ("swap", t.swap.as_ref().and_then(|l| l.lasting)),
        ("cpu", t.cpu.as_ref().and_then(|l| l.lasting)),
        ("iowait", t.iowait.as_ref().and_then(|l| l.lasting)),
        ("inodes", t.inodes.as_ref().and_then(|l| l.lasting)),
        ("load", t.load.as_ref().and_then(|l| l.lasting)),
        ("load5", t.load5.as_ref().and_then(|l| l.lasting)),
        ("load15", t.load15.as_ref().and_then(|l| l.lasting)),
        ("disk", t.disk.as_ref().and_then(|l| l.lasting)),
        ("network", t.network.as_ref().and_then(|l| l.lasting)),
    ];
    for (figure, lasting) in host {
        given.push((format!("thresholds.{figure}.for"), lasting));
    }
    let drill = model.backup.as_ref().and_then(|b| b.drill.as_ref());
    given.push(("backup.drill.timeout".into(), drill.and_then(|d| d.timeout)));
    given.push((
        "backup.drill.restore_timeout".into(),
        drill.and_then(|d| d.restore_timeout),
    ));
    check_durations(model, &mut given);
    for (name, heartbeat) in &model.heartbeats {
        given.push((format!("heartbeats.{name}.period"), heartbeat.period));
        given.push((format!("heartbeats.{name}.grace"), heartbeat.grace));
    }
    for (field, steps) in step_lists(model) {
        step_durations(&field, steps, &mut given);
    }
    for (field, duration) in given {
        if duration.is_some_and(|d| d.std().is_zero()) {
            found.push((
                field.clone(),
                format!("`{field}` is 0: give a length of time, like `30s`"),
            ));
        }
    }
}

/// The lengths of time the checks give.
fn check_durations(model: &Model, given: &mut Vec<(String, Option<Duration>)>) {
    for (name, check) in &model.checks {
        if let Some(http) = &check.http {
            given.push((format!("checks.{name}.http.timeout"), http.timeout));
            given.push((format!("checks.{name}.http.max_latency"), http.max_latency));
        }
        if let Some(exec) = &check.exec {
            given.push((format!("checks.{name}.exec.timeout"), exec.timeout));
        }
        if let Some(host) = &check.command {
            given.push((format!("checks.{name}.command.timeout"), host.timeout));
        }
        if let Some(tcp) = &check.tcp {
            given.push((format!("checks.{name}.tcp.timeout"), tcp.timeout));
        }
        if let Some(prometheus) = &check.prometheus {
            given.push((
                format!("checks.{name}.prometheus.timeout"),
                prometheus.timeout,
            ));
        }
        if let Some(file) = &check.file {
            given.push((format!("checks.{name}.file.max_age"), file.max_age));
        }
        if let Some(ws) = &check.websocket {
            given.push((format!("checks.{name}.websocket.timeout"), ws.timeout));
            given.push((
                format!("checks.{name}.websocket.max_latency"),
                ws.max_latency,
            ));
        }
        if let Some(port) = &check.port {
            given.push((format!("checks.{name}.port.timeout"), port.timeout));
        }
        if let Some(process) = &check.process {
            given.push((format!("checks.{name}.process.timeout"), process.timeout));
        }
        if let Some(cert) = check.http.as_ref().and_then(|h| h.cert) {
            given.push((format!("checks.{name}.http.cert.warn"), cert.warn));
            given.push((format!("checks.{name}.http.cert.crit"), cert.crit));
        }
        given.push((format!("checks.{name}.for"), check.failing_for));
        given.push((
            format!("checks.{name}.retry.delay"),
            check.retry.as_ref().and_then(|r| r.delay),
        ));
    }
}

/// The lengths of time steps give, nested `on_failure` / `on_timeout` too.
fn step_durations(field: &str, steps: &[Step], given: &mut Vec<(String, Option<Duration>)>) {
    for (index, step) in steps.iter().enumerate() {
        let at = format!("{field}[{index}]");
        given.push((format!("{at}.timeout"), step.timeout));
        given.push((
            format!("{at}.silence.for"),
            step.silence.as_ref().and_then(|s| s.lasting),
        ));
        step_durations(&format!("{at}.on_failure"), &step.on_failure, given);
        step_durations(&format!("{at}.on_timeout"), &step.on_timeout, given);
    }
}

/// Every list of steps in the runbook, with its dotted path.
pub(super) fn step_lists(model: &Model) -> Vec<(String, &[Step])> {
    let mut lists: Vec<(String, &[Step])> = Vec::new();
    let hooks = [
        (
            "startup",
            model.startup.as_ref().map(|s| (&s.before, &s.after)),
        ),
        (
            "shutdown",
            model.shutdown.as_ref().map(|s| (&s.before, &s.after)),
        ),
        (
            "backup",
            model.backup.as_ref().map(|s| (&s.before, &s.after)),
        ),
        (
            "restore",
            model.restore.as_ref().map(|s| (&s.before, &s.after)),
        ),
    ];
    for (section, pair) in hooks {
        if let Some((before, after)) = pair {
            lists.push((format!("{section}.before"), before));
            lists.push((format!("{section}.after"), after));
        }
    }
    if let Some(incident) = &model.incident {
        for (name, steps) in &incident.playbooks {
            lists.push((format!("incident.playbooks.{name}"), steps));
        }
    }
    for (name, procedure) in &model.procedures {
        lists.push((format!("procedures.{name}.steps"), &procedure.steps));
    }
    lists
}

fn step(step: &Step, field: &str, found: &mut Vec<Finding>) {
    if let Some(run) = &step.run {
        command(run, &format!("{field}.run"), found);
    }
    if step.sh.as_deref().is_some_and(|s| s.trim().is_empty()) {
        found.push((format!("{field}.sh"), "the shell script is empty".into()));
    }
    if let Some(exec) = &step.exec {
        command(&exec.command, &format!("{field}.exec.command"), found);
    }
    if let Some(http) = &step.http {
        request(http, &format!("{field}.http"), found);
    }
}

/// A command must name a program (an argv's first word, a script).
fn command(command: &Command, field: &str, found: &mut Vec<Finding>) {
    let empty = match command {
        Command::Argv(argv) => argv.first().is_none_or(|program| program.trim().is_empty()),
        Command::Shell { sh } => sh.trim().is_empty(),
    };
    if empty {
        found.push((
            field.into(),
            "the command is empty: it needs a program to run".into(),
        ));
    }
}

/// An HTTP request reqwest can send as written.
fn request(http: &HttpCheck, field: &str, found: &mut Vec<Finding>) {
    let url = http.url.value.trim();
    if let Err(e) = reqwest::Url::parse(url) {
        found.push((
            format!("{field}.url"),
            format!("`{url}` is not a valid URL: {e}"),
        ));
    }
    if let Some(method) = &http.method
        && reqwest::Method::from_bytes(method.as_bytes()).is_err()
    {
        found.push((
            format!("{field}.method"),
            format!("`{method}` is not an HTTP method (e.g. GET, HEAD, POST)"),
        ));
    }
    for (name, value) in &http.headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            found.push((
                format!("{field}.headers"),
                format!("`{name}` is not a header name (letters, digits and `-`, no spaces)"),
            ));
        }
        if reqwest::header::HeaderValue::from_str(&value.value).is_err() {
            // The header's name in the message, not the field: a field named
            // like a secret (`X-Auth`) would have the whole message masked.
            found.push((
                format!("{field}.headers"),
                format!(
                    "the value of header `{name}` cannot hold line breaks or control characters"
                ),
            ));
        }
    }
    if let Some(status) = http.status
        && !(100..=599).contains(&status)
    {
        found.push((
            format!("{field}.status"),
            format!("`{status}` is not an HTTP status (100 to 599)"),
        ));
    }
}

fn matches_empty(pattern: &str, field: &str, would: &str, found: &mut Vec<Finding>) {
    if regex::Regex::new(pattern).is_ok_and(|re| re.is_match("")) {
        found.push((
            field.into(),
            format!("pattern `{pattern}` matches the empty string: it would {would}"),
        ));
    }
}
