//! `opsbook rollback`: a service put back on the image it ran before its
//! last update (found in the image history of the state folder), behind
//! the same health gate and verify checks as an update.

use crate::support::exact::assert_run;
use crate::support::registry::Registry;
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

/// `docker ARGS`, which must succeed.
fn docker(args: &[&str]) {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rollback_after_an_image_prune_pulls_the_previous_image_back_by_its_digest() {
    let mut registry = Registry::start();
    let images = Images::new("x-rollback-prune");
    let one = images.build("1");
    let two = images.build("2");
    let latest = format!("{}/{}:latest", registry.host(), images.repo);
    docker(&["tag", &one, &latest]);
    docker(&["push", "-q", &latest]);
    let (project, ws) = one_service("x-rollback-prune", &latest);
    // Version 2 is pushed as `latest`, the local tag removed: `update
    // --pull` pulls it and records the digest it pulled.
    docker(&["tag", &two, &latest]);
    docker(&["push", "-q", &latest]);
    docker(&["rmi", &latest]);
    let updated = ws.opsbook(&["update", "api", "--pull", "--yes", "--state-dir", "state"]);
    assert_eq!(updated.code, 0, "{updated:?}");
    assert!(
        updated.stderr.contains(&format!("api: pulling {latest}")),
        "{updated:?}"
    );
    assert_eq!(project.output("api", "cat /tmp/version"), "2\n");
    let history = std::fs::read_to_string(ws.path().join("state/images"))
        .or_else(|_| {
            let dir = ws.path().join("state/images");
            let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap();
            std::fs::read_to_string(file.path())
        })
        .unwrap();
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    let ran = history["api"].as_array().unwrap();
    assert_eq!(ran.len(), 2, "{history:#}");
    for r in ran {
        let digest = r["digests"][0].as_str().unwrap_or_default();
        assert!(
            digest.starts_with(&format!("{}/{}@sha256:", registry.host(), images.repo)),
            "{history:#}"
        );
    }

    // The routine prune (of this test's images only: the engine is shared)
    // deletes version 1, which nothing runs.
    docker(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        &format!("label=org.opsbook.test.repo={}", images.repo),
    ]);
    let gone = std::process::Command::new("docker")
        .args(["image", "inspect", &one])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "version 1 was pruned");
    let filters = update_filters(&ws, &project, &images)
        .literal(&registry.host(), "[REGISTRY]")
        .regex(r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]");
    assert_run(
        &ws.opsbook(&["rollback", "api", "--yes", "--state-dir", "state"]),
        &filters,
        0,
        r#"
STATUS  SECTION   NAME       MESSAGE
ok      rollback  api        [REGISTRY]/[REPO]:latest ([IMAGE]) → [REGISTRY]/[REPO]@sha256:[DIGEST] ([IMAGE]): ready in [T]s
ok      checks    api-ready  `test -f /tmp/ready` succeeded
ok: 2 ok in [MS] ms
"#,
        "api: pulling [REGISTRY]/[REPO]@sha256:[DIGEST]\napi: [REGISTRY]/[REPO]:latest ([IMAGE]) → [REGISTRY]/[REPO]@sha256:[DIGEST] ([IMAGE]): ready in [T]s\n",
    );
    assert_eq!(project.output("api", "cat /tmp/version"), "1\n");

    // Forward again (the service now runs the digest, which `update`
    // alone would pull again), pruned, and the registry gone: refused,
    // nothing changed.
    let forward = format!("api={latest}");
    let updated = ws.opsbook(&[
        "update",
        "--image",
        &forward,
        "--pull",
        "--yes",
        "--state-dir",
        "state",
    ]);
    assert_eq!(updated.code, 0, "{updated:?}");
    assert_eq!(project.output("api", "cat /tmp/version"), "2\n");
    docker(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        &format!("label=org.opsbook.test.repo={}", images.repo),
    ]);
    registry.stop();
    let before = project.inspect("api").id;
    assert_run(
        &ws.opsbook(&["rollback", "api", "--yes", "--state-dir", "state"]),
        &filters,
        3,
        "",
        "api: pulling [REGISTRY]/[REPO]@sha256:[DIGEST]\n\
         error: the image `api` ran before is no longer on this host and could not be pulled back by its digest: \
         Docker at `unix:///var/run/docker.sock` failed while pulling `[REGISTRY]/[REPO]@sha256:[DIGEST]`: \
         Docker responded with status code 500: Get \"http://[REGISTRY]/v2/\": dial tcp [REGISTRY]: connect: connection refused: \
         nothing was changed (name one with --to IMAGE)\n",
    );
    assert_eq!(project.inspect("api").id, before, "api was not touched");
}
