//! The state folder (`--state-dir`): where the history and the locks live.
//! It is never written through a link nor when others can write to it; a
//! runbook's lock is keyed on its resolved path and its project; only its
//! own errors suggest another `--state-dir`.

use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, Workspace, chmod, eventually, is_link, only_file};

const LONG: Duration = Duration::from_secs(60);

fn state(ws: &Workspace) -> String {
    ws.path().join("state").display().to_string()
}

#[test]
fn links_in_the_state_folder_and_a_folder_others_can_write_are_refused() {
    let ws = Workspace::new();
    let project = format!("opsbook-test-hd-none-{}", std::process::id());
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\nproject: {project}\n{CALM_HOST}"),
    );
    let victim = ws.write("victim.txt", "precious\n");
    let check = || ws.opsbook(&["daily-check", "--state-dir", &state(&ws)]);
    check();
    let state_dir = ws.path().join("state");

    // A planted history link: the run is not recorded, the target untouched.
    let history = only_file(&state_dir.join("history"));
    std::fs::remove_file(&history).unwrap();
    std::os::unix::fs::symlink(&victim, &history).unwrap();
    check();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(is_link(&history));

    // A planted lock link: refused (exit 3), never truncated.
    let lock = only_file(&state_dir.join("locks"));
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    let run = check();
    run.expect_code(3);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");

    // A state folder others can write is refused, naming it.
    let shared = ws.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    let run = ws.opsbook(&["report", "--state-dir", &shared.display().to_string()]);
    run.expect_code(3);
    assert!(
        run.stderr
            .contains(&format!("folder `{}`", shared.display()))
            && run.stderr.contains("writable by other users"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 0);
}

#[test]
fn the_lock_keys_on_the_resolved_runbook_and_the_project() {
    let ws = Workspace::new();
    let project = format!("opsbook-test-hd-lock-{}", std::process::id());
    ws.write("data.txt", "x\n");
    ws.write("sub/.keep", "");
    let runbook = format!(
        "version: 1\nname: shop\nproject: {project}\nbackup:\n  dir: ./backups\n  files: [data.txt]\n  before:\n    - sh: sleep 6\n"
    );
    ws.write("opsbook.yaml", &runbook);
    ws.write("copy.yaml", &runbook);
    std::os::unix::fs::symlink(ws.path().join("opsbook.yaml"), ws.path().join("link.yaml"))
        .unwrap();
    let first = ws.spawn(&["backup", "--state-dir", &state(&ws)]);
    let locks = ws.path().join("state/locks");
    eventually("the first backup holds the lock", LONG, || {
        std::fs::read_dir(&locks).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("(backup)")))
        })
    });
    for name in ["sub/../opsbook.yaml", "link.yaml", "copy.yaml"] {
        let run = ws.opsbook(&["--runbook", name, "backup", "--state-dir", &state(&ws)]);
        run.expect_code(3);
        assert!(
            run.stderr.contains("holds the lock"),
            "{name}: {}",
            run.stderr
        );
    }
    let done = first.wait_with_output().unwrap();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(
        std::fs::read_dir(ws.path().join("backups"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn only_state_folder_errors_suggest_another_state_dir() {
    let ws = Workspace::new();
    ws.write("not-a-folder", "x");
    ws.write(
        "opsbook.yaml",
        "version: 1\nbackup: { dir: ./not-a-folder, files: [opsbook.yaml] }\n",
    );
    let run = ws.opsbook(&["backup", "list"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("error: cannot read `"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("--state-dir"), "{}", run.stderr);
    ws.write("state-file", "x");
    let run = ws.opsbook(&["daily-check", "--only", "host", "--state-dir", "state-file"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("(choose another folder with --state-dir)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_state_folder_others_can_write_is_refused_naming_it() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\n{CALM_HOST}"),
    );
    let shared = ws.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    assert_run(
        &ws.opsbook(&[
            "daily-check",
            "--only",
            "host",
            "--state-dir",
            &shared.display().to_string(),
        ]),
        &Filters::new(&ws),
        3,
        "",
        "error: cannot create `[WS]/shared`: folder `[WS]/shared` is writable by other users (mode 1777): \
         opsbook writes only in folders no other user can write to (`chmod go-w` it, or choose another folder)\n",
    );
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 0);
}
