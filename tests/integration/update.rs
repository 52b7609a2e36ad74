//! `opsbook update` and `rollback` against real containers and real images
//! (each built from the fixture image, differing in `ENV APP_VERSION`): the
//! twin keeps the container's own configuration and takes the new image's
//! defaults; a failed health gate, a failed verify check and a signal each
//! put back every service touched, as the very containers they were.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, FIXTURE_IMAGE, Project, Workspace, eventually, result, terminate};

/// The app: refuses to start on `broken`, is slow on `slow`, and is ready
/// (healthcheck) once it wrote its version.
pub(crate) const APP: &str = "case \"$APP_VERSION\" in broken) echo boom >&2; exit 1;; slow) sleep 60;; esac; \
                   echo \"$APP_VERSION\" > /tmp/version; touch /tmp/ready";

/// Images tagged for one test, removed with it.
pub(crate) struct Images {
    pub(crate) repo: String,
}

impl Images {
    pub(crate) fn new(tag: &str) -> Images {
        Images {
            repo: format!("opsbook-update-{tag}-{}", std::process::id()),
        }
    }

    /// Builds `REPO:version` from the fixture with `APP_VERSION=version`.
    pub(crate) fn build(&self, version: &str) -> String {
        let name = format!("{}:{version}", self.repo);
        // The repository in a label too: the builder's cache would give two
        // tests the same image for the same version, and one test's
        // cleanup (`rmi -f`) would delete the image the other still needs.
        let dockerfile = format!(
            "FROM {FIXTURE_IMAGE}\nENV APP_VERSION={version}\nLABEL org.opsbook.test.version={version} org.opsbook.test.repo={}\n",
            self.repo
        );
        let mut child = Command::new("docker")
            .args(["build", "-q", "-t", &name, "-"])
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker build");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(dockerfile.as_bytes())
            .expect("write Dockerfile");
        let output = child.wait_with_output().expect("docker build");
        assert!(
            output.status.success(),
            "docker build {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        name
    }

    /// Points `REPO:latest` at `REPO:version`.
    fn tag_latest(&self, version: &str) -> String {
        let latest = format!("{}:latest", self.repo);
        let status = Command::new("docker")
            .args(["tag", &format!("{}:{version}", self.repo), &latest])
            .status()
            .expect("docker tag");
        assert!(status.success());
        latest
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        // By label: tags in a registry's name (`127.0.0.1:PORT/REPO:1`) too.
        let listed = Command::new("docker")
            .args([
                "images",
                "--filter",
                &format!("label=org.opsbook.test.repo={}", self.repo),
                "--format",
                "{{.Repository}}:{{.Tag}}",
            ])
            .output();
        if let Ok(listed) = listed {
            for name in String::from_utf8_lossy(&listed.stdout).lines() {
                let _ = Command::new("docker")
                    .args(["rmi", "-f", name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// db and api on `image`, both running the app behind a healthcheck; api
/// with its own env, a volume, a published port, a network alias and a
/// restart policy, all of which an update must keep.
fn deployment(tag: &str, image: &str, port: u16) -> Project {
    let project = Project::new(tag);
    let network = project.network();
    let volume = project.volume("data");
    project
        .service("db")
        .image(image)
        .joins(&network)
        .script(APP)
        .healthcheck("test -f /tmp/ready")
        .start();
    project
        .service("api")
        .image(image)
        .joins(&network)
        .script(&format!(
            "{APP}; echo kept > /data/marker-$(cat /tmp/version)"
        ))
        .healthcheck("test -f /tmp/ready")
        .env("DB_URL=postgres://db/shop")
        .mount(&volume, "/data")
        .port(8080, port)
        .restart_on_failure()
        .start();
    for service in ["db", "api"] {
        project.wait_for_health(service, "healthy", Duration::from_secs(30));
    }
    project
}

fn runbook(project: &Project, extra: &str) -> String {
    format!(
        "version: 1\nname: shop\nproject: {}\n{CALM_HOST}\
         services:\n  db: {{ critical: true }}\n  api: {{ depends_on: [db] }}\n\
         checks:\n  version-sane:\n    exec: {{ service: api, command: [sh, -c, 'test \"$(cat /tmp/version)\" != 3'] }}\n\
         startup:\n  timeout: 30s\n  verify: [version-sane]\n\
         shutdown:\n  grace: 2s\n{extra}",
        project.name
    )
}

fn env_of(project: &Project, service: &str) -> Vec<String> {
    project
        .inspect(service)
        .config
        .and_then(|c| c.env)
        .unwrap_or_default()
}

fn id_of(project: &Project, service: &str) -> String {
    project.inspect(service).id.unwrap_or_default()
}

/// Every container of the project, by name: none set aside may be left.
fn names(project: &Project) -> Vec<String> {
    let output = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={}", project.name),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .expect("docker ps");
    let mut names: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

#[test]
fn update_follows_the_tag_keeps_the_configuration_and_rollback_goes_back() {
    let images = Images::new("follow");
    images.build("1");
    images.build("2");
    let latest = images.tag_latest("1");
    let port = crate::support::free_port();
    let project = deployment("follow", &latest, port);
    let ws = Workspace::new();
    ws.write("opsbook.yaml", runbook(&project, ""));
    let state = ws.path().join("state");
    let state = state.to_str().unwrap();
    let before = project.inspect("api");

    // Nothing moved yet: nothing to do.
    let report = ws
        .opsbook(&["update", "--yes", "--state-dir", state, "--format", "json"])
        .expect_code(0)
        .json();
    let message = result(&report, "update", "api")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.starts_with("already on"), "{message}");

    images.tag_latest("2");
    let dry = ws
        .opsbook(&[
            "update",
            "--dry-run",
            "--state-dir",
            state,
            "--format",
            "json",
        ])
        .expect_code(0)
        .json();
    let message = result(&dry, "update", "api")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with(&format!("would go {latest} (")),
        "{message}"
    );
    assert_eq!(id_of(&project, "api"), before.id.clone().unwrap());

    // Without a terminal an update needs --yes, and changes nothing.
    let refused = ws.opsbook(&["update", "--state-dir", state]);
    refused.expect_code(3);
    assert!(refused.stderr.contains("pass --yes"), "{}", refused.stderr);

    let report = ws
        .opsbook(&["update", "--yes", "--state-dir", state, "--format", "json"])
        .expect_code(0)
        .json();
    for service in ["db", "api"] {
        let r = result(&report, "update", service);
        assert_eq!(r["status"], "ok", "{r}");
        assert!(r["message"].as_str().unwrap().contains("ready in"), "{r}");
    }
    assert_eq!(result(&report, "checks", "version-sane")["status"], "ok");
    let after = project.inspect("api");
    assert_ne!(after.id, before.id, "api was recreated");
    // The new image's own default, and the container's own setting.
    let env = env_of(&project, "api");
    assert!(env.contains(&"APP_VERSION=2".to_string()), "{env:?}");
    assert!(
        env.contains(&"DB_URL=postgres://db/shop".to_string()),
        "{env:?}"
    );
    assert_eq!(project.output("api", "cat /tmp/version").trim(), "2");
    // The volume's data stayed: both versions' markers are there.
    assert!(project.exec("api", "test -f /data/marker-1 && test -f /data/marker-2"));
    let (host_before, host_after) = (
        before.host_config.unwrap(),
        after.host_config.clone().unwrap(),
    );
    assert_eq!(host_after.port_bindings, host_before.port_bindings);
    assert_eq!(host_after.restart_policy, host_before.restart_policy);
    assert_eq!(host_after.binds, host_before.binds);
    let labels = after
        .config
        .clone()
        .and_then(|c| c.labels)
        .unwrap_or_default();
    assert_eq!(labels["com.docker.compose.service"], "api");
    assert_eq!(labels["com.docker.compose.project"], project.name);
    assert_eq!(
        labels["org.opsbook.test.version"], "2",
        "the new image's label"
    );
    let networks = after
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default();
    let aliases = networks[&project.network()]
        .aliases
        .clone()
        .unwrap_or_default();
    assert!(aliases.contains(&"api".to_string()), "{aliases:?}");
    assert_eq!(
        names(&project),
        [project.container_name("api"), project.container_name("db")],
        "one container a service: nothing set aside is left"
    );

    // Back to the image api ran before: the tag moved on, so by its id.
    let report = ws
        .opsbook(&[
            "rollback",
            "api",
            "--yes",
            "--state-dir",
            state,
            "--format",
            "json",
        ])
        .expect_code(0)
        .json();
    let r = result(&report, "rollback", "api");
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(project.output("api", "cat /tmp/version").trim(), "1");
    assert!(env_of(&project, "api").contains(&"APP_VERSION=1".to_string()));
    // db was not rolled back.
    assert_eq!(project.output("db", "cat /tmp/version").trim(), "2");
    let history: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::fs::read_dir(ws.path().join("state/images"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path(),
        )
        .unwrap(),
    )
    .unwrap();
    let by: Vec<&str> = history["api"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["by"].as_str().unwrap())
        .collect();
    assert_eq!(by, ["seen", "update", "rollback"], "{history:#}");
}

#[test]
fn a_service_that_fails_its_gate_puts_every_touched_service_back() {
    let images = Images::new("gate");
    let v1 = images.build("1");
    images.build("2");
    images.build("broken");
    let project = deployment("gate", &v1, crate::support::free_port());
    let ws = Workspace::new();
    ws.write("opsbook.yaml", runbook(&project, ""));
    let (db_before, api_before) = (id_of(&project, "db"), id_of(&project, "api"));

    let run = ws.opsbook(&[
        "update",
        "--yes",
        "--image",
        &format!("db={}:2", images.repo),
        "--image",
        &format!("api={}:broken", images.repo),
        "--format",
        "json",
    ]);
    let report = run.expect_code(2).json();
    // db went first (dependency order), was fine, and was put back.
    let db = result(&report, "update", "db");
    assert_eq!(db["status"], "warn", "{db}");
    assert!(
        db["message"].as_str().unwrap().contains("put back on"),
        "{db}"
    );
    let api = result(&report, "update", "api");
    assert_eq!(api["status"], "crit", "{api}");
    assert!(
        api["message"]
            .as_str()
            .unwrap()
            .contains("not ready: crashed and was restarted by its restart policy (1 restart"),
        "{api}"
    );
    assert_eq!(result(&report, "update", "put back")["status"], "crit");
    assert_eq!(
        result(&report, "checks", "version-sane (after putting back)")["status"],
        "ok"
    );
    // The very containers, running their old image again.
    assert_eq!(id_of(&project, "db"), db_before);
    assert_eq!(id_of(&project, "api"), api_before);
    project.wait_for_health("api", "healthy", Duration::from_secs(20));
    assert_eq!(project.output("db", "cat /tmp/version").trim(), "1");
    assert_eq!(
        names(&project),
        [project.container_name("api"), project.container_name("db")]
    );
}

#[test]
fn a_failed_verify_check_puts_back_and_a_missing_image_changes_nothing() {
    let images = Images::new("verify");
    let v1 = images.build("1");
    images.build("3");
    let project = deployment("verify", &v1, crate::support::free_port());
    let ws = Workspace::new();
    ws.write("opsbook.yaml", runbook(&project, ""));
    let api_before = id_of(&project, "api");

    // Version 3 starts and is healthy, but the verify check refuses it.
    let report = ws
        .opsbook(&[
            "update",
            "--yes",
            "--image",
            &format!("api={}:3", images.repo),
            "--format",
            "json",
        ])
        .expect_code(2)
        .json();
    assert_eq!(result(&report, "checks", "version-sane")["status"], "crit");
    let api = result(&report, "update", "api");
    assert!(
        api["message"]
            .as_str()
            .unwrap()
            .contains("a verify check failed"),
        "{api}"
    );
    assert_eq!(id_of(&project, "api"), api_before);
    assert_eq!(project.output("api", "cat /tmp/version").trim(), "1");

    // An image that is not on the host: refused before anything changes.
    let missing = ws.opsbook(&["update", "--yes", "--image", "api=opsbook-no-such-image:9"]);
    missing.expect_code(3);
    assert!(
        missing
            .stderr
            .contains("image `opsbook-no-such-image:9` for `api` is not on this host"),
        "{}",
        missing.stderr
    );
    // With `update.pull`, a pull that fails changes nothing either.
    ws.write("opsbook.yaml", runbook(&project, "update:\n  pull: true\n"));
    let pull = ws.opsbook(&[
        "update",
        "--yes",
        "--image",
        "api=127.0.0.1:9/opsbook/none:1",
    ]);
    pull.expect_code(3);
    assert!(
        pull.stderr.contains("pulling `127.0.0.1:9/opsbook/none:1`"),
        "{}",
        pull.stderr
    );
    assert_eq!(id_of(&project, "api"), api_before);
    // An unknown service is refused naming the known ones.
    let unknown = ws.opsbook(&["update", "--yes", "nope"]);
    unknown.expect_code(3);
    assert!(
        unknown
            .stderr
            .contains("unknown service `nope` (services are: db, api)"),
        "{}",
        unknown.stderr
    );
    // Nothing earlier to roll back to.
    let rollback = ws.opsbook(&["rollback", "db", "--yes"]);
    rollback.expect_code(3);
    assert!(
        rollback.stderr.contains("has no earlier image"),
        "{}",
        rollback.stderr
    );
    // A container an update killed outright left set aside: refused, named.
    let aside = format!("{}-opsbook-previous", project.container_name("api"));
    let created = Command::new("docker")
        .args(["create", "--name", &aside])
        .args([
            "--label",
            &format!("com.docker.compose.project={}", project.name),
        ])
        .args([
            "--label",
            "com.docker.compose.service=api",
            FIXTURE_IMAGE,
            "true",
        ])
        .output()
        .expect("docker create");
    assert!(created.status.success());
    let refused = ws.opsbook(&[
        "update",
        "--yes",
        "--image",
        &format!("api={}:3", images.repo),
    ]);
    refused.expect_code(3);
    assert!(
        refused.stderr.contains(&format!(
            "`{aside}` was set aside by an earlier update that did not finish"
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(id_of(&project, "api"), api_before);
}

#[test]
fn sigterm_during_an_update_puts_the_service_back() {
    let images = Images::new("signal");
    let v1 = images.build("1");
    images.build("slow");
    let project = deployment("signal", &v1, crate::support::free_port());
    let ws = Workspace::new();
    ws.write("opsbook.yaml", runbook(&project, ""));
    let api_before = id_of(&project, "api");

    let child = ws.spawn(&[
        "update",
        "--yes",
        "--image",
        &format!("api={}:slow", images.repo),
        "--format",
        "json",
    ]);
    // The twin exists (the old container set aside) and waits to be ready.
    let aside = format!("{}-opsbook-previous", project.container_name("api"));
    eventually("the old api set aside", Duration::from_secs(20), || {
        names(&project).contains(&aside)
    });
    std::thread::sleep(Duration::from_millis(500));
    let run = terminate(child);
    let report = run.expect_code(2).json();
    assert_eq!(result(&report, "update", "interrupted")["status"], "crit");
    assert_eq!(id_of(&project, "api"), api_before);
    assert_eq!(project.times("api").state, "running");
    assert_eq!(
        names(&project),
        [project.container_name("api"), project.container_name("db")]
    );
}

#[test]
fn update_and_rollback_are_steps_of_a_procedure() {
    let images = Images::new("steps");
    images.build("1");
    images.build("2");
    let latest = images.tag_latest("1");
    let project = deployment("steps", &latest, crate::support::free_port());
    let ws = Workspace::new();
    let procedures = "procedures:\n  deploy:\n    steps:\n      - update: api\n\
                      \x20 recover:\n    steps:\n      - check: on-one\n        on_failure:\n          - rollback: api\n";
    let checks_extra = "  on-one:\n    exec: { service: api, command: [sh, -c, 'test \"$(cat /tmp/version)\" = 1'] }\n";
    let text =
        runbook(&project, procedures).replace("startup:\n", &format!("{checks_extra}startup:\n"));
    ws.write("opsbook.yaml", &text);
    let state = ws.path().join("state");
    let state = state.to_str().unwrap();
    ws.opsbook(&["validate"]).expect_code(0);

    let dry = ws.opsbook(&["run", "recover", "--dry-run"]);
    assert!(
        dry.stdout.contains("on failure 1: rollback: api"),
        "{}",
        dry.stdout
    );

    images.tag_latest("2");
    let run = ws.opsbook(&[
        "run",
        "deploy",
        "--yes",
        "--state-dir",
        state,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!("api: {latest} (")),
        "{}",
        run.stdout
    );
    assert_eq!(project.output("api", "cat /tmp/version").trim(), "2");

    // The check fails on version 2: its fallback rolls api back to 1.
    let run = ws.opsbook(&[
        "run",
        "recover",
        "--yes",
        "--state-dir",
        state,
        "--format",
        "json",
    ]);
    assert!(
        run.code == 0 || run.code == 1,
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert!(run.stdout.contains("ready in"), "{}", run.stdout);
    assert_eq!(project.output("api", "cat /tmp/version").trim(), "1");

    // A step that refers to a service the runbook lacks is refused, located.
    ws.write(
        "opsbook.yaml",
        text.replace("- update: api", "- update: nope"),
    );
    let refused = ws.opsbook(&["validate"]);
    refused.expect_code(3);
    assert!(
        refused.stderr.contains("unknown service `nope`"),
        "{}",
        refused.stderr
    );
}

/// `docker compose` (v2) if it answers, else `docker-compose` (v1).
fn compose() -> Vec<String> {
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if v2 {
        vec!["docker".into(), "compose".into()]
    } else {
        vec!["docker-compose".into()]
    }
}

fn compose_run(ws: &Workspace, project: &Project, args: &[&str]) -> String {
    let argv = compose();
    let output = Command::new(&argv[0])
        .args(&argv[1..])
        .args(["-p", &project.name])
        .args(args)
        .current_dir(ws.path())
        .output()
        .expect("compose");
    assert!(
        output.status.success(),
        "compose {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn compose_still_sees_one_service_after_an_update() {
    let images = Images::new("compose");
    images.build("1");
    images.build("2");
    let latest = images.tag_latest("1");
    let project = Project::new("compose");
    let ws = Workspace::new();
    ws.write(
        "docker-compose.yml",
        format!(
            "version: \"3\"\nservices:\n  api:\n    image: {latest}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n    environment: {{ DB_URL: \"postgres://db\" }}\n"
        ),
    );
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {}\nservices:\n  api: {{}}\n",
            project.name
        ),
    );
    compose_run(&ws, &project, &["up", "-d"]);
    images.tag_latest("2");
    let run = ws.opsbook(&["update", "--yes", "--state-dir", "state"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // Compose finds exactly one container of the service, the new one.
    let ids = compose_run(&ws, &project, &["ps", "-q"]);
    assert_eq!(ids.lines().count(), 1, "{ids}");
    assert_eq!(ids.trim(), id_of_compose(&project));
    assert!(env_of_compose(&project).contains(&"APP_VERSION=2".to_string()));
    // A later `up` (as the README says) leaves it on the image the compose
    // file names: the same one, whether or not compose recreates it.
    compose_run(&ws, &project, &["up", "-d"]);
    let ids = compose_run(&ws, &project, &["ps", "-q"]);
    assert_eq!(ids.lines().count(), 1, "{ids}");
    assert!(env_of_compose(&project).contains(&"APP_VERSION=2".to_string()));
    compose_run(&ws, &project, &["down"]);
}

/// The id and env of compose's `api` container (named `<project>_api_1`
/// by v1, `<project>-api-1` by v2).
fn compose_container(project: &Project) -> bollard::models::ContainerInspectResponse {
    let docker = &project.engine.docker;
    let rt = &project.engine.runtime;
    for name in [
        format!("{}_api_1", project.name),
        format!("{}-api-1", project.name),
    ] {
        if let Ok(inspect) = rt.block_on(docker.inspect_container(&name, None)) {
            return inspect;
        }
    }
    panic!("no compose container for api in {}", project.name)
}

fn id_of_compose(project: &Project) -> String {
    compose_container(project).id.unwrap_or_default()
}

fn env_of_compose(project: &Project) -> Vec<String> {
    compose_container(project)
        .config
        .and_then(|c| c.env)
        .unwrap_or_default()
}

/// api on `image`, running the app behind a healthcheck, in a project
/// whose name has the same width on every run; its runbook.
pub(crate) fn one_service(tag: &str, image: &str) -> (Project, Workspace) {
    let project = Project::fixed_width(tag);
    project
        .service("api")
        .image(image)
        .script(APP)
        .healthcheck("test -f /tmp/ready")
        .start();
    project.wait_for_health("api", "healthy", Duration::from_secs(30));
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\n{CALM_HOST}services:\n  api: {{}}\n\
             checks:\n  api-ready:\n    exec: {{ service: api, command: [test, -f, /tmp/ready] }}\n\
             startup:\n  timeout: 30s\n  verify: [api-ready]\nshutdown:\n  grace: 2s\n",
            project.name
        ),
    );
    (project, ws)
}

/// The project, the images' repository, image ids and times.
pub(crate) fn update_filters(ws: &Workspace, project: &Project, images: &Images) -> Filters {
    Filters::new(ws)
        .literal(&project.name, "[PROJECT]")
        .literal(&images.repo, "[REPO]")
        .regex(r"\([0-9a-f]{12}\)", "([IMAGE])")
        .regex(r"\bin \d+\.\ds\b", "in [T]s")
}

#[test]
fn update_puts_a_service_on_the_image_named_and_verifies() {
    let images = Images::new("x-update");
    let one = images.build("1");
    let two = images.build("2");
    let (project, ws) = one_service("x-update", &one);
    let filters = update_filters(&ws, &project, &images);
    assert_run(
        &ws.opsbook(&[
            "update",
            "--image",
            &format!("api={two}"),
            "--dry-run",
            "--state-dir",
            "state",
        ]),
        &filters,
        0,
        r#"
STATUS  SECTION  NAME     MESSAGE
ok      update   api      would go [REPO]:1 ([IMAGE]) → [REPO]:2 ([IMAGE])
ok      update   dry-run  dry run: nothing was changed
ok: 2 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &ws.opsbook(&[
            "update",
            "--image",
            &format!("api={two}"),
            "--yes",
            "--state-dir",
            "state",
        ]),
        &filters,
        0,
        r#"
STATUS  SECTION  NAME       MESSAGE
ok      update   api        [REPO]:1 ([IMAGE]) → [REPO]:2 ([IMAGE]): ready in [T]s
ok      checks   api-ready  `test -f /tmp/ready` succeeded
ok: 2 ok in [MS] ms
"#,
        "api: [REPO]:1 ([IMAGE]) → [REPO]:2 ([IMAGE]): ready in [T]s\n",
    );
    assert_eq!(project.output("api", "cat /tmp/version"), "2\n");
}

#[test]
fn update_to_an_image_that_is_not_on_the_host_changes_nothing() {
    let images = Images::new("x-update-missing");
    let one = images.build("1");
    let (project, ws) = one_service("x-update-missing", &one);
    let before = id_of(&project, "api");
    let filters = update_filters(&ws, &project, &images);
    assert_run(
        &ws.opsbook(&[
            "update",
            "--image",
            &format!("api={}:9", images.repo),
            "--yes",
            "--state-dir",
            "state",
        ]),
        &filters,
        3,
        "",
        "error: image `[REPO]:9` for `api` is not on this host (build or pull it first, or set `update.pull: true`): nothing was changed\n",
    );
    assert_eq!(id_of(&project, "api"), before, "api was not touched");
}

#[test]
fn update_hooks_frame_an_update_and_a_failed_after_step_puts_everything_back() {
    let images = Images::new("x-update-hooks");
    let one = images.build("1");
    let two = images.build("2");
    let three = images.build("3");
    let (project, ws) = one_service("x-update-hooks", &one);
    let runbook = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    let hooks = "update:\n  before:\n    - sh: \"echo on >> hooks.log\"\n  after:\n    \
                 - exec: { service: api, command: [sh, -c, 'test \"$(cat /tmp/version)\" != 3'] }\n    \
                 - sh: \"echo off >> hooks.log\"\n";
    ws.write("opsbook.yaml", format!("{runbook}{hooks}"));
    ws.opsbook(&["validate"]).expect_code(0);
    let update = |image: &str| {
        let run = ws.opsbook(&[
            "update",
            "--image",
            &format!("api={image}"),
            "--yes",
            "--state-dir",
            "state",
            "--format",
            "json",
        ]);
        let said: Vec<String> = run.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] != "ok")
            .map(|r| {
                let text = |key: &str| r[key].as_str().unwrap_or_default().to_string();
                format!("{} {} {}", text("status"), text("section"), text("name"))
            })
            .collect();
        (run.code, said)
    };
    let log = || std::fs::read_to_string(ws.path().join("hooks.log")).unwrap_or_default();
    assert_eq!(update(&two), (0, vec![]));
    assert_eq!(project.output("api", "cat /tmp/version"), "2\n");
    assert_eq!(log(), "on\noff\n");
    // Version 3 is ready and passes the verify checks, but the first
    // `after` step refuses it: everything goes back, `off` never runs.
    assert_eq!(
        update(&three),
        (
            2,
            vec![
                "warn update api".to_string(),
                "crit update put back".to_string(),
                "crit hook update.after 1 exec: api: sh -c test \"$(cat /tmp/version)\" != 3"
                    .to_string(),
            ]
        )
    );
    assert_eq!(project.output("api", "cat /tmp/version"), "2\n");
    assert_eq!(log(), "on\noff\non\n");
    // A failed `before` step: nothing changes.
    ws.write(
        "opsbook.yaml",
        format!("{runbook}update:\n  before:\n    - sh: \"exit 1\"\n"),
    );
    let before = project.inspect("api").id;
    assert_eq!(
        update(&three),
        (
            2,
            vec![
                "crit hook update.before 1 sh: exit 1".to_string(),
                "crit update result".to_string(),
            ]
        )
    );
    assert_eq!(project.inspect("api").id, before, "api was not touched");
}

/// The labels Compose v2 (2.29) puts on a service's container, beside the
/// four every compose sets.
fn compose_v2_labels(project: &Project, service: &str, depends_on: &str) -> Vec<(String, String)> {
    [
        ("com.docker.compose.version", "2.29.7"),
        ("com.docker.compose.project.working_dir", "/srv/shop"),
        (
            "com.docker.compose.project.config_files",
            "/srv/shop/compose.yaml",
        ),
        ("com.docker.compose.config-hash", "9f2c0d1e7a5b"),
        ("com.docker.compose.depends_on", depends_on),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([(
        "com.docker.compose.container-number".to_string(),
        "1".to_string(),
    )])
    .chain([(
        "com.docker.compose.image".to_string(),
        format!("{}-{service}", project.name),
    )])
    .collect()
}

#[test]
fn compose_v2_names_and_labels_are_kept_through_update_rollback_and_restart() {
    let images = Images::new("x-compose-v2");
    let one = images.build("1");
    let two = images.build("2");
    let project = Project::fixed_width("x-compose-v2");
    for (service, depends_on) in [("db", ""), ("api", "db:service_started:false")] {
        let mut spec = project
            .service(service)
            .image(&one)
            .script(APP)
            .healthcheck("test -f /tmp/ready");
        for (key, value) in compose_v2_labels(&project, service, depends_on) {
            spec = spec.label(&key, &value);
        }
        spec.start();
        project.wait_for_health(service, "healthy", Duration::from_secs(30));
    }
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\n{CALM_HOST}services:\n  db: {{}}\n  api: {{ depends_on: [db] }}\n\
             startup:\n  timeout: 30s\nshutdown:\n  grace: 2s\n",
            project.name
        ),
    );
    // Compose v2's name (`PROJECT-SERVICE-1`) and every label it set, as
    // each command leaves the container.
    let kept = |when: &str| {
        for service in ["db", "api"] {
            let inspected = project.inspect(service);
            assert_eq!(
                inspected.name.as_deref(),
                Some(format!("/{}-{service}-1", project.name).as_str()),
                "{when}"
            );
            let labels = inspected.config.unwrap().labels.unwrap();
            for (key, value) in compose_v2_labels(
                &project,
                service,
                if service == "api" {
                    "db:service_started:false"
                } else {
                    ""
                },
            ) {
                if key == "com.docker.compose.image" {
                    continue; // opsbook keeps it true: the new image's id
                }
                assert_eq!(labels.get(&key), Some(&value), "{when}: {service} {key}");
            }
        }
    };
    let status = ws.opsbook(&["status", "--format", "json"]);
    assert_eq!(status.code, 0, "{status:?}");
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--yes", "--state-dir", "state"]);
        let run = ws.opsbook(&all);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
    };
    run(&["update", "--image", &format!("api={two}")]);
    assert_eq!(project.output("api", "cat /tmp/version"), "2\n");
    kept("after update");
    run(&["rollback", "api"]);
    assert_eq!(project.output("api", "cat /tmp/version"), "1\n");
    kept("after rollback");
    run(&["restart", "api"]);
    kept("after restart");
    let checked = ws.opsbook(&["daily-check", "--only", "containers", "--format", "json"]);
    assert_eq!(checked.code, 0, "{checked:?}");
}
