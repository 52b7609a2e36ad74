//! Backup copies against real targets: a folder, and a real S3-compatible
//! server on loopback (`rclone serve s3`, installed by scripts/test.sh):
//! round trips, a damaged copy found by verify, a restore from a copy after
//! the local backups are gone, an upload killed mid-way, retention on a
//! target, wrong credentials, and no secret in any output. `faults`: an
//! S3 store that misbehaves on purpose; `folder`: a folder target with
//! links planted in it, or not there at all.

mod faults;
mod folder;

use std::path::Path;
use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::rclone::{KEY_ID, S3Server, SECRET};
use crate::support::{Project, Run, Workspace, eventually, result};

/// A runbook backing up two files, copied to a folder and to `server`.
fn runbook(project: &Project, server: &S3Server, extra: &str) -> String {
    format!(
        "version: 1\nproject: {}\nbackup:\n  dir: ./backups\n  files: [data.bin, notes.txt]\n  copies:\n    nas:\n      folder: ./nas\n    offsite:\n      s3: {{ endpoint: \"http://127.0.0.1:{}\", bucket: bk, prefix: shop, access_key_id: \"${{S3_KEY_ID}}\", secret_access_key: \"${{S3_SECRET}}\" }}\n{extra}",
        project.name, server.port
    )
}

fn workspace(project: &Project, server: &S3Server, extra: &str) -> Workspace {
    let ws = Workspace::new();
    // 20 MiB that do not compress: three multipart parts.
    let mut data = vec![0u8; 20 * 1024 * 1024];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut data)
        .unwrap();
    ws.write("data.bin", data);
    ws.write("notes.txt", "the notes\n");
    ws.write(".env", format!("S3_KEY_ID={KEY_ID}\nS3_SECRET={SECRET}\n"));
    ws.write("opsbook.yaml", runbook(project, server, extra));
    // A folder target must exist: opsbook never makes it.
    std::fs::create_dir(ws.path().join("nas")).unwrap();
    ws
}

fn run(ws: &Workspace, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--state-dir", "state"]);
    let run = ws.opsbook(&all);
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "the secret leaked from {args:?}:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    run
}

fn json(ws: &Workspace, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let run = run(ws, &all);
    (run.code, run.json())
}

fn backup_ids(report: &serde_json::Value) -> Vec<String> {
    report["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn backups_are_copied_verified_and_restored_from_a_copy() {
    let project = Project::new("copies");
    let mut server = S3Server::start();
    let ws = workspace(&project, &server, "");
    run(&ws, &["validate"]).expect_code(0);

    let (code, report) = json(&ws, &["backup"]);
    assert_eq!(code, 0, "{report:#}");
    for target in ["nas", "offsite"] {
        let r = result(&report, "copies", target);
        assert!(r["message"].as_str().unwrap().starts_with("copied "), "{r}");
    }
    let (_, local) = json(&ws, &["backup", "list"]);
    let (_, remote) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(backup_ids(&local), backup_ids(&remote));
    let (_, nas) = json(&ws, &["backup", "list", "--copy", "nas"]);
    assert_eq!(backup_ids(&local), backup_ids(&nas));
    // The objects: the items and, last, the manifest.
    let stored = server.stored("shop");
    assert_eq!(stored.len(), 3, "{stored:?}");

    let (code, report) = json(&ws, &["backup", "verify", "--copy", "offsite"]);
    assert_eq!(code, 0, "{report:#}");
    let id = &backup_ids(&local)[0];
    let name = format!("offsite:{id}/data.bin");
    assert_eq!(result(&report, "verify", &name)["status"], "ok");

    // Again: nothing missing, nothing sent.
    let (code, report) = json(&ws, &["backup", "copy"]);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        result(&report, "copies", "offsite")["message"]
            .as_str()
            .unwrap()
            .contains("already holds every backup")
    );

    // The local backups are lost and the data damaged: back from the copy.
    std::fs::remove_dir_all(ws.path().join("backups")).unwrap();
    ws.write("notes.txt", "damaged\n");
    let (code, report) = json(&ws, &["restore", "--from", "offsite", "--yes"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(result(&report, "restore", "download")["status"], "ok");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("notes.txt")).unwrap(),
        "the notes\n"
    );

    // One flipped byte on the target: verify finds it, naming the file.
    let data = stored
        .iter()
        .find(|p| p.to_string_lossy().contains("data.bin"))
        .unwrap();
    flip_byte(data);
    server.restart();
    let (code, report) = json(&ws, &["backup", "verify", "--copy", "offsite", id]);
    assert_eq!(code, 2, "{report:#}");
    let bad = result(&report, "verify", &name);
    assert!(
        bad["message"]
            .as_str()
            .unwrap()
            .contains("does not match its sha256"),
        "{bad}"
    );
    // daily-check sees a copy on each target.
    let (_, report) = json(&ws, &["daily-check", "--only", "backups"]);
    assert_eq!(result(&report, "backups", "copy offsite")["status"], "ok");
    assert_eq!(result(&report, "backups", "copy nas")["status"], "ok");
}

fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_killed_upload_leaves_nothing_listed_and_retention_prunes_a_target() {
    let project = Project::new("copies-kill");
    let server = S3Server::start();
    let ws = workspace(&project, &server, "  keep: { last: 5 }\n");
    // Only the folder target here, for the backups themselves.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace("    offsite:\n", "    offsite:\n      keep: { last: 1 }\n"),
    );
    // 64 MiB that do not compress: the upload is still going when it is killed.
    let mut big = vec![0u8; 64 * 1024 * 1024];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut big).unwrap();
    ws.write("data.bin", big);
    let (code, report) = json(&ws, &["backup"]);
    assert_eq!(code, 0, "{report:#}");
    let first = backup_ids(&json(&ws, &["backup", "list"]).1)[0].clone();
    // Second backup: its copy killed mid-way (SIGKILL: nothing to clean up).
    let mut child = ws.spawn(&["backup", "--state-dir", "state"]);
    // The folder target goes first: once it holds the backup, the S3
    // upload (64 MiB, a second or more) has just begun.
    let nas = ws.path().join("nas");
    eventually("the upload under way", Duration::from_secs(120), || {
        std::fs::read_dir(&nas)
            .map(|d| {
                d.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .count()
                    == 2
            })
            .unwrap_or(false)
    });
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    let _ = child.wait();
    let (_, remote) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(
        backup_ids(&remote),
        std::slice::from_ref(&first),
        "{remote:#}"
    );

    // Retention: `last: 1` on offsite; a third backup, copied, then pruned.
    let data: Vec<u8> = vec![7u8; 1024];
    ws.write("data.bin", data);
    let (code, report) = json(&ws, &["backup"]);
    // Warn: data.bin shrank to less than half of the previous backup's.
    assert_eq!(code, 1, "{report:#}");
    let newest = backup_ids(&json(&ws, &["backup", "list"]).1)[0].clone();
    let (_, dry) = json(&ws, &["backup", "prune", "--dry-run"]);
    assert_eq!(
        result(&dry, "prune", &format!("offsite:{first}"))["message"],
        "delete"
    );
    let (code, report) = json(&ws, &["backup", "prune", "--yes"]);
    assert_eq!(code, 0, "{report:#}");
    let (_, remote) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(backup_ids(&remote), [newest], "{remote:#}");
}

#[test]
fn wrong_credentials_unset_variables_and_written_secrets_are_refused() {
    let project = Project::new("copies-refused");
    let server = S3Server::start();
    let ws = workspace(&project, &server, "");
    ws.write(
        ".env",
        format!("S3_KEY_ID={KEY_ID}\nS3_SECRET=not-the-secret-at-all\n"),
    );
    let (code, report) = json(&ws, &["backup"]);
    assert_eq!(code, 2, "{report:#}");
    let r = result(&report, "copies", "offsite");
    assert_eq!(r["status"], "crit");
    assert!(r["message"].as_str().unwrap().contains("403"), "{r}");
    assert!(!r.to_string().contains("not-the-secret-at-all"), "{r}");
    // The local backup stays good and listed.
    assert_eq!(backup_ids(&json(&ws, &["backup", "list"]).1).len(), 1);
    assert_eq!(result(&report, "copies", "nas")["status"], "ok");

    // An unset variable: named, with where it is, exit 3.
    std::fs::remove_file(ws.path().join(".env")).unwrap();
    let refused = run(&ws, &["backup", "copy", "--to", "offsite"]);
    refused.expect_code(3);
    assert!(
        refused.stderr.contains("opsbook.yaml:")
            && refused
                .stderr
                .contains("backup.copies.offsite.s3.access_key_id")
            && refused.stderr.contains("`$S3_KEY_ID` is not set"),
        "{}",
        refused.stderr
    );
    // A secret written in the runbook is refused by validation.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace("\"${S3_SECRET}\"", "hunter2-plain-secret"),
    );
    let refused = ws.opsbook(&["validate"]);
    refused.expect_code(3);
    assert!(
        refused.stderr.contains(
            "backup.copies.offsite.s3.secret_access_key: a secret is never written in the runbook"
        ),
        "{}",
        refused.stderr
    );
    // An unknown target is refused naming the known ones.
    ws.write("opsbook.yaml", text);
    ws.write(".env", format!("S3_KEY_ID={KEY_ID}\nS3_SECRET={SECRET}\n"));
    let unknown = run(&ws, &["backup", "list", "--copy", "tape"]);
    unknown.expect_code(3);
    assert!(
        unknown
            .stderr
            .contains("no copy target `tape` (targets are: nas, offsite)"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn backup_copy_copies_what_a_folder_target_lacks_and_lists_it_there() {
    let ws = Workspace::new();
    ws.write("compose.yml", "services: {}\n");
    let runbook = format!(
        "version: 1\nname: shop\nproject: {}\nbackup:\n  dir: ./backups\n  files: [compose.yml]\n",
        crate::support::empty_project()
    );
    ws.write("opsbook.yaml", &runbook);
    ws.opsbook(&["backup", "--state-dir", "state"])
        .expect_code(0);
    // Another second, another id.
    std::thread::sleep(Duration::from_millis(1100));
    ws.opsbook(&["backup", "--state-dir", "state"])
        .expect_code(0);
    ws.write(
        "opsbook.yaml",
        format!("{runbook}  copies:\n    nas:\n      folder: ./nas\n"),
    );
    std::fs::create_dir(ws.path().join("nas")).unwrap();
    let filters = Filters::new(&ws)
        .regex(r"\bshop-\d{8}T\d{6}Z\b", "shop-YYYYMMDDThhmmssZ")
        .regex(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", "YYYY-MM-DD hh:mm:ssZ")
        .regex(r"\(22B in \d+\.\ds\)", "(22B in [T]s)")
        .regex(r"(?m)  \d+s$", "  [AGE]");
    assert_run(
        &ws.opsbook(&["backup", "copy", "latest", "--state-dir", "state"]),
        &filters,
        0,
        r#"
STATUS  SECTION  NAME  MESSAGE
ok      copies   nas   copied shop-YYYYMMDDThhmmssZ (22B in [T]s) to [WS]/nas
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &ws.opsbook(&["backup", "copy", "--all-missing", "--state-dir", "state"]),
        &filters,
        0,
        r#"
STATUS  SECTION  NAME  MESSAGE
ok      copies   nas   copied shop-YYYYMMDDThhmmssZ (22B in [T]s) to [WS]/nas
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &ws.opsbook(&["backup", "copy", "--all-missing", "--state-dir", "state"]),
        &filters,
        0,
        r#"
STATUS  SECTION  NAME  MESSAGE
ok      copies   nas   [WS]/nas already holds every backup asked for
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &ws.opsbook(&["backup", "list", "--copy", "nas", "--state-dir", "state"]),
        &filters,
        0,
        r#"
ID                     CREATED               ITEMS  SIZE  AGE
shop-YYYYMMDDThhmmssZ  YYYY-MM-DD hh:mm:ssZ  1      22B   [AGE]
shop-YYYYMMDDThhmmssZ  YYYY-MM-DD hh:mm:ssZ  1      22B   [AGE]
2 backups in [WS]/nas
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &ws.opsbook(&[
            "backup",
            "copy",
            "--to",
            "elsewhere",
            "--state-dir",
            "state",
        ]),
        &filters,
        3,
        "",
        "error: no copy target `elsewhere` (targets are: nas)\n",
    );
}

#[test]
fn validate_names_the_copy_targets_variables_that_would_not_resolve() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nbackup:\n  dir: ./backups\n  files: [opsbook.yaml]\n  copies:\n    offsite:\n      s3:\n        endpoint: \"http://127.0.0.1:9\"\n        bucket: \"${OPSBOOK_TEST_BUCKET:-backups}\"\n        access_key_id: \"${OPSBOOK_TEST_UNSET_KEY_ID}\"\n        secret_access_key: \"${OPSBOOK_TEST_UNSET_SECRET:?put the S3 secret in .env}\"\n",
    );
    assert_run(
        &ws.opsbook(&["validate"]),
        &Filters::new(&ws),
        3,
        "",
        "
error: opsbook.yaml:10:24: backup.copies.offsite.s3.access_key_id: `$OPSBOOK_TEST_UNSET_KEY_ID` is not set (in the environment or in .env beside the runbook): the copy would fail; set it where opsbook runs (the environment of cron or serve, or .env beside the runbook)
error: opsbook.yaml:11:28: backup.copies.offsite.s3.secret_access_key: `$OPSBOOK_TEST_UNSET_SECRET`: put the S3 secret in .env: the copy would fail; set it where opsbook runs (the environment of cron or serve, or .env beside the runbook)
",
    );
    // Set in .env, it validates.
    ws.write(
        ".env",
        "OPSBOOK_TEST_UNSET_KEY_ID=id\nOPSBOOK_TEST_UNSET_SECRET=secret-value-of-the-test\n",
    );
    ws.opsbook(&["validate"]).expect_code(0);
}
