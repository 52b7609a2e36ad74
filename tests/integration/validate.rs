//! `opsbook validate`: the reference runbook's plan, every validation error
//! with its location, and runbook discovery.

use crate::support::Workspace;

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
        "error: opsbook.yaml:8:29: services.api.depends_on: unknown service `cahce` (services are: db, cache, api, web)\n"
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
        "error: opsbook.yaml:37:24: startup.verify: unknown check `web-hom` (checks are: api-health, web-home, db-ready, cache-ping)\n"
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
    assert_eq!(
        problems("version: 1\nservices:\n  api:\n    depends_on: db\n"),
        "error: opsbook.yaml:4:17: services.api.depends_on: expected sequence start\n"
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
         error: opsbook.yaml:7:7: procedures.weekly.steps[2]: a step needs one action: start, stop, restart, pause, unpause, scale, update, rollback, run, sh, exec, check, backup, wait, note, rotate, rotate_secret, http, silence, notify or maintenance\n"
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
