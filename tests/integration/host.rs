//! The host's figures as the operations pages read them, through
//! `daily-check`: CPU made busy by real spinning processes, the raw load
//! average, `for:` on memory across runs kept in a state folder, free
//! space against thresholds around the real free space, the network rate
//! of containers moving real bytes, and the new keys' located errors.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, Project, Workspace, result};

/// One spinning shell per core, killed (by its own handle) when dropped.
struct Hogs(Vec<Child>);

impl Hogs {
    fn start() -> Hogs {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hogs = (0..cores)
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("a spinning shell")
            })
            .collect();
        // Let them take the cores before the sample.
        std::thread::sleep(Duration::from_millis(300));
        Hogs(hogs)
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The host rows' figures that change from run to run.
fn figures(ws: &Workspace) -> Filters {
    Filters::new(ws)
        .host()
        .regex(
            r"\bcpu \d+\.\d% busy \(user \d+\.\d%, system \d+\.\d%\) over \d+ cores",
            "cpu [N]% busy (user [N]%, system [N]%) over [N] cores",
        )
        .regex(r"\biowait \d+\.\d% of CPU time", "iowait [N]% of CPU time")
        .regex(
            r"\bnetwork [\d.]+[kMG]?B/s \(received [\d.]+[kMG]?B/s, sent [\d.]+[kMG]?B/s\) on \S[^\n]*",
            "network [RATE] (received [RATE], sent [RATE]) on [INTERFACES]",
        )
}

fn daily_host(ws: &Workspace) -> crate::support::Run {
    ws.opsbook(&["daily-check", "--only", "host", "--state-dir", "state"])
}

#[test]
fn cpu_busy_from_spinning_processes_is_crit_and_says_user_and_system() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nthresholds:\n  memory: { warn: 100%, crit: 100% }\n  swap: { warn: 100%, crit: 100% }\n  \
         cpu: { warn: 50%, crit: 80% }\n  iowait: { warn: 100%, crit: 100% }\n  load: { warn: 1000, crit: 1000 }\n  \
         disk: { warn: 100%, crit: 100%, paths: [\"/\"] }\n  network: { warn: 100GB/s, crit: 200GB/s }\n",
    );
    let hogs = Hogs::start();
    let run = daily_host(&ws);
    drop(hogs);
    assert_run(
        &run,
        &figures(&ws),
        2,
        r#"
STATUS  SECTION  NAME     MESSAGE
ok      host     memory   memory [N]% used ([SIZE] of [SIZE])
ok      host     swap     [SWAP]
crit    host     cpu      cpu [N]% busy (user [N]%, system [N]%) over [N] cores (above crit 80%)
ok      host     iowait   iowait [N]% of CPU time
ok      host     load     load [LOAD] per core ([LOAD] over [N] cores)
ok      host     disk /   / [N]% used ([SIZE] free)
ok      host     network  network [RATE] (received [RATE], sent [RATE]) on [INTERFACES]
crit: 1 crit, 6 ok in [MS] ms
"#,
        "",
    );
    // The sample's figures are in the JSON, beside the others.
    let report = ws
        .opsbook(&[
            "daily-check",
            "--only",
            "host",
            "--state-dir",
            "state",
            "--format",
            "json",
        ])
        .json();
    let cpu = &report["host"]["cpu"];
    for share in ["busy", "user", "system", "iowait"] {
        assert!(cpu[share].is_f64(), "{report:#}");
    }
    assert!(report["host"]["network"]["rx"].is_f64(), "{report:#}");
}

#[test]
fn the_load_average_is_graded_raw_with_per_core_false() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nthresholds:\n  load: { warn: 0, crit: 1000, per_core: false }\n",
    );
    let _hogs = Hogs::start();
    let report = ws
        .opsbook(&[
            "daily-check",
            "--only",
            "host",
            "--state-dir",
            "state",
            "--format",
            "json",
        ])
        .json();
    let load = result(&report, "host", "load");
    let message = load["message"].as_str().unwrap();
    let shape = regex::Regex::new(
        r"^load (\d+\.\d\d) \((\d+\.\d\d) per core over (\d+) cores\) \(above warn 0\)$",
    )
    .unwrap();
    let caps = shape
        .captures(message)
        .unwrap_or_else(|| panic!("{message}"));
    let (raw, each, cores): (f64, f64, f64) = (
        caps[1].parse().unwrap(),
        caps[2].parse().unwrap(),
        caps[3].parse().unwrap(),
    );
    assert_eq!(load["status"], "warn");
    // Graded, and given as its value, is the load average itself.
    assert_eq!(load["value"].as_f64(), Some(raw));
    assert!((raw / cores - each).abs() < 0.01, "{message}");
    let uptime = std::fs::read_to_string("/proc/loadavg").unwrap();
    let now: f64 = uptime.split_whitespace().next().unwrap().parse().unwrap();
    assert!((now - raw).abs() < 1.0, "{message} against {uptime}");
}

#[test]
fn for_on_memory_holds_crit_at_warn_until_every_run_of_the_window_was_above() {
    let ws = Workspace::new();
    let runbook = |crit: &str| {
        format!(
            "version: 1\nthresholds:\n  memory: {{ warn: 0%, crit: {crit}, for: 2s }}\n  swap: {{ warn: 100%, crit: 100% }}\n  load: {{ warn: 1000, crit: 1000 }}\n  disk: {{ warn: 100%, crit: 100% }}\n"
        )
    };
    ws.write("opsbook.yaml", runbook("0%"));
    // Whole seconds between runs' start times: how many depends on where
    // in a second each run began.
    let filters = Filters::new(&ws)
        .host()
        .regex(
            r"\bmemory \d+\.\d% used \([\d.]+[KMGTPE]? of [\d.]+[KMGTPE]\)",
            "memory [N]% used ([SIZE] of [SIZE])",
        )
        .regex(
            r"\(above crit for \d+s of the 2s it may\)",
            "(above crit for [N]s of the 2s it may)",
        )
        .regex(r"\(above crit for \d+s\)", "(above crit for [N]s)");
    let table = |memory: &str, code: i32, summary: &str| {
        assert_run(
            &daily_host(&ws),
            &filters,
            code,
            &format!(
                "
STATUS  SECTION  NAME    MESSAGE
{memory}
ok      host     swap    [SWAP]
ok      host     load    load [LOAD] per core ([LOAD] over [N] cores)
ok      host     disk /  / [N]% used ([SIZE] free)
{summary}
"
            ),
            "",
        );
    };
    table(
        "warn    host     memory  memory [N]% used ([SIZE] of [SIZE]) (above crit 0%) (for: 2s: no earlier run of this figure to tell how long)",
        1,
        "warn: 1 warn, 3 ok in [MS] ms",
    );
    table(
        "warn    host     memory  memory [N]% used ([SIZE] of [SIZE]) (above crit 0%) (above crit for [N]s of the 2s it may)",
        1,
        "warn: 1 warn, 3 ok in [MS] ms",
    );
    std::thread::sleep(Duration::from_millis(2100));
    table(
        "crit    host     memory  memory [N]% used ([SIZE] of [SIZE]) (above crit 0%) (above crit for [N]s)",
        2,
        "crit: 1 crit, 3 ok in [MS] ms",
    );
    // A run below crit ends the streak: the next one above starts anew.
    ws.write("opsbook.yaml", runbook("100%"));
    table(
        "warn    host     memory  memory [N]% used ([SIZE] of [SIZE]) (above warn 0%)",
        1,
        "warn: 1 warn, 3 ok in [MS] ms",
    );
    ws.write("opsbook.yaml", runbook("0%"));
    table(
        "warn    host     memory  memory [N]% used ([SIZE] of [SIZE]) (above crit 0%) (above crit for [N]s of the 2s it may)",
        1,
        "warn: 1 warn, 3 ok in [MS] ms",
    );
}

/// Free bytes of `/` as `df` gives them to users.
fn free_of_root() -> u64 {
    let out = Command::new("df")
        .args(["-B1", "--output=avail", "/"])
        .output()
        .expect("df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df's available bytes")
}

#[test]
fn free_space_below_disk_free_is_warn_then_crit() {
    let ws = Workspace::new();
    let free = free_of_root();
    // Whole megabytes, odd: written back as `NMB` in the message.
    let mb = |factor: f64| ((free as f64 * factor / 1e6) as u64) | 1;
    let grade = |warn: u64, crit: u64| {
        ws.write(
            "opsbook.yaml",
            format!(
                "version: 1\nthresholds:\n  disk: {{ warn: 100%, crit: 100%, free: {{ warn: {warn}MB, crit: {crit}MB }} }}\n"
            ),
        );
        let report = ws
            .opsbook(&[
                "daily-check",
                "--only",
                "host",
                "--state-dir",
                "state",
                "--format",
                "json",
            ])
            .json();
        let disk = result(&report, "host", "disk /");
        (
            disk["status"].as_str().unwrap().to_string(),
            disk["message"].as_str().unwrap().to_string(),
        )
    };
    let shape = |rest: &str| {
        regex::Regex::new(&format!(
            r"^/ \d+\.\d% used \([\d.]+[KMGTPE]? free\){}$",
            regex::escape(rest)
        ))
        .unwrap()
    };
    let (status, message) = grade(mb(2.0), mb(0.5));
    assert_eq!(status, "warn", "{message}");
    assert!(
        shape(&format!(" (free below warn {}MB)", mb(2.0))).is_match(&message),
        "{message}"
    );
    let (status, message) = grade(mb(4.0), mb(2.0));
    assert_eq!(status, "crit", "{message}");
    assert!(
        shape(&format!(" (free below crit {}MB)", mb(2.0))).is_match(&message),
        "{message}"
    );
    let (status, message) = grade(mb(0.5), mb(0.25));
    assert_eq!(status, "ok", "{message}");
    assert!(shape("").is_match(&message), "{message}");
}

#[test]
fn containers_moving_bytes_are_graded_by_their_network_rate() {
    let project = Project::new("host-net");
    project
        .service("server")
        .networked()
        .script("mkdir -p /www; dd if=/dev/zero of=/www/big bs=1M count=64 2>/dev/null; httpd -p 8080 -h /www")
        .start();
    project
        .service("client")
        .networked()
        .script("while :; do wget -q -O /dev/null http://server:8080/big; done")
        .start();
    project.service("idle").networked().start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\n{CALM_HOST}  containers:\n    network: {{ warn: 1MB/s, crit: 1000GB/s }}\n    cpu: {{ warn: 100%, crit: 100% }}\n",
            project.name
        ),
    );
    crate::support::eventually("the client downloads", Duration::from_secs(30), || {
        project
            .output("client", "cat /proc/net/dev")
            .contains("eth0")
    });
    std::thread::sleep(Duration::from_millis(500));
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
        .json();
    let shape = regex::Regex::new(
        // A busy loop may pass a whole core on a loaded machine: then its
        // cpu leads the message (the grade is warn either way).
        r"^(?:cpu \d+\.\d% of one core \(no CPU limit\), above (?:warn|crit) 100%; )?network [\d.]+[kMG]?B/s, above warn 1MB/s; memory [\d.]+[KMGTPE]? of [\d.]+[KMGTPE]? host \(\d+\.\d%\); (?:cpu \d+\.\d% of one core \(no CPU limit\); )?\d+ pids?$",
    )
    .unwrap();
    for busy in ["server", "client"] {
        let graded = result(&report, "resources", busy);
        assert_eq!(graded["status"], "warn", "{graded:#}");
        assert!(
            shape.is_match(graded["message"].as_str().unwrap()),
            "{graded:#}"
        );
    }
    let idle = result(&report, "resources", "idle");
    assert_eq!(idle["status"], "ok", "{idle:#}");
    let quiet = regex::Regex::new(
        r"^memory [\d.]+[KMGTPE]? of [\d.]+[KMGTPE]? host \(\d+\.\d%\); cpu \d+\.\d% of one core \(no CPU limit\); network [\d.]+[kM]?B/s; \d+ pids?$",
    )
    .unwrap();
    assert!(
        quiet.is_match(idle["message"].as_str().unwrap()),
        "{idle:#}"
    );
    let figures = report["resources"].as_array().unwrap();
    let client = figures.iter().find(|r| r["name"] == "client").unwrap();
    assert!(client["net_rate"].as_f64().unwrap() > 1e6, "{client:#}");
}

#[test]
fn the_new_keys_are_refused_with_their_place() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nthresholds:\n  network: { warn: 80 parsecs, crit: 110MB/s }\n",
    );
    assert_run(
        &ws.opsbook(&["validate"]),
        &Filters::new(&ws),
        3,
        "",
        "error: opsbook.yaml:3:20: thresholds.network.warn: invalid rate `80 parsecs` (write e.g. `80MB/s`, `10MiB/s`)\n",
    );
    ws.write(
        "opsbook.yaml",
        "version: 1\nthresholds:\n  load: { warn: 2.5, crit: 3.2, per_core: maybe }\n",
    );
    assert_run(
        &ws.opsbook(&["validate"]),
        &Filters::new(&ws),
        3,
        "",
        "error: opsbook.yaml:3:43: thresholds.load.per_core: expected `true` or `false`, not `maybe`\n",
    );
    ws.write(
        "opsbook.yaml",
        "version: 1\nthresholds:\n  memory: { warn: 80%, crit: 90%, for: 0s }\n  containers:\n    memory: { warn: 80%, crit: 90%, for: 5m }\n",
    );
    // `for:` is the host's: a container's memory has none.
    assert_run(
        &ws.opsbook(&["validate"]),
        &Filters::new(&ws),
        3,
        "",
        "error: opsbook.yaml:3:3: thresholds.memory.for: `thresholds.memory.for` is 0: give a length of time, like `30s`\n\
         error: opsbook.yaml:5:37: thresholds.containers.memory.for: unknown field `for`, expected one of warn, crit\n",
    );
}

#[test]
fn a_remote_engines_host_is_sampled_through_its_helper() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nthresholds:\n  cpu: { warn: 50%, crit: 80% }\n  network: { warn: 100GB/s, crit: 200GB/s }\n",
    );
    let daily = |env: &[(&str, &str)]| {
        ws.opsbook_with(
            &[
                "daily-check",
                "--only",
                "host",
                "--state-dir",
                "state",
                "--format",
                "json",
            ],
            env,
        )
        .json()
    };
    let here = daily(&[]);
    // This machine's first address that is not loopback: the engine
    // reached there is remote to opsbook.
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .expect("ip");
    let ip = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .skip_while(|word| *word != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .expect("an address that is not loopback")
        .to_string();
    let (port, relayed) = crate::resources::engine_relay(&ip);
    let engine = format!("tcp://{ip}:{port}");
    let hogs = Hogs::start();
    let there = daily(&[("DOCKER_HOST", &engine)]);
    drop(hogs);
    assert!(
        relayed.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "opsbook went around the relay"
    );
    let host = &there["host"];
    assert!(host["measured_through"].is_string(), "{there:#}");
    // The engine's host is this one: busy under the spinning shells, and
    // the same interfaces counted as here.
    assert_eq!(result(&there, "host", "cpu")["status"], "crit", "{there:#}");
    assert!(host["cpu"]["user"].as_f64().unwrap() > 0.0, "{there:#}");
    assert_eq!(
        host["network"]["interfaces"], here["host"]["network"]["interfaces"],
        "{there:#}"
    );
    assert_eq!(result(&there, "host", "network")["status"], "ok");
    assert_eq!(
        result(&there, "host", "memory")["status"],
        "ok",
        "{there:#}"
    );
    assert_eq!(host["memory"]["total"], here["host"]["memory"]["total"]);
}
