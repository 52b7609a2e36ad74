//! `opsbook restore` against real volumes, containers and files: exact
//! round trips, its dry run, refusals that change nothing (a manifest may
//! only name the runbook's own items), the safety backup, dumps,
//! encryption, and the way back after a failure. `all_or_nothing`: a
//! failure puts back every item replaced; `volumes`: how a volume is
//! restored on the host.

mod all_or_nothing;
mod volumes;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{
    Project, Workspace, empty_project, encrypt_backups, eventually, only_file, result, terminate,
};

pub(crate) const LONG: Duration = Duration::from_secs(60);

/// Seeds the volume once (the script runs again at every start): owners,
/// modes, a symlink, an empty folder, a dot file, a binary, old mtimes.
pub(crate) const SEED: &str = "[ -f /data/.seeded ] || { \
    mkdir -p /data/tables /data/empty /data/private; \
    echo 'order 1' > /data/records.txt; \
    seq 1 5000 > /data/tables/orders; \
    head -c 65536 /dev/urandom > /data/blob.bin; \
    ln -s records.txt /data/latest; \
    echo hidden > /data/.dotfile; \
    echo s > /data/private/key; \
    chown 1234:5678 /data/tables/orders; chmod 640 /data/tables/orders; \
    chmod 400 /data/private/key; chmod 700 /data/private; \
    touch -d '2024-01-02 03:04:05' /data/records.txt /data/tables/orders; \
    touch /data/.seeded; \
    touch -d '2023-05-06 07:08:09' /data/empty /data/tables /data/private /data; }";

/// Every entry of /data: type, mode, owner, size, mtime, link target, md5.
pub(crate) const LISTING: &str = "cd /data && find . | sort | while read -r f; do \
    if [ -L \"$f\" ]; then echo \"$f link $(stat -c '%u:%g %Y' \"$f\") -> $(readlink \"$f\")\"; \
    elif [ -d \"$f\" ]; then echo \"$f dir $(stat -c '%a %u:%g %Y' \"$f\")\"; \
    else echo \"$f file $(stat -c '%a %u:%g %s %Y' \"$f\") $(md5sum < \"$f\" | cut -d' ' -f1)\"; fi; \
    done";

/// Adds, changes and deletes files in the volume, and changes the config.
pub(crate) const MUTATE: &str = "echo new > /data/added.txt; mkdir /data/newdir; echo x > /data/newdir/f; \
    echo 'order 2' > /data/records.txt; rm /data/blob.bin /data/latest; rm -r /data/empty; \
    chmod 600 /data/tables/orders; chown 0:0 /data/tables/orders; ln -s tables /data/latest";

/// db mounts `dbdata`; api depends on db. The dump `records` restores into
/// a file outside the volume, so the volume's listing stays exact.
pub(crate) fn shop(tag: &str, restore: &str) -> (Project, Workspace) {
    shop_scripted(tag, restore, SEED)
}

/// `shop`, with db's start script given (`SEED` with more around it).
pub(crate) fn shop_scripted(tag: &str, restore: &str, script: &str) -> (Project, Workspace) {
    let project = Project::new(tag);
    let dbdata = project.volume("dbdata");
    project
        .service("db")
        .mount(&dbdata, "/data")
        .script(script)
        .start();
    project.service("api").start();
    let ws = Workspace::new();
    ws.write("config.env", "A=1\n");
    std::fs::set_permissions(
        ws.path().join("config.env"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\n  api: {{ depends_on: [db] }}\nshutdown:\n  grace: 2s\n\
             backup:\n  dir: ./backups\n  volumes: [dbdata]\n  files: [config.env]\n  stop: [api]\n  dumps:\n    records:\n      service: db\n      command: [cat, /data/records.txt]\n      restore: {restore}\n",
            project.name
        ),
    );
    eventually("db seeded its volume", LONG, || {
        project.exec("db", "test -f /data/.seeded")
    });
    (project, ws)
}

pub(crate) const RESTORE_RECORDS: &str = "[sh, -c, \"cat > /restored-records.txt\"]";

pub(crate) fn state(ws: &Workspace) -> String {
    ws.path().join("state").display().to_string()
}

pub(crate) fn listing(project: &Project) -> String {
    project.output("db", LISTING)
}

pub(crate) fn backup_ids(ws: &Workspace) -> Vec<(String, bool)> {
    let report = ws
        .opsbook(&["backup", "list", "--format", "json"])
        .expect_code(0)
        .json();
    report["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["id"].as_str().unwrap().to_string(),
                b["safety"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_restore_puts_volume_file_and_dump_back_exactly_with_a_restorable_safety_backup() {
    let (project, ws) = shop("rs-exact", RESTORE_RECORDS);
    let before = listing(&project);
    assert!(
        before.contains("./tables/orders file 640 1234:5678 "),
        "{before}"
    );
    assert!(before.contains("./latest link 0:0 "), "{before}");
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);

    assert!(project.exec("db", MUTATE));
    ws.write("config.env", "A=2\nB=3\n");
    let mutated = listing(&project);
    assert_ne!(before, mutated);

    let run = ws.opsbook(&[
        "restore",
        "latest",
        "--yes",
        "--state-dir",
        &state(&ws),
        "--format",
        "json",
    ]);
    let report = run.expect_code(0).json();
    assert_eq!(listing(&project), before, "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("config.env")).unwrap(),
        "A=1\n"
    );
    let mode = std::fs::metadata(ws.path().join("config.env"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    assert_eq!(
        project.output("db", "cat /restored-records.txt"),
        "order 1\n"
    );
    for item in ["dbdata", "config.env", "records"] {
        assert_eq!(
            result(&report, "restore", item)["status"],
            "ok",
            "{report:#}"
        );
    }
    // Everything that was stopped runs again.
    assert_eq!(project.times("db").state, "running");
    assert_eq!(project.times("api").state, "running");

    // The safety backup holds the state just before, and restores it.
    let ids = backup_ids(&ws);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let safety = ids.iter().find(|(_, safety)| *safety).unwrap().0.clone();
    assert_eq!(report["restore"]["safety_backup"], safety.as_str());
    ws.opsbook(&[
        "restore",
        &safety,
        "--yes",
        "--no-safety-backup",
        "--state-dir",
        &state(&ws),
    ])
    .expect_code(0);
    assert_eq!(listing(&project), mutated);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("config.env")).unwrap(),
        "A=2\nB=3\n"
    );
    assert_eq!(backup_ids(&ws).len(), 2, "--no-safety-backup made none");

    // daily-check never takes the safety backup for the scheduled one.
    let regular = ids.iter().find(|(_, safety)| !*safety).unwrap().0.clone();
    std::fs::remove_dir_all(ws.path().join("backups").join(&regular)).unwrap();
    let run = ws.opsbook(&[
        "daily-check",
        "--only",
        "backups",
        "--state-dir",
        &state(&ws),
        "--format",
        "json",
    ]);
    let report = run.json();
    let newest = crate::support::result(&report, "backups", "newest");
    assert_eq!(newest["status"], "warn", "{newest}");
    assert!(
        newest["message"]
            .as_str()
            .unwrap()
            .ends_with("only safety backups taken before restores"),
        "{newest}"
    );
}

#[test]
fn refusals_and_bad_backups_change_nothing() {
    let (project, ws) = shop("rs-refuse", RESTORE_RECORDS);
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert!(project.exec("db", MUTATE));
    let mutated = listing(&project);
    let api_started = project.times("api").started;
    let unchanged = |why: &str| {
        assert_eq!(listing(&project), mutated, "{why}");
        assert_eq!(project.times("api").started, api_started, "{why}");
        assert_eq!(project.times("api").state, "running", "{why}");
        assert_eq!(backup_ids(&ws).len(), 1, "{why}: no safety backup");
    };

    // No terminal and no --yes.
    let run = ws.opsbook(&["restore", "--state-dir", &state(&ws)]);
    run.expect_code(3);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    unchanged("without --yes");

    // A dry run shows the plan (a local volume: restored directly).
    let run = ws.opsbook(&["restore", "--dry-run", "--state-dir", &state(&ws)]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("unpacked beside it, then swapped in"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("db, api") || run.stdout.contains("api, db"),
        "{}",
        run.stdout
    );
    unchanged("--dry-run");

    let run = ws.opsbook(&[
        "restore",
        "--only",
        "nope",
        "--yes",
        "--state-dir",
        &state(&ws),
    ]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("has: dbdata, config.env, records"),
        "{}",
        run.stderr
    );
    unchanged("--only with an unknown item");

    // A flipped byte, then a truncated file: exit 2 and nothing touched.
    let folder = std::fs::read_dir(ws.path().join("backups"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .next()
        .unwrap();
    let volume = folder.join("volume-dbdata.tar.zst");
    let original = std::fs::read(&volume).unwrap();
    let mut flipped = original.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    std::fs::write(&volume, &flipped).unwrap();
    let run = ws.opsbook(&["restore", "--yes", "--state-dir", &state(&ws)]);
    run.expect_code(2);
    assert!(run.stdout.contains("does not verify"), "{}", run.stdout);
    unchanged("a flipped byte");
    std::fs::write(&volume, &original[..original.len() - 100]).unwrap();
    ws.opsbook(&["restore", "--yes", "--state-dir", &state(&ws)])
        .expect_code(2);
    unchanged("a truncated file");

    // --only: the config file alone; the volume's users are not stopped.
    std::fs::write(&volume, &original).unwrap();
    ws.write("config.env", "A=9\n");
    ws.opsbook(&[
        "restore",
        "--only",
        "config.env",
        "--yes",
        "--state-dir",
        &state(&ws),
    ])
    .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("config.env")).unwrap(),
        "A=1\n"
    );
    assert_eq!(listing(&project), mutated, "--only left the volume alone");
    assert_eq!(project.times("api").started, api_started);
}

#[test]
fn an_encrypted_backup_restores_only_with_its_identity() {
    let (project, ws) = shop("rs-age", RESTORE_RECORDS);
    encrypt_backups(&ws);
    let before = listing(&project);
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert!(project.exec("db", MUTATE));
    let api_started = project.times("api").started;

    let run = ws.opsbook(&["restore", "--yes", "--state-dir", &state(&ws)]);
    run.expect_code(3);
    assert!(run.stderr.contains("--identity"), "{}", run.stderr);
    let run = ws.opsbook(&[
        "restore",
        "--yes",
        "--identity",
        "other.txt",
        "--state-dir",
        &state(&ws),
    ]);
    run.expect_code(3);
    assert!(run.stderr.contains("cannot be decrypted"), "{}", run.stderr);
    assert_eq!(project.times("api").started, api_started, "nothing stopped");

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

#[test]
fn a_dump_that_fails_and_cannot_be_put_back_either_says_what_is_where_and_prints_the_way_back() {
    // The restore command always fails: the dump is not restored, and the
    // safety backup's copy of it does not load either.
    let (project, ws) = shop(
        "rs-fail",
        "[sh, -c, \"cat > /dev/null; echo cannot load >&2; exit 4\"]",
    );
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert!(project.exec("db", MUTATE));
    let mutated = listing(&project);

    let run = ws.opsbook(&[
        "restore",
        "--yes",
        "--state-dir",
        &state(&ws),
        "--format",
        "json",
    ]);
    let report = run.expect_code(2).json();
    assert!(run.stdout.contains("cannot load"), "{}", run.stdout);
    assert_eq!(project.times("db").state, "running");
    assert_eq!(project.times("api").state, "running");
    let safety = backup_ids(&ws)
        .into_iter()
        .find(|(_, safety)| *safety)
        .unwrap()
        .0;
    // The volume and the file are put back; the dump is named as not.
    assert_eq!(listing(&project), mutated);
    assert_eq!(
        result(&report, "restore", "put back")["message"],
        format!(
            "NOT as before the restore: put back from safety backup {safety}: config.env, dbdata; could not be put back: records"
        )
    );
    let records = result(&report, "restore", "records")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        records.contains(&format!("NOT put back from safety backup {safety}")),
        "{records}"
    );
    let way_back = report["restore"]["way_back"].as_str().unwrap();
    assert!(
        way_back.ends_with(&format!("opsbook restore {safety} --yes")),
        "{way_back}"
    );
}

#[test]
fn sigterm_mid_restore_finishes_the_item_in_hand_puts_back_starts_everything_and_holds_the_lock() {
    let (project, ws) = shop(
        "rs-term",
        "[sh, -c, \"touch /restoring; cat > /first.txt; sleep 3\"]",
    );
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        format!(
            "{text}    second:\n      service: db\n      command: [cat, /data/records.txt]\n      restore: [sh, -c, \"cat > /second.txt\"]\n"
        ),
    );
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert!(project.exec("db", MUTATE));
    let mutated = listing(&project);

    let child = ws.spawn(&[
        "restore",
        "--yes",
        "--state-dir",
        &state(&ws),
        "--format",
        "json",
    ]);
    eventually("the first dump is being restored", LONG, || {
        project.exec("db", "test -f /restoring")
    });
    // Same lock as backup: a backup now is refused at once.
    let second = ws.opsbook(&["backup", "--state-dir", &state(&ws)]);
    second.expect_code(3);
    assert!(second.stderr.contains("(restore)"), "{}", second.stderr);

    let report = terminate(child).expect_code(2).json();
    assert_eq!(
        result(&report, "restore", "result")["message"],
        "interrupted by a signal"
    );
    // The item in hand was finished, the next one never started, and what
    // was replaced was put back from the safety backup before the start.
    assert_eq!(result(&report, "restore", "records")["status"], "warn");
    assert_eq!(result(&report, "restore", "second")["status"], "crit");
    assert_eq!(
        report["restore"]["put_back"],
        serde_json::json!(["records", "config.env", "dbdata"])
    );
    assert!(report["restore"]["way_back"].is_null(), "{report:#}");
    assert_eq!(listing(&project), mutated);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("config.env")).unwrap(),
        "A=1\n"
    );
    // The dump was put back through its restore command, from the safety copy.
    assert_eq!(project.output("db", "cat /first.txt"), "order 2\n");
    assert!(!project.exec("db", "test -e /second.txt"));
    assert_eq!(project.times("db").state, "running");
    assert_eq!(project.times("api").state, "running");
}

/// db mounts `dbdata`; the runbook backs up that volume and `config.env`.
/// A second project's volume `victim` holds a marker.
fn restorable(tag: &str) -> (Project, Project, Workspace, String) {
    let project = Project::new(tag);
    let dbdata = project.volume("dbdata");
    project
        .service("db")
        .mount(&dbdata, "/data")
        .script("[ -f /data/records ] || echo 'order 1' > /data/records")
        .start();
    let other = Project::new(&format!("{tag}-other"));
    let victim = other.volume("victim");
    other
        .service("store")
        .mount(&victim, "/v")
        .script("[ -f /v/marker ] || echo keep > /v/marker")
        .start();
    let ws = Workspace::new();
    ws.write("config.env", "A=1\n");
    ws.write("outside.txt", "untouched\n");
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\nshutdown:\n  grace: 1s\n\
             backup:\n  dir: ./backups\n  volumes: [dbdata]\n  files: [config.env]\n",
            project.name
        ),
    );
    eventually("both volumes are filled", LONG, || {
        project.exec("db", "test -f /data/records") && other.exec("store", "test -f /v/marker")
    });
    (project, other, ws, victim)
}

/// Edits the only backup's manifest with `edit`.
fn edit_manifest(ws: &Workspace, edit: impl FnOnce(&mut serde_json::Value)) {
    let folder = only_file(&ws.path().join("backups"));
    let path = folder.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

fn item_mut<'a>(manifest: &'a mut serde_json::Value, kind: &str) -> &'a mut serde_json::Value {
    manifest["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["kind"] == kind)
        .unwrap()
}

#[test]
fn a_manifest_naming_another_projects_volume_or_a_host_path_is_refused() {
    let (project, other, ws, victim) = restorable("hd-restore");
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    let db_started = project.times("db").started;
    let restore = || ws.opsbook(&["restore", "latest", "--yes", "--state-dir", &state(&ws)]);

    // Another project's volume.
    edit_manifest(&ws, |m| {
        item_mut(m, "volume")["source"] = victim.clone().into()
    });
    let run = restore();
    run.expect_code(3);
    assert!(
        run.stderr.contains("item `dbdata`")
            && run.stderr.contains("not one of the runbook's own items")
            && run.stderr.contains(&victim),
        "{}",
        run.stderr
    );
    assert_eq!(other.output("store", "cat /v/marker"), "keep\n");
    edit_manifest(&ws, |m| {
        item_mut(m, "volume")["source"] = format!("{}_dbdata", project.name).into()
    });

    // A host path the runbook does not name, under its own name or another.
    let outside = ws.path().join("outside.txt").display().to_string();
    for name in ["config.env", "outside.txt"] {
        edit_manifest(&ws, |m| {
            let file = item_mut(m, "file");
            file["source"] = outside.clone().into();
            file["name"] = name.into();
        });
        let run = restore();
        run.expect_code(3);
        assert!(
            run.stderr.contains("not one of the runbook's own items")
                && run.stderr.contains("backup.files"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(
        std::fs::read_to_string(ws.path().join("outside.txt")).unwrap(),
        "untouched\n"
    );
    // A path that climbs out of a folder the runbook names.
    edit_manifest(&ws, |m| {
        let file = item_mut(m, "file");
        file["source"] = format!("{}/../outside.txt", ws.path().display()).into();
        file["name"] = "config.env".into();
    });
    restore().expect_code(3);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("outside.txt")).unwrap(),
        "untouched\n"
    );
    // Nothing stopped, and the real items still restore.
    assert_eq!(project.times("db").started, db_started);
    edit_manifest(&ws, |m| {
        let file = item_mut(m, "file");
        file["source"] = ws.path().join("config.env").display().to_string().into();
        file["name"] = "config.env".into();
    });
    ws.write("config.env", "A=2\n");
    restore().expect_code(0);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("config.env")).unwrap(),
        "A=1\n"
    );
}

#[test]
fn restore_without_yes_and_without_a_terminal_changes_nothing() {
    let ws = Workspace::new();
    let project = empty_project();
    ws.write("compose.yml", "services: {}\n");
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\nproject: {project}\nbackup:\n  dir: ./backups\n  files: [compose.yml]\n"),
    );
    ws.opsbook(&["backup", "--state-dir", "state"])
        .expect_code(0);
    ws.write("compose.yml", "services: { changed: {} }\n");
    let filters = Filters::new(&ws)
        .literal(&project, "[PROJECT]")
        .regex(r"\bshop-\d{8}T\d{6}Z\b", "shop-YYYYMMDDThhmmssZ");
    assert_run(
        &ws.opsbook(&["restore", "latest", "--state-dir", "state"]),
        &filters,
        3,
        "",
        "verifying shop-YYYYMMDDThhmmssZ\n\
         error: restore backup shop-YYYYMMDDThhmmssZ into `[PROJECT]`: compose.yml → file [WS]/compose.yml: \
         this needs confirmation; without a terminal pass --yes (nothing was changed)\n",
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("compose.yml")).unwrap(),
        "services: { changed: {} }\n"
    );
}

/// db mounts `dbdata` holding one small file; the runbook backs up that
/// volume, `config.env` and a dump of db's records. The name has the
/// same width on every run.
fn small_shop(tag: &str) -> (Project, Workspace) {
    let project = Project::fixed_width(tag);
    let dbdata = project.volume("dbdata");
    project
        .service("db")
        .mount(&dbdata, "/data")
        .script("[ -f /data/records.txt ] || echo 'order 1' > /data/records.txt")
        .start();
    project.service("api").start();
    let ws = Workspace::new();
    ws.write("config.env", "A=1\n");
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\n  api: {{ depends_on: [db] }}\nshutdown:\n  grace: 2s\n\
             backup:\n  dir: ./backups\n  volumes: [dbdata]\n  files: [config.env]\n  stop: [api]\n  dumps:\n    records:\n      service: db\n      command: [cat, /data/records.txt]\n      restore: {RESTORE_RECORDS}\n",
            project.name
        ),
    );
    eventually("db wrote its records", LONG, || {
        project.exec("db", "test -f /data/records.txt")
    });
    (project, ws)
}

fn restore_filters(ws: &Workspace, project: &Project) -> Filters {
    Filters::new(ws)
        .literal(&project.name, "[PROJECT]")
        .regex(r"\bshop-\d{8}T\d{6}Z\b", "shop-YYYYMMDDThhmmssZ")
        .regex(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", "YYYY-MM-DD hh:mm:ssZ")
        .regex(r"\b\d+(?:\.\d)?[BKMG]\b", "[SIZE]")
        .regex(r"\bin \d+\.\ds\b", "in [T]s")
        .regex(r"\bdown \d+\.\ds\b", "down [T]s")
}

#[test]
fn restore_dry_run_shows_each_item_and_where_it_goes() {
    let (project, ws) = small_shop("x-restore-dry");
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    let api = project.times("api").started;
    assert_run(
        &ws.opsbook(&["restore", "--dry-run", "--state-dir", &state(&ws)]),
        &restore_filters(&ws, &project),
        0,
        r#"
ITEM        KIND    SIZE  RESTORED INTO
dbdata      volume  [SIZE]  volume [PROJECT]_dbdata (unpacked beside it, then swapped in)
config.env  file    [SIZE]  file [WS]/config.env
records     dump    [SIZE]  db: sh -c cat > /restored-records.txt < dump
from backup shop-YYYYMMDDThhmmssZ (YYYY-MM-DD hh:mm:ssZ); stopped, then started again: db, api
ok: 1 ok in [MS] ms
"#,
        "verifying shop-YYYYMMDDThhmmssZ\n",
    );
    assert_eq!(project.times("api").started, api, "nothing was stopped");
}

#[test]
fn restore_puts_every_item_back_and_says_how_long_the_services_were_down() {
    let (project, ws) = small_shop("x-restore");
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert!(project.exec("db", "echo 'order 2' > /data/records.txt"));
    ws.write("config.env", "A=2\n");
    assert_run(
        &ws.opsbook(&["restore", "latest", "--yes", "--state-dir", &state(&ws)]),
        &restore_filters(&ws, &project),
        0,
        r#"
ITEM        KIND    SIZE  RESTORED INTO
dbdata      volume  [SIZE]  volume [PROJECT]_dbdata (unpacked beside it, then swapped in)
config.env  file    [SIZE]  file [WS]/config.env
records     dump    [SIZE]  db: sh -c cat > /restored-records.txt < dump
from backup shop-YYYYMMDDThhmmssZ (YYYY-MM-DD hh:mm:ssZ); stopped, then started again: db, api
services were down [T]s
safety backup: shop-YYYYMMDDThhmmssZ
ok: 6 ok in [MS] ms
"#,
        r#"
verifying shop-YYYYMMDDThhmmssZ
dbdata: unpacking beside the volume's data (the services still run)
dbdata: [SIZE] unpacked and verified in [T]s
safety backup of the current state
records: [SIZE] → [SIZE] in [T]s
api: stopping [PROJECT]-api-1
api: stopped in [T]s
db: stopping [PROJECT]-db-1
db: stopped in [T]s
config.env: [SIZE] → [SIZE] in [T]s
dbdata: restored [SIZE] in [T]s
config.env: restored [SIZE] in [T]s
db: starting [PROJECT]-db-1
db: started, ready in [T]s
records: restored [SIZE] in [T]s
db: already running
api: starting [PROJECT]-api-1
api: started, ready in [T]s
dbdata: [SIZE] → [SIZE] in [T]s (direct)
safety backup shop-YYYYMMDDThhmmssZ
"#,
    );
    assert_eq!(project.output("db", "cat /data/records.txt"), "order 1\n");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("config.env")).unwrap(),
        "A=1\n"
    );
}

#[test]
fn restore_of_an_unknown_backup_changes_nothing() {
    let ws = Workspace::new();
    ws.write("compose.yml", "services: {}\n");
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\nproject: {}\nbackup:\n  dir: ./backups\n  files: [compose.yml]\n", empty_project()),
    );
    let filters = Filters::new(&ws);
    assert_run(
        &ws.opsbook(&["restore", "latest", "--yes", "--state-dir", "state"]),
        &filters,
        3,
        "",
        "error: no backup in [WS]/backups\n",
    );
    ws.opsbook(&["backup", "--state-dir", "state"])
        .expect_code(0);
    ws.write("compose.yml", "services: { changed: {} }\n");
    assert_run(
        &ws.opsbook(&[
            "restore",
            "shop-20200101T000000Z",
            "--yes",
            "--state-dir",
            "state",
        ]),
        &filters,
        3,
        "",
        "error: no backup `shop-20200101T000000Z` in [WS]/backups\n",
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("compose.yml")).unwrap(),
        "services: { changed: {} }\n"
    );
}

#[test]
fn latest_is_the_newest_backup_the_runbook_made_never_a_safety_backup() {
    let (project, ws) = shop("rs-latest", RESTORE_RECORDS);
    let state = state(&ws);
    let before = listing(&project);
    ws.opsbook(&["backup", "--state-dir", &state])
        .expect_code(0);

    // Damaged, restored: the restore takes a safety backup of the damage.
    assert!(project.exec("db", MUTATE));
    let damaged = listing(&project);
    ws.opsbook(&["restore", "latest", "--yes", "--state-dir", &state])
        .expect_code(0);
    assert_eq!(listing(&project), before);

    // Damaged again, and restored without a safety backup: `latest` is the
    // backup the runbook made, not the damage the last restore set aside.
    assert!(project.exec("db", "echo 'order 3' > /data/records.txt"));
    let run = ws.opsbook(&[
        "restore",
        "latest",
        "--yes",
        "--no-safety-backup",
        "--state-dir",
        &state,
    ]);
    run.expect_code(0);
    assert_eq!(listing(&project), before, "{}", run.stderr);

    // The safety backup comes back only when asked for.
    ws.opsbook(&[
        "restore",
        "latest-safety",
        "--yes",
        "--no-safety-backup",
        "--state-dir",
        &state,
    ])
    .expect_code(0);
    assert_eq!(listing(&project), damaged);

    // With only safety backups left, `latest` says so and names the way.
    let regular: Vec<String> = backup_ids(&ws)
        .into_iter()
        .filter(|(_, safety)| !safety)
        .map(|(id, _)| id)
        .collect();
    for id in regular {
        std::fs::remove_dir_all(ws.path().join("backups").join(id)).unwrap();
    }
    let filters = Filters::new(&ws);
    assert_run(
        &ws.opsbook(&["restore", "latest", "--yes", "--state-dir", &state]),
        &filters,
        3,
        "",
        "
error: no backup in [WS]/backups but safety backups taken before restores: name one by its id, or `latest-safety`
",
    );
    assert_eq!(listing(&project), damaged, "nothing was changed");
}

#[test]
fn a_manifest_naming_an_item_twice_is_refused_before_anything_stops() {
    let (project, ws) = shop("rs-twice", RESTORE_RECORDS);
    let state = state(&ws);
    ws.opsbook(&["backup", "--state-dir", &state])
        .expect_code(0);
    assert!(project.exec("db", MUTATE));
    let mutated = listing(&project);
    let (db, api) = (project.times("db").started, project.times("api").started);
    edit_manifest(&ws, |m| {
        let volume = item_mut(m, "volume").clone();
        m["items"].as_array_mut().unwrap().push(volume);
    });
    let filters = Filters::new(&ws).literal(&project.name, "[P]");
    assert_run(
        &ws.opsbook(&["restore", "latest", "--yes", "--state-dir", &state]),
        &filters,
        3,
        "",
        "
error: the backup's manifest names the same item twice (`dbdata` and `dbdata`, both `[P]_dbdata`): it was damaged or edited, nothing was changed
",
    );
    assert_eq!(listing(&project), mutated);
    assert_eq!(project.times("db").started, db, "db never stopped");
    assert_eq!(project.times("api").started, api, "api never stopped");
}

#[test]
fn a_damaged_manifest_is_named_as_damaged_not_as_a_missing_backup() {
    let (_project, ws) = small_shop("rs-damaged");
    let state = state(&ws);
    ws.opsbook(&["backup", "--state-dir", &state])
        .expect_code(0);
    let folder = only_file(&ws.path().join("backups"));
    let id = folder.file_name().unwrap().to_string_lossy().into_owned();
    // One flipped bit: `{` becomes `z`.
    let manifest = folder.join("manifest.json");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&manifest, bytes).unwrap();

    let filters = Filters::new(&ws).literal(&id, "[ID]");
    assert_run(
        &ws.opsbook(&["restore", &id, "--yes", "--state-dir", &state]),
        &filters,
        3,
        "",
        "
error: backup `[ID]` has a damaged manifest, `[WS]/backups/[ID]/manifest.json` (expected value at line 1 column 1): it cannot be read, so it is never listed, verified or restored
",
    );
    let listed = ws.opsbook(&["backup", "list", "--format", "json"]);
    let report = listed.expect_code(1).json();
    let damaged = result(&report, "backup", &id);
    assert_eq!(damaged["status"], "warn", "{report:#}");
    assert!(
        damaged["message"]
            .as_str()
            .unwrap()
            .starts_with("damaged manifest `"),
        "{damaged}"
    );
}

#[test]
fn a_safety_backup_left_by_a_restore_killed_after_its_swap_is_named_and_never_pruned() {
    let (project, ws) = shop(
        "rs-kill9",
        "[sh, -c, \"touch /restoring; cat > /first.txt; sleep 30\"]",
    );
    let state = state(&ws);
    ws.opsbook(&["backup", "--state-dir", &state])
        .expect_code(0);
    assert!(project.exec("db", MUTATE));
    ws.write("config.env", "A=2\n");

    // Killed outright while the dump is restored: the volume and the file
    // were replaced, and the safety backup of them is not finished.
    let mut child = ws.spawn(&["restore", "--yes", "--state-dir", &state]);
    eventually("the dump is being restored", LONG, || {
        project.exec("db", "test -f /restoring")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let backups = ws.path().join("backups");
    let partial: Vec<_> = std::fs::read_dir(&backups)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect();
    assert_eq!(partial.len(), 1, "{partial:?}");
    let shown = partial[0].display().to_string();
    let named = |report: &serde_json::Value, section: &str| {
        let r = result(report, section, "unfinished safety backup");
        assert_eq!(r["status"], "warn", "{report:#}");
        let message = r["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "{shown} is the safety backup of a restore that was killed before it finished"
            )),
            "{message}"
        );
    };

    // prune keeps it, and says so.
    let pruned = ws.opsbook(&[
        "backup",
        "prune",
        "--yes",
        "--state-dir",
        &state,
        "--format",
        "json",
    ]);
    named(&pruned.json(), "prune");
    assert!(partial[0].exists(), "prune kept it");
    // daily-check names it.
    let checked = ws.opsbook(&[
        "daily-check",
        "--only",
        "backups",
        "--state-dir",
        &state,
        "--format",
        "json",
    ]);
    named(&checked.json(), "backups");
    // So does the next restore.
    let next = ws.opsbook(&[
        "restore",
        "--dry-run",
        "--state-dir",
        &state,
        "--format",
        "json",
    ]);
    named(&next.json(), "restore");
    assert!(partial[0].exists());
}
