//! Copies to an S3 store that misbehaves (`support::s3::FaultyS3`, one
//! fault per step): one that never answers or stalls halfway ends the copy
//! at the target's `timeout`, and SIGTERM or SIGINT ends it at once; a
//! listing that never ends is refused; an upload kept in half, answered
//! without an ETag or with a wrong one fails the copy; a manifest that does
//! not read is named wherever the target is read; nothing from the store is
//! read past its cap; and daily-check grades the backups here even when a
//! target hangs. Every run is bounded: a hang fails the test, never the
//! suite. Messages are compared whole, after `normalized`.

use std::time::Duration;

use md5::{Digest, Md5};

use crate::support::exact::{Filters, assert_run};
use crate::support::s3::{Fault, FaultyS3};
use crate::support::{Run, Spawned, Workspace, eventually, finish_within, result};

/// Longer than any run here may take.
const BOUND: Duration = Duration::from_secs(90);
/// What `Fault::LyingEtag` answers: the MD5 of `not what was sent`.
const LIE: &str = "c32d5d239a75d1fd78a9acb45158abb0";
/// One part of a multipart upload.
const PART: usize = 8 * 1024 * 1024;

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

/// What differs from run to run: the workspace, times, ages, where a
/// parser stopped, how far past its size a stream was read.
fn filters(ws: &Workspace) -> Filters {
    Filters::new(ws)
        .regex(r"\b\d+\.\ds\b", "[T]s")
        .regex(r"\bis \d+s old\b", "is [AGE] old")
        .regex(r"at line \d+ column \d+", "at line [L] column [C]")
        .regex(r"\(\d+ or more\)", "([N] or more)")
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

/// One result, `status: message`, filtered.
fn message(ws: &Workspace, report: &serde_json::Value, section: &str, name: &str) -> String {
    let r = result(report, section, name);
    filters(ws).apply(&format!(
        "{}: {}",
        r["status"].as_str().unwrap(),
        r["message"].as_str().unwrap()
    ))
}

/// The newest local backup's id.
fn newest(ws: &Workspace) -> String {
    local_ids(ws).first().cloned().expect("a local backup")
}

/// The ids of the local backups, newest first.
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
    newest(ws)
}

/// The stored file and stored size of the local item `name` of `id`.
fn item(ws: &Workspace, id: &str, name: &str) -> (String, u64) {
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.path().join("backups").join(id).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let item = manifest["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("no item {name} in {manifest:#}"));
    (
        item["file"].as_str().unwrap().to_string(),
        item["stored_size"].as_u64().unwrap(),
    )
}

/// The MD5 of the first `PART` bytes of a local stored file.
fn first_part_md5(ws: &Workspace, id: &str, file: &str) -> String {
    let bytes = std::fs::read(ws.path().join("backups").join(id).join(file)).unwrap();
    let digest = Md5::digest(&bytes[..bytes.len().min(PART)]);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_store_that_never_answers_or_stalls_ends_the_copy_at_its_timeout() {
    let server = FaultyS3::start();
    let ws = workspace(&server, "      timeout: 2s\n", "");
    server.set(Fault::Hang);
    let run = bounded(&ws, &["backup"]);
    let filters = filters(&ws).regex(r"\bshop-\d{8}T\d{6}Z\b", "shop-YYYYMMDDThhmmssZ");
    assert_run(
        &run,
        &filters,
        2,
        r#"
ITEM       SIZE   STORED  RATIO  TIME
data.bin   10.0M  10.0M   1.0x   [T]s
notes.txt  10B    19B     0.5x   [T]s
backup shop-YYYYMMDDThhmmssZ in [WS]/backups
crit    copies/offsite: cannot list s3://bk/shop/: list shop/: no answer within 2s (the target's `timeout`)
crit: 1 crit, 3 ok in [MS] ms
"#,
        r#"
data.bin: 10.0M → 10.0M in [T]s
notes.txt: 10B → 19B in [T]s
"#,
    );
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
    // The backup here stays good, and went to the folder.
    let id = newest(&ws);
    bounded(&ws, &["backup", "verify"]).expect_code(0);
    assert!(
        ws.path()
            .join("nas")
            .join(&id)
            .join("manifest.json")
            .is_file()
    );

    // A store that answers the head and half the body, then nothing.
    server.set(Fault::None);
    bounded(&ws, &["backup", "copy", "--to", "offsite"]).expect_code(0);
    server.set(Fault::StallBody);
    let (run, report) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert_eq!(
        message(&ws, &report, "copies", "offsite"),
        format!(
            "crit: cannot list s3://bk/shop/: GET shop/{id}/manifest.json: no answer within 2s (the target's `timeout`)"
        )
    );
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
}

#[test]
fn sigterm_or_sigint_ends_a_backup_whose_copy_hangs_and_leaves_nothing_there() {
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
    assert_eq!(
        message(&ws, &report, "copies", "offsite"),
        "crit: cannot list s3://bk/shop/: interrupted by a signal"
    );
    assert!(message(&ws, &report, "copies", "nas").starts_with("ok: copied shop-"));
    assert_eq!(local_ids(&ws).len(), 1);
    bounded(&ws, &["backup", "verify"]).expect_code(0);

    // Hung in the middle of the upload, and Ctrl-C: the parts sent are
    // removed, the multipart upload aborted, nothing listed.
    server.set(Fault::HangPuts);
    let held = server.held();
    let running = Spawned::new(ws.spawn(&["backup", "--state-dir", "state", "--format", "json"]));
    eventually("an upload hung", BOUND, || server.held() > held);
    let run = running.interrupt_within(Duration::from_secs(15));
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    eprintln!("SIGINT with a hung upload: ended in {:?}", run.took);
    let id = newest(&ws);
    assert_eq!(
        message(&ws, &run.json(), "copies", "offsite"),
        format!(
            "crit: {id} not copied to s3://bk/shop/: interrupted by a signal; the copy was cut short and is not listed there, the backup is kept here (`opsbook backup copy` sends it)"
        )
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
    let refused = "crit: cannot list s3://bk/shop/: list shop/: the store gave the same continuation token again after 2 pages: its listing never ends (a broken store or gateway)";
    let (run, report) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert_eq!(message(&ws, &report, "copies", "offsite"), refused);
    let (run, report) = json(&ws, &["backup", "copy", "--to", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert_eq!(message(&ws, &report, "copies", "offsite"), refused);
    let (run, report) = json(&ws, &["backup", "prune", "--dry-run"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert_eq!(message(&ws, &report, "prune", "offsite"), refused);
    let run = bounded(&ws, &["restore", "--from", "offsite", "--yes"]);
    assert_run(
        &run,
        &filters(&ws),
        3,
        "",
        &format!("error: {}\n", refused.trim_start_matches("crit: ")),
    );
    let (_, report) = json(&ws, &["daily-check", "--only", "backups"]);
    assert_eq!(message(&ws, &report, "backups", "copy offsite"), refused);

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
    assert_eq!(
        message(&ws, &report, "copies", "offsite"),
        "crit: cannot list s3://bk/shop/: list shop/: the listing did not end after 1000 pages: more than any backup target holds (a broken store or gateway)"
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
    let id = newest(&ws);
    let (file, size) = item(&ws, &id, "data.bin");
    let kept = PART as u64 / 2 + (size - PART as u64) / 2;
    assert_eq!(
        message(&ws, &report, "copies", "offsite"),
        format!(
            "crit: {id} not copied to s3://bk/shop/: shop/{id}/{file}: the store holds {kept} bytes of the {size} sent, whatever its ETag said: not copied"
        )
    );
    assert!(message(&ws, &report, "copies", "nas").starts_with("ok: "));
    // What it kept of the failed copy is removed.
    assert_eq!(server.keys(), Vec::<String>::new());

    // A manifest cut short on the target (as such a store keeps it).
    server.set(Fault::None);
    let manifest =
        std::fs::read(ws.path().join("backups").join(&id).join("manifest.json")).unwrap();
    let key = format!("shop/{id}/manifest.json");
    server.put(&key, &manifest[..manifest.len() / 2]);
    let named = format!(
        "the manifest of {id} on s3://bk/shop/ cannot be read (`{key}`: EOF while parsing an object at line [L] column [C]): this copy is never listed, verified or restored; `opsbook backup copy {id} --to offsite` sends it again while the backup is still here"
    );
    let filters = filters(&ws);
    assert_run(
        &bounded(&ws, &["backup", "list", "--copy", "offsite"]),
        &filters,
        2,
        &format!(
            "
0 backups in s3://bk/shop/
crit    copies/offsite:{id}: {named}
crit: 1 crit, 1 ok in [MS] ms
"
        ),
        "",
    );
    let (run, report) = json(&ws, &["backup", "verify", "--copy", "offsite", "--all"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert_eq!(
        message(&ws, &report, "verify", &format!("offsite:{id}")),
        format!("crit: {named}")
    );
    let (run, report) = json(&ws, &["backup", "prune", "--dry-run"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert_eq!(
        message(&ws, &report, "prune", &format!("offsite:{id}")),
        format!("crit: kept: {named}")
    );
    assert_run(
        &bounded(&ws, &["restore", "--from", "offsite", "--yes"]),
        &filters,
        3,
        "",
        &format!(
            "error: cannot tell which backup on s3://bk/shop/ is the latest: {named}. Name the backup to restore by its id (`opsbook backup list --copy offsite`); nothing was changed\n"
        ),
    );
    assert_run(
        &bounded(&ws, &["restore", "--from", "offsite", &id, "--yes"]),
        &filters,
        3,
        "",
        &format!("error: {named}; nothing was changed\n"),
    );
    let (_, report) = json(&ws, &["daily-check", "--only", "backups"]);
    assert_eq!(
        message(&ws, &report, "backups", "copy offsite"),
        format!("crit: no copy yet on s3://bk/shop/; {named}")
    );

    // Sent again, it replaces the damaged one.
    let (run, report) = json(&ws, &["backup", "copy", "--to", "offsite"]);
    assert_eq!(run.code, 0, "{report:#}");
    assert_eq!(
        message(&ws, &report, "copies", "offsite"),
        format!(
            "ok: copied {id} (10.0M in [T]s, replacing a copy whose manifest did not read) to s3://bk/shop/"
        )
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
    assert_eq!(
        message(&ws, &report, "copies", &format!("nas:{id}")),
        format!(
            "crit: the manifest of {id} on [WS]/nas cannot be read (`{id}/manifest.json`: EOF while parsing an object at line [L] column [C]): this copy is never listed, verified or restored; `opsbook backup copy {id} --to nas` sends it again while the backup is still here"
        )
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
    assert_eq!(
        message(&ws, &report, "copies", &format!("offsite:{id}")),
        format!(
            "crit: the manifest of {id} on s3://bk/shop/ cannot be read (`shop/{id}/manifest.json` is larger than 16.0M: not a manifest): this copy is never listed, verified or restored; `opsbook backup copy {id} --to offsite` sends it again while the backup is still here"
        )
    );
    let streamed = server.streamed();
    assert!(streamed < cap, "{streamed} bytes of the manifest were read");

    // An error of 400 MB.
    server.set(Fault::HugeError {
        bytes: 400 * 1024 * 1024,
    });
    let (run, report) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    assert_eq!(
        message(&ws, &report, "copies", "offsite"),
        "crit: cannot list s3://bk/shop/: list shop/: 500 Internal Server Error: an answer larger than 64.0K, not read"
    );
    let read = server.streamed() - streamed;
    assert!(read < cap, "{read} bytes of the error were read");

    // An item of a few bytes that streams 3 GB.
    let (file, size) = item(&ws, &id, "notes.txt");
    let before = server.streamed();
    server.set(Fault::Huge {
        suffix: file.clone(),
        bytes: 3 * 1024 * 1024 * 1024,
    });
    let refused = bounded(&ws, &["restore", "--from", "offsite", "--yes"]);
    let (data, _) = item(&ws, &id, "data.bin");
    assert_run(
        &refused,
        &filters(&ws),
        3,
        "",
        &format!(
            "
downloading {id}/{data} from offsite
downloading {id}/{file} from offsite
error: {id}/{file} from offsite: download failed: {id}/{file} holds more than the {size} bytes its manifest gives it ([N] or more): the copy is damaged; not read further: nothing was changed
"
        ),
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
    let unchecked = "the store answered without an ETag, so what it holds cannot be checked: not copied (a gateway in between that drops the header?)";
    // A multipart upload: its first part is refused.
    server.set(Fault::NoEtag);
    let (run, report) = json(&ws, &["backup"]);
    assert_eq!(run.code, 2, "{report:#}");
    let id = newest(&ws);
    let (file, _) = item(&ws, &id, "data.bin");
    assert_eq!(
        message(&ws, &report, "copies", "offsite"),
        format!("crit: {id} not copied to s3://bk/shop/: part 1 of shop/{id}/{file}: {unchecked}")
    );
    server.set(Fault::LyingEtag);
    let (run, report) = json(&ws, &["backup", "copy", "--to", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    let md5 = first_part_md5(&ws, &id, &file);
    assert_eq!(
        message(&ws, &report, "copies", "offsite"),
        format!(
            "crit: {id} not copied to s3://bk/shop/: part 1 of shop/{id}/{file}: the store's ETag {LIE} is not the MD5 of what was sent ({md5}): not copied"
        )
    );

    // Files of one PUT each.
    ws.write("data.bin", "small now\n");
    std::thread::sleep(Duration::from_millis(1100));
    server.set(Fault::NoEtag);
    let (run, report) = json(&ws, &["backup"]);
    assert_eq!(run.code, 2, "{report:#}");
    let id = newest(&ws);
    let (file, _) = item(&ws, &id, "data.bin");
    assert_eq!(
        message(&ws, &report, "copies", "offsite"),
        format!("crit: {id} not copied to s3://bk/shop/: shop/{id}/{file}: {unchecked}")
    );
    server.set(Fault::LyingEtag);
    let (run, report) = json(&ws, &["backup", "copy", "--to", "offsite"]);
    assert_eq!(run.code, 2, "{report:#}");
    let md5 = first_part_md5(&ws, &id, &file);
    assert_eq!(
        message(&ws, &report, "copies", "offsite"),
        format!(
            "crit: {id} not copied to s3://bk/shop/: shop/{id}/{file}: the store's ETag {LIE} is not the MD5 of what was sent ({md5}): not copied"
        )
    );
    // None left anything there; a store that behaves takes the copies.
    assert_eq!(server.keys(), Vec::<String>::new());
    server.set(Fault::None);
    let (run, report) = json(&ws, &["backup", "copy", "--all-missing", "--to", "offsite"]);
    assert_eq!(run.code, 0, "{report:#}");
    let (_, report) = json(&ws, &["backup", "list", "--copy", "offsite"]);
    assert_eq!(ids(&report).len(), 2);
}

#[test]
fn daily_check_grades_the_backups_here_when_a_copy_target_hangs() {
    let server = FaultyS3::start();
    let ws = workspace(&server, "", "");
    let id = backed_up(&ws);
    server.set(Fault::Hang);
    let (run, report) = json(
        &ws,
        &["daily-check", "--only", "backups", "--timeout", "3s"],
    );
    assert_eq!(run.code, 3, "{report:#}");
    assert_eq!(
        message(&ws, &report, "backups", "newest"),
        format!("ok: newest backup `{id}` is [AGE] old")
    );
    assert_eq!(
        message(&ws, &report, "backups", "copy nas"),
        format!("ok: newest copy `{id}` on [WS]/nas is [AGE] old")
    );
    assert_eq!(
        message(&ws, &report, "backups", "copy offsite"),
        "unknown: did not finish within the run's 3s deadline (--timeout)"
    );
}
