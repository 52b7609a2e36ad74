//! A restore is all or nothing, against real volumes, containers and files:
//! each kind of item failing after another was replaced puts everything
//! back from the safety backup, byte for byte; a dump's stopped service is
//! started first, or the restore is refused untouched; a safety backup
//! that cannot be taken refuses the restore and names `--no-safety-backup`.

use std::process::Command;

use crate::restore::{
    LISTING, LONG, MUTATE, RESTORE_RECORDS, SEED, backup_ids, listing, shop, shop_scripted, state,
};
use crate::support::{FIXTURE_IMAGE, Workspace, encrypt_backups, eventually, result};

/// The fixture without `/bin/sh` (sh is on the PATH in /usr/local/bin):
/// its services run, but a volume helper made from it (`/bin/sh -c`) cannot start.
const NO_BIN_SH: &str = "opsbook-fixture:no-bin-sh";

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker").args(args).output().expect("docker");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn no_bin_sh_image() {
    if docker(&["image", "inspect", NO_BIN_SH]).0 {
        return;
    }
    let name = format!("opsbook-test-no-bin-sh-{}", std::process::id());
    let script = "mkdir -p /usr/local/bin && ln -s /bin/busybox /usr/local/bin/sh && rm /bin/sh";
    let (ok, said) = docker(&["run", "--name", &name, FIXTURE_IMAGE, "sh", "-c", script]);
    assert!(ok, "{said}");
    let (ok, said) = docker(&["commit", &name, NO_BIN_SH]);
    docker(&["rm", "-f", &name]);
    // Another test binary may have made it meanwhile.
    assert!(ok || docker(&["image", "inspect", NO_BIN_SH]).0, "{said}");
}

/// The listing of a volume no running container mounts, read by a throwaway one.
fn volume_listing(volume: &str) -> String {
    let bind = format!("{volume}:/data:ro");
    let (ok, said) = docker(&[
        "run",
        "--rm",
        "-v",
        &bind,
        FIXTURE_IMAGE,
        "sh",
        "-c",
        LISTING,
    ]);
    assert!(ok, "{said}");
    said
}

fn edit(ws: &Workspace, from: &str, to: &str) {
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    assert!(text.contains(from), "{text}");
    ws.write("opsbook.yaml", text.replacen(from, to, 1));
}

fn config(ws: &Workspace) -> String {
    std::fs::read_to_string(ws.path().join("config.env")).unwrap()
}

fn restore_json(ws: &Workspace, code: i32) -> serde_json::Value {
    let run = ws.opsbook(&[
        "restore",
        "--yes",
        "--state-dir",
        &state(ws),
        "--format",
        "json",
    ]);
    run.expect_code(code);
    run.json()
}

/// The state of the deployment after a failed restore is the one before it.
fn all_put_back(report: &serde_json::Value, items: &[&str]) {
    let put_back = result(report, "restore", "put back");
    assert_eq!(put_back["status"], "warn", "{report:#}");
    let message = put_back["message"].as_str().unwrap();
    assert!(
        message.ends_with("the deployment is as it was before the restore"),
        "{message}"
    );
    assert_eq!(report["restore"]["put_back"], serde_json::json!(items));
    assert_eq!(report["restore"]["restored"], serde_json::json!([]));
    assert!(report["restore"]["way_back"].is_null(), "{report:#}");
}

#[test]
fn a_volume_failing_after_another_volume_was_replaced_puts_it_back() {
    no_bin_sh_image();
    let (project, ws) = shop("ra-volume", RESTORE_RECORDS);
    let cache = project.volume("cache");
    project
        .service("worker")
        .image(NO_BIN_SH)
        .mount(&cache, "/cache")
        .script("[ -f /cache/a ] || echo c1 > /cache/a")
        .start();
    edit(&ws, "volumes: [dbdata]", "volumes: [dbdata, cache]");
    // Through the archive endpoint: a helper that cannot start fails `cache`.
    edit(
        &ws,
        "  dir: ./backups\n",
        "  dir: ./backups\n  read: archive\n",
    );
    edit(
        &ws,
        "  api: { depends_on: [db] }\n",
        "  api: { depends_on: [db] }\n  worker: {}\n",
    );
    eventually("cache seeded", LONG, || {
        project.exec("worker", "test -f /cache/a")
    });
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);

    assert!(project.exec("db", MUTATE));
    assert!(project.exec("worker", "echo c2 > /cache/a; echo b > /cache/b"));
    ws.write("config.env", "A=2\n");
    let (db_before, cache_before) = (
        listing(&project),
        project.output("worker", "cat /cache/a /cache/b"),
    );

    let report = restore_json(&ws, 2);
    // dbdata was replaced, then the helper for cache could not start.
    let cache_result = result(&report, "restore", "cache");
    assert_eq!(cache_result["status"], "crit", "{report:#}");
    let message = cache_result["message"].as_str().unwrap();
    assert!(message.contains("/bin/sh"), "{message}");
    assert!(message.ends_with("left as it was"), "{message}");
    let dbdata = result(&report, "restore", "dbdata");
    assert_eq!(dbdata["status"], "warn", "{report:#}");
    assert!(
        dbdata["message"]
            .as_str()
            .unwrap()
            .contains("put back from safety backup"),
        "{dbdata}"
    );
    all_put_back(&report, &["dbdata"]);

    assert_eq!(listing(&project), db_before);
    assert_eq!(
        project.output("worker", "cat /cache/a /cache/b"),
        cache_before
    );
    assert_eq!(config(&ws), "A=2\n");
    for service in ["db", "api", "worker"] {
        assert_eq!(project.times(service).state, "running", "{service}");
    }
}

#[test]
fn a_file_failing_after_a_volume_was_replaced_puts_the_volume_back() {
    let (project, ws) = shop("ra-file", RESTORE_RECORDS);
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    // After the up-front checks, the file's folder takes a folder where the
    // new file is written beside it: the file cannot be replaced.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        format!(
            "{text}restore:\n  before:\n    - sh: \"mkdir -p .config.env.opsbook-restore/stuck\"\n"
        ),
    );
    assert!(project.exec("db", MUTATE));
    ws.write("config.env", "A=2\nB=3\n");
    let before = listing(&project);

    let report = restore_json(&ws, 2);
    let file = result(&report, "restore", "config.env");
    assert_eq!(file["status"], "crit");
    assert!(
        file["message"]
            .as_str()
            .unwrap()
            .ends_with("left as it was"),
        "{file}"
    );
    assert_eq!(result(&report, "restore", "records")["status"], "crit");
    all_put_back(&report, &["dbdata"]);

    assert_eq!(listing(&project), before);
    assert_eq!(config(&ws), "A=2\nB=3\n");
    assert!(!project.exec("db", "test -e /restored-records.txt"));
    assert_eq!(project.times("db").state, "running");
    assert_eq!(project.times("api").state, "running");
}

#[test]
fn a_dump_failing_after_the_volume_and_file_were_replaced_puts_all_three_back() {
    // The restore command loads what it is given, and fails on a broken dump
    // after loading it: the dump itself is partly restored and is put back too.
    let (project, ws) = shop(
        "ra-dump",
        "[sh, -c, \"cat > /dumped.txt; ! grep -q BROKEN /dumped.txt\"]",
    );
    edit(
        &ws,
        "command: [cat, /data/records.txt]",
        "command: [cat, /dumped.txt]",
    );
    assert!(project.exec("db", "echo 'BROKEN v1' > /dumped.txt"));
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert!(project.exec("db", &format!("{MUTATE}; echo 'current v2' > /dumped.txt")));
    ws.write("config.env", "A=2\nB=3\n");
    let before = listing(&project);

    let report = restore_json(&ws, 2);
    let records = result(&report, "restore", "records");
    assert_eq!(records["status"], "crit");
    assert!(
        records["message"]
            .as_str()
            .unwrap()
            .contains("put back from safety backup"),
        "{records}"
    );
    all_put_back(&report, &["records", "config.env", "dbdata"]);

    assert_eq!(listing(&project), before);
    assert_eq!(config(&ws), "A=2\nB=3\n");
    assert_eq!(project.output("db", "cat /dumped.txt"), "current v2\n");
    assert_eq!(project.times("db").state, "running");
    assert_eq!(project.times("api").state, "running");
}

#[test]
fn a_dump_whose_service_is_stopped_is_started_first() {
    let (project, ws) = shop("ra-start", RESTORE_RECORDS);
    let before = listing(&project);
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert!(project.exec("db", MUTATE));
    project.stop("db");

    let dry = ws.opsbook(&["restore", "--dry-run", "--state-dir", &state(&ws)]);
    dry.expect_code(0);
    assert!(
        dry.stdout
            .contains("`db` is not running: started first for dump `records`"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        project.times("db").state,
        "exited",
        "a dry run starts nothing"
    );

    let report = restore_json(&ws, 0);
    let started = result(&report, "restore", "db");
    assert!(
        started["message"]
            .as_str()
            .unwrap()
            .starts_with("was not running: started first for dump `records`"),
        "{report:#}"
    );
    assert_eq!(result(&report, "restore", "records")["status"], "ok");
    assert_eq!(listing(&project), before);
    assert_eq!(
        project.output("db", "cat /restored-records.txt"),
        "order 1\n"
    );
    assert_eq!(project.times("db").state, "running");
    assert_eq!(project.times("api").state, "running");
}

#[test]
fn a_dump_whose_service_cannot_start_refuses_the_restore_untouched() {
    let script = format!("[ ! -e /data/no-start ] || exit 1\n{SEED}");
    let (project, ws) = shop_scripted("ra-nostart", RESTORE_RECORDS, &script);
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert!(project.exec("db", &format!("{MUTATE}; touch /data/no-start")));
    ws.write("config.env", "A=2\n");
    project.stop("db");
    let volume = format!("{}_dbdata", project.name);
    let before = volume_listing(&volume);
    let api_started = project.times("api").started;

    let run = ws.opsbook(&["restore", "--yes", "--state-dir", &state(&ws)]);
    run.expect_code(3);
    assert!(
        run.stderr.contains(
            "dump `records` is restored in service `db`, which was not running: started for it, it did not become ready"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert_eq!(volume_listing(&volume), before);
    assert_eq!(config(&ws), "A=2\n");
    assert_eq!(project.times("db").state, "exited");
    assert_eq!(project.times("api").started, api_started);
    assert_eq!(backup_ids(&ws).len(), 1, "no safety backup");

    // No container at all: refused before the plan.
    docker(&["rm", "-f", &project.container_name("db")]);
    let run = ws.opsbook(&[
        "restore",
        "--only",
        "records",
        "--dry-run",
        "--state-dir",
        &state(&ws),
    ]);
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("dump `records` is restored in service `db`, which has no container"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_safety_dump_that_fails_refuses_the_restore_and_names_no_safety_backup() {
    let (project, ws) = shop("ra-safety", RESTORE_RECORDS);
    edit(
        &ws,
        "command: [cat, /data/records.txt]",
        "command: [sh, -c, \"test ! -e /broken && cat /data/records.txt\"]",
    );
    let before = listing(&project);
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert!(project.exec("db", &format!("{MUTATE}; touch /broken")));
    let mutated = listing(&project);
    let api_started = project.times("api").started;

    let report = restore_json(&ws, 2);
    let message = result(&report, "restore", "result")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("safety backup: the safety copy of `records` failed: dump `records`: `sh -c test ! -e /broken && cat /data/records.txt` exited 1"),
        "{message}"
    );
    assert!(
        message.ends_with("the restore was refused, nothing was stopped or changed; to restore without a safety backup (the current state of these items is then not kept), run it again with --no-safety-backup"),
        "{message}"
    );
    assert_eq!(listing(&project), mutated);
    assert_eq!(project.times("api").started, api_started);
    assert_eq!(backup_ids(&ws).len(), 1, "no safety backup left behind");

    // With db stopped: started first for the dump, and stopped again.
    project.stop("db");
    let report = restore_json(&ws, 2);
    let db = result(&report, "restore", "db");
    assert!(
        db["message"]
            .as_str()
            .unwrap()
            .starts_with("was not running: started first for dump `records`"),
        "{report:#}"
    );
    let again = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|r| r["name"] == "db")
        .unwrap();
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("which did not complete: stopped again, as it was"),
        "{report:#}"
    );
    assert_eq!(project.times("db").state, "exited");
    assert_eq!(volume_listing(&format!("{}_dbdata", project.name)), mutated);
    assert_eq!(backup_ids(&ws).len(), 1);

    ws.opsbook(&[
        "restore",
        "--yes",
        "--no-safety-backup",
        "--state-dir",
        &state(&ws),
    ])
    .expect_code(0);
    assert_eq!(listing(&project), before);
    assert_eq!(backup_ids(&ws).len(), 1);
}

#[test]
fn without_a_safety_backup_a_failure_puts_the_swapped_volume_back_and_says_what_stays() {
    let (project, ws) = shop(
        "ra-nosafety",
        "[sh, -c, \"cat > /dev/null; echo cannot load >&2; exit 4\"]",
    );
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert!(project.exec("db", MUTATE));
    let mutated = listing(&project);
    let run = ws.opsbook(&[
        "restore",
        "--yes",
        "--no-safety-backup",
        "--state-dir",
        &state(&ws),
        "--format",
        "json",
    ]);
    let report = run.expect_code(2).json();
    // The volume was swapped in: its data from before, the only copy left,
    // is renamed back; the file and the dump have no copy and stay.
    assert_eq!(
        result(&report, "restore", "put back")["message"],
        "no safety backup was taken (--no-safety-backup): put back from the data the swap had set aside: dbdata; changed by the restore and left so: config.env, records"
    );
    assert_eq!(
        result(&report, "restore", "dbdata")["message"],
        "restored, then put back from the data the swap had set aside: as it was before"
    );
    assert_eq!(
        report["restore"]["way_back"],
        "no safety backup was taken: the items restored above cannot be undone by opsbook"
    );
    assert_eq!(listing(&project), mutated, "the volume is as it was");
    assert_eq!(project.times("db").state, "running");
    assert_eq!(project.times("api").state, "running");
}

#[test]
fn an_encrypted_safety_backup_that_cannot_be_read_back_refuses_before_replacing() {
    // A backup taken before the runbook encrypted; the safety backup is encrypted.
    let (project, ws) = shop("ra-age", RESTORE_RECORDS);
    let before = listing(&project);
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    encrypt_backups(&ws);
    assert!(project.exec("db", MUTATE));
    let mutated = listing(&project);

    let report = restore_json(&ws, 2);
    let message = result(&report, "restore", "result")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("cannot be read back with the identities given"),
        "{message}"
    );
    assert!(message.contains("nothing was replaced"), "{message}");
    assert_eq!(listing(&project), mutated);
    assert_eq!(
        backup_ids(&ws).len(),
        1,
        "the unreadable safety backup is not kept"
    );
    assert_eq!(project.times("api").state, "running");

    ws.opsbook(&[
        "restore",
        "--yes",
        "--identity",
        "key.txt",
        "--state-dir",
        &state(&ws),
    ])
    .expect_code(0);
    assert_eq!(listing(&project), before);
}
