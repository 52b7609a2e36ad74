//! Copies of a repository (`backup.copies` beside `backup.repository`): a
//! restic repository of its own on each target (a folder, an S3 store),
//! filled snapshot by snapshot, read by the real restic, listed, verified,
//! pruned, graded by daily-check and restored from; a copy cut short by
//! SIGTERM leaves no snapshot there and no lock anywhere.

use std::time::Duration;

use super::{LONG, opsbook, restic, restic_at, shop, volume_dir};
use crate::support::rclone::{KEY_ID, S3Server, SECRET};
use crate::support::{Spawned, Workspace, eventually, result};

/// The runbook of `ws` with two copy targets: `nas`, the folder ./nas
/// (keeping the last one), and `far`, the S3 store's prefix shop/copies.
fn with_targets(ws: &Workspace, server: &S3Server) {
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        format!(
            "{text}  copies:\n    nas: {{ folder: ./nas, keep: {{ last: 1 }} }}\n    far:\n      s3: {{ endpoint: \"http://127.0.0.1:{}\", bucket: backups, prefix: shop/copies, access_key_id: \"${{S3_KEY_ID}}\", secret_access_key: \"${{S3_SECRET}}\" }}\n",
            server.port
        ),
    );
    ws.write(".env", format!("S3_KEY_ID={KEY_ID}\nS3_SECRET={SECRET}\n"));
    std::fs::create_dir(ws.path().join("nas")).unwrap();
}

/// The copies' results of a report: (target, status, message) with each
/// copy's time taken out.
fn copies(report: &serde_json::Value) -> Vec<(String, String, String)> {
    let took = regex::Regex::new(r" in [0-9.]+(ms|s)$").unwrap();
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["section"] == "copies")
        .map(|r| {
            let message = r["message"].as_str().unwrap();
            (
                r["name"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                took.replace(message, " in T").into_owned(),
            )
        })
        .collect()
}

/// The backup ids of the real restic's snapshots in `repo`.
fn backup_ids(ws: &Workspace, repo: &str) -> Vec<String> {
    let run = restic_at(ws, repo, &["snapshots", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let mut ids: Vec<String> = listed
        .iter()
        .filter_map(|s| {
            s["tags"]
                .as_array()?
                .iter()
                .find_map(|t| t.as_str()?.strip_prefix("backup=").map(str::to_string))
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn each_new_snapshot_goes_to_a_folder_and_an_s3_copy_that_restic_reads_and_a_restore_comes_from_one()
 {
    let server = S3Server::start();
    let (project, ws) = shop("rp-copies", "[sh, -c, 'seq 1 1000']");
    with_targets(&ws, &server);
    let nas = ws.path().join("nas/restic").display().to_string();
    opsbook(&ws, &["backup", "init-repository"]).expect_code(0);

    // The first backup makes each target's repository and fills it.
    let first = opsbook(&ws, &["backup", "--format", "json"]);
    first.expect_code(0);
    let first = first.json();
    let one = first["backup"]["id"].as_str().unwrap().to_string();
    let far = "s3://backups/shop/copies/restic/";
    assert_eq!(
        copies(&first),
        [
            (
                "nas".into(),
                "ok".into(),
                format!("copied {one} to {nas} (its repository made) in T")
            ),
            (
                "far".into(),
                "ok".into(),
                format!("copied {one} to {far} (its repository made) in T")
            ),
        ]
    );
    // The real restic reads the copy, made with the repository's chunker.
    assert_eq!(backup_ids(&ws, "nas/restic"), [one.as_str()]);
    let check = restic_at(&ws, "nas/restic", &["check", "--read-data"]);
    assert_eq!(check.code, 0, "{check:?}");
    let config = |repo: &str| {
        let run = restic_at(&ws, repo, &["cat", "config"]);
        assert_eq!(run.code, 0, "{run:?}");
        let config: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        config["chunker_polynomial"].clone()
    };
    assert_eq!(config("repo"), config("nas/restic"));

    // The second backup sends only itself; `backup copy` then finds
    // nothing missing.
    assert!(project.exec("db", "echo 'order 2' > /data/records.txt"));
    let second = opsbook(&ws, &["backup", "--format", "json"]).json();
    let two = second["backup"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        copies(&second),
        [
            (
                "nas".into(),
                "ok".into(),
                format!("copied {two} to {nas} in T")
            ),
            (
                "far".into(),
                "ok".into(),
                format!("copied {two} to {far} in T")
            ),
        ]
    );
    let again = opsbook(
        &ws,
        &["backup", "copy", "--all-missing", "--format", "json"],
    );
    again.expect_code(0);
    assert_eq!(
        copies(&again.json()),
        [
            (
                "nas".into(),
                "ok".into(),
                format!("{nas} already holds every backup asked for")
            ),
            (
                "far".into(),
                "ok".into(),
                format!("{far} already holds every backup asked for")
            ),
        ]
    );
    let listed = opsbook(
        &ws,
        &["backup", "list", "--copy", "far", "--format", "json"],
    );
    listed.expect_code(0);
    let listed = listed.json();
    assert_eq!(listed["repository"], far);
    let ids: Vec<&str> = listed["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [two.as_str(), one.as_str()]);
    opsbook(&ws, &["backup", "verify", "--copy", "far"]).expect_code(0);

    // daily-check grades each copy's newest snapshot.
    let checked = opsbook(&ws, &["daily-check", "--format", "json"]).json();
    for name in ["copy nas", "copy far"] {
        let graded = result(&checked, "backups", name);
        assert_eq!(graded["status"], "ok", "{graded:#}");
    }

    // Prune: nas keeps its last one, far (no keep anywhere) keeps all.
    let pruned = opsbook(&ws, &["backup", "prune", "--yes", "--format", "json"]);
    pruned.expect_code(0);
    let pruned = pruned.json();
    assert_eq!(
        result(&pruned, "prune", &format!("nas:{one}"))["message"],
        "forgot"
    );
    assert_eq!(
        result(&pruned, "prune", "copy far")["message"],
        "no backup.keep: every snapshot is kept"
    );
    assert_eq!(backup_ids(&ws, "nas/restic"), [two.as_str()]);
    assert_eq!(
        backup_ids(&ws, "repo").len(),
        2,
        "the repository keeps both"
    );

    // A restore from the S3 copy: the repository here is not needed.
    std::fs::rename(ws.path().join("repo"), ws.path().join("repo-away")).unwrap();
    assert!(project.exec("db", "echo damaged > /data/records.txt"));
    let restored = opsbook(
        &ws,
        &[
            "restore", &one, "--from", "far", "--only", "dbdata", "--yes",
        ],
    );
    restored.expect_code(0);
    assert_eq!(
        std::fs::read_to_string(volume_dir(&project).join("records.txt")).unwrap(),
        "order 1\n"
    );
    assert_eq!(project.times("api").state, "running");
    let unknown = opsbook(
        &ws,
        &["restore", "--from", "nope", "--only", "dbdata", "--yes"],
    );
    unknown.expect_code(3);
    assert_eq!(
        unknown.stderr.trim(),
        "error: no copy target `nope` (targets are: nas, far)"
    );
}

#[test]
fn sigterm_mid_copy_leaves_no_snapshot_on_the_target_no_lock_and_the_next_copy_works() {
    let server = S3Server::start();
    let (project, ws) = shop("rp-copy-term", "[sh, -c, 'seq 1 1000']");
    with_targets(&ws, &server);
    opsbook(&ws, &["backup", "init-repository"]).expect_code(0);
    // 400 MB that does not compress: the copy takes long enough to cut.
    assert!(project.exec("db", "head -c 400000000 /dev/urandom > /data/big.bin"));
    // Backed up with no copy made: the targets are named after.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    let plain = text.split("  copies:\n").next().unwrap().to_string();
    ws.write("opsbook.yaml", plain);
    opsbook(&ws, &["backup"]).expect_code(0);
    ws.write("opsbook.yaml", text);

    let child = Spawned::new(ws.spawn(&[
        "backup",
        "copy",
        "--to",
        "nas",
        "--state-dir",
        "state",
        "--format",
        "json",
    ]));
    let data = ws.path().join("nas/restic/data");
    eventually("the copy wrote its first packs", LONG, || {
        walk_files(&data) >= 2
    });
    let cut = child.terminate_within(Duration::from_secs(20));
    cut.expect_code(2);
    assert!(
        cut.took < Duration::from_secs(5),
        "ended {:?} after SIGTERM",
        cut.took
    );
    let (name, status, message) = copies(&cut.json()).remove(0);
    assert_eq!(
        (name.as_str(), status.as_str()),
        ("nas", "crit"),
        "{message}"
    );
    assert!(
        message.ends_with("interrupted by a signal; the copy was cut short and no snapshot of it is there, the backup is kept in the repository (`opsbook backup copy` sends it)"),
        "{message}"
    );
    assert!(backup_ids(&ws, "nas/restic").is_empty());
    for repo in ["repo", "nas/restic"] {
        let locks = restic_at(&ws, repo, &["list", "locks", "--no-lock"]);
        assert_eq!(
            (locks.code, locks.stdout.as_str()),
            (0, ""),
            "{repo}: {locks:?}"
        );
    }
    // The next copy works, and restic checks what it made.
    let again = opsbook(&ws, &["backup", "copy", "--to", "nas"]);
    again.expect_code(0);
    assert_eq!(backup_ids(&ws, "nas/restic").len(), 1);
    let check = restic_at(&ws, "nas/restic", &["check"]);
    assert_eq!(check.code, 0, "{check:?}");
    let check = restic(&ws, &["check"]);
    assert_eq!(check.code, 0, "{check:?}");
}

/// How many files are under `dir` (0 when it is not there yet).
fn walk_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => walk_files(&e.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}
