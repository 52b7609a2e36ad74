//! daily-check's `images` part against a real registry (Debian's
//! docker-registry on loopback): an image that is the registry's, a tag
//! moved on (an update available), newer semver tags, the answers kept for
//! `interval`, a registry that is gone (unknown, never crit), and one that
//! wants a login (read from the Docker CLI's config.json).

use std::process::Command;

use crate::support::registry::Registry;
use crate::support::{CALM_HOST, FIXTURE_IMAGE, Project, Workspace};
use crate::update::Images;

/// `docker ARGS`, which must succeed.
fn docker(args: &[&str]) {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// api runs `latest` and web `1.0.0` of `repo` in the registry.
fn deployment(
    tag: &str,
    registry: &Registry,
    images: &Images,
    config: &[&str],
) -> (Project, Workspace) {
    let one = images.build("1");
    let repo = format!("{}/{}", registry.host(), images.repo);
    for tag in ["latest", "1.0.0"] {
        docker(&["tag", &one, &format!("{repo}:{tag}")]);
        docker(&[config, &["push", "-q", &format!("{repo}:{tag}")]].concat());
    }
    let project = Project::new(tag);
    project
        .service("api")
        .image(&format!("{repo}:latest"))
        .start();
    project
        .service("web")
        .image(&format!("{repo}:1.0.0"))
        .start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {}\n{CALM_HOST}images: {{ check: true, interval: 1h, newer: minor }}\n",
            project.name
        ),
    );
    (project, ws)
}

/// The `images` results of a daily-check: (name, status, message) with the
/// registry, repository and digests replaced.
fn graded(ws: &Workspace, host: &str, repo: &str, docker_config: &str) -> Vec<String> {
    let run = ws.opsbook_with(
        &[
            "daily-check",
            "--only",
            "images",
            "--state-dir",
            "state",
            "--format",
            "json",
        ],
        &[("DOCKER_CONFIG", docker_config)],
    );
    let digest = regex::Regex::new(r"sha256:[0-9a-f]{12}").unwrap();
    run.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["section"] == "images")
        .map(|r| {
            let line = format!(
                "{} {} {}",
                r["status"].as_str().unwrap(),
                r["name"].as_str().unwrap(),
                r["message"].as_str().unwrap()
            );
            let line = line.replace(host, "[REGISTRY]").replace(repo, "[REPO]");
            digest.replace_all(&line, "[DIGEST]").into_owned()
        })
        .collect()
}

#[test]
fn a_moved_tag_and_newer_tags_are_updates_answers_are_kept_and_a_gone_registry_is_unknown() {
    let mut registry = Registry::start();
    let images = Images::new("x-images");
    let config = registry.docker_config();
    let config = config.to_str().unwrap();
    let (_project, ws) = deployment("x-images", &registry, &images, &["--config", config]);
    let host = registry.host();
    let now = |ws: &Workspace| graded(ws, &host, &images.repo, config);
    assert_eq!(
        now(&ws),
        [
            "ok api [REGISTRY]/[REPO]:latest is the registry's ([DIGEST])",
            "ok web [REGISTRY]/[REPO]:1.0.0 is the registry's ([DIGEST])",
        ]
    );
    // Version 2 pushed as `latest` and `1.1.0`: the answers are kept for
    // an hour, so nothing changes until the kept ones are gone.
    let two = images.build("2");
    let repo = format!("{}/{}", registry.host(), images.repo);
    for tag in ["latest", "1.1.0", "2.0.0"] {
        docker(&["tag", &two, &format!("{repo}:{tag}")]);
        docker(&["--config", config, "push", "-q", &format!("{repo}:{tag}")]);
    }
    assert_eq!(now(&ws).len(), 2);
    assert!(now(&ws)[0].starts_with("ok api"), "{:?}", now(&ws));
    let kept = ws.path().join("state/images");
    std::fs::remove_dir_all(&kept).unwrap();
    assert_eq!(
        now(&ws),
        [
            "warn api update available: [REGISTRY]/[REPO]:latest runs [DIGEST], the registry has [DIGEST]",
            "warn web [REGISTRY]/[REPO]:1.0.0 is the registry's ([DIGEST]); newer tags: 1.1.0",
        ]
    );
    // The registry gone: unknown, not crit (once the answers are not kept).
    registry.stop();
    std::fs::remove_dir_all(&kept).unwrap();
    let gone = now(&ws);
    assert_eq!(gone.len(), 2);
    for line in &gone {
        assert!(
            line.starts_with("unknown ")
                && line.contains("cannot ask [REGISTRY] about [REGISTRY]/[REPO]:"),
            "{gone:?}"
        );
    }
}

#[test]
fn a_registry_that_wants_a_login_gets_the_docker_clis() {
    let registry = Registry::start_with_login("ci", "s3cret-for-the-registry");
    let images = Images::new("x-images-login");
    let config = registry.docker_config();
    let config = config.to_str().unwrap();
    docker(&[
        "--config",
        config,
        "login",
        "-u",
        "ci",
        "-p",
        "s3cret-for-the-registry",
        &registry.host(),
    ]);
    let (_project, ws) = deployment("x-images-login", &registry, &images, &["--config", config]);
    assert_eq!(
        graded(&ws, &registry.host(), &images.repo, config),
        [
            "ok api [REGISTRY]/[REPO]:latest is the registry's ([DIGEST])",
            "ok web [REGISTRY]/[REPO]:1.0.0 is the registry's ([DIGEST])",
        ]
    );
    // Without the login: unknown, saying what to do.
    let empty = tempfile::tempdir().unwrap();
    std::fs::remove_dir_all(ws.path().join("state/images")).unwrap();
    assert_eq!(
        graded(
            &ws,
            &registry.host(),
            &images.repo,
            empty.path().to_str().unwrap()
        ),
        [
            "unknown api cannot ask [REGISTRY] about [REGISTRY]/[REPO]:latest: [REGISTRY] wants a login and the Docker CLI has none for it (`docker login [REGISTRY]`, or DOCKER_CONFIG)",
            "unknown web cannot ask [REGISTRY] about [REGISTRY]/[REPO]:1.0.0: [REGISTRY] wants a login and the Docker CLI has none for it (`docker login [REGISTRY]`, or DOCKER_CONFIG)",
        ]
    );
}

/// `docker -H host ARGS` with the classic builder, which must succeed; its
/// output.
fn on(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(["-H", host])
        .args(args)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Builds `name` from the fixture on the engine at `host`.
fn build_on(host: &str, name: &str, version: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {FIXTURE_IMAGE}\nENV APP_VERSION={version}\nLABEL org.opsbook.test.version={version}\n"),
    )
    .unwrap();
    on(
        host,
        &["build", "-q", "-t", name, dir.path().to_str().unwrap()],
    );
}

#[test]
fn images_prune_removes_what_nothing_uses_and_keeps_what_rollback_needs() {
    // An engine of its own: a prune is engine-wide.
    let host = crate::engines::start("/tmp/opsbook-engine-prune", &["unshare", "--net"], &[]);
    let project = "opsbook-prune";
    let _ = Command::new("docker")
        .args(["-H", &host, "rm", "-f", &format!("{project}-api-1")])
        .output();
    for (name, version) in [
        ("prune-app:1", "1"),
        ("prune-app:2", "2"),
        ("prune-app:3", "3"),
        ("prune-junk:1", "junk"),
    ] {
        build_on(&host, name, version);
    }
    on(
        &host,
        &[
            "run",
            "-d",
            "--name",
            &format!("{project}-api-1"),
            "--label",
            &format!("com.docker.compose.project={project}"),
            "--label",
            "com.docker.compose.service=api",
            "prune-app:1",
            "sh",
            "-c",
            "trap 'exit 0' TERM; sleep 3600 & wait",
        ],
    );
    // A dangling volume: an anonymous one whose container is gone.
    on(
        &host,
        &[
            "run",
            "--name",
            "prune-volume-maker",
            "-v",
            "/data",
            FIXTURE_IMAGE,
            "true",
        ],
    );
    on(&host, &["rm", "prune-volume-maker"]);
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {project}\nservices:\n  api: {{}}\nshutdown:\n  grace: 1s\n\
             procedures:\n  cleanup:\n    steps:\n      - images_prune: {{ keep: 2 }}\n"
        ),
    );
    let opsbook = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--state-dir", "state", "--format", "json"]);
        ws.opsbook_with(&all, &[("DOCKER_HOST", host.as_str())])
    };
    for image in ["prune-app:2", "prune-app:3"] {
        let run = opsbook(&["update", "--image", &format!("api={image}"), "--yes"]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    let said = |run: &crate::support::Run| -> Vec<String> {
        run.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["name"] != "volumes" && !r["name"].as_str().unwrap().starts_with("volume ")
            })
            .map(|r| {
                let text = |key: &str| r[key].as_str().unwrap_or_default().to_string();
                let message = regex::Regex::new(r"\(ran until [^)]*\)|\([0-9.]+[KMG]?i?B?\)")
                    .unwrap()
                    .replace_all(&text("message"), "(…)")
                    .into_owned();
                format!("{} {} {}", text("status"), text("name"), message)
            })
            .collect()
    };
    let dry = opsbook(&["images", "prune", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    let mut listed = said(&dry);
    listed.sort();
    assert_eq!(
        listed,
        [
            "ok dry-run dry run: nothing was changed".to_string(),
            format!("ok {FIXTURE_IMAGE} would be removed (…)"),
            "ok prune-app:1 would be removed (…)".to_string(),
            "ok prune-app:2 kept: api's rollback needs it (…)".to_string(),
            "ok prune-junk:1 would be removed (…)".to_string(),
        ]
    );
    let pruned = opsbook(&["images", "prune", "--yes"]);
    assert_eq!(pruned.code, 0, "{pruned:?}");
    let report = pruned.json();
    let volumes: Vec<&serde_json::Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"].as_str().unwrap().starts_with("volume "))
        .collect();
    assert_eq!(volumes.len(), 1, "{report:#}");
    // Version 1 and the junk image share every layer but their config
    // with what is kept: next to nothing is freed, and the fixture (the
    // kept images' base) is only untagged.
    assert!(
        report["reclaimed"]["total"].as_u64().is_some(),
        "{report:#}"
    );
    let mut done = said(&pruned);
    done.sort();
    assert_eq!(
        done,
        [
            format!("ok {FIXTURE_IMAGE} untagged: a kept image is built on it"),
            "ok prune-app:1 removed (…)".to_string(),
            "ok prune-app:2 kept: api's rollback needs it (…)".to_string(),
            "ok prune-junk:1 removed (…)".to_string(),
        ]
    );
    let left = on(&host, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut left: Vec<&str> = left.lines().filter(|l| !l.contains("<none>")).collect();
    left.sort();
    assert_eq!(left, ["prune-app:2", "prune-app:3"]);
    // Rollback still has its image.
    let back = opsbook(&["rollback", "api", "--yes"]);
    assert_eq!(back.code, 0, "{back:?}");
    // The same as a step of a procedure: a new junk image goes, the two
    // api ran last (2 now, 3 before) stay.
    crate::engines::load_fixture(&host);
    build_on(&host, "prune-junk:2", "junk-2");
    let step = opsbook(&["run", "cleanup", "--yes"]);
    assert_eq!(step.code, 0, "{step:?}");
    let left = on(&host, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut left: Vec<&str> = left.lines().filter(|l| !l.contains("<none>")).collect();
    left.sort();
    assert_eq!(left, ["prune-app:2", "prune-app:3"]);
    let _ = Command::new("docker")
        .args(["-H", &host, "rm", "-f", &format!("{project}-api-1")])
        .output();
}
