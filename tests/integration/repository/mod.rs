//! `backup.repository`: backups as snapshots of a restic repository,
//! through the real binary against a real engine, and read back by the real
//! restic (Debian's 0.14): its snapshots listed, checked with a read of
//! every byte, restored byte for byte.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::rclone::{KEY_ID, S3Server, SECRET};
use crate::support::{Project, Run, Workspace, eventually};

mod copies;
mod sftp;

const LONG: Duration = Duration::from_secs(60);
const PASSWORD: &str = "correct horse battery staple 7a1f";

/// db mounts `dbdata` (text, a symlink, random bytes), api depends on db
/// and is stopped during backups; the runbook's repository is ./repo.
fn shop(tag: &str, dump: &str) -> (Project, Workspace) {
    let project = Project::new(tag);
    let dbdata = project.volume("dbdata");
    project
        .service("db")
        .mount(&dbdata, "/data")
        // Filled once: a restart (the restore's) keeps what the volume holds.
        .script("[ -f /data/blob.bin ] || { mkdir -p /data/tables; echo 'order 1' > /data/records.txt; seq 1 5000 > /data/tables/orders; head -c 300000 /dev/urandom > /data/blob.bin; ln -sf records.txt /data/latest; }")
        .start();
    project.service("api").start();
    let ws = Workspace::new();
    ws.write("compose.yml", "services: {}\n");
    ws.write("restic-password", format!("{PASSWORD}\n"));
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\n  api: {{ depends_on: [db] }}\nshutdown:\n  grace: 2s\n\
             backup:\n  dir: ./backups\n  repository: {{ folder: ./repo, password_file: restic-password }}\n  volumes: [dbdata]\n  files: [compose.yml]\n  stop: [api]\n  dumps:\n    records:\n      service: db\n      command: {dump}\n",
            project.name
        ),
    );
    eventually("db filled its volume", LONG, || {
        project.exec("db", "test -f /data/blob.bin && test -L /data/latest")
    });
    (project, ws)
}

/// The real restic on the workspace's repository.
fn restic(ws: &Workspace, args: &[&str]) -> Run {
    restic_at(ws, "repo", args)
}

/// The real restic on the repository at `repo` (from the workspace).
fn restic_at(ws: &Workspace, repo: &str, args: &[&str]) -> Run {
    let out = Command::new("restic")
        .args([
            "--repo",
            repo,
            "--password-file",
            "restic-password",
            "--no-cache",
        ])
        .args(args)
        .current_dir(ws.path())
        .output()
        .expect("restic runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: Duration::ZERO,
    }
}

fn opsbook(ws: &Workspace, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--state-dir", "state"]);
    let run = ws.opsbook(&all);
    assert!(
        !run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD),
        "the password shown: {run:?}"
    );
    run
}

fn snapshots(ws: &Workspace) -> Vec<serde_json::Value> {
    let run = restic(ws, &["snapshots", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    serde_json::from_str::<Vec<serde_json::Value>>(&run.stdout).unwrap()
}

/// The volume's folder on this host (the tests run as root).
fn volume_dir(project: &Project) -> std::path::PathBuf {
    Path::new("/var/lib/docker/volumes")
        .join(format!("{}_dbdata", project.name))
        .join("_data")
}

#[test]
fn a_backup_is_one_snapshot_the_real_restic_lists_checks_and_restores_byte_for_byte() {
    let (project, ws) = shop("rp-one", "[sh, -c, 'seq 1 100000']");
    let made = opsbook(&ws, &["backup", "init-repository"]);
    made.expect_code(0);
    assert!(made.stdout.contains("format 2, zstd level 3"), "{made:?}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(ws.path().join("repo"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the repository's folder is private");
    // Once only: a second init changes nothing.
    let again = opsbook(&ws, &["backup", "init-repository"]);
    again.expect_code(3);
    assert!(
        again.stderr.contains("is already a restic repository"),
        "{again:?}"
    );

    let run = opsbook(&ws, &["backup", "--format", "json"]);
    run.expect_code(0);
    let report = run.json();
    let id = report["backup"]["id"].as_str().unwrap().to_string();
    assert_eq!(project.times("api").state, "running", "api started again");

    let listed = snapshots(&ws);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    let tags: Vec<&str> = listed[0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let project_tag = "project=shop";
    let backup_tag = format!("backup={id}");
    assert_eq!(tags, [backup_tag.as_str(), "opsbook", project_tag]);
    let check = restic(&ws, &["check", "--read-data"]);
    assert_eq!(check.code, 0, "{check:?}");

    let restored = restic(&ws, &["restore", "latest", "--target", "out"]);
    assert_eq!(restored.code, 0, "{restored:?}");
    let out = ws.path().join("out");
    let volume = volume_dir(&project);
    for file in ["records.txt", "tables/orders", "blob.bin"] {
        assert_eq!(
            std::fs::read(out.join("volumes/dbdata").join(file)).unwrap(),
            std::fs::read(volume.join(file)).unwrap(),
            "{file}"
        );
    }
    assert_eq!(
        std::fs::read_link(out.join("volumes/dbdata/latest")).unwrap(),
        Path::new("records.txt")
    );
    let seq: String = (1..=100_000).map(|n| format!("{n}\n")).collect();
    assert_eq!(
        std::fs::read_to_string(out.join("dumps/records")).unwrap(),
        seq
    );
    assert_eq!(
        std::fs::read_to_string(out.join("files/compose.yml")).unwrap(),
        "services: {}\n"
    );

    // The manifest, in the snapshot's description: each item's bytes, a
    // stream's sha256 as read.
    let items = report["backup"]["manifest"]["items"].as_array().unwrap();
    let dump = items.iter().find(|i| i["name"] == "records").unwrap();
    assert_eq!(dump["size"], seq.len());
    assert_eq!(dump["file"], "/dumps/records");
    let list = opsbook(&ws, &["backup", "list", "--format", "json"]);
    list.expect_code(0);
    let backups = list.json()["backups"].clone();
    assert_eq!(backups.as_array().unwrap().len(), 1, "{backups:#}");
    assert_eq!(backups[0]["id"], id.as_str());
    assert_eq!(backups[0]["items"], 3);
}

#[test]
fn a_second_backup_after_a_small_change_adds_only_the_change() {
    let (project, ws) = shop("rp-second", "[cat, /data/records.txt]");
    opsbook(&ws, &["backup", "init-repository"]).expect_code(0);
    // 8 MiB of data nothing compresses, then 1 % of it changed.
    assert!(project.exec(
        "db",
        "head -c 8388608 /dev/urandom > /data/big.bin && echo done"
    ));
    let first = opsbook(&ws, &["backup", "--format", "json"]);
    first.expect_code(0);
    assert!(project.exec("db", "head -c 83886 /dev/urandom > /data/changed.bin"));
    let second = opsbook(&ws, &["backup", "--format", "json"]);
    second.expect_code(0);
    let (first, second) = (first.json(), second.json());
    let stored = |r: &serde_json::Value| r["backup"]["stored"].as_u64().unwrap();
    assert!(stored(&first) > 8_000_000, "{first:#}");
    // The change (82 KiB) and the dump, trees and index: well under 1 MiB.
    assert!(stored(&second) < 1_000_000, "{second:#}");
    assert_eq!(snapshots(&ws).len(), 2);
}

#[test]
fn a_wrong_password_a_missing_repository_or_a_failed_dump_leave_no_snapshot() {
    let (project, ws) = shop("rp-refuse", "[sh, -c, 'echo half; exit 4']");
    // No repository yet.
    let run = opsbook(&ws, &["backup"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("no restic repository at")
            && run.stderr.contains("opsbook backup init-repository"),
        "{run:?}"
    );
    opsbook(&ws, &["backup", "init-repository"]).expect_code(0);
    // A dump that fails: no snapshot, the services up again.
    let run = opsbook(&ws, &["backup"]);
    run.expect_code(2);
    assert!(run.stdout.contains("exited 4"), "{run:?}");
    assert!(snapshots(&ws).is_empty());
    assert_eq!(project.times("api").state, "running");
    // The wrong password: refused before anything stops.
    ws.write("restic-password", "not the password\n");
    let run = opsbook(&ws, &["backup"]);
    run.expect_code(3);
    assert!(run.stderr.contains("the password is wrong"), "{run:?}");
    assert!(!run.stderr.contains("not the password"), "{run:?}");
    assert_eq!(project.times("api").state, "running");
    ws.write("restic-password", format!("{PASSWORD}\n"));
    assert!(snapshots(&ws).is_empty());
}

#[test]
fn a_password_written_in_the_runbook_is_refused_naming_its_line() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nproject: shop\nservices:\n  db: {}\nbackup:\n  dir: ./backups\n  repository: { folder: ./repo, password: hunter2hunter2 }\n",
    );
    let run = ws.opsbook(&["validate"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("opsbook.yaml:8:")
            && run.stderr.contains("backup.repository.password")
            && run.stderr.contains("never written in the runbook"),
        "{run:?}"
    );
}

/// The largest pack file of the repository, one byte flipped in its middle.
fn flip_a_byte(ws: &Workspace) {
    let mut packs = Vec::new();
    for folder in std::fs::read_dir(ws.path().join("repo/data")).unwrap() {
        for pack in std::fs::read_dir(folder.unwrap().path()).unwrap() {
            let path = pack.unwrap().path();
            packs.push((std::fs::metadata(&path).unwrap().len(), path));
        }
    }
    packs.sort();
    let (size, path) = packs.pop().unwrap();
    crate::support::chmod(&path, 0o600);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[size as usize / 2] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_restore_from_the_repository_puts_every_item_back_and_a_damaged_pack_changes_nothing() {
    let (project, ws) = shop("rp-restore", "[cat, /data/records.txt]");
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace(
            "command: [cat, /data/records.txt]",
            "command: [cat, /data/records.txt]\n      restore: [sh, -c, 'cat > /data/from-dump']",
        ),
    );
    opsbook(&ws, &["backup", "init-repository"]).expect_code(0);
    let volume = volume_dir(&project);
    let blob = std::fs::read(volume.join("blob.bin")).unwrap();
    opsbook(&ws, &["backup"]).expect_code(0);
    assert!(project.exec(
        "db",
        "echo changed > /data/records.txt && head -c 1000 /dev/zero > /data/blob.bin && rm /data/latest"
    ));
    let run = opsbook(&ws, &["restore", "latest", "--yes", "--format", "json"]);
    run.expect_code(0);
    assert_eq!(
        std::fs::read_to_string(volume.join("records.txt")).unwrap(),
        "order 1\n"
    );
    let back = std::fs::read(volume.join("blob.bin")).unwrap();
    let first = back.iter().zip(&blob).position(|(a, b)| a != b);
    assert!(
        back == blob,
        "blob.bin: {} bytes back of {}, first difference at {first:?}",
        back.len(),
        blob.len()
    );
    assert_eq!(
        std::fs::read_link(volume.join("latest")).unwrap(),
        Path::new("records.txt")
    );
    assert_eq!(
        std::fs::read_to_string(volume.join("from-dump")).unwrap(),
        "order 1\n"
    );
    assert_eq!(project.times("api").state, "running");
    // What was brought out of the repository is gone; the safety backup stays.
    let left: Vec<std::path::PathBuf> = std::fs::read_dir(ws.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        left.len() == 1
            && std::fs::read_to_string(left[0].join("manifest.json"))
                .unwrap()
                .contains("\"safety\": true"),
        "{left:?}"
    );

    // A damaged pack (the volume's blob): its stream into the staging
    // folder fails before anything stops, and the staging folder goes.
    flip_a_byte(&ws);
    assert!(project.exec("db", "echo changed again > /data/records.txt"));
    let run = opsbook(&ws, &["restore", "latest", "--yes"]);
    run.expect_code(2);
    let crit: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("crit"))
        .collect();
    assert_eq!(crit.len(), 3, "{run:?}");
    assert!(
        crit[0].starts_with(
            "crit    verify/dbdata: volume `dbdata` does not read back from the repository: error processing Pack:"
        ) && crit[0].ends_with("Data decryption failed, MAC check failed."),
        "{run:?}"
    );
    assert!(
        crit[1].starts_with("crit    restore/result: backup shop-")
            && crit[1].ends_with(" does not verify: nothing was stopped or changed"),
        "{run:?}"
    );
    let beside: Vec<String> = std::fs::read_dir(volume.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside, ["_data"], "no staging folder is left");
    assert_eq!(
        std::fs::read_to_string(volume.join("records.txt")).unwrap(),
        "changed again\n"
    );
    assert_eq!(project.times("api").state, "running");
}

#[test]
fn sigterm_mid_backup_leaves_no_snapshot_and_the_next_backup_works() {
    let (project, ws) = shop("rp-term", "[sh, -c, \"echo start; sleep 30\"]");
    opsbook(&ws, &["backup", "init-repository"]).expect_code(0);
    let child = ws.spawn(&["backup", "--state-dir", "state", "--format", "json"]);
    eventually("the copy is under way", LONG, || {
        project.times("api").state == "exited"
    });
    std::thread::sleep(Duration::from_millis(1500));
    let report = crate::support::terminate(child).expect_code(2).json();
    assert_eq!(
        crate::support::result(&report, "backup", "interrupted")["status"],
        "crit"
    );
    assert_eq!(project.times("api").state, "running", "api started again");
    assert!(snapshots(&ws).is_empty(), "{:#?}", snapshots(&ws));
    let locks = restic(&ws, &["list", "locks", "--no-lock"]);
    assert_eq!((locks.code, locks.stdout.as_str()), (0, ""), "{locks:?}");
    // No lock or leftover blocks the next one.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace(
            "[sh, -c, \"echo start; sleep 30\"]",
            "[cat, /data/records.txt]",
        ),
    );
    opsbook(&ws, &["backup"]).expect_code(0);
    assert_eq!(snapshots(&ws).len(), 1);
    let check = restic(&ws, &["check"]);
    assert_eq!(check.code, 0, "{check:?}");
}

#[test]
fn verify_names_a_damaged_pack_prune_keeps_what_keep_says_and_daily_check_sees_the_newest() {
    let (project, ws) = shop("rp-care", "[cat, /data/records.txt]");
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace(
            "  stop: [api]\n",
            "  stop: [api]\n  keep: { last: 2 }\n  max_age: 1h\n",
        ),
    );
    opsbook(&ws, &["backup", "init-repository"]).expect_code(0);
    let daily = opsbook(
        &ws,
        &["daily-check", "--only", "backups", "--format", "json"],
    );
    let newest = crate::support::result(&daily.json(), "backups", "newest").clone();
    assert_eq!(newest["status"], "warn", "{newest:#}");
    assert!(
        newest["message"]
            .as_str()
            .unwrap()
            .starts_with("no backup yet in restic repository"),
        "{newest:#}"
    );
    for round in 0..3 {
        assert!(project.exec("db", &format!("echo {round} > /data/round.txt")));
        opsbook(&ws, &["backup"]).expect_code(0);
    }
    let daily = opsbook(
        &ws,
        &["daily-check", "--only", "backups", "--format", "json"],
    );
    let newest = crate::support::result(&daily.json(), "backups", "newest").clone();
    assert_eq!(newest["status"], "ok", "{newest:#}");
    opsbook(&ws, &["backup", "verify"]).expect_code(0);
    opsbook(&ws, &["backup", "verify", "--read-data-subset", "50%"]).expect_code(0);

    let dry = opsbook(&ws, &["backup", "prune", "--dry-run", "--format", "json"]);
    dry.expect_code(0);
    assert_eq!(snapshots(&ws).len(), 3);
    let pruned = opsbook(&ws, &["backup", "prune", "--yes"]);
    pruned.expect_code(0);
    assert!(
        pruned.stdout.contains("1 snapshot(s) forgotten"),
        "{pruned:?}"
    );
    assert_eq!(snapshots(&ws).len(), 2);
    let check = restic(&ws, &["check", "--read-data"]);
    assert_eq!(check.code, 0, "{check:?}");

    flip_a_byte(&ws);
    let verify = opsbook(&ws, &["backup", "verify", "--format", "json"]);
    verify.expect_code(2);
    let findings: Vec<String> = verify.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "crit")
        .map(|r| r["message"].as_str().unwrap().to_string())
        .collect();
    assert!(findings.iter().any(|f| f.contains("pack")), "{findings:#?}");
}

#[test]
fn opsbook_restores_from_a_repository_restic_itself_has_pruned() {
    let (project, ws) = shop("rp-pruned", "[cat, /data/records.txt]");
    opsbook(&ws, &["backup", "init-repository"]).expect_code(0);
    opsbook(&ws, &["backup"]).expect_code(0);
    assert!(project.exec("db", "echo 'order 2' > /data/records.txt"));
    opsbook(&ws, &["backup"]).expect_code(0);
    let forgot = restic(&ws, &["forget", "--keep-last", "1", "--prune"]);
    assert_eq!(forgot.code, 0, "{forgot:?}");
    assert_eq!(snapshots(&ws).len(), 1);
    assert!(project.exec("db", "echo lost > /data/records.txt"));
    opsbook(&ws, &["restore", "latest", "--only", "dbdata", "--yes"]).expect_code(0);
    assert_eq!(
        std::fs::read_to_string(volume_dir(&project).join("records.txt")).unwrap(),
        "order 2\n"
    );
}

/// The real restic on the repository in `server`'s bucket `backups`.
fn restic_s3(ws: &Workspace, server: &S3Server, args: &[&str]) -> Run {
    let out = Command::new("restic")
        .args([
            "--repo",
            &format!("s3:http://127.0.0.1:{}/backups/shop/repo", server.port),
        ])
        .args(["--password-file", "restic-password", "--no-cache"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .current_dir(ws.path())
        .output()
        .expect("restic runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: Duration::ZERO,
    }
}

#[test]
fn a_repository_on_an_s3_store_is_made_filled_checked_and_restored_and_restic_reads_it() {
    let server = S3Server::start();
    let (project, ws) = shop("rp-s3", "[sh, -c, 'seq 1 1000']");
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace(
            "command: [sh, -c, 'seq 1 1000']",
            "command: [sh, -c, 'seq 1 1000']\n      restore: [sh, -c, 'cat > /data/from-dump']",
        )
        .replace(
            "{ folder: ./repo, password_file: restic-password }",
            &format!(
                "\n    s3: {{ endpoint: \"http://127.0.0.1:{}\", bucket: backups, prefix: shop/repo, access_key_id: \"${{S3_KEY_ID}}\", secret_access_key: \"${{S3_SECRET}}\" }}\n    password_file: restic-password\n    timeout: 20s",
                server.port
            ),
        ),
    );
    ws.write(".env", format!("S3_KEY_ID={KEY_ID}\nS3_SECRET={SECRET}\n"));
    let run = |args: &[&str]| {
        let run = opsbook(&ws, args);
        assert!(
            !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
            "the S3 secret shown: {run:?}"
        );
        run
    };
    let made = run(&["backup", "init-repository"]);
    made.expect_code(0);
    assert!(
        made.stdout
            .contains("made restic repository s3://backups/shop/repo/"),
        "{made:?}"
    );
    run(&["backup", "init-repository"]).expect_code(3);
    run(&["backup"]).expect_code(0);
    assert!(project.exec("db", "echo 'order 2' > /data/records.txt"));
    run(&["backup"]).expect_code(0);
    assert_eq!(project.times("api").state, "running");

    // The real restic lists both snapshots and reads every byte.
    let listed = restic_s3(&ws, &server, &["snapshots", "--json"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed.len(), 2, "{listed:#?}");
    let check = restic_s3(&ws, &server, &["check", "--read-data"]);
    assert_eq!(check.code, 0, "{check:?}");
    run(&["backup", "verify"]).expect_code(0);
    let list = run(&["backup", "list", "--format", "json"]);
    list.expect_code(0);
    let list = list.json();
    assert_eq!(list["repository"], "s3://backups/shop/repo/");
    assert_eq!(list["backups"].as_array().unwrap().len(), 2, "{list:#}");

    // A restore reads the newest snapshot back from the store.
    let volume = volume_dir(&project);
    assert!(project.exec(
        "db",
        "echo damaged > /data/records.txt && rm /data/blob.bin"
    ));
    run(&["restore", "latest", "--yes"]).expect_code(0);
    assert_eq!(
        std::fs::read_to_string(volume.join("records.txt")).unwrap(),
        "order 2\n"
    );
    assert_eq!(
        std::fs::metadata(volume.join("blob.bin")).unwrap().len(),
        300_000
    );
    assert_eq!(project.times("api").state, "running");

    // The wrong secret: refused before anything stops, and not shown.
    ws.write(
        ".env",
        format!("S3_KEY_ID={KEY_ID}\nS3_SECRET=wrong-secret-5e6f7a8b\n"),
    );
    let refused = run(&["backup"]);
    refused.expect_code(3);
    assert!(
        refused.stderr.contains("403") && !refused.stderr.contains("wrong-secret-5e6f7a8b"),
        "{refused:?}"
    );
    assert_eq!(project.times("api").state, "running");
}

/// The ids of the repository's lock files, as the real restic lists them.
fn locks(ws: &Workspace) -> Vec<String> {
    let run = restic(ws, &["list", "locks", "--no-lock"]);
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout.lines().map(str::to_string).collect()
}

#[test]
fn restic_and_opsbook_honour_each_others_locks_and_a_killed_runs_lock_is_removed() {
    let (_project, ws) = shop("rp-locks", "[sh, -c, \"echo start; sleep 30\"]");
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace(
            "  dir: ./backups\n",
            "  dir: ./backups\n  keep: { last: 1 }\n",
        ),
    );
    opsbook(&ws, &["backup", "init-repository"]).expect_code(0);

    // opsbook's backup holds a lock the real restic reads and honours.
    let mut child = ws.spawn(&["backup", "--state-dir", "state"]);
    eventually("the backup's lock is taken", LONG, || locks(&ws).len() == 1);
    let held = &locks(&ws)[0];
    let lock = restic(&ws, &["cat", "lock", held, "--no-lock"]);
    let lock: serde_json::Value = serde_json::from_str(&lock.stdout).unwrap();
    assert_eq!(lock["pid"], child.id(), "{lock:#}");
    assert_eq!(lock["exclusive"], false, "{lock:#}");
    let prune = restic(&ws, &["prune"]);
    assert_ne!(prune.code, 0, "{prune:?}");
    assert!(prune.stderr.contains("locked"), "{prune:?}");

    // Killed outright: its lock stays, and the next run removes it as stale.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(locks(&ws), std::slice::from_ref(held));
    ws.write(
        "opsbook.yaml",
        std::fs::read_to_string(ws.path().join("opsbook.yaml"))
            .unwrap()
            .replace(
                "[sh, -c, \"echo start; sleep 30\"]",
                "[cat, /data/records.txt]",
            ),
    );
    let run = opsbook(&ws, &["backup", "--format", "json"]);
    run.expect_code(0);
    let said = crate::support::result(&run.json(), "backup", "lock")["message"].clone();
    assert!(
        said.as_str().unwrap().starts_with(&format!(
            "removed a stale shared lock of pid {} on ",
            lock["pid"]
        )),
        "{said}"
    );
    assert!(locks(&ws).is_empty());

    // restic's backup holds a lock: opsbook's prune waits for it, its
    // backup goes on beside it.
    let restic_backup = Command::new("sh")
        .arg("-c")
        .arg("{ sleep 8; echo slow; } | restic --repo repo --password-file restic-password --no-cache backup --stdin --stdin-filename slow")
        .current_dir(ws.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    eventually("restic's lock is taken", LONG, || locks(&ws).len() == 1);
    let refused = opsbook(&ws, &["backup", "prune", "--yes"]);
    refused.expect_code(3);
    assert!(
        refused.stderr.contains("locked by a shared lock of pid")
            && refused
                .stderr
                .contains("prune not started, nothing was changed"),
        "{refused:?}"
    );
    opsbook(&ws, &["backup"]).expect_code(0);
    let restic_backup = restic_backup.wait_with_output().unwrap();
    assert!(restic_backup.status.success(), "{restic_backup:?}");
    opsbook(&ws, &["backup", "prune", "--yes"]).expect_code(0);
    assert!(locks(&ws).is_empty());
    let check = restic(&ws, &["check"]);
    assert_eq!(check.code, 0, "{check:?}");
}

#[test]
fn a_dry_run_reads_the_volume_and_a_volume_read_through_the_archive_endpoint_is_restored() {
    let (project, ws) = shop("rp-archive", "[cat, /data/records.txt]");
    let runbook = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        runbook.replace("  dir: ./backups\n", "  dir: ./backups\n  read: archive\n"),
    );
    opsbook(&ws, &["backup", "init-repository"]).expect_code(0);
    opsbook(&ws, &["backup"]).expect_code(0);
    assert!(project.exec("db", "echo lost > /data/records.txt && rm /data/latest"));

    // A dry run reads the volume out of the snapshot, changes nothing.
    let dry = opsbook(
        &ws,
        &[
            "restore",
            "--dry-run",
            "--only",
            "dbdata",
            "--format",
            "json",
        ],
    );
    dry.expect_code(0);
    let said = crate::support::result(&dry.json(), "restore", "dry-run")["message"].clone();
    assert!(
        said.as_str()
            .unwrap()
            .ends_with(" verified, nothing was changed"),
        "{dry:?}"
    );
    assert!(project.exec("db", "grep -qx lost /data/records.txt"));

    let run = opsbook(&ws, &["restore", "latest", "--only", "dbdata", "--yes"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("_dbdata (emptied, then filled)\n"),
        "through the archive endpoint: {run:?}"
    );
    let volume = volume_dir(&project);
    assert_eq!(
        std::fs::read_to_string(volume.join("records.txt")).unwrap(),
        "order 1\n"
    );
    assert_eq!(
        std::fs::read_link(volume.join("latest")).unwrap(),
        Path::new("records.txt")
    );
    // Nothing brought out is left: only the safety backup.
    let left = std::fs::read_dir(ws.path().join("backups"))
        .unwrap()
        .count();
    assert_eq!(left, 1);
}

#[test]
fn a_drill_of_a_snapshot_restores_it_into_twins_and_leaves_nothing_behind() {
    let (project, ws) = shop(
        "rp-drill",
        "[cat, /data/records.txt]\n      restore: [sh, -c, \"cat > /data/from-dump\"]",
    );
    let runbook = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        format!(
            "{runbook}  drill:\n    timeout: 60s\n    max_age: 8d\n    checks:\n      \
             records: {{ exec: {{ service: db, command: [cat, /data/records.txt, /data/from-dump], stdout_contains: \"order 1\\norder 1\" }} }}\n"
        ),
    );
    ws.opsbook(&["validate"]).expect_code(0);
    opsbook(&ws, &["backup", "init-repository"]).expect_code(0);
    opsbook(&ws, &["backup"]).expect_code(0);
    let drill_graded = || {
        let checked = opsbook(
            &ws,
            &["daily-check", "--only", "backups", "--format", "json"],
        );
        crate::support::result(&checked.json(), "backups", "drill").clone()
    };
    let before = drill_graded();
    assert_eq!(
        (before["status"].as_str(), before["message"].as_str()),
        (
            Some("warn"),
            Some("no snapshot was drilled yet: run `opsbook backup drill`")
        )
    );
    // The live data moves on: the drill proves the snapshot, not the volume.
    assert!(project.exec("db", "echo 'order 2' > /data/records.txt"));

    let run = opsbook(&ws, &["backup", "drill", "--format", "json"]);
    let report = run.expect_code(0).json();
    for name in [
        "verify",
        "restore dbdata",
        "twin db",
        "restore records",
        "check records",
    ] {
        let r = crate::support::result(&report, "drill", name);
        assert_eq!(r["status"], "ok", "{name}: {report:#}");
    }
    let recorded = crate::support::result(&report, "drill", "recorded")["message"].clone();
    let recorded = recorded.as_str().unwrap();
    let end = format!(
        " (snapshot of restic repository {}) passed: in the drill history",
        ws.path().join("repo").display()
    );
    assert!(
        recorded.starts_with("drill ")
            && recorded.contains(" of shop-")
            && recorded.ends_with(&end),
        "{recorded}"
    );
    // What was read out of the repository is gone, and so are the twins.
    let left = std::fs::read_dir(ws.path().join("backups"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0);
    assert!(project.exec("db", "grep -qx 'order 2' /data/records.txt"));
    assert!(snapshots(&ws).len() == 1);
    // daily-check grades the drill from the drill history.
    let after = drill_graded();
    assert_eq!(after["status"], "ok", "{after:#}");
    assert!(
        after["message"]
            .as_str()
            .unwrap()
            .starts_with("newest passed drill "),
        "{after:#}"
    );
}
