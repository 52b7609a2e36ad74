//! Copies to an S3 store that misbehaves (`support::s3::FaultyS3`, one
//! fault per step): one that never answers or stalls halfway ends the copy
//! at the target's `timeout`, and SIGTERM ends it at once; a listing that
//! never ends is refused; an upload kept in half, answered without an
//! ETag or with a wrong one fails the copy; a manifest that does not read
//! is named wherever the target is read; nothing from the store is read
//! past its cap; and daily-check grades the backups here even when a
//! target hangs. Every run is bounded: a hang fails the test, never the
//! suite.

use std::time::Duration;

use crate::support::s3::{Fault, FaultyS3};
use crate::support::{Run, Spawned, Workspace, eventually, finish_within, result};

/// Longer than any run here may take.
const BOUND: Duration = Duration::from_secs(90);

/// A workspace backing up `data.bin` (10 MiB that do not compress: a
/// multipart upload of two parts) and `notes.txt`, copied to a folder and
/// to `server`; `offsite` adds lines to the S3 target, `backup` to the
/// backup section.
fn workspace(server: &FaultyS3, offsite: &str, backup: &str) -> Workspace {
    let ws = Workspace::new();
    let mut data = vec![0u8; 10 * 1024 * 1024];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut data)
        .unwrap();
    ws.write("data.bin", data);
    ws.write("notes.txt", "the notes\n");
    ws.write(".env", "S3_KEY_ID=key\nS3_SECRET=secret-3a1f\n");
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nbackup:\n  dir: ./backups\n  files: [data.bin, notes.txt]\n{backup}  copies:\n    nas:\n      folder: ./nas\n    offsite:\n      s3: {{ endpoint: \"{}\", bucket: bk, prefix: shop, access_key_id: \"${{S3_KEY_ID}}\", secret_access_key: \"${{S3_SECRET}}\" }}\n{offsite}",
            crate::support::empty_project(),
            server.endpoint()
        ),
    );
    std::fs::create_dir(ws.path().join("nas")).unwrap();
    ws
}

/// Runs opsbook, failing the test (not hanging it) past `BOUND`.
fn bounded(ws: &Workspace, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--state-dir", "state"]);
    finish_within(ws.spawn(&all), BOUND)
}

fn json(ws: &Workspace, args: &[&str]) -> (Run, serde_json::Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let run = bounded(ws, &all);
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

/// The ids of the local backups.
fn local_ids(ws: &Workspace) -> Vec<String> {
    let (_, report) = json(ws, &["backup", "list"]);
    ids(&report)
}

fn ids(report: &serde_json::Value) -> Vec<String> {
    report["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect()
}

/// A backup copied to both targets while the store behaves.
fn backed_up(ws: &Workspace) -> String {
    let (run, report) = json(ws, &["backup"]);
    assert_eq!(run.code, 0, "{report:#}\n{}", run.stderr);
    local_ids(ws).pop().unwrap()
}

#[test]
fn a_store_that_never_answers_or_stalls_ends_the_copy_at_its_timeout() {
    let server = FaultyS3::start();
    let ws = workspace(&server, "      timeout: 2s\n", "");
    server.set(Fault::Hang);
    let (run, report) = json(&ws, &["backup"]);
    assert_eq!(run.code, 2, "{report:#}");
    let said = message(&report, "copies", "offsite");
    assert!(
        said.starts_with("crit: cannot list s3://bk/shop/: ")
            && said.contains("no answer within 2s"),
        "{said}"
    );
    assert!(message(&report, "copies", "nas").starts_with("ok: copied "));
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
    // The backup here stays good.
    assert_eq!(local_ids(&ws).len(), 1);
    bounded(&ws, &["backup", "verify"]).expect_code(0);

    // A store that answers the head and half the body, then nothing.
    server.set(Fault::None);
    bounded(&ws, &["backup", "copy", "--to", "offsite"]).expect_code(0);
    server.set(Fault::StallBody);
    let (run, report) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    let said = message(&report, "copies", "offsite");
    assert!(said.contains("no answer within 2s"), "{said}");
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
}

#[test]
fn sigterm_ends_a_backup_whose_copy_hangs_and_leaves_nothing_there() {
    let server = FaultyS3::start();
    // The default timeout (60s): only the signal can end these in time.
    let ws = workspace(&server, "", "");
    server.set(Fault::Hang);
    let running = Spawned::new(ws.spawn(&["backup", "--state-dir", "state", "--format", "json"]));
    eventually("the listing hung", BOUND, || server.held() >= 1);
    let run = running.terminate_within(Duration::from_secs(15));
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    eprintln!("SIGTERM with a hung listing: ended in {:?}", run.took);
    let report = run.json();
    let said = message(&report, "copies", "offsite");
    assert!(said.contains("interrupted by a signal"), "{said}");
    assert_eq!(local_ids(&ws).len(), 1);
    bounded(&ws, &["backup", "verify"]).expect_code(0);

    // Hung in the middle of the upload: the parts sent are removed, the
    // multipart upload aborted, nothing listed.
    server.set(Fault::HangPuts);
    let held = server.held();
    let running = Spawned::new(ws.spawn(&["backup", "--state-dir", "state", "--format", "json"]));
    eventually("an upload hung", BOUND, || server.held() > held);
    let run = running.terminate_within(Duration::from_secs(15));
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    eprintln!("SIGTERM with a hung upload: ended in {:?}", run.took);
    let said = message(&run.json(), "copies", "offsite");
    assert!(
        said.contains("not copied to s3://bk/shop/: interrupted by a signal"),
        "{said}"
    );
    assert_eq!(server.keys(), Vec::<String>::new());
    assert_eq!(server.open_uploads(), 0);
    server.set(Fault::None);
    let (run, report) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(run.code, 0, "{report:#}");
    assert_eq!(ids(&report), Vec::<String>::new());
    assert_eq!(local_ids(&ws).len(), 2);
}

#[test]
fn a_listing_that_never_ends_is_refused_naming_the_target() {
    let server = FaultyS3::start();
    let ws = workspace(&server, "", "  keep: { last: 5 }\n");
    let id = backed_up(&ws);
    server.set(Fault::RepeatToken);
    let repeated = "the store gave the same continuation token again after 2 pages";
    let (run, report) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    let said = message(&report, "copies", "offsite");
    assert!(
        said.starts_with("crit: cannot list s3://bk/shop/: ") && said.contains(repeated),
        "{said}"
    );
    let (run, report) = json(&ws, &["backup", "copy", "--to", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert!(message(&report, "copies", "offsite").contains(repeated));
    let (run, report) = json(&ws, &["backup", "prune", "--dry-run"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert!(message(&report, "prune", "offsite").contains(repeated));
    let refused = bounded(&ws, &["restore", "--from", "offsite", "--yes"]);
    refused.expect_code(3);
    assert!(
        refused.stderr.contains("cannot list s3://bk/shop/: ") && refused.stderr.contains(repeated),
        "{}",
        refused.stderr
    );
    let (_, report) = json(&ws, &["daily-check", "--only", "backups"]);
    assert!(message(&report, "backups", "copy offsite").contains(repeated));

    // A new token every time: stopped at the most pages a target holds.
    let lists = || {
        server
            .requests()
            .iter()
            .filter(|r| r.starts_with("GET /bk/?"))
            .count()
    };
    let before = lists();
    server.set(Fault::EndlessTokens);
    let (run, report) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    let said = message(&report, "copies", "offsite");
    assert!(
        said.contains("the listing did not end after 1000 pages"),
        "{said}"
    );
    let pages = lists() - before;
    assert_eq!(pages, 1000, "{pages} pages asked for");
    // The local backup was never touched.
    assert_eq!(local_ids(&ws), [id]);
}

#[test]
fn a_store_that_keeps_half_fails_the_copy_and_an_unreadable_manifest_is_named() {
    let server = FaultyS3::start();
    let ws = workspace(&server, "", "  keep: { last: 5 }\n");
    server.set(Fault::Half);
    let (run, report) = json(&ws, &["backup"]);
    assert_eq!(run.code, 2, "{report:#}");
    let said = message(&report, "copies", "offsite");
    assert!(
        said.contains("bytes of the") && said.contains("sent, whatever its ETag said"),
        "{said}"
    );
    assert!(message(&report, "copies", "nas").starts_with("ok: "));
    // What it kept of the failed copy is removed.
    assert_eq!(server.keys(), Vec::<String>::new());

    // A manifest cut short on the target (as such a store keeps it).
    server.set(Fault::None);
    let id = local_ids(&ws).pop().unwrap();
    let manifest =
        std::fs::read(ws.path().join("backups").join(&id).join("manifest.json")).unwrap();
    let key = format!("shop/{id}/manifest.json");
    server.put(&key, &manifest[..manifest.len() / 2]);
    let named = format!("the manifest of {id} on s3://bk/shop/ cannot be read (`{key}`: ");
    let (run, report) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert!(message(&report, "copies", &format!("offsite:{id}")).contains(&named));
    let (run, report) = json(&ws, &["backup", "verify", "--copy", "offsite", "--all"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert!(message(&report, "verify", &format!("offsite:{id}")).contains(&named));
    let (run, report) = json(&ws, &["backup", "prune", "--dry-run"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert!(
        message(&report, "prune", &format!("offsite:{id}"))
            .starts_with(&format!("crit: kept: {named}"))
    );
    for args in [
        &["restore", "--from", "offsite", "--yes"][..],
        &["restore", "--from", "offsite", id.as_str(), "--yes"],
    ] {
        let refused = bounded(&ws, args);
        refused.expect_code(3);
        assert!(
            refused.stderr.contains(&named),
            "{args:?}: {}",
            refused.stderr
        );
    }
    let (_, report) = json(&ws, &["daily-check", "--only", "backups"]);
    assert!(message(&report, "backups", "copy offsite").contains(&named));

    // Sent again, it replaces the damaged one.
    let (run, report) = json(&ws, &["backup", "copy", "--to", "offsite"]);
    assert_eq!(run.code, 0, "{report:#}");
    assert!(
        message(&report, "copies", "offsite")
            .contains("replacing a copy whose manifest did not read")
    );
    let (run, report) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(run.code, 0, "{report:#}");
    assert_eq!(ids(&report), std::slice::from_ref(&id));

    // The same on a folder target.
    std::fs::write(
        ws.path().join("nas").join(&id).join("manifest.json"),
        &manifest[..manifest.len() / 2],
    )
    .unwrap();
    let (run, report) = json(&ws, &["backup", "list", "--copy", "nas"]);
    assert_eq!(run.code, 2, "{report:#}");
    let said = message(&report, "copies", &format!("nas:{id}"));
    assert!(
        said.contains(&format!("the manifest of {id} on ")) && said.contains("cannot be read"),
        "{said}"
    );
}

#[test]
fn nothing_is_read_from_a_store_past_its_cap() {
    let server = FaultyS3::start();
    let ws = workspace(&server, "", "");
    let id = backed_up(&ws);
    let cap = 64 * 1024 * 1024;

    // A manifest that streams 600 MB.
    server.set(Fault::Huge {
        suffix: "manifest.json".into(),
        bytes: 600 * 1024 * 1024,
    });
    let (run, report) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    let said = message(&report, "copies", &format!("offsite:{id}"));
    assert!(
        said.contains("is larger than 16") && said.contains("not a manifest"),
        "{said}"
    );
    let streamed = server.streamed();
    assert!(streamed < cap, "{streamed} bytes of the manifest were read");

    // An error of 400 MB.
    server.set(Fault::HugeError {
        bytes: 400 * 1024 * 1024,
    });
    let (run, report) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert!(message(&report, "copies", "offsite").contains("500 Internal Server Error"));
    let read = server.streamed() - streamed;
    assert!(read < cap, "{read} bytes of the error were read");

    // An item of a few bytes that streams 3 GB.
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.path().join("backups").join(&id).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let notes = manifest["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"].as_str().unwrap().contains("notes"))
        .unwrap();
    let (file, size) = (
        notes["file"].as_str().unwrap(),
        notes["stored_size"].as_u64().unwrap(),
    );
    let before = server.streamed();
    server.set(Fault::Huge {
        suffix: file.into(),
        bytes: 3 * 1024 * 1024 * 1024,
    });
    let refused = bounded(&ws, &["restore", "--from", "offsite", "--yes"]);
    refused.expect_code(3);
    assert!(
        refused.stderr.contains(&format!(
            "{id}/{file} holds more than the {size} bytes its manifest gives it"
        )),
        "{}",
        refused.stderr
    );
    let read = server.streamed() - before;
    assert!(read < cap, "{read} bytes of a {size}-byte item were read");
    // Nothing was changed here: no download left, the backup as it was.
    assert_eq!(local_ids(&ws), std::slice::from_ref(&id));
    assert!(
        !ws.path()
            .join("backups")
            .join(format!(".{id}.download"))
            .exists()
    );
}

#[test]
fn an_upload_answered_without_an_etag_or_with_a_wrong_one_is_refused() {
    let server = FaultyS3::start();
    let ws = workspace(&server, "", "");
    server.set(Fault::NoEtag);
    let (run, report) = json(&ws, &["backup"]);
    assert_eq!(run.code, 2, "{report:#}");
    let said = message(&report, "copies", "offsite");
    assert!(said.contains("answered without an ETag"), "{said}");
    server.set(Fault::LyingEtag);
    let (run, report) = json(&ws, &["backup", "copy", "--to", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    let said = message(&report, "copies", "offsite");
    assert!(said.contains("is not the MD5 of what was sent"), "{said}");
    // Neither left anything listed; a store that behaves takes the copy.
    assert_eq!(server.keys(), Vec::<String>::new());
    server.set(Fault::None);
    let (run, report) = json(&ws, &["backup", "copy", "--to", "offsite"]);
    assert_eq!(run.code, 0, "{report:#}");
}

#[test]
fn daily_check_grades_the_backups_here_when_a_copy_target_hangs() {
    let server = FaultyS3::start();
    let ws = workspace(&server, "", "");
    backed_up(&ws);
    server.set(Fault::Hang);
    let (run, report) = json(
        &ws,
        &["daily-check", "--only", "backups", "--timeout", "3s"],
    );
    assert_eq!(run.code, 3, "{report:#}");
    assert!(message(&report, "backups", "newest").starts_with("ok: newest backup `shop-"));
    assert!(message(&report, "backups", "copy nas").starts_with("ok: newest copy `shop-"));
    assert_eq!(
        message(&report, "backups", "copy offsite"),
        "unknown: did not finish within the run's 3s deadline (--timeout)"
    );
}
