//! `opsbook validate`: the reference runbook's plan, every validation error
//! with its location, and runbook discovery.

use std::time::{Duration, Instant};

use crate::support::Workspace;
use crate::support::exact::{Filters, assert_run};

const REFERENCE: &str = include_str!("../../examples/shop/opsbook.yaml");

/// Validates `yaml` and returns stderr, asserting exit 3 and an empty stdout.
fn problems(yaml: &str) -> String {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", yaml);
    let run = ws.opsbook(&["validate"]);
    run.expect_code(3);
    assert_eq!(run.stdout, "", "nothing on stdout for an invalid runbook");
    run.stderr
}

/// The reference runbook with one line replaced.
fn reference_with(from: &str, to: &str) -> String {
    assert!(
        REFERENCE.contains(from),
        "reference runbook has no `{from}`"
    );
    REFERENCE.replacen(from, to, 1)
}

#[test]
fn reference_runbook_validates_and_prints_its_plan() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", REFERENCE);
    let run = ws.opsbook(&["validate"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("1. db, cache   2. api   3. web"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1. web   2. api   3. db, cache"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("check db-ready"), "{}", run.stdout);
    assert!(run.stdout.contains("backup dump"), "{}", run.stdout);
    assert_eq!(run.stderr, "");
}

#[test]
fn reference_runbook_plan_as_json() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", REFERENCE);
    let report = ws
        .opsbook(&["validate", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(report["command"], "validate");
    assert_eq!(report["status"], "ok");
    assert_eq!(report["runbook"], "opsbook.yaml");
    let plan = &report["plan"];
    assert_eq!(
        plan["startup"],
        serde_json::json!([["db", "cache"], ["api"], ["web"]])
    );
    assert_eq!(
        plan["shutdown"],
        serde_json::json!([["web"], ["api"], ["db", "cache"]])
    );
    assert_eq!(
        plan["thresholds"]["memory"],
        serde_json::json!({"warn": 80.0, "crit": 90.0})
    );
    // Left out of the reference runbook's memory line, so the defaults hold elsewhere.
    assert_eq!(plan["thresholds"]["disk_paths"], serde_json::json!(["/"]));
    let kinds: Vec<_> = plan["backup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].clone())
        .collect();
    assert_eq!(kinds, ["volume", "volume", "file", "dump"]);
    assert_eq!(plan["checks"].as_array().unwrap().len(), 4);
}

#[test]
fn unknown_service_in_depends_on() {
    let yaml = reference_with("depends_on: [db, cache]", "depends_on: [db, cahce]");
    assert_eq!(
        problems(&yaml),
        "error: opsbook.yaml:8:29: services.api.depends_on: unknown service `cahce` (services are: db, cache, api, web): did you mean `cache`?\n"
    );
}

#[test]
fn unknown_service_in_an_exec_check() {
    let yaml = reference_with("exec: { service: db,", "exec: { service: dbase,");
    let stderr = problems(&yaml);
    assert!(
        stderr.starts_with(
            "error: opsbook.yaml:23:22: checks.db-ready.exec.service: unknown service `dbase`"
        ),
        "{stderr}"
    );
}

#[test]
fn unknown_service_in_a_dump_and_in_backup_stop() {
    let yaml = reference_with("      service: db\n", "      service: pg\n");
    let yaml = yaml.replacen("stop: [api]", "stop: [apii]", 1);
    let stderr = problems(&yaml);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].contains(":48:16: backup.dumps.records.service: unknown service `pg`"),
        "{stderr}"
    );
    assert!(
        lines[1].contains(":51:10: backup.stop: unknown service `apii`"),
        "{stderr}"
    );
}

#[test]
fn unknown_check_in_startup_verify() {
    let yaml = reference_with(
        "verify: [api-health, web-home, db-ready]",
        "verify: [api-health, web-hom]",
    );
    assert_eq!(
        problems(&yaml),
        "error: opsbook.yaml:37:24: startup.verify: unknown check `web-hom` (checks are: api-health, web-home, db-ready, cache-ping): did you mean `web-home`?\n"
    );
}

#[test]
fn a_dependency_cycle_names_every_service_on_it() {
    let yaml = "version: 1\nservices:\n  db: {}\n  api:\n    depends_on: [worker]\n  worker:\n    depends_on: [queue]\n  queue:\n    depends_on: [api]\n";
    assert_eq!(
        problems(yaml),
        "error: opsbook.yaml:5:18: services.api.depends_on: dependency cycle: api → worker → queue → api\n"
    );
}

#[test]
fn warn_above_crit() {
    let yaml = reference_with(
        "memory: { warn: 80%, crit: 90% }",
        "memory: { warn: 95%, crit: 90% }",
    );
    assert_eq!(
        problems(&yaml),
        "error: opsbook.yaml:12:19: thresholds.memory.warn: warn 95% is above crit 90%\n"
    );
    let yaml = reference_with(
        "load:   { warn: 2.0, crit: 2.5 }",
        "load:   { warn: 3.0, crit: 2.5 }",
    );
    assert!(problems(&yaml).contains(":14:19: thresholds.load.warn: warn 3 is above crit 2.5"));
    let yaml = reference_with("warn: 1  ", "warn: 500");
    assert!(problems(&yaml).contains("logs.warn: warn 500 is above crit 100"));
}

#[test]
fn invalid_regex_in_logs_match() {
    let yaml = reference_with(r"'(?i)\bfatal\b'", "'(unclosed'");
    assert_eq!(
        problems(&yaml),
        "error: opsbook.yaml:29:28: logs.match: invalid regex `(unclosed`: unclosed group\n"
    );
}

#[test]
fn bad_durations_and_sizes() {
    let yaml = reference_with("grace: 10s", "grace: 10 parsecs");
    assert_eq!(
        problems(&yaml),
        "error: opsbook.yaml:40:10: shutdown.grace: invalid duration `10 parsecs` (write e.g. `500ms`, `30s`, `5m`, `26h`, `7d`)\n"
    );
    let yaml = reference_with("grace: 10s", "grace: 10");
    assert!(
        problems(&yaml).contains("shutdown.grace: duration `10` needs a unit, like `10s` or `10m`")
    );
    let yaml = reference_with("min_free_memory: 512MiB", "min_free_memory: plenty");
    assert_eq!(
        problems(&yaml),
        "error: opsbook.yaml:34:33: startup.preflight.min_free_memory: invalid size `plenty` (write e.g. `512MiB`, `5GiB`)\n"
    );
    let yaml = reference_with("warn: 85%, crit: 90%", "warn: 85%, crit: 190%");
    assert!(
        problems(&yaml).contains("thresholds.disk.crit: percentage `190%` is outside 0% to 100%")
    );
}

#[test]
fn unknown_keys_are_errors_with_their_location() {
    let yaml = reference_with(
        "db:    { critical: true }",
        "db:    { critical: true, replicas: 2 }",
    );
    assert_eq!(
        problems(&yaml),
        "error: opsbook.yaml:6:28: services.db.replicas: unknown field `replicas`, expected one of depends_on, critical, logs, thresholds\n"
    );
    let yaml = format!("{REFERENCE}colour: blue\n");
    assert!(problems(&yaml).contains(":70:1: colour: unknown field `colour`"));
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let yaml = reference_with("depends_on: [db, cache]", "depends_on: [db, cahce]")
        .replacen(
            "memory: { warn: 80%, crit: 90% }",
            "memory: { warn: 95%, crit: 90% }",
            1,
        )
        .replacen(
            "verify: [api-health, web-home, db-ready]",
            "verify: [nope]",
            1,
        )
        .replacen("stop: [api]", "stop: [ghost]", 1);
    let stderr = problems(&yaml);
    assert_eq!(stderr.lines().count(), 4, "{stderr}");
    assert!(
        stderr
            .lines()
            .all(|l| l.starts_with("error: opsbook.yaml:")),
        "{stderr}"
    );
}

#[test]
fn empty_non_utf8_and_missing_files() {
    assert_eq!(
        problems(""),
        "error: opsbook.yaml: runbook is empty: it needs at least `version: 1`\n"
    );
    assert_eq!(
        problems("# only a comment\n"),
        "error: opsbook.yaml: runbook is empty: it needs at least `version: 1`\n"
    );
    let ws = Workspace::new();
    ws.write("opsbook.yaml", b"version: 1\nname: caf\xe9\n");
    let run = ws.opsbook(&["validate"]);
    run.expect_code(3);
    assert_eq!(
        run.stderr,
        "error: opsbook.yaml:2:10: runbook is not valid UTF-8\n"
    );

    let run = ws.opsbook(&["validate", "--runbook", "missing.yaml"]);
    run.expect_code(3);
    assert_eq!(
        run.stderr,
        "error: runbook `missing.yaml` (given by --runbook) does not exist\n"
    );
    let run = ws.opsbook_with(&["validate"], &[("OPSBOOK_RUNBOOK", "gone.yaml")]);
    run.expect_code(3);
    assert_eq!(
        run.stderr,
        "error: runbook `gone.yaml` (from $OPSBOOK_RUNBOOK) does not exist\n"
    );
}

#[test]
fn yaml_syntax_and_type_errors_name_the_field() {
    // One value where a list is natural reads as a one-item list.
    assert_eq!(
        problems("version: 1\nservices:\n  api:\n    depends_on: db\n"),
        "error: opsbook.yaml:4:17: services.api.depends_on: unknown service `db` (services are: api)\n"
    );
    // A wrong type is said in the reader's words, with an example.
    assert_eq!(
        problems("version: 1\nprocedures:\n  p:\n    steps: vacuum\n"),
        "error: opsbook.yaml:4:12: procedures.p.steps: expected a list, e.g. `steps: [vacuum]`\n"
    );
    assert_eq!(
        problems("version: 1\nbackup:\n  dir: ./b\n  drill:\n    checks: [a, b]\n"),
        "error: opsbook.yaml:5:13: backup.drill.checks: expected named checks, e.g. `checks: { rows: { exec: { service: db, command: [test, -f, /data/ready] } } }`\n"
    );
    assert_eq!(
        problems("version: one\n"),
        "error: opsbook.yaml:1:10: version: expected a whole number\n"
    );
    assert_eq!(
        problems("version: 2\n"),
        "error: opsbook.yaml:1:10: version: unsupported version `2`: this opsbook reads version 1\n"
    );
    assert!(problems("name: shop\n").contains("missing field `version`"));
    assert!(
        problems(
            "version: 1\nchecks:\n  x:\n    exec: { service: a, command: \"pg_isready -q\" }\n"
        )
        .contains("checks.x.exec.command: command `pg_isready -q` is a plain string")
    );
}

#[test]
fn steps_need_exactly_one_action() {
    let yaml = "version: 1\nprocedures:\n  weekly:\n    steps:\n      - note: vacuum\n      - { wait: 1s, note: both }\n      - continue_on_error: true\n";
    assert_eq!(
        problems(yaml),
        "error: opsbook.yaml:6:7: procedures.weekly.steps[1]: a step has one action, this one has wait, note: split it\n\
         error: opsbook.yaml:7:7: procedures.weekly.steps[2]: a step needs one action: start, stop, restart, pause, unpause, scale, update, rollback, images_prune, run, sh, exec, check, backup, wait, note, rotate, rotate_secret, http, silence, notify or maintenance\n"
    );
}

#[test]
fn discovery_order_flag_env_working_dir_default() {
    let ws = Workspace::new();
    let named = |name: &str| format!("version: 1\nname: {name}\n");
    ws.write("opsbook.yaml", named("local"));
    ws.write("flag.yaml", named("flag"));
    ws.write("env.yaml", named("env"));
    let name_of = |run: crate::support::Run| run.expect_code(0).json()["plan"].clone();
    let _ = name_of;
    let runbook_of = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["validate", "--format", "json"];
        all.extend_from_slice(args);
        ws.opsbook_with(&all, env).expect_code(0).json()["runbook"].clone()
    };
    assert_eq!(
        runbook_of(
            &["--runbook", "flag.yaml"],
            &[("OPSBOOK_RUNBOOK", "env.yaml")]
        ),
        "flag.yaml"
    );
    assert_eq!(
        runbook_of(&[], &[("OPSBOOK_RUNBOOK", "env.yaml")]),
        "env.yaml"
    );
    assert_eq!(runbook_of(&[], &[]), "opsbook.yaml");

    let empty = Workspace::new();
    let run = empty.opsbook(&["validate", "--format", "json"]);
    let report = run.expect_code(0).json();
    assert_eq!(report["runbook"], "embedded:default");
    let thresholds = &report["plan"]["thresholds"];
    assert_eq!(
        thresholds["memory"],
        serde_json::json!({"warn": 80.0, "crit": 85.0})
    );
    assert_eq!(
        thresholds["swap"],
        serde_json::json!({"warn": 25.0, "crit": 50.0})
    );
    assert_eq!(
        thresholds["load"],
        serde_json::json!({"warn": 2.0, "crit": 2.5})
    );
    assert_eq!(
        thresholds["disk"],
        serde_json::json!({"warn": 85.0, "crit": 90.0})
    );
    assert_eq!(report["plan"]["project"], serde_json::Value::Null);
}

#[test]
fn durations_are_bounded_in_the_runbook_and_on_the_command_line() {
    let stderr = problems(&REFERENCE.replace("max_age: 26h", "max_age: 150000000000000d"));
    assert_eq!(
        stderr,
        "error: opsbook.yaml:54:12: backup.max_age: duration `150000000000000d` is too long: at most 3650d\n"
    );
    let ws = Workspace::new();
    ws.write("opsbook.yaml", REFERENCE);
    for args in [
        ["daily-check", "--timeout", "150000000000000d"],
        ["report", "--since", "150000000000000d"],
        ["daily-check", "--wait", "150000000000000d"],
    ] {
        let run = ws.opsbook(&args);
        assert_eq!(run.code, 3, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("is too long: at most 3650d"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_runbook_must_be_a_regular_file_of_at_most_4_mib() {
    let ws = Workspace::new();
    let fifo = ws.path().join("fifo.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let started = Instant::now();
    let run = ws.opsbook(&["validate", "--runbook", "fifo.yaml"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            3,
            "error: cannot read runbook `fifo.yaml`: it is not a regular file (a FIFO, a device or a folder)\n"
        )
    );
    let run = ws.opsbook(&["validate", "--runbook", "/dev/zero"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);

    let big = format!("version: 1\nname: \"{}\"\n", "x".repeat(5 * 1024 * 1024));
    ws.write("big.yaml", big);
    let run = ws.opsbook(&["validate", "--runbook", "big.yaml"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            3,
            "error: cannot read runbook `big.yaml`: it is larger than 4 MiB: is it the right file?\n"
        )
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Each nonsense value, and the field and message that refuse it.
const NONSENSE: &[(&str, &str, &str)] = &[
    (
        "grace: 10s",
        "grace: 0s",
        "shutdown.grace: `shutdown.grace` is 0",
    ),
    (
        "timeout: 2m",
        "timeout: 0s",
        "startup.timeout: `startup.timeout` is 0",
    ),
    (
        "max_age: 26h",
        "max_age: 0s",
        "backup.max_age: `backup.max_age` is 0",
    ),
    (
        "load:   { warn: 2.0, crit: 2.5 }",
        "load:   { warn: .nan, crit: 2.5 }",
        "thresholds.load: the load limits must be numbers",
    ),
    (
        "status: 200, json",
        "status: 0, json",
        "checks.api-health.http.status: `0` is not an HTTP status",
    ),
    (
        "url: \"http://127.0.0.1:18081/health\"",
        "url: \"http://127.0.0.1:99999/health\"",
        "checks.api-health.http.url: `http://127.0.0.1:99999/health` is not a valid URL",
    ),
    (
        "status: 200, json",
        "status: 200, method: \"GE T\", json",
        "checks.api-health.http.method: `GE T` is not an HTTP method",
    ),
    (
        "status: 200, json",
        "status: 200, headers: { \"X Auth\": a }, json",
        "checks.api-health.http.headers: `X Auth` is not a header name",
    ),
    (
        "status: 200, json",
        "status: 200, headers: { X-Auth: \"a\\r\\nInjected: b\" }, json",
        "checks.api-health.http.headers: the value of header `X-Auth` cannot hold line breaks",
    ),
    (
        "command: [test, -f, /data/ready]",
        "command: [\"\", -f, /data/ready]",
        "checks.db-ready.exec.command: the command is empty",
    ),
    ("name: shop", "name: \"\"", "name: `name` is empty"),
    (
        "project: shop ",
        "project: \"\" ",
        "project: `project` is empty",
    ),
];

#[test]
fn values_that_parse_but_make_no_sense_are_refused_with_their_place() {
    for (from, to, expected) in NONSENSE {
        assert!(REFERENCE.contains(from), "the reference has no `{from}`");
        let stderr = problems(&REFERENCE.replacen(from, to, 1));
        let line = stderr.lines().next().unwrap_or_default();
        assert!(
            line.starts_with("error: opsbook.yaml:") && line.contains(expected),
            "{to}: {stderr}"
        );
        let place: Vec<u64> = line
            .trim_start_matches("error: opsbook.yaml:")
            .split(':')
            .take(2)
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        assert!(
            place.iter().all(|n| *n > 0),
            "{to}: no line and column: {line}"
        );
    }
    let steps = "procedures:\n  empty:\n    steps:\n      - sh: \"\"\n      - run: [\"\", x]\n";
    let stderr = problems(&format!("version: 1\n{steps}"));
    assert_eq!(
        stderr,
        "error: opsbook.yaml:5:9: procedures.empty.steps[0].sh: the shell script is empty\n\
         error: opsbook.yaml:6:9: procedures.empty.steps[1].run: the command is empty: it needs a program to run\n"
    );
    let stderr = problems("version: 1\nredact: [\"\", \"x*\"]\n");
    assert_eq!(
        stderr,
        "error: opsbook.yaml:2:1: redact: pattern `` matches the empty string: it would mask every character\n\
         error: opsbook.yaml:2:1: redact: pattern `x*` matches the empty string: it would mask every character\n"
    );
}

#[test]
fn parser_wording_is_said_in_the_operators_words() {
    let stderr = problems("version: 1\nname: a\nname: b\n");
    assert!(
        stderr.contains("a key appears twice in the same mapping: keep one"),
        "{stderr}"
    );
    assert!(!stderr.contains("DuplicateKeyPolicy"), "{stderr}");
    assert!(!stderr.contains('?'), "{stderr}");
    let stderr = problems("version: 1\nlogs:\n  match: [x]\n  warn: -3\n");
    assert!(!stderr.contains("invalid u64"), "{stderr}");
    assert!(stderr.contains("expected a whole number"), "{stderr}");
}

#[test]
fn an_empty_opsbook_runbook_counts_as_unset() {
    let ws = Workspace::new();
    let run = ws.opsbook_with(
        &["validate", "--format", "json"],
        &[("OPSBOOK_RUNBOOK", "")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["runbook"], "embedded:default");
}

/// A small deterministic generator (xorshift), so a failing case can be
/// reproduced from its number.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[(self.next() % from.len() as u64) as usize]
    }
}

/// Values a careless or hostile hand puts where a good one was.
const TOKENS: &[&str] = &[
    "0s",
    "-1",
    ".nan",
    ".inf",
    "\"\"",
    "150000000000000d",
    "[",
    "{",
    "~",
    "true",
    "*a",
    "&a x",
    "!!binary aGk=",
    "\"\\u0000\"",
    "\"\\e[2J\"",
    "18446744073709551616",
    "1e400",
    "[[[[[[[[[[]]]]]]]]]]",
    "{a: {b: {c: {d: {}}}}}",
    "'",
    "- -",
    ": :",
    "\t",
    "%YAML 1.2",
    "@",
    "`",
    "\"x\"x",
    "10 parsecs",
    "100%%",
    "0%",
    "101%",
    "-0",
    "0x10",
    "1_000",
];

fn mutate(text: &str, m: &mut Mutator) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..=(m.next() % 3) {
        if lines.is_empty() {
            break;
        }
        let at = (m.next() % lines.len() as u64) as usize;
        match m.next() % 6 {
            0 => {
                lines.remove(at);
            }
            1 => {
                let copy = lines[at].clone();
                lines.insert(at, copy);
            }
            2 => {
                // The value after the first `: ` replaced by a token.
                let token = m.pick(TOKENS);
                if let Some(colon) = lines[at].find(": ") {
                    lines[at] = format!("{}: {token}", &lines[at][..colon]);
                } else {
                    lines[at].push_str(token);
                }
            }
            3 => {
                let token = m.pick(TOKENS);
                lines.insert(at, format!("{token}: {token}"));
            }
            4 => lines[at] = format!("  {}", lines[at]),
            _ => {
                let cut = (m.next() % (lines[at].len() as u64 + 1)) as usize;
                let cut = (0..=cut)
                    .rev()
                    .find(|i| lines[at].is_char_boundary(*i))
                    .unwrap_or(0);
                lines[at].truncate(cut);
            }
        }
    }
    lines.join("\n")
}

#[test]
fn thousands_of_mutated_runbooks_parse_without_a_panic_in_bounded_time() {
    let seeds = [
        REFERENCE,
        include_str!("../../runbooks/default.yaml"),
        include_str!("../../runbooks/erp.yaml"),
        include_str!("../../runbooks/huly.yaml"),
    ];
    let mut m = Mutator(0x9e37_79b9_7f4a_7c15);
    let (mut valid, mut invalid) = (0, 0);
    let started = Instant::now();
    for case in 0..2500 {
        let text = mutate(seeds[case % seeds.len()], &mut m);
        let clock = Instant::now();
        let parsed = std::panic::catch_unwind(|| opsbook::parses(text.as_bytes()));
        let took = clock.elapsed();
        match parsed {
            Ok(true) => valid += 1,
            Ok(false) => invalid += 1,
            Err(_) => panic!("case {case} panicked on:\n{text}"),
        }
        assert!(
            took < Duration::from_secs(2),
            "case {case} took {took:?}:\n{text}"
        );
    }
    assert!(
        invalid > 500 && valid > 50,
        "{valid} valid, {invalid} invalid"
    );
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
fn a_runbook_with_an_unknown_key_or_bad_yaml_runs_nothing() {
    let ws = Workspace::new();
    let filters = Filters::new(&ws);
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nservices:\n  db: { critical: true, dependson: [cache] }\n  cache: {}\n",
    );
    assert_run(
        &ws.opsbook(&["daily-check", "--state-dir", "state"]),
        &filters,
        3,
        "",
        "error: opsbook.yaml:4:25: services.db.dependson: unknown field `dependson`: did you mean `depends_on`? (expected one of depends_on, critical, logs, thresholds)\n",
    );
    assert!(!ws.path().join("state").exists(), "no run was recorded");
    ws.write(
        "broken.yaml",
        "version: 1\nname: shop\nservices:\n  db: { critical: true }\n   cache: {}\n",
    );
    assert_run(
        &ws.opsbook(&["status", "--runbook", "broken.yaml"]),
        &filters,
        3,
        "",
        "error: broken.yaml:5:4: while parsing a block mapping, did not find expected key\n",
    );
}

#[test]
fn validate_prints_the_resolved_plan() {
    let ws = Workspace::new();
    let project = crate::support::empty_project();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {project}\n\
             services:\n  db: {{ critical: true }}\n  cache: {{}}\n  api: {{ depends_on: [db, cache] }}\n  web: {{ depends_on: [api] }}\n\
             thresholds:\n  memory: {{ warn: 80%, crit: 90% }}\n\
             checks:\n  api-health:\n    http: {{ url: \"http://127.0.0.1:18081/health\", status: 200 }}\n\
             \x20 db-ready:\n    exec: {{ service: db, command: [test, -f, /data/ready] }}\n\
             startup:\n  verify: [db-ready]\n\
             backup:\n  dir: ./backups\n  volumes: [dbdata]\n  files: [compose.yml]\n"
        ),
    );
    let filters = Filters::new(&ws)
        .literal(&project, "[PROJECT]")
        .regex(r"the engine at \S+ is", "the engine at [ENGINE] is");
    assert_run(
        &ws.opsbook(&["validate"]),
        &filters,
        0,
        r#"
PLAN              DETAIL
runbook           shop (opsbook.yaml)
project           [PROJECT]
mode              compose (auto: the engine at [ENGINE] is not in a swarm)
startup           1. db, cache   2. api   3. web
shutdown          1. web   2. api   3. db, cache
thresholds        memory 80/90%  swap 25/50%  load 2/2.5 per core  disk 85/90% on /
check api-health  http http://127.0.0.1:18081/health
check db-ready    exec db: test -f /data/ready
backup volume     dbdata
backup file       compose.yml
ok: 1 ok in [MS] ms
"#,
        "",
    );
}

#[test]
fn validate_reports_every_problem_in_line_order_and_prints_no_plan() {
    let ws = Workspace::new();
    ws.write(
        "shop.yaml",
        "version: 1\nname: shop\nservices:\n  db: { critical: true }\n  api: { depends_on: [dbb] }\n\
         thresholds:\n  memory: { warn: 95%, crit: 90% }\nshutdown:\n  grace: 10 parsecs\ncolour: red\n",
    );
    assert_run(
        &ws.opsbook(&["validate", "--runbook", "shop.yaml"]),
        &Filters::new(&ws),
        3,
        "",
        r#"
error: shop.yaml:5:23: services.api.depends_on: unknown service `dbb` (services are: db, api): did you mean `db`?
error: shop.yaml:7:19: thresholds.memory.warn: warn 95% is above crit 90%
error: shop.yaml:9:10: shutdown.grace: invalid duration `10 parsecs` (write e.g. `500ms`, `30s`, `5m`, `26h`, `7d`)
error: shop.yaml:10:1: colour: unknown field `colour`, expected one of version, name, project, mode, services, thresholds, checks, logs, startup, shutdown, backup, restore, update, images, incident, notify, procedures, schedule, heal, heartbeats, redact
"#,
    );
}

#[test]
fn a_drills_deadlines_must_be_lengths_of_time() {
    let stderr = problems(
        "version: 1\nbackup:\n  dir: ./b\n  drill:\n    timeout: 0s\n    restore_timeout: 0s\n",
    );
    assert_eq!(
        stderr,
        "error: opsbook.yaml:5:5: backup.drill.timeout: `backup.drill.timeout` is 0: give a length of time, like `30s`\n\
         error: opsbook.yaml:6:5: backup.drill.restore_timeout: `backup.drill.restore_timeout` is 0: give a length of time, like `30s`\n"
    );
    let stderr =
        problems("version: 1\nbackup:\n  dir: ./b\n  drill:\n    restore_timeout: 1 fortnight\n");
    assert!(
        stderr.contains("backup.drill.restore_timeout: invalid duration `1 fortnight`"),
        "{stderr}"
    );
}
