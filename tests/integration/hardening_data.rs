//! Hardening of data and paths, each through the real binary: a keep policy
//! that keeps nothing, a restore target the runbook does not own, links
//! planted in the state and incident folders, one runbook under two names,
//! a too-short rotated secret, an unreadable history line, and a restart
//! that touches only what it stopped and stops waiting on a signal.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{CALM_HOST, Project, Workspace, eventually, result, terminate};

const LONG: Duration = Duration::from_secs(60);

fn state(ws: &Workspace) -> String {
    ws.path().join("state").display().to_string()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn fake_backup(ws: &Workspace, id: &str, at: &str) -> PathBuf {
    ws.write(
        &format!("backups/{id}/manifest.json"),
        format!(r#"{{"created_at": "{at}", "items": []}}"#),
    )
}

/// The one file in `folder` (the state folder's history or locks).
fn only_file(folder: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

// 8. A keep policy that keeps nothing is refused; prune never empties the folder.

#[test]
fn hardening_backup_keep_that_keeps_nothing_is_refused_and_prune_deletes_nothing() {
    let ws = Workspace::new();
    fake_backup(&ws, "b1", "2026-11-20T06:00:00Z");
    fake_backup(&ws, "b2", "2026-11-21T06:00:00Z");
    for keep in ["{}", "{ last: 0, daily: 0, weekly: 0, monthly: 0 }"] {
        ws.write(
            "opsbook.yaml",
            format!("version: 1\nname: shop\nbackup:\n  dir: ./backups\n  keep: {keep}\n"),
        );
        let run = ws.opsbook(&["backup", "prune", "--yes", "--state-dir", &state(&ws)]);
        run.expect_code(3);
        assert!(
            run.stderr.contains("opsbook.yaml:5:3: backup.keep: ")
                && run.stderr.contains("keeps nothing"),
            "{keep}: {}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(ws.path().join("backups/b1/manifest.json").is_file());
        assert!(ws.path().join("backups/b2/manifest.json").is_file());
    }
    // A policy that keeps something still prunes, and keeps the newest.
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nbackup:\n  dir: ./backups\n  keep: { last: 1 }\n",
    );
    ws.opsbook(&["backup", "prune", "--yes", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert!(!ws.path().join("backups/b1").exists());
    assert!(ws.path().join("backups/b2/manifest.json").is_file());
}

// 9. A restore target must be one of the runbook's own items.

/// db mounts `dbdata`; the runbook backs up that volume and `config.env`.
/// A second project's volume `victim` holds a marker.
fn restorable(tag: &str) -> (Project, Project, Workspace, String) {
    let project = Project::new(tag);
    let dbdata = project.volume("dbdata");
    project
        .service("db")
        .mount(&dbdata, "/data")
        .script("[ -f /data/records ] || echo 'order 1' > /data/records")
        .start();
    let other = Project::new(&format!("{tag}-other"));
    let victim = other.volume("victim");
    other
        .service("store")
        .mount(&victim, "/v")
        .script("[ -f /v/marker ] || echo keep > /v/marker")
        .start();
    let ws = Workspace::new();
    ws.write("config.env", "A=1\n");
    ws.write("outside.txt", "untouched\n");
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\nshutdown:\n  grace: 1s\n\
             backup:\n  dir: ./backups\n  volumes: [dbdata]\n  files: [config.env]\n",
            project.name
        ),
    );
    eventually("both volumes are filled", LONG, || {
        project.exec("db", "test -f /data/records") && other.exec("store", "test -f /v/marker")
    });
    (project, other, ws, victim)
}

/// Edits the only backup's manifest with `edit`.
fn edit_manifest(ws: &Workspace, edit: impl FnOnce(&mut serde_json::Value)) {
    let folder = only_file(&ws.path().join("backups"));
    let path = folder.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

fn item_mut<'a>(manifest: &'a mut serde_json::Value, kind: &str) -> &'a mut serde_json::Value {
    manifest["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["kind"] == kind)
        .unwrap()
}

#[test]
fn hardening_restore_refuses_a_manifest_naming_another_projects_volume_or_a_host_path() {
    let (project, other, ws, victim) = restorable("hd-restore");
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    let db_started = project.times("db").started;
    let restore = || ws.opsbook(&["restore", "latest", "--yes", "--state-dir", &state(&ws)]);

    // Another project's volume.
    edit_manifest(&ws, |m| {
        item_mut(m, "volume")["source"] = victim.clone().into()
    });
    let run = restore();
    run.expect_code(3);
    assert!(
        run.stderr.contains("item `dbdata`")
            && run.stderr.contains("not one of the runbook's own items")
            && run.stderr.contains(&victim),
        "{}",
        run.stderr
    );
    assert_eq!(other.output("store", "cat /v/marker"), "keep\n");
    edit_manifest(&ws, |m| {
        item_mut(m, "volume")["source"] = format!("{}_dbdata", project.name).into()
    });

    // A host path the runbook does not name, under its own name or another.
    let outside = ws.path().join("outside.txt").display().to_string();
    for name in ["config.env", "outside.txt"] {
        edit_manifest(&ws, |m| {
            let file = item_mut(m, "file");
            file["source"] = outside.clone().into();
            file["name"] = name.into();
        });
        let run = restore();
        run.expect_code(3);
        assert!(
            run.stderr.contains("not one of the runbook's own items")
                && run.stderr.contains("backup.files"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(
        std::fs::read_to_string(ws.path().join("outside.txt")).unwrap(),
        "untouched\n"
    );
    // A path that climbs out of a folder the runbook names.
    edit_manifest(&ws, |m| {
        let file = item_mut(m, "file");
        file["source"] = format!("{}/../outside.txt", ws.path().display()).into();
        file["name"] = "config.env".into();
    });
    restore().expect_code(3);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("outside.txt")).unwrap(),
        "untouched\n"
    );
    // Nothing stopped, and the real items still restore.
    assert_eq!(project.times("db").started, db_started);
    edit_manifest(&ws, |m| {
        let file = item_mut(m, "file");
        file["source"] = ws.path().join("config.env").display().to_string().into();
        file["name"] = "config.env".into();
    });
    ws.write("config.env", "A=2\n");
    restore().expect_code(0);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("config.env")).unwrap(),
        "A=1\n"
    );
}

// 10. Never write through a link, never in a folder others can write.

const INCIDENTS: &str = "version: 1\nname: shop\nincident:\n  dir: ./incidents\n  severities:\n    P1: { respond_within: 15m }\n";

fn open_incident(ws: &Workspace) -> (String, PathBuf) {
    let report = ws
        .opsbook(&[
            "incident",
            "open",
            "--severity",
            "P1",
            "--title",
            "disk full",
            "--state-dir",
            &state(ws),
            "--format",
            "json",
        ])
        .expect_code(0)
        .json();
    let id = report["incident"]["id"].as_str().unwrap().to_string();
    let folder = ws.path().join("incidents").join(&id);
    (id, folder)
}

#[test]
fn hardening_incident_links_are_never_written_through() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", INCIDENTS);
    let victim = ws.write("victim.txt", "precious\n");
    let (id, folder) = open_incident(&ws);

    // A planted timeline link: the note is refused, the target untouched.
    let timeline = folder.join("timeline.jsonl");
    let kept = std::fs::read(&timeline).unwrap();
    std::fs::remove_file(&timeline).unwrap();
    std::os::unix::fs::symlink(&victim, &timeline).unwrap();
    let run = ws.opsbook(&["incident", "note", &id, "looked at the disk"]);
    run.expect_code(3);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    std::fs::remove_file(&timeline).unwrap();
    std::fs::write(&timeline, kept).unwrap();
    chmod(&timeline, 0o600);

    // Planted post-mortem and bundle links are replaced, never followed.
    let postmortem = folder.join("postmortem.md");
    std::os::unix::fs::symlink(&victim, &postmortem).unwrap();
    std::os::unix::fs::symlink(&victim, folder.join(".postmortem.md.partial")).unwrap();
    ws.opsbook(&["incident", "close", &id, "--summary", "logs filled it"])
        .expect_code(0);
    assert!(!is_link(&postmortem) && postmortem.is_file());
    let bundle = ws.path().join("incidents").join(format!("{id}.tar.zst"));
    std::os::unix::fs::symlink(&victim, &bundle).unwrap();
    let partial = ws
        .path()
        .join("incidents")
        .join(format!(".{id}.tar.zst.partial"));
    std::os::unix::fs::symlink(&victim, &partial).unwrap();
    ws.opsbook(&["incident", "bundle", &id]).expect_code(0);
    assert!(!is_link(&bundle) && bundle.is_file());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn hardening_incident_dir_others_can_write_is_refused() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", INCIDENTS);
    let (id, folder) = open_incident(&ws);
    let incidents = ws.path().join("incidents");
    for mode in [0o1777, 0o777] {
        chmod(&incidents, mode);
        let run = ws.opsbook(&["incident", "note", &id, "more"]);
        run.expect_code(3);
        assert!(
            run.stderr
                .contains(&format!("folder `{}`", incidents.display()))
                && run.stderr.contains("writable by other users"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        let open = ws.opsbook(&["incident", "open", "--severity", "P1", "--title", "x"]);
        open.expect_code(3);
        assert_eq!(std::fs::read_dir(&incidents).unwrap().count(), 1);
    }
    chmod(&incidents, 0o700);
    chmod(&folder, 0o777);
    ws.opsbook(&["incident", "note", &id, "more"])
        .expect_code(3);
    chmod(&folder, 0o700);
    ws.opsbook(&["incident", "note", &id, "more"])
        .expect_code(0);
}

#[test]
fn hardening_state_dir_links_and_shared_folders_are_refused() {
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

// 11. The lock is the runbook's resolved identity's, and the project's.

#[test]
fn hardening_lock_keys_on_the_resolved_runbook_and_the_project() {
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

// 12. A rotated secret of fewer than 16 bytes is refused in validation.

#[test]
fn hardening_rotate_of_zero_or_few_bytes_is_refused() {
    let ws = Workspace::new();
    let env = ws.write(".env", "JWT_SECRET=old\n");
    for bytes in [0, 15] {
        ws.write(
            "opsbook.yaml",
            format!(
                "version: 1\nname: shop\nprocedures:\n  rotate-jwt:\n    steps:\n      - rotate: {{ file: .env, key: JWT_SECRET, bytes: {bytes} }}\n"
            ),
        );
        let run = ws.opsbook(&["--yes", "run", "rotate-jwt"]);
        run.expect_code(3);
        assert!(
            run.stderr.contains("opsbook.yaml:6:")
                && run
                    .stderr
                    .contains("procedures.rotate-jwt.steps[0].rotate.bytes: ")
                && run.stderr.contains("at least 16"),
            "{}",
            run.stderr
        );
        assert_eq!(std::fs::read_to_string(&env).unwrap(), "JWT_SECRET=old\n");
    }
    // Four billion bytes would be gigabytes of memory: refused too.
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nprocedures:\n  rotate-jwt:\n    steps:\n      - rotate: { file: .env, key: JWT_SECRET, bytes: 4000000000 }\n",
    );
    let run = ws.opsbook(&["--yes", "run", "rotate-jwt"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("opsbook.yaml:6:") && run.stderr.contains("at most 4096"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&env).unwrap(), "JWT_SECRET=old\n");
}

// 15. One unreadable history line hides nothing after it.

#[test]
fn hardening_history_line_not_utf8_hides_no_later_record() {
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

// Restart touches only what it stopped, and a signal cuts its waits short.

#[test]
fn hardening_restart_leaves_exited_services_alone_and_an_interrupt_cuts_waits_short() {
    let project = Project::new("hd-restart");
    project.service("db").start();
    // Never healthy: a restart that waits for it would wait the full timeout.
    project
        .service("api")
        .healthcheck("test -f /nowhere")
        .start();
    // Of the project but not in the runbook, and exited before the restart.
    project.service("oneoff").script("exit 0").start();
    eventually("oneoff exited", LONG, || {
        project.times("oneoff").state == "exited"
    });
    let oneoff_before = project.times("oneoff");
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\n  api: {{ depends_on: [db] }}\n\
             startup:\n  timeout: 120s\nshutdown:\n  grace: 1s\n",
            project.name
        ),
    );
    let plan = ws
        .opsbook(&["restart", "--dry-run", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(plan["plan"]["start"], serde_json::json!([["db"], ["api"]]));
    assert_eq!(plan["left_alone"], serde_json::json!(["oneoff"]));

    let api_before = project.times("api").started;
    let child = ws.spawn(&["restart", "--yes", "--format", "json"]);
    eventually("api was started again", LONG, || {
        let now = project.times("api");
        now.state == "running" && now.started != api_before
    });
    let run = terminate(child);
    assert!(
        run.took < Duration::from_secs(20),
        "the signal ended the wait: took {:?}\n{}",
        run.took,
        run.stderr
    );
    run.expect_code(2);
    let report = run.json();
    let api = result(&report, "restart", "api");
    assert!(
        api["message"].as_str().unwrap().contains("not waited for"),
        "{api}"
    );
    assert!(
        result(&report, "restart", "oneoff")["message"]
            .as_str()
            .unwrap()
            .contains("left alone")
    );
    assert_eq!(project.times("db").state, "running");
    assert_eq!(project.times("api").state, "running");
    let oneoff = project.times("oneoff");
    assert_eq!(oneoff.state, "exited");
    assert_eq!(
        oneoff.started, oneoff_before.started,
        "oneoff was never started"
    );
}
