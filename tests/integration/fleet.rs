//! `--fleet`: one command over several real Docker engines on this
//! machine: the test's own engine, a second `dockerd` with its own socket,
//! data root, containerd namespace and network namespace (so its bridge
//! set-up never touches the first engine's `docker0`; started once, the
//! fixture image loaded into it), and a socket nobody answers on. Each host has its own
//! runbook; the report has a line per host and each host's envelope.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::engines;
use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, FIXTURE_IMAGE, IDLE, Project, Workspace, eventually};

const SECOND: &str = "/tmp/opsbook-engine-2";

/// The second engine's socket, started (once) if it does not answer, in
/// a network namespace of its own.
pub fn second_engine() -> &'static str {
    static STARTED: OnceLock<String> = OnceLock::new();
    STARTED.get_or_init(|| engines::start(SECOND, &["unshare", "--net"], &[]))
}

/// `docker -H host ARGS…`, which must succeed.
pub fn docker(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(["-H", host])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A container of `project`'s `service` on the engine at `host`, labelled
/// as compose labels it, running `IDLE` when `start`; its id.
pub fn service_on(host: &str, project: &str, service: &str, start: bool) -> String {
    let mut create: Vec<String> = ["create", "--network", "none", "--name"]
        .map(String::from)
        .to_vec();
    create.push(format!("{project}-{service}-1"));
    for label in [
        format!("com.docker.compose.project={project}"),
        format!("com.docker.compose.service={service}"),
    ] {
        create.extend(["--label".to_string(), label]);
    }
    create.push(FIXTURE_IMAGE.into());
    create.extend(IDLE.iter().map(|a| a.to_string()));
    let id = docker(host, &create.iter().map(String::as_str).collect::<Vec<_>>());
    if start {
        docker(host, &["start", &id]);
    }
    id
}

pub fn runbook(project: &str) -> String {
    format!(
        "version: 1\nname: {project}\nproject: {project}\n{CALM_HOST}services:\n  web: {{ critical: true }}\n"
    )
}

#[test]
fn daily_check_over_three_engines_reports_each_host_and_exits_with_the_worst() {
    let here = Project::new("fleet-here");
    here.service("web").start();
    let second = second_engine();
    let project = format!("fleet-second-{}", std::process::id());
    // On the second engine the critical web is created but stopped.
    let created = service_on(second, &project, "web", false);

    let ws = Workspace::new();
    // A digest target on `here`: its own runs send every time, a fleet look must not.
    let (hook, received) = crate::daily_check::webhook_receiver();
    ws.write(
        "here/opsbook.yaml",
        format!(
            "{}notify:\n  targets:\n    any:\n      webhook: {{ url: \"http://127.0.0.1:{hook}/hook\" }}\n      on: [ok, warn, crit, unknown]\n",
            runbook(&here.name)
        ),
    );
    ws.write("second/opsbook.yaml", runbook(&project));
    ws.write("gone/opsbook.yaml", runbook("fleet-gone"));
    ws.write(
        "fleet.yaml",
        format!(
            "version: 1\nhosts:\n\
             \x20 here:\n    docker: unix:///var/run/docker.sock\n    runbook: ./here/opsbook.yaml\n    groups: [prod]\n\
             \x20 second:\n    docker: {second}\n    runbook: ./second/opsbook.yaml\n    groups: [prod]\n\
             \x20 gone:\n    docker: unix://{}/nobody.sock\n    runbook: ./gone/opsbook.yaml\n    groups: [lab]\n",
            ws.path().display()
        ),
    );
    let listed = ws.opsbook(&["--fleet", "fleet.yaml", "fleet", "list", "--limit", "prod"]);
    listed.expect_code(0);
    assert!(
        listed.stdout.contains("2 hosts of 3 in fleet.yaml"),
        "{}",
        listed.stdout
    );

    let begun = Instant::now();
    let run = ws.opsbook(&[
        "--fleet",
        "fleet.yaml",
        "daily-check",
        "--state-dir",
        "state",
        "--format",
        "json",
    ]);
    let took = begun.elapsed();
    run.expect_code(2);
    let report = run.json();
    let hosts = report["hosts"].as_array().unwrap();
    let status_of = |name: &str| {
        hosts
            .iter()
            .find(|h| h["host"] == name)
            .unwrap_or_else(|| panic!("no {name} in {report:#}"))["status"]
            .clone()
    };
    assert_eq!(status_of("here"), "ok", "{report:#}");
    assert_eq!(status_of("second"), "crit", "{report:#}");
    assert_eq!(status_of("gone"), "unknown", "{report:#}");
    let second_results =
        hosts.iter().find(|h| h["host"] == "second").unwrap()["results"].to_string();
    assert!(
        second_results
            .contains(r#""name":"web","status":"crit","message":"created (not running)""#),
        "{second_results}"
    );
    assert!(took < Duration::from_secs(60), "one deadline: {took:?}");
    // Each host keeps its own history.
    for host in ["here", "second"] {
        assert!(
            PathBuf::from(ws.path())
                .join("state/hosts")
                .join(host)
                .join("history")
                .is_dir()
        );
    }

    // The table: a line per host.
    let table = ws.opsbook(&[
        "--fleet",
        "fleet.yaml",
        "daily-check",
        "--state-dir",
        "state",
    ]);
    table.expect_code(2);
    for line in ["here    ok", "second  crit", "gone    unknown"] {
        assert!(
            table.stdout.contains(line),
            "`{line}` not in\n{}",
            table.stdout
        );
    }

    // JUnit: a test suite per host, its failures its own.
    let junit = ws.opsbook(&[
        "--fleet",
        "fleet.yaml",
        "--limit",
        "prod",
        "daily-check",
        "--state-dir",
        "state",
        "--format",
        "junit",
    ]);
    junit.expect_code(2);
    let xml = roxmltree::Document::parse(&junit.stdout).expect("JUnit XML");
    let suites: Vec<(String, String)> = xml
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .map(|n| {
            (
                n.attribute("name").unwrap_or_default().to_string(),
                n.attribute("failures").unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        suites,
        [
            ("here: daily-check".to_string(), "0".to_string()),
            ("second: daily-check".to_string(), "1".to_string())
        ],
        "{}",
        junit.stdout
    );
    let failed = xml
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .and_then(|n| n.parent())
        .and_then(|case| case.attribute("classname"))
        .unwrap_or_default()
        .to_string();
    assert_eq!(failed, "opsbook.daily-check.second.containers");

    // Prometheus: every sample carries its host, every family is valid.
    let metrics = ws.opsbook(&[
        "--fleet",
        "fleet.yaml",
        "--limit",
        "prod",
        "daily-check",
        "--state-dir",
        "state",
        "--format",
        "prometheus",
    ]);
    metrics.expect_code(2);
    for line in [
        r#"opsbook_status{command="daily-check",runbook="second/opsbook.yaml",host="second"} 2"#,
        r#"opsbook_status{command="daily-check",runbook="here/opsbook.yaml",host="here"} 0"#,
        r#"opsbook_check_status{command="daily-check",runbook="second/opsbook.yaml",host="second",section="containers",name="web",unit="count"} 2"#,
    ] {
        assert!(
            metrics.stdout.contains(line),
            "`{line}` not in\n{}",
            metrics.stdout
        );
    }
    assert_eq!(
        metrics
            .stdout
            .matches("# TYPE opsbook_status gauge")
            .count(),
        1
    );
    let (valid, said) = crate::serve::promtool(&metrics.stdout);
    assert!(valid, "promtool: {said}\n{}", metrics.stdout);

    // --limit: only the healthy host.
    ws.opsbook(&[
        "--fleet",
        "fleet.yaml",
        "--limit",
        "here",
        "daily-check",
        "--state-dir",
        "state",
    ])
    .expect_code(0);
    assert!(
        received.recv_timeout(Duration::from_millis(500)).is_err(),
        "a fleet look notified the host's target"
    );
    ws.opsbook(&[
        "--runbook",
        "here/opsbook.yaml",
        "daily-check",
        "--state-dir",
        "state",
    ])
    .expect_code(0);
    assert!(
        received.recv_timeout(Duration::from_secs(10)).is_ok(),
        "the host's own run notifies"
    );
    docker(second, &["rm", "-f", &created]);
}

#[test]
fn a_bad_fleet_file_names_every_problem_and_a_command_that_does_not_fan_out_is_refused() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", "version: 1\n");
    ws.write(
        "fleet.yaml",
        "version: 1\nhosts:\n  a:\n    docker: http://x\n    runbook: ./opsbook.yaml\n  b:\n    docker: unix:///run/docker.sock\n    tls: ./certs\n    runbook: ./missing.yaml\n  c:\n    runbook: ./opsbook.yaml\n    colour: red\n  ..:\n    docker: unix:///run/docker.sock\n    runbook: ./opsbook.yaml\n",
    );
    let run = ws.opsbook(&["--fleet", "fleet.yaml", "fleet", "list"]);
    run.expect_code(3);
    for line in [
        "fleet.yaml:4:13: hosts.a.docker: `http://x` is not a Docker endpoint",
        "fleet.yaml:9:14: hosts.b.runbook: no runbook at missing.yaml",
        "fleet.yaml:8:10: hosts.b.tls: TLS files are for a tcp:// engine",
        "fleet.yaml:12:5: hosts.c.colour: unknown field `colour`",
        "hosts...: `..`: a host name is letters, digits, `.`, `_` and `-` (not `.` or `..`)",
    ] {
        assert!(run.stderr.contains(line), "`{line}` not in\n{}", run.stderr);
    }
    ws.write(
        "fleet.yaml",
        "version: 1\nhosts:\n  a:\n    docker: unix:///run/docker.sock\n    runbook: ./opsbook.yaml\n",
    );
    let run = ws.opsbook(&["--fleet", "fleet.yaml", "backup", "copy"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains(
            "`backup copy` does not run over a fleet: the commands that do are validate, status,"
        ),
        "{}",
        run.stderr
    );
    let run = ws.opsbook(&["--fleet", "fleet.yaml", "--limit", "web-*", "status"]);
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("`web-*` matches no host of fleet.yaml (hosts: a; groups: none)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_restart_over_the_fleet_goes_host_by_host_and_stops_at_a_failed_batch() {
    let here = Project::new("fleet-roll");
    here.service("web").start();
    let second = second_engine();
    let project = format!("fleet-roll-second-{}", std::process::id());
    let created = service_on(second, &project, "web", true);
    let started =
        |host: &str, id: &str| docker(host, &["inspect", "-f", "{{.State.StartedAt}}", id]);
    let here_id = here.container_name("web");
    let (here_before, second_before) = (
        started("unix:///var/run/docker.sock", &here_id),
        started(second, &created),
    );

    let ws = Workspace::new();
    ws.write("here/opsbook.yaml", runbook(&here.name));
    ws.write("second/opsbook.yaml", runbook(&project));
    ws.write("gone/opsbook.yaml", runbook("fleet-gone"));
    ws.write(
        "fleet.yaml",
        format!(
            "version: 1\nhosts:\n\
             \x20 gone:\n    docker: unix://{}/nobody.sock\n    runbook: ./gone/opsbook.yaml\n    groups: [lab]\n\
             \x20 here:\n    docker: unix:///var/run/docker.sock\n    runbook: ./here/opsbook.yaml\n    groups: [prod]\n\
             \x20 second:\n    docker: {second}\n    runbook: ./second/opsbook.yaml\n    groups: [prod]\n",
            ws.path().display()
        ),
    );
    let fleet = |args: &[&str]| {
        let mut all = vec!["--fleet", "fleet.yaml", "--state-dir", "state"];
        all.extend_from_slice(args);
        ws.opsbook(&all)
    };

    // Without a terminal and without --yes: every host and its plan, nothing done.
    let asked = fleet(&["--limit", "prod", "restart", "web"]);
    asked.expect_code(3);
    assert!(
        asked.stderr.contains(&format!(
            "restart web on 2 hosts, 1 at a time, stopping at the first failure: here (unix:///var/run/docker.sock): stop web; start web; second ({second}): stop web; start web"
        )),
        "{}",
        asked.stderr
    );
    assert_eq!(
        started("unix:///var/run/docker.sock", &here_id),
        here_before
    );

    // One host at a time: the second host's restart begins once the first is done.
    let rolled = fleet(&[
        "--limit", "prod", "restart", "web", "--yes", "--format", "json",
    ]);
    rolled.expect_code(0);
    let report = rolled.json();
    let hosts = report["hosts"].as_array().unwrap();
    let begun = |h: &serde_json::Value| {
        h["started_at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    let first_done = begun(&hosts[0])
        + jiff::SignedDuration::from_millis(hosts[0]["duration_ms"].as_i64().unwrap());
    assert_eq!(hosts[0]["host"], "here");
    assert!(begun(&hosts[1]) >= first_done, "{report:#}");
    assert_ne!(
        started("unix:///var/run/docker.sock", &here_id),
        here_before
    );
    let second_restarted = started(second, &created);
    assert_ne!(second_restarted, second_before);
    assert!(
        rolled.stderr.contains("batch 1 of 2: here"),
        "{}",
        rolled.stderr
    );

    // A failed first batch stops the rollout: the rest are not run.
    let stopped = fleet(&["restart", "web", "--yes", "--format", "json"]);
    stopped.expect_code(3);
    let report = stopped.json();
    let message = |i: usize| {
        report["hosts"][i]["results"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(message(0).contains("cannot reach Docker"), "{report:#}");
    assert_eq!(
        message(1),
        "not run: the rollout stopped after batch 1 of 3, as 1 of 3 hosts failed (--max-fail-percent 0)"
    );
    assert_eq!(
        started(second, &created),
        second_restarted,
        "the second host was not touched"
    );

    // Unless the failures stay within --max-fail-percent.
    fleet(&[
        "restart",
        "web",
        "--yes",
        "--max-fail-percent",
        "34",
        "--serial",
        "2",
    ])
    .expect_code(3);
    assert_ne!(started(second, &created), second_restarted);
    docker(second, &["rm", "-f", &created]);
}

#[test]
fn serve_over_the_fleet_runs_an_agent_per_host_under_one_listener() {
    let here = Project::new("fleet-serve");
    here.service("web").start();
    let second = second_engine();
    let project = format!("fleet-serve-second-{}", std::process::id());
    // On the second host the critical web is stopped: that host is unhealthy.
    let created = service_on(second, &project, "web", false);
    let ws = Workspace::new();
    let scheduled = |project: &str| {
        format!(
            "{}schedule:\n  daily-check: \"*/2 * * * * *\"\n",
            runbook(project)
        )
    };
    ws.write("here/opsbook.yaml", scheduled(&here.name));
    ws.write("second/opsbook.yaml", scheduled(&project));
    ws.write(
        "fleet.yaml",
        format!(
            "version: 1\nhosts:\n\
             \x20 here:\n    docker: unix:///var/run/docker.sock\n    runbook: ./here/opsbook.yaml\n\
             \x20 second:\n    docker: {second}\n    runbook: ./second/opsbook.yaml\n"
        ),
    );
    let port = crate::support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let agent = ws.spawn(&[
        "--fleet",
        "fleet.yaml",
        "serve",
        "--listen",
        &listen,
        "--state-dir",
        "state",
    ]);
    let get = |path: &str| crate::serve::get(port, path, None);
    eventually(
        "both hosts' daily-checks ran",
        Duration::from_secs(60),
        || {
            get("/healthz").is_some_and(|(_, body)| {
                body.contains("here: healthy") && body.contains("second: unhealthy")
            })
        },
    );
    let (code, body) = get("/healthz").unwrap();
    assert_eq!(code, 503, "{body}");
    assert_eq!(get("/healthz/here").unwrap().0, 200);
    let (code, body) = get("/healthz/second/web").unwrap();
    assert_eq!(code, 503, "{body}");
    assert_eq!(get("/healthz/nowhere").unwrap().0, 404);

    let (_, metrics) = get("/metrics").unwrap();
    for line in [
        "opsbook_daily_check_status{host=\"here\"} 0",
        "opsbook_daily_check_status{host=\"second\"} 2",
        "opsbook_check_status{host=\"second\",section=\"containers\",name=\"web\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    assert_eq!(
        metrics
            .matches("# TYPE opsbook_daily_check_status ")
            .count(),
        1
    );
    let (valid, said) = crate::serve::promtool(&metrics);
    assert!(valid, "promtool: {said}\n{metrics}");

    let (_, html) = get("/").unwrap();
    for part in [
        "<h1>opsbook: fleet.yaml</h1>",
        "<section id=\"host-here\"><h2>here</h2>",
        "<section id=\"host-second\"><h2>second</h2>",
        "id=\"second-schedule\"",
    ] {
        assert!(html.contains(part), "{part} not in the page");
    }
    // Each host's runs keep their history apart.
    for host in ["here", "second"] {
        assert!(
            ws.path()
                .join("state/hosts")
                .join(host)
                .join("history")
                .is_dir()
        );
    }
    let stopped = crate::support::terminate(agent);
    stopped.expect_code(0);
    assert!(stopped.stderr.contains("host=second"), "{}", stopped.stderr);
    docker(second, &["rm", "-f", &created]);
}

#[test]
fn sigterm_mid_rollout_lets_the_host_in_hand_finish_and_starts_no_further_batch() {
    let here = Project::new("fleet-term");
    // Its stop takes 3 s: the signal comes while the restart is under way.
    here.service("web")
        .runs(
            FIXTURE_IMAGE,
            &["sh", "-c", "trap 'sleep 3; exit 0' TERM; sleep 3600 & wait"],
        )
        .start();
    let second = second_engine();
    let project = format!("fleet-term-second-{}", std::process::id());
    let created = service_on(second, &project, "web", true);
    let started_at =
        |host: &str, id: &str| docker(host, &["inspect", "-f", "{{.State.StartedAt}}", id]);
    let second_before = started_at(second, &created);

    let ws = Workspace::new();
    ws.write("here/opsbook.yaml", runbook(&here.name));
    ws.write("second/opsbook.yaml", runbook(&project));
    ws.write(
        "fleet.yaml",
        format!(
            "version: 1\nhosts:\n\
             \x20 here:\n    docker: unix:///var/run/docker.sock\n    runbook: ./here/opsbook.yaml\n\
             \x20 second:\n    docker: {second}\n    runbook: ./second/opsbook.yaml\n"
        ),
    );
    let mut rollout = ws.spawn(&[
        "--fleet",
        "fleet.yaml",
        "--state-dir",
        "state",
        "restart",
        "web",
        "--yes",
        "--format",
        "json",
    ]);
    // The first batch has begun (its progress line), then SIGTERM.
    let stderr = rollout.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let mut said = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        said.push_str(&line);
        said.push('\n');
        if line.starts_with("batch 1 of 2") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(800));
    let sent = Command::new("kill")
        .args(["-TERM", &rollout.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = rollout.wait_with_output().unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {said}"));
    // The host in hand finished its restart: web runs again.
    let running = docker(
        "unix:///var/run/docker.sock",
        &[
            "inspect",
            "-f",
            "{{.State.Running}}",
            &here.container_name("web"),
        ],
    );
    assert_eq!(running, "true", "{report:#}");
    // The next batch never started.
    assert_eq!(
        report["hosts"][1]["results"][0]["message"],
        "not run: interrupted (Ctrl-C or SIGTERM) before its batch",
        "{report:#}"
    );
    assert_eq!(started_at(second, &created), second_before);
    docker(second, &["rm", "-f", &created]);
}

/// Two hosts, alpha (groups prod and eu) and beta (prod), both on this
/// machine's engine, each with its own project running web.
fn two_hosts() -> (Project, Project, Workspace) {
    let alpha = Project::fixed_width("x-fleet-a");
    alpha.service("web").start();
    let beta = Project::fixed_width("x-fleet-b");
    beta.service("web").start();
    let ws = Workspace::new();
    ws.write("alpha/opsbook.yaml", runbook(&alpha.name));
    ws.write("beta/opsbook.yaml", runbook(&beta.name));
    ws.write(
        "fleet.yaml",
        "version: 1\nhosts:\n\
         \x20 alpha:\n    docker: unix:///var/run/docker.sock\n    runbook: ./alpha/opsbook.yaml\n    groups: [prod, eu]\n\
         \x20 beta:\n    docker: unix:///var/run/docker.sock\n    runbook: ./beta/opsbook.yaml\n    groups: [prod]\n",
    );
    (alpha, beta, ws)
}

fn over_the_fleet(ws: &Workspace, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["--fleet", "fleet.yaml", "--state-dir", "state"];
    all.extend_from_slice(args);
    ws.opsbook(&all)
}

#[test]
fn fleet_list_shows_each_host_its_engine_runbook_and_groups() {
    let (_alpha, _beta, ws) = two_hosts();
    let filters = Filters::new(&ws);
    assert_run(
        &over_the_fleet(&ws, &["fleet", "list"]),
        &filters,
        0,
        r#"
HOST   DOCKER                       RUNBOOK             GROUPS
alpha  unix:///var/run/docker.sock  alpha/opsbook.yaml  prod, eu
beta   unix:///var/run/docker.sock  beta/opsbook.yaml   prod
2 hosts of 2 in fleet.yaml
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &over_the_fleet(&ws, &["--limit", "nosuch", "fleet", "list"]),
        &filters,
        3,
        "",
        "error: --limit nosuch: `nosuch` matches no host of fleet.yaml (hosts: alpha, beta; groups: eu, prod)\n",
    );
}

#[test]
fn status_over_the_fleet_has_a_line_per_host() {
    let (_alpha, _beta, ws) = two_hosts();
    let filters = Filters::new(&ws);
    assert_run(
        &over_the_fleet(&ws, &["status"]),
        &filters,
        0,
        r#"
HOST   STATUS  SUMMARY
alpha  ok      5 ok
beta   ok      5 ok
ok: 2 ok in [MS] ms
"#,
        "",
    );
}

#[test]
fn a_restart_over_the_fleet_asks_first_then_goes_host_by_host() {
    let (alpha, beta, ws) = two_hosts();
    let before = (alpha.times("web").started, beta.times("web").started);
    let filters = Filters::new(&ws);
    assert_run(
        &over_the_fleet(&ws, &["restart", "web"]),
        &filters,
        3,
        "",
        "error: restart web on 2 hosts, 1 at a time, stopping at the first failure: \
         alpha (unix:///var/run/docker.sock): stop web; start web; beta (unix:///var/run/docker.sock): stop web; start web: \
         this needs confirmation; without a terminal pass --yes (nothing was changed)\n",
    );
    assert_eq!(
        (alpha.times("web").started, beta.times("web").started),
        before,
        "nothing was restarted"
    );
    assert_run(
        &over_the_fleet(&ws, &["restart", "web", "--yes"]),
        &filters,
        0,
        r#"
HOST   STATUS  SUMMARY
alpha  ok      1 ok
beta   ok      1 ok
ok: 2 ok in [MS] ms
"#,
        r#"
batch 1 of 2: alpha
  alpha: ok
batch 2 of 2: beta
  beta: ok
"#,
    );
    assert_ne!(alpha.times("web").started, before.0);
    assert_ne!(beta.times("web").started, before.1);
}

#[test]
fn host_names_that_cannot_name_a_folder_are_refused_with_their_place() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", "version: 1\n");
    let long = "h".repeat(300);
    let host = |name: &str| {
        format!("  {name}:\n    docker: unix:///run/docker.sock\n    runbook: ./opsbook.yaml\n")
    };
    ws.write(
        "fleet.yaml",
        format!(
            "version: 1\nhosts:\n{}{}{}{}{}",
            host("ok-1"),
            host("\"../escape\""),
            host("\"with space\""),
            host("\"\""),
            host(&long)
        ),
    );
    assert_run(
        &ws.opsbook(&["--fleet", "fleet.yaml", "fleet", "list"]),
        &Filters::new(&ws),
        3,
        "",
        "
error: fleet.yaml:6:3: hosts.../escape: `../escape`: a host name is letters, digits, `.`, `_` and `-` (not `.` or `..`)
error: fleet.yaml:9:3: hosts.with space: `with space`: a host name is letters, digits, `.`, `_` and `-` (not `.` or `..`)
error: fleet.yaml:12:3: hosts.: ``: a host name is letters, digits, `.`, `_` and `-` (not `.` or `..`)
error: fleet.yaml:15:3: hosts.hhhhhhhhhhhhhhhhhhhh…: `hhhhhhhhhhhhhhhhhhhh…` is 300 characters long: a host name is at most 100 (it names a folder of the state folder)
",
    );
}
