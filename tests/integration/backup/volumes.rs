//! A volume's archive, whichever way `backup.read` reads the volume:
//! directly from its folder on the host, or through Docker's archive
//! endpoint. The two archives must be the same entry by entry, a direct
//! backup must restore exactly through the endpoint, a file that changes
//! while read is a warning, and `backup.read` picks the way (shown in the
//! dry run and the manifest).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::support::{Project, Workspace, eventually, result};

pub(crate) const LONG: Duration = Duration::from_secs(60);

/// Seeds the volume once (the script runs again at every start): nested
/// folders, an empty one, a 0-byte file, a name that is not UTF-8, a name
/// over 100 bytes, symlinks (one out of the volume), hard link pairs (files,
/// symlinks, FIFOs), owners and modes, the root's own mode, owner and mtime.
pub(crate) const SEED: &str = "[ -f /data/.seeded ] || { \
    mkdir -p /data/a/b/c /data/empty; \
    echo deep > /data/a/b/c/deep.txt; \
    : > /data/zero; \
    echo odd > \"$(printf '/data/odd-\\377-name')\"; \
    ln -s /etc/passwd /data/outside; \
    ln -s ../../zero /data/a/b/up; \
    echo linked > /data/first; ln /data/first /data/second; \
    ln -s first /data/sym1; ln /data/sym1 /data/sym2; mkfifo /data/fifo1; ln /data/fifo1 /data/fifo2; \
    echo owned > /data/owned; chown 1234:5678 /data/owned; chmod 4750 /data/owned; \
    echo private > /data/a/private; chmod 600 /data/a/private; chown 99:98 /data/a; \
    chmod 1777 /data/empty; \
    echo long > /data/$(head -c 120 /dev/zero | tr '\\0' l); \
    head -c 300000 /dev/urandom > /data/a/blob.bin; \
    touch -d '2024-01-02 03:04:05' /data/a/b/c/deep.txt; \
    touch /data/.seeded; \
    touch -d '2023-05-06 07:08:09' /data/a /data/empty; \
    chown 4321:8765 /data; chmod 750 /data; touch -d '2022-01-01 00:00:00' /data; }";

/// db mounts `dbdata` at /data, seeded; `backup.read` is `read`.
pub(crate) fn deployment(tag: &str, read: &str) -> (Project, Workspace) {
    let project = Project::new(tag);
    let dbdata = project.volume("dbdata");
    project
        .service("db")
        .mount(&dbdata, "/data")
        .script(SEED)
        .start();
    let ws = Workspace::new();
    ws.write("opsbook.yaml", runbook(&project, read));
    eventually("db seeded its volume", LONG, || {
        project.exec("db", "test -f /data/.seeded")
    });
    (project, ws)
}

pub(crate) fn runbook(project: &Project, read: &str) -> String {
    format!(
        "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\nshutdown:\n  grace: 2s\n\
         backup:\n  dir: ./backups\n  volumes: [dbdata]\n  read: {read}\n",
        project.name
    )
}

pub(crate) fn state(ws: &Workspace) -> String {
    ws.path().join("state").display().to_string()
}

/// Makes a backup; its folder and its manifest's only item.
pub(crate) fn backup(ws: &Workspace, code: i32) -> (PathBuf, serde_json::Value, serde_json::Value) {
    let report = ws
        .opsbook(&["backup", "--state-dir", &state(ws), "--format", "json"])
        .expect_code(code)
        .json();
    let id = report["backup"]["id"].as_str().unwrap();
    let folder = ws.path().join("backups").join(id);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
    (folder, manifest["items"][0].clone(), report)
}

/// One archive entry: everything the endpoint gives that a restore uses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub path: Vec<u8>,
    pub kind: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: u64,
    pub link: Option<Vec<u8>>,
    /// PAX `SCHILY.xattr.*` records (the endpoint keeps `security.capability`).
    pub xattrs: Vec<(String, Vec<u8>)>,
    pub sha256: String,
}

/// Every entry of a stored volume archive, in archive order.
pub(crate) fn entries(file: &Path) -> Vec<Entry> {
    let decoder = zstd::stream::read::Decoder::new(std::fs::File::open(file).unwrap()).unwrap();
    let mut archive = tar::Archive::new(decoder);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let xattrs = entry
                .pax_extensions()
                .unwrap()
                .map(|records| {
                    records
                        .map(|r| r.unwrap())
                        .filter(|r| r.key_bytes().starts_with(b"SCHILY.xattr."))
                        .map(|r| (r.key().unwrap().to_string(), r.value_bytes().to_vec()))
                        .collect()
                })
                .unwrap_or_default();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            let header = entry.header();
            Entry {
                path: entry.path_bytes().into_owned(),
                kind: header.entry_type().as_byte(),
                mode: header.mode().unwrap(),
                uid: header.uid().unwrap(),
                gid: header.gid().unwrap(),
                size: content.len() as u64,
                mtime: header.mtime().unwrap(),
                link: entry.link_name_bytes().map(|l| l.into_owned()),
                xattrs,
                sha256: Sha256::digest(&content)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            }
        })
        .collect()
}

pub(crate) fn find<'a>(entries: &'a [Entry], path: &[u8]) -> &'a Entry {
    entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no entry {}", String::from_utf8_lossy(path)))
}

/// `cap_net_raw+ep` as the kernel stores it (vfs_cap_data, revision 2).
pub(crate) const NET_RAW: [u8; 20] = [
    1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Gives a file of the volume a capability, from the host (busybox has no setcap).
pub(crate) fn set_capability(volume: &str, file: &str) {
    let inspected = std::process::Command::new("docker")
        .args(["volume", "inspect", "--format", "{{.Mountpoint}}", volume])
        .output()
        .unwrap();
    let mountpoint = String::from_utf8(inspected.stdout).unwrap();
    let path = Path::new(mountpoint.trim()).join(file);
    rustix::fs::setxattr(
        &path,
        "security.capability",
        &NET_RAW,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap_or_else(|e| panic!("setxattr {}: {e}", path.display()));
}

#[test]
fn direct_and_archive_endpoint_give_the_same_archive_entry_by_entry() {
    let (project, ws) = deployment("bd-same", "direct");
    set_capability(&format!("{}_dbdata", project.name), "a/b/c/deep.txt");
    let plan = ws.opsbook(&["backup", "--dry-run"]);
    plan.expect_code(0);
    assert!(plan.stdout.contains("direct from /"), "{}", plan.stdout);
    let (folder, item, _) = backup(&ws, 0);
    assert_eq!(item["read"], "direct");
    let direct = entries(&folder.join("volume-dbdata.tar.zst"));

    ws.write("opsbook.yaml", runbook(&project, "archive"));
    let plan = ws.opsbook(&["backup", "--dry-run"]);
    plan.expect_code(0);
    assert!(
        plan.stdout
            .contains("archive endpoint (backup.read: archive)"),
        "{}",
        plan.stdout
    );
    std::thread::sleep(Duration::from_millis(1100));
    let (folder, item, _) = backup(&ws, 0);
    assert_eq!(item["read"], "archive");
    let archive = entries(&folder.join("volume-dbdata.tar.zst"));

    assert_eq!(direct.len(), archive.len(), "{direct:#?}\n{archive:#?}");
    for (d, a) in direct.iter().zip(&archive) {
        assert_eq!(d, a, "direct (left) and archive (right) differ");
    }
    // What the seed made is there, as the endpoint gives it.
    let root = find(&direct, b"data/");
    assert_eq!((root.mode, root.uid, root.gid), (0o40750, 4321, 8765));
    assert_eq!(root.mtime, 1_640_995_200);
    let outside = find(&direct, b"data/outside");
    assert_eq!(outside.link.as_deref(), Some(&b"/etc/passwd"[..]));
    assert_eq!(outside.kind, b'2', "a symlink, not followed");
    let second = find(&direct, b"data/second");
    assert_eq!(
        (second.kind, second.link.as_deref()),
        (b'1', Some(&b"data/first"[..]))
    );
    assert_eq!(find(&direct, b"data/zero").size, 0);
    assert_eq!(find(&direct, b"data/sym2").kind, b'1');
    assert_eq!(find(&direct, b"data/fifo2").kind, b'1');
    assert_eq!(find(&direct, b"data/empty/").mode, 0o41777);
    assert_eq!(find(&direct, b"data/owned").mode, 0o104750);
    assert_eq!(find(&direct, b"data/odd-\xff-name").size, 4);
    let long = format!("data/{}", "l".repeat(120));
    assert_eq!(find(&direct, long.as_bytes()).size, 5);
    assert_eq!(
        find(&direct, b"data/a/b/c/deep.txt").xattrs,
        [(
            "SCHILY.xattr.security.capability".to_string(),
            NET_RAW.to_vec()
        )]
    );
}

#[test]
fn a_direct_backup_restores_exactly_through_the_archive_endpoint() {
    let (project, ws) = deployment("bd-restore", "direct");
    set_capability(&format!("{}_dbdata", project.name), "a/b/c/deep.txt");
    let (folder, item, _) = backup(&ws, 0);
    assert_eq!(item["read"], "direct");
    let before = entries(&folder.join("volume-dbdata.tar.zst"));

    assert!(project.exec(
        "db",
        "echo new > /data/added; rm -r /data/a /data/second; chmod 700 /data/empty; chown 0:0 /data"
    ));
    // `backup.read: archive` restores through the endpoint too.
    ws.write("opsbook.yaml", runbook(&project, "archive"));
    let run = ws.opsbook(&["restore", "latest", "--yes", "--state-dir", &state(&ws)]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("(emptied, then filled)"),
        "{}",
        run.stdout
    );

    // Read back through the endpoint: the same entries as the direct backup.
    std::thread::sleep(Duration::from_millis(1100));
    let (folder, item, _) = backup(&ws, 0);
    assert_eq!(item["read"], "archive");
    let after = entries(&folder.join("volume-dbdata.tar.zst"));
    assert_eq!(before.len(), after.len(), "{before:#?}\n{after:#?}");
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "backed up (left) and restored (right) differ");
    }
    assert!(!find(&after, b"data/a/b/c/deep.txt").xattrs.is_empty());
}

#[test]
fn a_file_growing_while_read_is_a_warning_naming_it_not_a_failure() {
    let (project, ws) = deployment("bd-grow", "direct");
    // Another service appends to a large file for as long as it runs.
    let dbdata = project.volume("dbdata");
    project
        .service("writer")
        .mount(&dbdata, "/data")
        .script(
            "head -c 60000000 /dev/urandom > /data/log; touch /data/log.ready; \
             while :; do echo line >> /data/log; done",
        )
        .start();
    eventually("writer filled its log", LONG, || {
        project.exec("db", "test -f /data/log.ready")
    });
    let (folder, item, report) = backup(&ws, 1);
    project.stop("writer");
    assert_eq!(item["read"], "direct");
    let warned = result(&report, "backup", "dbdata");
    let messages: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "warn")
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m.starts_with("`data/log` ")),
        "{warned}\n{messages:?}"
    );
    // The archive stays whole: every entry reads back.
    let entries = entries(&folder.join("volume-dbdata.tar.zst"));
    assert!(find(&entries, b"data/log").size >= 60_000_000);
    ws.opsbook(&["backup", "verify"]).expect_code(0);
}

#[test]
fn backup_read_takes_only_auto_direct_or_archive() {
    let project = Project::new("bd-key");
    let ws = Workspace::new();
    ws.write("opsbook.yaml", runbook(&project, "sideways"));
    let run = ws.opsbook(&["validate"]);
    assert!(
        run.stderr
            .contains("opsbook.yaml:11:9: backup.read: unknown variant `sideways`, expected one of auto, direct, archive"),
        "{}",
        run.stderr
    );
    assert_ne!(run.code, 0);
}
