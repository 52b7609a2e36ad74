//! What a new user met following the README (issue 14, items 20-22): the
//! embedded default says what it looked at, a missing section names how to
//! give a runbook, counts read as English, and `report` exits with how the
//! deployment stands now, not with an old warning.

use crate::support::{CALM_HOST, Workspace};

#[test]
fn item22_the_embedded_default_says_which_runbook_and_that_no_project_was_found() {
    let ws = Workspace::new();
    // Other tests run compose projects on the same engine at the same time,
    // so "no project at all" cannot be arranged here: a runbook naming a
    // project that has no container takes the same path with its own words.
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nproject: opsbook-test-nothing-here\n{CALM_HOST}"),
    );
    let run = ws.opsbook(&["daily-check", "--state-dir", "state"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("no container of compose project `opsbook-test-nothing-here` on"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("(runbook opsbook.yaml)"),
        "{}",
        run.stdout
    );
}

#[test]
fn item22_a_missing_section_of_the_embedded_default_names_how_to_give_a_runbook() {
    let ws = Workspace::new();
    let run = ws.opsbook(&["backup", "--state-dir", "state"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            3,
            "error: the runbook `embedded:default` has no `backup` section (no runbook was found, so the embedded default is used: pass --runbook FILE, set $OPSBOOK_RUNBOOK, or run where ./opsbook.yaml is; /etc/opsbook/opsbook.yaml comes last)\n"
        )
    );
}

#[test]
fn item22_one_is_singular() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nprocedures:\n  tidy: { steps: [ { wait: 1ms } ] }\n",
    );
    let report = ws
        .opsbook(&["run", "--list", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(
        report["results"][0]["message"], "1 procedure in opsbook.yaml",
        "{report:#}"
    );
}

/// A history of an old warning and a newest ok run: `report` exits 0.
#[test]
fn item22_report_exits_with_the_newest_run_not_an_old_warning() {
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
