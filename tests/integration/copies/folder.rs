//! A folder copy target someone else can write to, or that is not there:
//! links planted where the next copy will write (copy ids are predictable)
//! are removed, never written through; a target folder that does not
//! exist (a NAS not mounted) is an error, never made on the local disk;
//! copies and downloads are private, as local backups are; and a `timeout`
//! belongs to the targets reached over a network.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{Project, Run, Workspace, finish_within, result};

fn workspace(project: &str, folder: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write("data.txt", "the data\n");
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {project}\nbackup:\n  dir: ./backups\n  files: [data.txt]\n  copies:\n    nas:\n      folder: {folder}\n"
        ),
    );
    ws
}

fn json(ws: &Workspace, args: &[&str]) -> (Run, serde_json::Value) {
    let mut all = args.to_vec();
    all.extend(["--state-dir", "state", "--format", "json"]);
    let run = finish_within(ws.spawn(&all), Duration::from_secs(90));
    let report = run.json();
    (run, report)
}

fn message(report: &serde_json::Value, section: &str, name: &str) -> String {
    let r = result(report, section, name);
    format!(
        "{}: {}",
        r["status"].as_str().unwrap(),
        r["message"].as_str().unwrap()
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// The one backup folder in `dir` (its id).
fn only_backup(dir: &Path) -> String {
    let ids: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].clone()
}

#[test]
fn a_folder_target_never_writes_through_links_planted_in_it() {
    let ws = workspace(&crate::support::empty_project(), "./nas");
    std::fs::create_dir(ws.path().join("nas")).unwrap();
    let (run, report) = json(&ws, &["backup"]);
    assert_eq!(run.code, 0, "{report:#}");
    let first = only_backup(&ws.path().join("backups"));
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.path().join("nas").join(&first).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let file = manifest["items"][0]["file"].as_str().unwrap().to_string();

    // The ids of the next seconds are known: for each, a partial folder
    // whose item is a link to a file outside, or a partial folder (and a
    // final folder) that is a link to a folder outside.
    let victim = ws.write("victim.txt", "precious\n");
    let outside = ws.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let now = jiff::Timestamp::now();
    for second in 0..30 {
        let at = now
            .checked_add(jiff::SignedDuration::from_secs(second))
            .unwrap();
        let id = format!("shop-{}", at.strftime("%Y%m%dT%H%M%SZ"));
        let partial = ws.path().join("nas").join(format!(".{id}.partial"));
        if second % 2 == 0 {
            std::fs::create_dir(&partial).unwrap();
            symlink(&victim, partial.join(&file)).unwrap();
            symlink(&victim, partial.join("manifest.json")).unwrap();
        } else {
            symlink(&outside, &partial).unwrap();
            symlink(&outside, ws.path().join("nas").join(&id)).unwrap();
        }
    }
    let (run, report) = json(&ws, &["backup"]);
    assert_eq!(run.code, 0, "{report:#}");
    assert!(
        message(&report, "copies", "nas").starts_with("ok: copied shop-"),
        "{report:#}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    // The copy is plain files in a plain folder, the same as the backup.
    let (_, list) = json(&ws, &["backup", "list"]);
    let second = list["backups"][0]["id"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let copied = ws.path().join("nas").join(&second);
    assert!(std::fs::symlink_metadata(&copied).unwrap().is_dir());
    for name in [file.as_str(), "manifest.json"] {
        let path = copied.join(name);
        assert!(
            std::fs::symlink_metadata(&path).unwrap().is_file(),
            "{name}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(ws.path().join("backups").join(&second).join(name)).unwrap()
        );
    }
    let (run, report) = json(&ws, &["backup", "verify", "--copy", "nas", "--all"]);
    assert_eq!(run.code, 0, "{report:#}");
}

#[test]
fn a_folder_target_that_is_not_there_is_an_error_never_made() {
    // The mount point is there; the NAS is not mounted on it.
    let ws = workspace(&crate::support::empty_project(), "./mnt/nas/shop");
    std::fs::create_dir(ws.path().join("mnt")).unwrap();
    let (run, report) = json(&ws, &["backup"]);
    assert_eq!(run.code, 2, "{report:#}");
    let root = ws.path().join("mnt/nas/shop");
    assert_eq!(
        message(&report, "copies", "nas"),
        format!(
            "crit: cannot list {}: the folder `{}` does not exist: is the disk or NAS mounted? opsbook never makes a copy target's folder (make it once, by hand, if the target is new)",
            root.display(),
            root.display()
        )
    );
    assert!(!ws.path().join("mnt/nas").exists());
    // The backup here is made and good.
    let (_, list) = json(&ws, &["backup", "list"]);
    assert_eq!(list["backups"].as_array().unwrap().len(), 1);
    let (run, report) = json(&ws, &["backup", "copy"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert!(!ws.path().join("mnt/nas").exists());
    let (run, report) = json(&ws, &["backup", "list", "--copy", "nas"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert!(
        message(&report, "copies", "nas").contains("does not exist: is the disk or NAS mounted?")
    );

    // Once it is there, the copy goes in.
    std::fs::create_dir_all(&root).unwrap();
    let (run, report) = json(&ws, &["backup", "copy"]);
    assert_eq!(run.code, 0, "{report:#}");
}

#[test]
fn folder_copies_and_downloads_are_private_as_local_backups_are() {
    let project = Project::new("copies-private");
    let ws = workspace(&project.name, "./nas");
    std::fs::create_dir(ws.path().join("nas")).unwrap();
    let (run, report) = json(&ws, &["backup"]);
    assert_eq!(run.code, 0, "{report:#}");
    let id = only_backup(&ws.path().join("backups"));
    let private = |folder: &Path| {
        assert_eq!(mode(folder), 0o700, "{}", folder.display());
        for entry in std::fs::read_dir(folder).unwrap().flatten() {
            assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
        }
    };
    private(&ws.path().join("backups").join(&id));
    private(&ws.path().join("nas").join(&id));

    // The local backup lost: back from the copy, as private.
    std::fs::remove_dir_all(ws.path().join("backups").join(&id)).unwrap();
    ws.write("data.txt", "damaged\n");
    let (run, report) = json(&ws, &["restore", "--from", "nas", "--yes"]);
    assert_eq!(run.code, 0, "{report:#}");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("data.txt")).unwrap(),
        "the data\n"
    );
    private(&ws.path().join("backups").join(&id));
}

#[test]
fn a_timeout_is_for_s3_and_sftp_targets_and_never_zero() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nproject: shop\nbackup:\n  dir: ./backups\n  files: [data.txt]\n  copies:\n    nas:\n      folder: ./nas\n      timeout: 5s\n    offsite:\n      s3: { endpoint: \"http://127.0.0.1:9\", bucket: bk, access_key_id: key, secret_access_key: \"${S3_SECRET}\" }\n      timeout: 0s\n",
    );
    assert_run(
        &ws.opsbook(&["validate"]),
        &Filters::new(&ws),
        3,
        "",
        "
error: opsbook.yaml:10:7: backup.copies.nas.timeout: `timeout` is for `s3` and `sftp` targets: a folder is read and written as a local disk is
error: opsbook.yaml:13:7: backup.copies.offsite.timeout: a timeout of 0 would end every request at once: give one like `60s`
",
    );
}
