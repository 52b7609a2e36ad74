//! systemd on the host (issue 15): a unit's journal graded over the window
//! (`logs.units`), read by journalctl from a real journal written by
//! systemd-journal-remote; a `unit` check asked of systemctl; and Docker's
//! own disk use graded against `thresholds.docker_disk`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Project, Workspace, result};

const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// Writes a journal file into `dir` holding `entries` (unit, seconds ago,
/// message), as journald would have: systemd-journal-remote turns the
/// journal's export format into a real journal file.
pub fn write_journal(dir: &Path, entries: &[(&str, u64, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let mut export = String::new();
    for (i, (unit, ago, message)) in entries.iter().enumerate() {
        export.push_str(&format!(
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n\
             _HOSTNAME=opsbook-test\n_SYSTEMD_UNIT={unit}\nMESSAGE={message}\n\n",
            now - ago * 1_000_000,
            i + 1
        ));
    }
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", dir.join("remote.journal").display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{JOURNAL_REMOTE} (Debian's systemd-journal-remote): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(export.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_units_journal_is_graded_over_the_window_by_count_rate_and_json_field() {
    let ws = Workspace::new();
    write_journal(
        &ws.path().join("journal"),
        &[
            // Two hours ago: outside the one-hour window.
            ("nginx.service", 7200, "upstream timed out error"),
            ("nginx.service", 7200, "upstream timed out error"),
            ("nginx.service", 600, "GET / 200"),
            ("nginx.service", 500, "connect() failed error while reading"),
            ("nginx.service", 400, "GET /health 200"),
            ("nginx.service", 300, "GET /api 200"),
            (
                "api.service",
                200,
                r#"{"path": "/a", "responseTime": 1500}"#,
            ),
            ("api.service", 100, r#"{"path": "/b", "responseTime": 20}"#),
            ("cron.service", 100, "backup done"),
        ],
    );
    ws.write(
        "opsbook.yaml",
        "version: 1\nlogs:\n  since: 1h\n  journal_dir: journal\n  units:\n\
         \x20   nginx.service:\n      match: [error]\n      warn: 5\n      rate: { warn: 10%, crit: 20% }\n\
         \x20   api.service:\n      json_field: { field: responseTime, above: 1000, crit: 1 }\n\
         \x20   cron.service:\n      match: [failed]\n",
    );
    let run = ws.opsbook(&["daily-check", "--only", "logs", "--format", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    let message = |name: &str| {
        let r = result(&report, "logs", name);
        format!(
            "{} {}",
            r["status"].as_str().unwrap(),
            r["message"].as_str().unwrap()
        )
    };
    assert_eq!(
        message("unit nginx.service"),
        "crit 1 matching lines in the last 1h: \"connect() failed error while reading\"; 25.0% of 4 lines, above crit 20%"
    );
    assert_eq!(
        message("unit api.service"),
        "crit 1 lines with `responseTime` above 1000 in the last 1h"
    );
    assert_eq!(
        message("unit cron.service"),
        "ok no matching lines in the last 1h"
    );
}

#[test]
fn a_unit_without_a_journal_is_unknown_and_says_why() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path().join("empty")).unwrap();
    ws.write(
        "opsbook.yaml",
        "version: 1\nlogs:\n  journal_dir: empty\n  units:\n    nginx.service: { match: [error] }\n",
    );
    let run = ws.opsbook(&["daily-check", "--only", "logs", "--format", "json"]);
    let report = run.json();
    let r = result(&report, "logs", "unit nginx.service");
    assert_eq!(r["status"], "unknown");
    assert_eq!(
        r["message"].as_str().unwrap(),
        format!(
            "no journal to read: no journal files in {} (is systemd-journald running?)",
            ws.path().join("empty").display()
        )
    );
}

#[test]
fn a_unit_check_asks_systemctl_and_says_when_systemd_cannot_answer() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nchecks:\n  web:\n    unit: opsbook-test-no-such.service\n    hint: systemctl start it\n",
    );
    let run = ws.opsbook(&["daily-check", "--only", "checks", "--format", "json"]);
    let report = run.json();
    let r = result(&report, "checks", "web");
    let message = r["message"].as_str().unwrap();
    if Path::new("/run/systemd/system").exists() {
        // systemd runs this machine: a unit it does not know is inactive.
        assert_eq!(r["status"], "crit");
        assert_eq!(
            message,
            "opsbook-test-no-such.service is inactive, not active (hint: systemctl start it)"
        );
    } else {
        eprintln!("no systemd as init here: checking the answer for a machine without it");
        assert_eq!(r["status"], "unknown");
        assert!(
            message.starts_with("cannot ask systemd about opsbook-test-no-such.service: "),
            "{message}"
        );
    }
}

#[test]
fn docker_disk_use_over_a_threshold_is_graded_by_kind() {
    let project = Project::new("docker-disk");
    let volume = project.volume("data");
    // 5 MiB in a volume no container mounts: all of it reclaimable.
    let filled = Command::new("docker")
        .args([
            "run",
            "--rm",
            "-v",
            &format!("{volume}:/data"),
            "opsbook-fixture:1",
        ])
        .args([
            "dd",
            "if=/dev/zero",
            "of=/data/blob",
            "bs=1048576",
            "count=5",
        ])
        .output()
        .unwrap();
    assert!(
        filled.status.success(),
        "{}",
        String::from_utf8_lossy(&filled.stderr)
    );
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nthresholds:\n  docker_disk:\n    crit: 1PiB\n    volumes: { warn: 4MiB, crit: 1PiB }\n",
    );
    let run = ws.opsbook(&["daily-check", "--only", "host", "--format", "json"]);
    let report = run.json();
    let r = result(&report, "host", "docker disk");
    assert_eq!(r["status"], "warn", "{r}");
    let message = r["message"].as_str().unwrap();
    assert!(message.starts_with("Docker uses "), "{message}");
    assert!(message.ends_with("; volumes above warn 4.0M"), "{message}");
    assert!(r["value"].as_f64().unwrap() >= 5.0 * 1048576.0, "{r}");

    ws.write(
        "opsbook.yaml",
        "version: 1\nthresholds:\n  docker_disk:\n    warn: 2GiB\n    crit: 1GiB\n  docker_disk2: {}\n",
    );
    let run = ws.opsbook(&["validate"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        "error: opsbook.yaml:4:11: thresholds.docker_disk.warn: warn 2.0 GiB is above crit 1.0 GiB\n\
         error: opsbook.yaml:6:3: thresholds.docker_disk2: unknown field `docker_disk2`: did you mean `docker_disk`? (expected one of memory, swap, cpu, iowait, load, load5, load15, disk, inodes, network, containers, docker_disk)\n"
    );
    ws.write(
        "opsbook.yaml",
        "version: 1\nthresholds:\n  docker_disk:\n    warn: 2GiB\n    crit: 1GiB\n    images: { warn: 3x, crit: 1GB }\n",
    );
    let run = ws.opsbook(&["validate"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        "error: opsbook.yaml:6:21: thresholds.docker_disk.images.warn: invalid size `3x` (write e.g. `512MiB`, `5GiB`)\n"
    );
}

#[test]
fn unit_settings_are_validated_with_their_place() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nthresholds:\n  docker_disk: {}\nlogs:\n  units:\n    nginx.service: { since: 1h, match: [x] }\n\
         services:\n  web:\n    logs: { match: [x], units: { a.service: { match: [y] } } }\n\
         checks:\n  u:\n    unit: \"\"\n",
    );
    let run = ws.opsbook(&["validate"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        "error: opsbook.yaml:3:3: thresholds.docker_disk: `docker_disk` needs `warn` or `crit` (the total), or one of `images`, `containers`, `volumes`, `build_cache`\n\
         error: opsbook.yaml:5:3: logs.units.nginx.service: a unit takes `match`, `warn`, `crit`, `rate` and `json_field` (its journal is read over the global window)\n\
         error: opsbook.yaml:9:5: services.web.logs: log `files`, `units` and `journal_dir` belong to the global `logs`\n\
         error: opsbook.yaml:12:11: checks.u.unit: `unit` is empty: name a systemd unit, like nginx.service\n"
    );
}
