//! Container resources (`docker stats --no-stream`) through the real binary:
//! memory near a limit graded warn then crit by name, a CPU-bound container
//! shown busy, the `status` columns, the JSON, the history and `report`;
//! the same figures from an engine reached over TCP (the stats API).

use crate::support::{CALM_HOST, Project, Workspace, result};

/// A runbook for `project` with calm host thresholds, `containers`
/// thresholds and the given sections.
fn runbook(project: &Project, containers: &str, rest: &str) -> String {
    format!(
        "version: 1\nname: shop\nproject: {}\n{CALM_HOST}  containers: {containers}\n{rest}",
        project.name
    )
}

/// Fills `mib` MiB of the container's shared memory (tmpfs: it counts as
/// the cgroup's memory and cannot be dropped).
fn hold(project: &Project, service: &str, name: &str, mib: u32) {
    assert!(
        project.exec(
            service,
            &format!("dd if=/dev/zero of=/dev/shm/{name} bs=1M count={mib} 2>/dev/null")
        ),
        "dd into /dev/shm of {service}"
    );
}

#[test]
fn memory_near_its_limit_is_warn_then_crit_by_name_and_report_shows_the_peak() {
    let project = Project::new("res-mem");
    project.service("cache").memory_limit(64).start();
    project.service("web").start();
    hold(&project, "cache", "a", 54);
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(&project, "{ memory: { warn: 80%, crit: 90% } }", ""),
    );
    let state = ws.path().join("state");
    let state = state.to_str().unwrap();

    let report = ws
        .opsbook(&["daily-check", "--state-dir", state, "--format", "json"])
        .expect_code(1)
        .json();
    let cache = result(&report, "resources", "cache");
    assert_eq!(cache["status"], "warn", "{cache}");
    let message = cache["message"].as_str().unwrap();
    assert!(message.starts_with("memory 5"), "{message}");
    assert!(
        message.contains("M of 64.0M limit (8") && message.contains("above warn 80%"),
        "{message}"
    );
    assert_eq!(result(&report, "resources", "web")["status"], "ok");
    let figures = report["resources"].as_array().unwrap();
    let cache = figures.iter().find(|r| r["name"] == "cache").unwrap();
    assert_eq!(cache["memory_limit"], 64 * 1024 * 1024);
    assert_eq!(cache["memory_limited"], true);
    assert!(
        cache["memory_used"].as_u64().unwrap() > 54 * 1024 * 1024,
        "{cache}"
    );
    for key in [
        "cpu_percent",
        "net_rx",
        "net_tx",
        "block_read",
        "block_write",
        "pids",
    ] {
        assert!(cache[key].is_number(), "{key} in {cache}");
    }
    let web = figures.iter().find(|r| r["name"] == "web").unwrap();
    assert_eq!(web["memory_limited"], false, "held to the host: {web}");

    hold(&project, "cache", "b", 6);
    let run = ws.opsbook(&["daily-check", "--state-dir", state, "-v"]);
    run.expect_code(2);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("resources") && l.contains("cache"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(line.starts_with("crit"), "{line}");
    assert!(
        line.contains("of 64.0M limit (9") && line.contains("above crit 90%"),
        "{line}"
    );

    // Both runs are in the history; the report has the service's peak.
    let report = ws
        .opsbook(&["report", "--state-dir", state, "--format", "json"])
        .json();
    let services = report["services"].as_array().unwrap();
    let cache = services.iter().find(|s| s["service"] == "cache").unwrap();
    assert_eq!(cache["samples"], 2);
    assert!(
        cache["memory_peak_percent"].as_f64().unwrap() > 90.0,
        "{cache}"
    );
    assert!(
        cache["memory_avg_percent"].as_f64().unwrap() > 80.0,
        "{cache}"
    );
    assert!(cache["memory_peak_bytes"].as_u64().unwrap() > 59 * 1024 * 1024);
    let table = ws.opsbook(&["report", "--state-dir", state]);
    assert!(
        table.stdout.contains("MEMORY % AVG/PEAK"),
        "{}",
        table.stdout
    );
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("cache "))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(row.contains("/9"), "the peak is over 90%: {row}");
}

#[test]
fn a_cpu_bound_container_is_shown_busy_and_graded_against_its_own_limit() {
    let project = Project::new("res-cpu");
    project
        .service("spin")
        .script("while :; do :; done")
        .cpus(0.5)
        .start();
    project.service("idle").start();
    let ws = Workspace::new();
    // The service's own thresholds: crit above 20% of its half core.
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  spin:\n    thresholds: {{ cpu: {{ warn: 10%, crit: 20% }} }}\n  idle: {{}}\n{CALM_HOST}",
            project.name
        ),
    );
    std::thread::sleep(std::time::Duration::from_millis(500));

    let status = ws.opsbook(&["status", "--format", "json"]).json();
    let figures = status["resources"].as_array().unwrap();
    let spin = figures.iter().find(|r| r["name"] == "spin").unwrap();
    assert!(spin["cpu_percent"].as_f64().unwrap() > 10.0, "{spin}");
    assert_eq!(spin["cpu_limit"], 0.5);
    assert_eq!(status["containers"].as_array().unwrap().len(), 2);

    let table = ws.opsbook(&["status"]);
    let header = table.stdout.lines().next().unwrap();
    for column in ["CPU %", "MEM", "MEM %", "PIDS"] {
        assert!(header.contains(column), "{header}");
    }
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("spin "))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(row.contains('%'), "{row}");

    let report = ws
        .opsbook(&[
            "daily-check",
            "--only",
            "containers",
            "--state-dir",
            "state",
            "--format",
            "json",
        ])
        .expect_code(2)
        .json();
    let spin = result(&report, "resources", "spin");
    assert_eq!(spin["status"], "crit", "{spin}");
    let message = spin["message"].as_str().unwrap();
    assert!(
        message.starts_with("cpu ") && message.contains("of its 0.5 CPU limit, above crit 20%"),
        "{message}"
    );
    assert_eq!(result(&report, "resources", "idle")["status"], "ok");
}

#[test]
fn resource_thresholds_are_validated_with_their_place() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nservices:\n  db:\n    thresholds:\n      memory: { warn: 95%, crit: 90% }\nthresholds:\n  containers:\n    cpu: { warn: 80%, crit: 120% }\n",
    );
    let run = ws.opsbook(&["validate"]);
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("percentage `120%` is outside 0% to 100%"),
        "{}",
        run.stderr
    );
    ws.write(
        "opsbook.yaml",
        "version: 1\nservices:\n  db:\n    thresholds:\n      memory: { warn: 95%, crit: 90% }\n",
    );
    let run = ws.opsbook(&["validate"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("services.db.thresholds.memory.warn")
            && run.stderr.contains("warn 95% is above crit 90%")
            && run.stderr.contains(":5:"),
        "{}",
        run.stderr
    );
    ws.write(
        "opsbook.yaml",
        "version: 1\nthresholds:\n  containers:\n    disk: { warn: 1%, crit: 2% }\n",
    );
    ws.opsbook(&["validate"]).expect_code(3);
}

/// Relays loopback TCP connections to the local engine's socket, so the
/// engine looks remote (`tcp://`): its cgroup files are then out of reach
/// and the figures must come through the stats API.
/// Its port, and the count of connections relayed.
fn engine_over_tcp() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    engine_relay("127.0.0.1")
}

/// The same relay listening on `ip` (an address of this machine that is
/// not loopback makes the engine remote to opsbook: its host is measured
/// through a helper container).
pub(crate) fn engine_relay(ip: &str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let relayed = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = relayed.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let Ok(engine) = UnixStream::connect("/var/run/docker.sock") else {
                continue;
            };
            let (mut client_in, mut engine_out) =
                (client.try_clone().unwrap(), engine.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut engine_out);
                let _ = engine_out.shutdown(std::net::Shutdown::Write);
            });
            let (mut engine_in, mut client_out) = (engine, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut engine_in, &mut client_out);
                let _ = client_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, relayed)
}

#[test]
fn a_remote_engine_gives_the_same_figures_through_its_stats_api() {
    let project = Project::new("res-remote");
    project.service("cache").memory_limit(64).start();
    project
        .service("spin")
        .script("while :; do :; done")
        .cpus(0.5)
        .start();
    hold(&project, "cache", "a", 54);
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        runbook(&project, "{ memory: { warn: 80%, crit: 90% } }", ""),
    );
    let (port, relayed) = engine_over_tcp();
    let host = format!("tcp://127.0.0.1:{port}");
    let report = ws
        .opsbook_with(
            &["daily-check", "--only", "containers", "--format", "json"],
            &[("DOCKER_HOST", &host)],
        )
        .json();
    let figures = report["resources"].as_array().unwrap();
    let cache = figures.iter().find(|r| r["name"] == "cache").unwrap();
    assert_eq!(cache["memory_limit"], 64 * 1024 * 1024, "{cache}");
    assert!(
        cache["memory_used"].as_u64().unwrap() > 54 * 1024 * 1024,
        "{cache}"
    );
    let spin = figures.iter().find(|r| r["name"] == "spin").unwrap();
    assert_eq!(spin["cpu_limit"], 0.5);
    assert!(spin["cpu_percent"].as_f64().unwrap() > 10.0, "{spin}");
    // The network's rate, from the two samples' counters and read times.
    assert!(spin["net_rate"].as_f64().unwrap() >= 0.0, "{spin}");
    assert_eq!(result(&report, "resources", "cache")["status"], "warn");
    assert!(
        relayed.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "opsbook went around the relay"
    );
}
