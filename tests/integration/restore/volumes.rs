//! How a volume is restored, when it can be done directly on the host
//! (`backup.read`, as for a backup): unpacked and verified beside its
//! data while the services run, then swapped in by rename. Round trips
//! exactly (read back through Docker's archive endpoint, entry by entry,
//! the root included) from a direct backup and from one taken through the
//! endpoint; a damaged stored file, SIGTERM or SIGKILL during the unpack
//! leave the live data untouched and no staging folder (a killed one is
//! removed by the next restore, which says so); the downtime is reported
//! and stays short for a large volume.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backup::volumes::{
    Entry, LONG, backup, deployment, entries, find, runbook, set_capability, state,
};
use crate::support::{Project, Workspace, eventually, result, terminate};

/// The volume's data folder on the host (`…/_data`).
fn mountpoint(project: &Project) -> PathBuf {
    let volume = format!("{}_dbdata", project.name);
    let inspected = std::process::Command::new("docker")
        .args(["volume", "inspect", "--format", "{{.Mountpoint}}", &volume])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(inspected.stdout).unwrap().trim())
}

/// What a restore left beside the volume's data.
fn beside(project: &Project, prefix: &str) -> Vec<String> {
    let data = mountpoint(project);
    let mut names: Vec<String> = std::fs::read_dir(data.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Every entry of the volume now, read through the archive endpoint (a
/// backup with `backup.read: archive`); the runbook is set back to `read`.
fn through_endpoint(project: &Project, ws: &Workspace, read: &str) -> Vec<Entry> {
    ws.write("opsbook.yaml", runbook(project, "archive"));
    // A fresh backup id (ids are per second).
    std::thread::sleep(Duration::from_millis(1100));
    let (folder, item, _) = backup(ws, 0);
    assert_eq!(item["read"], "archive");
    ws.write("opsbook.yaml", runbook(project, read));
    entries(&folder.join("volume-dbdata.tar.zst"))
}

fn same(before: &[Entry], after: &[Entry]) {
    assert_eq!(before.len(), after.len(), "{before:#?}\n{after:#?}");
    for (b, a) in before.iter().zip(after) {
        assert_eq!(b, a, "backed up (left) and restored (right) differ");
    }
}

/// Every entry of /data (FIFOs not read): type, mode, owner, size, mtime, md5.
const LISTING: &str = "cd /data && find . | sort | while read -r f; do \
    if [ -L \"$f\" ]; then echo \"$f link $(stat -c '%u:%g %Y' \"$f\") -> $(readlink \"$f\")\"; \
    elif [ -d \"$f\" ]; then echo \"$f dir $(stat -c '%a %u:%g %Y' \"$f\")\"; \
    elif [ -p \"$f\" ]; then echo \"$f fifo $(stat -c '%a %u:%g %Y' \"$f\")\"; \
    else echo \"$f file $(stat -c '%a %u:%g %s %Y' \"$f\") $(md5sum < \"$f\" | cut -d' ' -f1)\"; fi; \
    done";

const MUTATE: &str = "echo new > /data/added; rm -r /data/a /data/second; \
    chmod 700 /data/empty; chown 0:0 /data; echo changed > /data/first";

fn restore_json(ws: &Workspace, code: i32) -> serde_json::Value {
    let run = ws.opsbook(&[
        "restore",
        "latest",
        "--yes",
        "--state-dir",
        &state(ws),
        "--format",
        "json",
    ]);
    run.expect_code(code);
    run.json()
}

#[test]
fn a_direct_backup_restores_directly_exactly_and_says_how_long_the_services_were_down() {
    let (project, ws) = deployment("rd-exact", "direct");
    set_capability(&format!("{}_dbdata", project.name), "a/b/c/deep.txt");
    let (folder, item, _) = backup(&ws, 0);
    assert_eq!(item["read"], "direct");
    let before = entries(&folder.join("volume-dbdata.tar.zst"));

    let plan = ws.opsbook(&["restore", "latest", "--dry-run", "--state-dir", &state(&ws)]);
    plan.expect_code(0);
    assert!(
        plan.stdout
            .contains("(unpacked beside it, then swapped in)"),
        "{}",
        plan.stdout
    );
    assert!(project.exec("db", MUTATE));
    let run = ws.opsbook(&["restore", "latest", "--yes", "--state-dir", &state(&ws)]);
    run.expect_code(0);
    assert!(run.stdout.contains("services were down "), "{}", run.stdout);
    assert!(
        beside(&project, ".opsbook-").is_empty(),
        "{:?}",
        beside(&project, ".opsbook-")
    );
    assert_eq!(project.times("db").state, "running");

    let after = through_endpoint(&project, &ws, "direct");
    same(&before, &after);
    let root = find(&after, b"data/");
    assert_eq!((root.mode, root.uid, root.gid), (0o40750, 4321, 8765));
    assert_eq!(root.mtime, 1_640_995_200);
    assert_eq!(find(&after, b"data/owned").mode, 0o104750);
    assert_eq!(find(&after, b"data/second").kind, b'1');
    assert_eq!(find(&after, b"data/odd-\xff-name").size, 4);
    assert_eq!(find(&after, b"data/zero").size, 0);
    assert!(!find(&after, b"data/a/b/c/deep.txt").xattrs.is_empty());

    // The JSON: the downtime, and a safety backup of the data swapped out.
    assert!(project.exec("db", MUTATE));
    let report = restore_json(&ws, 0);
    assert!(
        report["restore"]["downtime_ms"].as_u64().is_some(),
        "{report:#}"
    );
    let safety = report["restore"]["safety_backup"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.path().join("backups").join(safety).join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["items"][0]["read"], "direct", "{manifest:#}");
    let kept = entries(
        &ws.path()
            .join("backups")
            .join(safety)
            .join("volume-dbdata.tar.zst"),
    );
    assert!(find(&kept, b"data/added").size > 0, "the state before");
    assert!(beside(&project, ".opsbook-").is_empty());
}

#[test]
fn a_backup_taken_through_the_endpoint_restores_directly_exactly() {
    let (project, ws) = deployment("rd-cross", "archive");
    let (folder, item, _) = backup(&ws, 0);
    assert_eq!(item["read"], "archive");
    let before = entries(&folder.join("volume-dbdata.tar.zst"));
    assert!(project.exec("db", MUTATE));
    ws.write("opsbook.yaml", runbook(&project, "direct"));
    let run = ws.opsbook(&["restore", "latest", "--yes", "--state-dir", &state(&ws)]);
    run.expect_code(0);
    assert!(run.stdout.contains("then swapped in"), "{}", run.stdout);
    same(&before, &through_endpoint(&project, &ws, "direct"));
}

#[test]
fn a_damaged_stored_file_is_refused_before_anything_stops_or_changes() {
    let (project, ws) = deployment("rd-damaged", "direct");
    let (folder, _, _) = backup(&ws, 0);
    assert!(project.exec("db", MUTATE));
    let live = project.output("db", LISTING);
    let started = project.times("db").started;
    let stored = folder.join("volume-dbdata.tar.zst");
    let mut bytes = std::fs::read(&stored).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&stored, bytes).unwrap();

    let report = restore_json(&ws, 2);
    let message = result(&report, "restore", "result")["message"]
        .as_str()
        .unwrap();
    assert!(
        message.ends_with("does not verify: nothing was stopped or changed"),
        "{report:#}"
    );
    assert_eq!(result(&report, "verify", "dbdata")["status"], "crit");
    assert_eq!(project.output("db", LISTING), live);
    assert_eq!(project.times("db").started, started, "never stopped");
    assert!(beside(&project, ".opsbook-").is_empty());
}

/// Waits until a restore's staging folder holds some data.
fn unpacking(project: &Project) {
    let parent = mountpoint(project).parent().unwrap().to_path_buf();
    eventually("the unpack began", LONG, || {
        beside(project, ".opsbook-restore-")
            .first()
            .is_some_and(|s| size(&parent.join(s)) > 20_000_000)
    });
}

fn size(folder: &Path) -> u64 {
    std::fs::read_dir(folder)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn signals_during_the_unpack_leave_the_live_data_untouched_and_the_downtime_stays_short() {
    let (project, ws) = deployment("rd-signals", "direct");
    // ~500 MB: 300 MB that does not compress, 200 MB that does.
    assert!(project.exec(
        "db",
        "head -c 300000000 /dev/urandom > /data/random.bin && head -c 200000000 /dev/zero > /data/zeros.bin"
    ));
    backup(&ws, 0);
    assert!(project.exec("db", MUTATE));
    let live = project.output("db", LISTING);

    // SIGTERM: the staging folder is removed, nothing stopped or changed.
    let child = ws.spawn(&[
        "restore",
        "latest",
        "--yes",
        "--state-dir",
        &state(&ws),
        "--format",
        "json",
    ]);
    unpacking(&project);
    let report = terminate(child).expect_code(2).json();
    assert_eq!(
        result(&report, "restore", "result")["message"],
        "interrupted by a signal: nothing was stopped or changed",
        "{report:#}"
    );
    assert!(beside(&project, ".opsbook-").is_empty());
    assert_eq!(project.output("db", LISTING), live);
    assert_eq!(project.times("db").state, "running");

    // SIGKILL: the staging folder stays, never taken for live data.
    let mut child = ws.spawn(&["restore", "latest", "--yes", "--state-dir", &state(&ws)]);
    unpacking(&project);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(project.output("db", LISTING), live);
    let left = beside(&project, ".opsbook-restore-");
    assert_eq!(left.len(), 1, "{left:?}");
    let listed = ws
        .opsbook(&["backup", "list", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(listed["backups"].as_array().unwrap().len(), 1, "{listed:#}");

    // The next restore removes it, says so, and restores with a short
    // downtime: removing a staging folder is housekeeping, not a warning,
    // so the restore exits as it went (0).
    let report = restore_json(&ws, 0);
    let note = result(&report, "restore", "dbdata: leftover");
    assert_eq!(note["status"], "ok");
    assert!(
        note["message"].as_str().unwrap().contains(&left[0]),
        "{note}"
    );
    let down = report["restore"]["downtime_ms"].as_u64().unwrap();
    assert!(down < 5000, "down {down} ms");
    assert!(beside(&project, ".opsbook-").is_empty());
    assert!(project.exec("db", "test ! -e /data/added && test -s /data/random.bin"));
}

#[test]
fn data_set_aside_by_a_killed_restore_is_named_by_backup_and_restore_never_removed() {
    let (project, ws) = deployment("rd-old", "direct");
    let old = mountpoint(&project)
        .parent()
        .unwrap()
        .join(".opsbook-old-1-2");
    std::fs::create_dir(&old).unwrap();
    std::fs::write(old.join("before"), "kept").unwrap();
    let (_, _, report) = backup(&ws, 1);
    let said = |report: &serde_json::Value| {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "warn")
            .filter_map(|r| r["message"].as_str())
            .any(|m| m.contains(".opsbook-old-1-2") && m.contains("rm -rf"))
    };
    assert!(said(&report), "{report:#}");
    let report = restore_json(&ws, 1);
    assert!(said(&report), "{report:#}");
    assert_eq!(
        result(&report, "restore", "dbdata: leftover")["status"],
        "warn"
    );
    assert_eq!(std::fs::read_to_string(old.join("before")).unwrap(), "kept");
    std::fs::remove_dir_all(&old).unwrap();
}

#[test]
fn without_a_safety_backup_the_set_aside_data_stays_until_the_restore_is_verified() {
    let (project, ws) = deployment("rd-setaside", "direct");
    // A verify check the restored data fails: the restore does not verify.
    let checks = "checks:\n  first-ok:\n    exec: { service: db, command: [grep, -q, changed, /data/first] }\n\
                  startup:\n  verify: [first-ok]\n";
    ws.write(
        "opsbook.yaml",
        format!("{}{checks}", runbook(&project, "direct")),
    );
    backup(&ws, 0);
    assert!(project.exec("db", MUTATE));
    let mutated = project.output("db", LISTING);
    let run = ws.opsbook(&[
        "restore",
        "latest",
        "--yes",
        "--no-safety-backup",
        "--state-dir",
        &state(&ws),
        "--format",
        "json",
    ]);
    let report = run.expect_code(2).json();
    assert_eq!(result(&report, "checks", "first-ok")["status"], "crit");
    // The data from before, the only copy of it, is kept and named.
    let old = beside(&project, ".opsbook-old-");
    assert_eq!(old.len(), 1, "{report:#}");
    let note = result(&report, "restore", "dbdata: set aside");
    assert_eq!(note["status"], "warn", "{report:#}");
    let message = note["message"].as_str().unwrap();
    assert!(
        message.starts_with("the restore did not verify and no safety backup was taken")
            && message.contains(&old[0]),
        "{message}"
    );
    let parent = mountpoint(&project).parent().unwrap().to_path_buf();
    let kept = std::fs::read_to_string(parent.join(&old[0]).join("first")).unwrap();
    assert_eq!(kept, "changed\n", "the state before the restore");

    // Renamed back as the note says, it is the deployment as it was.
    project.stop("db");
    std::fs::remove_dir_all(mountpoint(&project)).unwrap();
    std::fs::rename(parent.join(&old[0]), mountpoint(&project)).unwrap();
    let started = std::process::Command::new("docker")
        .args(["start", &project.container_name("db")])
        .output()
        .unwrap();
    assert!(started.status.success(), "{started:?}");
    eventually("db runs again", LONG, || project.exec("db", "true"));
    assert_eq!(project.output("db", LISTING), mutated);

    // Verified, it goes: with the check passing, nothing is left beside.
    ws.write("opsbook.yaml", runbook(&project, "direct"));
    ws.opsbook(&[
        "restore",
        "latest",
        "--yes",
        "--no-safety-backup",
        "--state-dir",
        &state(&ws),
    ])
    .expect_code(0);
    assert!(
        beside(&project, ".opsbook-").is_empty(),
        "{:?}",
        beside(&project, ".opsbook-")
    );
}
