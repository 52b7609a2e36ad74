//! `opsbook backup`, `backup list|verify|prune` against real volumes,
//! containers and files; `volumes` is how a volume's archive is read.

pub(crate) mod volumes;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::support::exact::{Filters, assert_run};
use crate::support::{
    Project, Run, Workspace, empty_project, encrypt_backups, eventually, result, terminate,
};

const LONG: Duration = Duration::from_secs(60);

/// db mounts `dbdata` (a few files, one binary), api depends on db and is
/// stopped during backups; `extra` goes under `backup:`.
fn shop(tag: &str, dump: &str) -> (Project, Workspace) {
    let project = Project::new(tag);
    let dbdata = project.volume("dbdata");
    project
        .service("db")
        .mount(&dbdata, "/data")
        .script("mkdir -p /data/tables; echo 'order 1' > /data/records.txt; seq 1 5000 > /data/tables/orders; head -c 65536 /dev/urandom > /data/blob.bin; ln -sf records.txt /data/latest")
        .start();
    project.service("api").start();
    let ws = Workspace::new();
    ws.write("compose.yml", "services: {}\n");
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\n  api: {{ depends_on: [db] }}\nshutdown:\n  grace: 2s\n\
             backup:\n  dir: ./backups\n  volumes: [dbdata]\n  files: [compose.yml]\n  stop: [api]\n  dumps:\n    records:\n      service: db\n      command: {dump}\n",
            project.name
        ),
    );
    eventually("db filled its volume", LONG, || {
        project.exec("db", "test -f /data/blob.bin && test -L /data/latest")
    });
    (project, ws)
}

fn backups(ws: &Workspace) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(ws.path().join("backups"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

/// A backup is being written (its `.partial` folder exists).
fn partial_exists(ws: &Workspace) -> bool {
    std::fs::read_dir(ws.path().join("backups"))
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        })
        .unwrap_or(false)
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn state(ws: &Workspace) -> String {
    ws.path().join("state").display().to_string()
}

#[test]
fn a_backup_holds_every_item_checksummed_with_tight_modes() {
    let (project, ws) = shop("bk-items", "[cat, /data/records.txt]");
    let api_before = project.times("api").started;
    let run = ws.opsbook(&["backup", "--state-dir", &state(&ws), "--format", "json"]);
    let report = run.expect_code(0).json();
    let made = backups(&ws);
    assert_eq!(made.len(), 1, "{made:?}");
    let folder = &made[0];
    let id = folder.file_name().unwrap().to_string_lossy().into_owned();
    assert!(id.starts_with("shop-") && id.ends_with('Z'), "{id}");
    assert_eq!(
        std::fs::metadata(folder).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], 1);
    assert_eq!(manifest["runbook"], "shop");
    assert_eq!(manifest["images"]["db"], crate::support::FIXTURE_IMAGE);
    let items = manifest["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dbdata", "compose.yml", "records"]);
    for item in items {
        let file = folder.join(item["file"].as_str().unwrap());
        assert_eq!(sha256(&file), item["sha256"], "{item}");
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            item["stored_size"].as_u64().unwrap()
        );
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(result(&report, "backup", "dbdata")["status"], "ok");

    // The volume's archive holds its files; the dump holds what the command printed.
    let volume = std::fs::File::open(folder.join("volume-dbdata.tar.zst")).unwrap();
    let mut archive = tar::Archive::new(zstd::stream::read::Decoder::new(volume).unwrap());
    let mut entries: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            "data/",
            "data/blob.bin",
            "data/latest",
            "data/records.txt",
            "data/tables/",
            "data/tables/orders"
        ]
    );
    let mut dump = String::new();
    zstd::stream::read::Decoder::new(std::fs::File::open(folder.join("dump-records.zst")).unwrap())
        .unwrap()
        .read_to_string(&mut dump)
        .unwrap();
    assert_eq!(dump, "order 1\n");

    // api was stopped for the copy and runs again.
    assert_eq!(project.times("api").state, "running");
    assert!(
        project.times("api").started > api_before,
        "api was restarted"
    );

    let list = ws
        .opsbook(&["backup", "list", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(list["backups"][0]["id"], id.as_str());
    assert_eq!(list["backups"][0]["items"], 3);
    ws.opsbook(&["backup", "verify"]).expect_code(0);

    // A second backup of the same data: checksums of the volume differ only by time, sizes stay.
    let report = ws
        .opsbook(&["backup", "--state-dir", &state(&ws), "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(result(&report, "backup", "dbdata")["status"], "ok");
    // Most of the volume gone: the next backup warns.
    assert!(project.exec("db", "rm -rf /data/tables /data/blob.bin"));
    let report = ws
        .opsbook(&["backup", "--state-dir", &state(&ws), "--format", "json"])
        .expect_code(1)
        .json();
    let shrunk = result(&report, "backup", "dbdata");
    assert_eq!(shrunk["status"], "warn");
    assert!(
        shrunk["message"]
            .as_str()
            .unwrap()
            .contains("less than half of the previous backup"),
        "{shrunk}"
    );
}

#[test]
fn a_flipped_byte_or_a_truncated_file_fails_verify() {
    let (_project, ws) = shop("bk-verify", "[cat, /data/records.txt]");
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    let folder = backups(&ws).remove(0);
    let id = folder.file_name().unwrap().to_string_lossy().into_owned();
    ws.opsbook(&["backup", "verify", &id]).expect_code(0);

    let volume = folder.join("volume-dbdata.tar.zst");
    let mut bytes = std::fs::read(&volume).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&volume, &bytes).unwrap();
    let report = ws
        .opsbook(&["backup", "verify", "latest", "--format", "json"])
        .expect_code(2)
        .json();
    let item = result(&report, "verify", &format!("{id}/dbdata"));
    assert_eq!(
        item["message"],
        "`volume-dbdata.tar.zst` does not match its sha256 (stored file changed)"
    );
    assert_eq!(
        result(&report, "verify", &format!("{id}/records"))["status"],
        "ok"
    );

    let dump = folder.join("dump-records.zst");
    let bytes = std::fs::read(&dump).unwrap();
    std::fs::write(&dump, &bytes[..bytes.len() - 3]).unwrap();
    let report = ws
        .opsbook(&["backup", "verify", "--all", "--format", "json"])
        .expect_code(2)
        .json();
    let item = result(&report, "verify", &format!("{id}/records"));
    assert!(
        item["message"]
            .as_str()
            .unwrap()
            .contains("the manifest says"),
        "{item}"
    );

    ws.opsbook(&["backup", "verify", "nope"]).expect_code(3);
}

#[test]
fn a_failing_dump_makes_no_backup_and_leaves_services_running() {
    let (project, ws) = shop(
        "bk-fail",
        "[sh, -c, \"echo half; echo 'pg_dump: connection refused' >&2; exit 1\"]",
    );
    let report = ws
        .opsbook(&["backup", "--state-dir", &state(&ws), "--format", "json"])
        .expect_code(2)
        .json();
    let copy = result(&report, "backup", "copy");
    assert!(
        copy["message"]
            .as_str()
            .unwrap()
            .contains("exited 1: \"pg_dump: connection refused\""),
        "{copy}"
    );
    assert!(
        backups(&ws).is_empty(),
        "no backup and no leftover: {:?}",
        backups(&ws)
    );
    assert_eq!(project.times("api").state, "running");
    assert_eq!(project.times("db").state, "running");
}

#[test]
fn sigterm_mid_copy_starts_services_again_and_lists_no_backup() {
    let (project, ws) = shop("bk-term", "[sh, -c, \"echo start; sleep 30\"]");
    let child = ws.spawn(&["backup", "--state-dir", &state(&ws), "--format", "json"]);
    eventually("the copy is under way", LONG, || {
        partial_exists(&ws) && project.times("api").state == "exited"
    });
    std::thread::sleep(Duration::from_millis(500));
    let report = terminate(child).expect_code(2).json();
    assert_eq!(result(&report, "backup", "interrupted")["status"], "crit");
    assert_eq!(
        project.times("api").state,
        "running",
        "api started again after the signal"
    );
    assert!(
        backups(&ws).is_empty(),
        "nothing listed, nothing left: {:?}",
        backups(&ws)
    );
    let list = ws
        .opsbook(&["backup", "list", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(list["backups"], serde_json::json!([]));
}

#[test]
fn a_second_backup_while_one_runs_exits_3() {
    let (_project, ws) = shop("bk-lock", "[sh, -c, \"sleep 4; echo done\"]");
    let first = ws.spawn(&["backup", "--state-dir", &state(&ws)]);
    eventually("the first backup holds the lock", LONG, || {
        partial_exists(&ws)
    });
    let second = ws.opsbook(&["backup", "--state-dir", &state(&ws)]);
    second.expect_code(3);
    assert!(
        second
            .stderr
            .contains(&format!("holds the lock: pid {} (backup)", first.id())),
        "{}",
        second.stderr
    );
    assert_eq!(first.wait_with_output().unwrap().status.code(), Some(0));
    assert_eq!(backups(&ws).len(), 1);
}

#[test]
fn an_unknown_volume_is_refused_before_anything_stops() {
    let (project, ws) = shop("bk-unknown", "[cat, /data/records.txt]");
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace("volumes: [dbdata]", "volumes: [dbdata, ghost]"),
    );
    let api = project.times("api").started;
    let run = ws.opsbook(&["backup", "--state-dir", &state(&ws)]);
    run.expect_code(3);
    assert_eq!(
        run.stderr,
        "error: unknown volume `ghost` (backup.volumes): nothing was stopped\n"
    );
    assert_eq!(project.times("api").started, api, "api was not touched");
    assert!(backups(&ws).is_empty());
}

/// Writes a complete-looking backup made at `at` (for retention tests).
fn fake_backup(ws: &Workspace, id: &str, at: &str) {
    ws.write(
        &format!("backups/{id}/manifest.json"),
        format!(r#"{{"created_at": "{at}", "items": []}}"#),
    );
}

#[test]
fn prune_keeps_what_any_rule_keeps_and_cleans_leftovers() {
    let ws = Workspace::new();
    let dates = [
        ("b1", "2026-08-15T06:00:00Z"),
        ("b2", "2026-09-15T06:00:00Z"),
        ("b3", "2026-10-15T06:00:00Z"),
        ("b4", "2026-11-09T06:00:00Z"),
        ("b5", "2026-11-10T06:00:00Z"),
        ("b6", "2026-11-20T06:00:00Z"),
        ("b7", "2026-11-21T06:00:00Z"),
        ("b8", "2026-11-21T18:00:00Z"),
    ];
    for (id, at) in dates {
        fake_backup(&ws, id, at);
    }
    ws.write("backups/.shop-x.partial/volume-dbdata.tar.zst", "half");
    let with_keep = |keep: &str| {
        ws.write(
            "opsbook.yaml",
            format!("version: 1\nbackup:\n  dir: ./backups\n  keep: {keep}\n"),
        );
    };
    let verdicts = |ws: &Workspace| {
        let report = ws
            .opsbook(&["backup", "prune", "--dry-run", "--format", "json"])
            .expect_code(0)
            .json();
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["message"] == "delete")
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    with_keep("{ last: 2 }");
    assert_eq!(verdicts(&ws), ["b1", "b2", "b3", "b4", "b5", "b6"]);
    with_keep("{ daily: 2 }");
    assert_eq!(verdicts(&ws), ["b1", "b2", "b3", "b4", "b5", "b7"]);
    // b8 for ISO week 47, b5 for week 46.
    with_keep("{ weekly: 2 }");
    assert_eq!(verdicts(&ws), ["b1", "b2", "b3", "b4", "b6", "b7"]);
    with_keep("{ monthly: 3 }");
    assert_eq!(verdicts(&ws), ["b1", "b4", "b5", "b6", "b7"]);
    with_keep("{ last: 1, monthly: 2 }");
    assert_eq!(verdicts(&ws), ["b1", "b2", "b4", "b5", "b6", "b7"]);
    assert_eq!(backups(&ws).len(), 9, "dry runs delete nothing");

    ws.opsbook(&["backup", "prune"]).expect_code(3);
    assert_eq!(
        backups(&ws).len(),
        9,
        "no --yes without a terminal: nothing deleted"
    );
    ws.opsbook(&["backup", "prune", "--yes", "--state-dir", &state(&ws)])
        .expect_code(0);
    let left: Vec<String> = backups(&ws)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["b3", "b8"]);
}

#[test]
fn shutdown_with_backup_aborts_when_the_backup_fails_unless_forced() {
    let (project, ws) = shop("bk-shutdown", "[sh, -c, \"exit 1\"]");
    let report = ws
        .opsbook(&[
            "shutdown",
            "--backup",
            "--yes",
            "--state-dir",
            &state(&ws),
            "--format",
            "json",
        ])
        .expect_code(2)
        .json();
    assert_eq!(result(&report, "shutdown", "aborted")["status"], "crit");
    assert_eq!(project.times("db").state, "running", "nothing stopped");
    assert_eq!(
        project.times("api").state,
        "running",
        "api, stopped for the backup, runs again"
    );

    let report = ws
        .opsbook(&[
            "shutdown",
            "--backup",
            "--force",
            "--yes",
            "--state-dir",
            &state(&ws),
            "--format",
            "json",
        ])
        .expect_code(2)
        .json();
    assert_eq!(result(&report, "shutdown", "verify")["status"], "ok");
    assert_eq!(
        project.times("db").state,
        "exited",
        "forced: shut down anyway"
    );

    // With a dump that works (db must run for it), the backup is made first.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace("[sh, -c, \"exit 1\"]", "[cat, /data/records.txt]"),
    );
    ws.opsbook(&["startup", "--skip-preflight"]).expect_code(0);
    ws.opsbook(&["shutdown", "--backup", "--yes", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert_eq!(backups(&ws).len(), 1);
    assert_eq!(project.times("db").state, "exited");
}

#[test]
fn encrypted_backups_read_back_only_with_the_identity() {
    let (_project, ws) = shop("bk-age", "[cat, /data/records.txt]");
    let identity = encrypt_backups(&ws);

    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    let folder = backups(&ws).remove(0);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
    let manifest_text = manifest.to_string();
    assert!(
        !manifest_text.contains("AGE-SECRET-KEY"),
        "the manifest holds no secret"
    );
    for item in manifest["items"].as_array().unwrap() {
        assert_eq!(item["encrypted"], true);
        let stored = std::fs::read(folder.join(item["file"].as_str().unwrap())).unwrap();
        assert!(stored.starts_with(b"age-encryption.org/v1"), "{item}");
    }
    // The dump decrypts with the key and decompresses to what db printed.
    let stored = std::fs::File::open(folder.join("dump-records.zst.age")).unwrap();
    let decryptor = age::Decryptor::new(std::io::BufReader::new(stored)).unwrap();
    let plain = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap();
    let mut dump = String::new();
    zstd::stream::read::Decoder::new(plain)
        .unwrap()
        .read_to_string(&mut dump)
        .unwrap();
    assert_eq!(dump, "order 1\n");

    let report = ws
        .opsbook(&["backup", "verify", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(
        report["results"][0]["message"],
        "checksum good; encrypted: pass --identity to read the stream back"
    );
    let report = ws
        .opsbook(&[
            "backup",
            "verify",
            "--identity",
            "key.txt",
            "--format",
            "json",
        ])
        .expect_code(0)
        .json();
    assert!(
        report["results"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("checksum and stream good"),
        "{report}"
    );
    let report = ws
        .opsbook(&[
            "backup",
            "verify",
            "--identity",
            "other.txt",
            "--format",
            "json",
        ])
        .expect_code(2)
        .json();
    assert!(
        report["results"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot decrypt"),
        "{report}"
    );
    ws.opsbook(&["backup", "verify", "--identity", "missing.txt"])
        .expect_code(3);
}

#[test]
fn a_keep_policy_that_keeps_nothing_is_refused_and_prune_deletes_nothing() {
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

#[test]
fn backup_with_the_embedded_default_names_how_to_give_a_runbook() {
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
fn backup_and_backup_list_tables() {
    let ws = Workspace::new();
    ws.write("compose.yml", "services: {}\n");
    ws.write("nginx.conf", "server { listen 80; }\n");
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: opsbook-test-exact-nothing-{}\nbackup:\n  dir: ./backups\n  files: [compose.yml, nginx.conf]\n",
            std::process::id()
        ),
    );
    let filters = Filters::new(&ws)
        .regex(r"\bshop-\d{8}T\d{6}Z\b", "shop-YYYYMMDDThhmmssZ")
        .regex(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", "YYYY-MM-DD hh:mm:ssZ")
        .regex(r"\b\d+\.\ds\b", "[T]s");
    let made = r#"
ITEM         SIZE  STORED  RATIO  TIME
compose.yml  13B   22B     0.6x   [T]s
nginx.conf   22B   31B     0.7x   [T]s
backup shop-YYYYMMDDThhmmssZ in [WS]/backups
ok: 2 ok in [MS] ms
"#;
    let progress = r#"
compose.yml: 13B → 22B in [T]s
nginx.conf: 22B → 31B in [T]s
"#;
    let first = ws.opsbook(&["backup", "--state-dir", "state"]);
    assert_run(&first, &filters, 0, made, progress);
    // Another second, another id (two in the same second get a `-2`).
    std::thread::sleep(Duration::from_millis(1100));
    let second = ws.opsbook(&["backup", "--state-dir", "state"]);
    assert_run(&second, &filters, 0, made, progress);

    let list = ws.opsbook(&["backup", "list"]);
    let filters = filters.regex(r"(?m)  \d+s$", "  [AGE]");
    assert_run(
        &list,
        &filters,
        0,
        r#"
ID                     CREATED               ITEMS  SIZE  AGE
shop-YYYYMMDDThhmmssZ  YYYY-MM-DD hh:mm:ssZ  2      53B   [AGE]
shop-YYYYMMDDThhmmssZ  YYYY-MM-DD hh:mm:ssZ  2      53B   [AGE]
2 backups in [WS]/backups
ok: 1 ok in [MS] ms
"#,
        "",
    );
    // The filters hide the ids: newest first.
    let id = |run: &Run| {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with("backup "))
            .unwrap();
        line.split(' ').nth(1).unwrap().to_string()
    };
    let (older, newer) = (id(&first), id(&second));
    let at = |id: &str| list.stdout.find(&format!("{id} ")).unwrap();
    assert!(at(&newer) < at(&older), "{older} {newer}\n{}", list.stdout);
}

#[test]
fn backup_commands_need_a_backup_section() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\nproject: {}\n", empty_project()),
    );
    let filters = Filters::new(&ws);
    for args in [
        &["backup"][..],
        &["backup", "list"],
        &["backup", "verify", "--all"],
        &["backup", "prune", "--yes"],
        &["restore", "latest", "--yes"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--state-dir", "state"]);
        assert_run(
            &ws.opsbook(&args),
            &filters,
            3,
            "",
            "error: the runbook `opsbook.yaml` has no `backup` section\n",
        );
    }
}

#[test]
fn backup_verify_of_an_unknown_id() {
    let ws = Workspace::new();
    ws.write("compose.yml", "services: {}\n");
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\nproject: {}\nbackup:\n  dir: ./backups\n  files: [compose.yml]\n", empty_project()),
    );
    let filters = Filters::new(&ws);
    assert_run(
        &ws.opsbook(&["backup", "verify", "nosuchid"]),
        &filters,
        3,
        "",
        "error: no backup `nosuchid` in [WS]/backups\n",
    );
    ws.opsbook(&["backup", "--state-dir", "state"])
        .expect_code(0);
    assert_run(
        &ws.opsbook(&["backup", "verify", "nosuchid"]),
        &filters,
        3,
        "",
        "error: no backup `nosuchid` in [WS]/backups\n",
    );
}

/// compose.yml and nginx.conf backed up, no container: a backup of files.
fn files_only(ws: &Workspace) {
    ws.write("compose.yml", "services: {}\n");
    ws.write("nginx.conf", "server { listen 80; }\n");
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nbackup:\n  dir: ./backups\n  files: [compose.yml, nginx.conf]\n",
            empty_project()
        ),
    );
}

#[test]
fn backup_verify_reads_every_item_back_and_names_a_changed_one() {
    let ws = Workspace::new();
    files_only(&ws);
    ws.opsbook(&["backup", "--state-dir", "state"])
        .expect_code(0);
    let filters = Filters::new(&ws).regex(r"\bshop-\d{8}T\d{6}Z\b", "shop-YYYYMMDDThhmmssZ");
    assert_run(
        &ws.opsbook(&["backup", "verify", "--state-dir", "state"]),
        &filters,
        0,
        r#"
STATUS  SECTION  NAME                               MESSAGE
ok      verify   shop-YYYYMMDDThhmmssZ/compose.yml  checksum and stream good (13B)
ok      verify   shop-YYYYMMDDThhmmssZ/nginx.conf   checksum and stream good (22B)
ok: 2 ok in [MS] ms
"#,
        "",
    );
    let stored = backups(&ws).remove(0).join("file-nginx.conf.zst");
    let mut bytes = std::fs::read(&stored).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&stored, &bytes).unwrap();
    assert_run(
        &ws.opsbook(&["backup", "verify", "latest", "--state-dir", "state"]),
        &filters,
        2,
        r#"
STATUS  SECTION  NAME                               MESSAGE
ok      verify   shop-YYYYMMDDThhmmssZ/compose.yml  checksum and stream good (13B)
crit    verify   shop-YYYYMMDDThhmmssZ/nginx.conf   `file-nginx.conf.zst` does not match its sha256 (stored file changed)
crit: 1 crit, 1 ok in [MS] ms
"#,
        "",
    );
}

#[test]
fn backup_prune_shows_what_it_keeps_asks_first_then_deletes() {
    let ws = Workspace::new();
    fake_backup(&ws, "shop-20261120T060000Z", "2026-11-20T06:00:00Z");
    fake_backup(&ws, "shop-20261121T060000Z", "2026-11-21T06:00:00Z");
    fake_backup(&ws, "shop-20261122T060000Z", "2026-11-22T06:00:00Z");
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nbackup:\n  dir: ./backups\n  keep: { last: 1 }\n",
    );
    let filters = Filters::new(&ws);
    assert_run(
        &ws.opsbook(&["backup", "prune", "--dry-run", "--state-dir", "state"]),
        &filters,
        0,
        r#"
STATUS  SECTION  NAME                   MESSAGE
ok      prune    shop-20261120T060000Z  delete
ok      prune    shop-20261121T060000Z  delete
ok      prune    shop-20261122T060000Z  keep
ok      prune    dry-run                dry run: nothing was deleted
ok: 4 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &ws.opsbook(&["backup", "prune", "--state-dir", "state"]),
        &filters,
        3,
        "",
        "error: delete 2 backups and 0 leftovers in [WS]/backups: this needs confirmation; without a terminal pass --yes (nothing was changed)\n",
    );
    assert_eq!(backups(&ws).len(), 3, "nothing was deleted");
    assert_run(
        &ws.opsbook(&["backup", "prune", "--yes", "--state-dir", "state"]),
        &filters,
        0,
        r#"
STATUS  SECTION  NAME                   MESSAGE
ok      prune    shop-20261120T060000Z  delete
ok      prune    shop-20261121T060000Z  delete
ok      prune    shop-20261122T060000Z  keep
ok: 3 ok in [MS] ms
"#,
        "",
    );
    assert_eq!(
        backups(&ws),
        vec![ws.path().join("backups/shop-20261122T060000Z")]
    );
}

#[test]
fn backup_dry_run_shows_each_item_and_where_it_is_read() {
    let ws = Workspace::new();
    files_only(&ws);
    assert_run(
        &ws.opsbook(&["backup", "--dry-run", "--state-dir", "state"]),
        &Filters::new(&ws).collapse_blanks(),
        0,
        r#"
KIND  ITEM  SOURCE  READ
file  compose.yml  [WS]/compose.yml  host
file  nginx.conf  [WS]/nginx.conf  host
into [WS]/backups
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert!(!ws.path().join("backups").exists(), "no backup was made");
}

#[test]
fn backup_prune_with_a_keep_policy_that_keeps_nothing_is_refused() {
    let ws = Workspace::new();
    fake_backup(&ws, "shop-20261120T060000Z", "2026-11-20T06:00:00Z");
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nbackup:\n  dir: ./backups\n  keep: {}\n",
    );
    assert_run(
        &ws.opsbook(&["backup", "prune", "--yes", "--state-dir", "state"]),
        &Filters::new(&ws),
        3,
        "",
        "error: opsbook.yaml:5:3: backup.keep: this keep policy keeps nothing: set one of last, daily, \
         weekly or monthly above 0 (or leave `keep` out to keep every backup)\n",
    );
    assert_eq!(backups(&ws).len(), 1, "nothing was deleted");
}

#[test]
fn compression_none_stores_items_as_read_verifies_and_restores_them() {
    let ws = Workspace::new();
    files_only(&ws);
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace(
            "  dir: ./backups\n",
            "  dir: ./backups\n  compression: none\n",
        ),
    );
    ws.opsbook(&["backup", "--state-dir", "state"])
        .expect_code(0);
    let folder = backups(&ws).remove(0);
    // Stored as read: the file is the file.
    assert_eq!(
        std::fs::read_to_string(folder.join("file-nginx.conf")).unwrap(),
        "server { listen 80; }\n"
    );
    let manifest = std::fs::read_to_string(folder.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"compression\": \"none\""), "{manifest}");
    ws.opsbook(&["backup", "verify", "--state-dir", "state"])
        .expect_code(0);
    ws.write("nginx.conf", "broken\n");
    ws.opsbook(&["restore", "latest", "--yes", "--state-dir", "state"])
        .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("nginx.conf")).unwrap(),
        "server { listen 80; }\n"
    );
    // A level means nothing without compression.
    ws.write(
        "opsbook.yaml",
        text.replace(
            "  dir: ./backups\n",
            "  dir: ./backups\n  compression: none\n  level: 3\n",
        ),
    );
    let run = ws.opsbook(&["validate"]);
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("backup.level: `compression: none` has no level: leave `level` out"),
        "{run:?}"
    );
}
