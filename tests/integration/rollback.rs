//! `opsbook rollback`: a service put back on the image it ran before its
//! last update (found in the image history of the state folder), behind
//! the same health gate and verify checks as an update.

use crate::support::exact::assert_run;
use crate::update::{Images, one_service, update_filters};

#[test]
fn rollback_puts_a_service_back_on_its_previous_image() {
    let images = Images::new("x-rollback");
    let one = images.build("1");
    let two = images.build("2");
    let (project, ws) = one_service("x-rollback", &one);
    let filters = update_filters(&ws, &project, &images);
    ws.opsbook(&[
        "update",
        "--image",
        &format!("api={two}"),
        "--yes",
        "--state-dir",
        "state",
    ])
    .expect_code(0);
    assert_run(
        &ws.opsbook(&["rollback", "api", "--dry-run", "--state-dir", "state"]),
        &filters,
        0,
        r#"
STATUS  SECTION   NAME     MESSAGE
ok      rollback  api      would go [REPO]:2 ([IMAGE]) → [REPO]:1 ([IMAGE])
ok      rollback  dry-run  dry run: nothing was changed
ok: 2 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &ws.opsbook(&["rollback", "api", "--yes", "--state-dir", "state"]),
        &filters,
        0,
        r#"
STATUS  SECTION   NAME       MESSAGE
ok      rollback  api        [REPO]:2 ([IMAGE]) → [REPO]:1 ([IMAGE]): ready in [T]s
ok      checks    api-ready  `test -f /tmp/ready` succeeded
ok: 2 ok in [MS] ms
"#,
        "api: [REPO]:2 ([IMAGE]) → [REPO]:1 ([IMAGE]): ready in [T]s\n",
    );
    assert_eq!(project.output("api", "cat /tmp/version"), "1\n");
}

#[test]
fn rollback_without_an_earlier_image_changes_nothing() {
    let images = Images::new("x-rollback-none");
    let one = images.build("1");
    let (project, ws) = one_service("x-rollback-none", &one);
    let before = project.inspect("api").id;
    assert_run(
        &ws.opsbook(&["rollback", "api", "--yes", "--state-dir", "state"]),
        &update_filters(&ws, &project, &images),
        3,
        "",
        "error: `api` has no earlier image in opsbook's image history (it runs [REPO]:1 ([IMAGE]); \
         `opsbook update` records each image it replaces): name one with --to IMAGE\n",
    );
    assert_eq!(project.inspect("api").id, before, "api was not touched");
}

#[test]
fn rollback_with_update_pull_uses_the_image_on_the_host_and_never_pulls_an_id() {
    let images = Images::new("x-rollback-pull");
    let one = images.build("1");
    let two = images.build("2");
    let (project, ws) = one_service("x-rollback-pull", &one);
    ws.opsbook(&[
        "update",
        "--image",
        &format!("api={two}"),
        "--yes",
        "--state-dir",
        "state",
    ])
    .expect_code(0);
    // `update.pull` on, and the old name moved on: the image api ran before
    // is found by its id, which is on the host and is no name to pull.
    let runbook = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write("opsbook.yaml", format!("{runbook}update:\n  pull: true\n"));
    let moved = std::process::Command::new("docker")
        .args(["tag", &two, &one])
        .status()
        .unwrap();
    assert!(moved.success());
    let run = ws.opsbook(&["rollback", "api", "--yes", "--state-dir", "state"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("pulling"), "{}", run.stderr);
    assert_eq!(project.output("api", "cat /tmp/version"), "1\n");
}
