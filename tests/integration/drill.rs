//! `backup drill` against the real engine: the backup's volume, file and
//! dump restored into scratch twins of the services, their checks run
//! (exec in a twin, http at a twin's address), and nothing live touched:
//! the live data changed after the backup stays changed, the live
//! containers keep running, no port is published, and no scratch resource
//! is left, after a pass, a failure, SIGTERM, or a kill (the next drill
//! removes what a killed one left).

use std::time::Duration;

use crate::restore::{LONG, MUTATE, RESTORE_RECORDS, SEED, listing, state};
use crate::support::exact::{Filters, assert_run};
use crate::support::{self, Project, Workspace, eventually, free_port, result, terminate};

/// The drill's checks: the volume's rows, the dump (restored into the
/// twin, not the live db), the host file as the twin sees it, the web twin.
const DRILL: &str = "  drill:\n    timeout: 60s\n    max_age: 8d\n    checks:\n      \
     orders: { exec: { service: db, command: [sh, -c, \"wc -l < /data/tables/orders\"], stdout_contains: \"5000\" } }\n      \
     records: { exec: { service: db, command: [cat, /data/records.txt], stdout_contains: \"order 1\" } }\n      \
     dump: { exec: { service: db, command: [cat, /restored-records.txt], stdout_contains: \"order 1\" } }\n      \
     config: { exec: { service: api, command: [cat, /etc/shop.env], stdout_contains: \"A=1\" } }\n      \
     web: { http: { url: \"http://api:8080/index.html\", contains: \"shop is up\" } }\n";

/// The restore tests' shop (db seeds `dbdata`; the dump `records`), with
/// an api that serves a page, publishes a port and reads the backed-up
/// host file; `health`: the api's healthcheck.
fn shop_with_drill(tag: &str, health: &str) -> (Project, Workspace, u16) {
    let project = Project::new(tag);
    let dbdata = project.volume("dbdata");
    project
        .service("db")
        .mount(&dbdata, "/data")
        .script(SEED)
        .start();
    let ws = Workspace::new();
    ws.write("config.env", "A=1\n");
    let port = free_port();
    project
        .service("api")
        .script("mkdir -p /www && echo 'shop is up' > /www/index.html && httpd -p 8080 -h /www")
        .healthcheck(health)
        .port(8080, port)
        .mount(
            &ws.path().join("config.env").display().to_string(),
            "/etc/shop.env",
        )
        .start();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\n  api: {{ depends_on: [db] }}\n\
             backup:\n  dir: ./backups\n  keep: {{ last: 1 }}\n  volumes: [dbdata]\n  files: [config.env]\n  dumps:\n    records:\n      service: db\n      command: [cat, /data/records.txt]\n      restore: {RESTORE_RECORDS}\n{DRILL}",
            project.name
        ),
    );
    eventually("db seeded its volume", LONG, || {
        project.exec("db", "test -f /data/.seeded")
    });
    (project, ws, port)
}

const HEALTHY: &str = "wget -q -O- http://127.0.0.1:8080/index.html";

fn drill_resources(project: &Project) -> Vec<String> {
    let mut found = Vec::new();
    for kind in ["ps -a", "volume ls", "network ls"] {
        let mut args: Vec<&str> = kind.split(' ').collect();
        let label = format!("label=opsbook.drill.project={}", project.name);
        args.extend(["-q", "--filter", &label]);
        let out = std::process::Command::new("docker")
            .args(&args)
            .output()
            .unwrap();
        found.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| format!("{kind}: {l}")),
        );
    }
    found
}

fn container_ids(project: &Project) -> Vec<String> {
    ["db", "api"]
        .iter()
        .map(|s| project.inspect(s).id.unwrap_or_default())
        .collect()
}

#[test]
fn a_drill_restores_into_twins_runs_its_checks_and_touches_nothing_live() {
    let (project, ws, port) = shop_with_drill("drill", HEALTHY);
    ws.opsbook(&["validate"]).expect_code(0);
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    // After the backup, the live data moves on.
    assert!(project.exec("db", MUTATE));
    ws.write("config.env", "A=2\n");
    let live = listing(&project);
    let ids = container_ids(&project);

    let run = ws.opsbook(&[
        "backup",
        "drill",
        "--state-dir",
        &state(&ws),
        "--format",
        "json",
    ]);
    let report = run.expect_code(0).json();
    for name in [
        "verify",
        "restore dbdata",
        "restore config.env",
        "twin db",
        "twin api",
        "restore records",
    ] {
        assert_eq!(
            result(&report, "drill", name)["status"],
            "ok",
            "{name}: {report:#}"
        );
    }
    for check in ["orders", "records", "dump", "config", "web"] {
        let r = result(&report, "drill", &format!("check {check}"));
        assert_eq!(r["status"], "ok", "{r}");
    }
    let cleanup = result(&report, "drill", "cleanup");
    assert_eq!(cleanup["status"], "ok", "{cleanup}");
    assert!(
        cleanup["message"]
            .as_str()
            .unwrap()
            .starts_with("removed 2 containers, 1 volume, 1 network"),
        "{cleanup}"
    );
    // Nothing live changed, nothing is left over.
    assert_eq!(listing(&project), live);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("config.env")).unwrap(),
        "A=2\n"
    );
    assert_eq!(container_ids(&project), ids);
    assert!(project.exec("api", "true") && project.exec("db", "true"));
    assert!(
        drill_resources(&project).is_empty(),
        "{:?}",
        drill_resources(&project)
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());

    // The table: one line per step, the checks, the cleanup.
    let table = ws
        .opsbook(&["backup", "drill", "--state-dir", &state(&ws)])
        .expect_code(0)
        .stdout
        .clone();
    eprintln!("{table}");
    for line in ["ok      drill    check web", "ok      drill    cleanup"] {
        assert!(table.contains(line), "{table}");
    }

    // The outcome is kept with the backup and shown by list and daily-check.
    let list = ws
        .opsbook(&["backup", "list", "--format", "json"])
        .expect_code(0)
        .json();
    let drill = &list["backups"][0]["drill"];
    assert_eq!(drill["passed"], true, "{list:#}");
    let table = ws
        .opsbook(&["backup", "list"])
        .expect_code(0)
        .stdout
        .clone();
    assert!(table.contains("passed"), "{table}");
    let check = ws
        .opsbook(&[
            "daily-check",
            "--only",
            "backups",
            "--state-dir",
            &state(&ws),
            "--format",
            "json",
        ])
        .json();
    let graded = result(&check, "backups", "drill");
    assert_eq!(graded["status"], "ok", "{graded}");

    // A newer backup: `keep: { last: 1 }` would delete the drilled one,
    // but prune keeps the newest proved backup, and says so. (A warn: the
    // mutated volume is less than half its size before.)
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(1);
    let drilled = list["backups"][0]["id"].as_str().unwrap().to_string();
    let pruned = ws
        .opsbook(&[
            "backup",
            "prune",
            "--yes",
            "--state-dir",
            &state(&ws),
            "--format",
            "json",
        ])
        .expect_code(1)
        .json();
    let kept = result(&pruned, "prune", &drilled);
    assert!(
        kept["message"]
            .as_str()
            .unwrap()
            .contains("the newest backup a drill proved restores"),
        "{kept}"
    );
    assert!(ws.path().join("backups").join(&drilled).exists());
    let unproved = result(&pruned, "prune", "drill");
    assert!(
        unproved["message"]
            .as_str()
            .unwrap()
            .contains("has never been drilled"),
        "{unproved}"
    );

    // A check that fails: the drill (of the newest backup) fails (exit 2),
    // is recorded so, and still cleans up.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace(
            "stdout_contains: \"5000\"",
            "stdout_contains: \"4999 rows\"",
        ),
    );
    let report = ws
        .opsbook(&[
            "backup",
            "drill",
            "--state-dir",
            &state(&ws),
            "--format",
            "json",
        ])
        .expect_code(2)
        .json();
    assert_eq!(result(&report, "drill", "check orders")["status"], "crit");
    assert!(drill_resources(&project).is_empty());
    let list = ws
        .opsbook(&["backup", "list", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(list["backups"][0]["drill"]["passed"], false, "{list:#}");
}

#[test]
fn a_drill_cut_short_by_a_signal_or_a_kill_leaves_nothing_behind() {
    // An api whose twin never becomes healthy (nor does it): the drill waits.
    let (project, ws, _) = shop_with_drill("drill-cut", "test -f /never");
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    let ids = container_ids(&project);
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();

    let child = ws.spawn(&["backup", "drill", "--state-dir", &state(&ws)]);
    // The api's twin exists: db's twin was ready, the drill waits for api's.
    eventually("the api's twin exists", LONG, || {
        drill_resources(&project)
            .iter()
            .filter(|r| r.starts_with("ps -a"))
            .count()
            >= 2
    });
    std::thread::sleep(Duration::from_millis(500));
    let run = terminate(child);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("interrupted by a signal"),
        "{}",
        run.stdout
    );
    assert!(
        drill_resources(&project).is_empty(),
        "{:?}",
        drill_resources(&project)
    );

    // SIGKILL: nothing can clean up, so the next drill does, first.
    let mut child = ws.spawn(&["backup", "drill", "--state-dir", &state(&ws)]);
    eventually("a twin exists", LONG, || {
        drill_resources(&project).len() >= 3
    });
    child.kill().unwrap();
    let _ = child.wait();
    assert!(!drill_resources(&project).is_empty());
    ws.write("opsbook.yaml", text.replace("timeout: 60s", "timeout: 5s"));
    let report = ws
        .opsbook(&[
            "backup",
            "drill",
            "--state-dir",
            &state(&ws),
            "--format",
            "json",
        ])
        .json();
    let leftovers = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str().unwrap().starts_with("leftovers "))
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(leftovers["status"], "ok", "{leftovers}");
    assert!(
        drill_resources(&project).is_empty(),
        "{:?}",
        drill_resources(&project)
    );
    assert_eq!(container_ids(&project)[0], ids[0]);
}

#[test]
fn a_dump_restore_that_reaches_outside_fails_in_the_drill_instead_of_writing_there() {
    let project = Project::new("drill-out");
    // A live server on the project's network, as a hosted database is to
    // Nutri's `psql "$DATABASE_URL"`: the live db reaches it.
    project
        .service("ext")
        .networked()
        .script("mkdir -p /www && echo live > /www/index.html && httpd -p 8080 -h /www")
        .start();
    let ip = project
        .inspect("ext")
        .network_settings
        .and_then(|s| s.networks)
        .and_then(|mut n| n.remove(&project.network()))
        .and_then(|e| e.ip_address)
        .unwrap();
    project.service("db").networked().start();
    // `timeout`: a connection that goes nowhere hangs until TCP gives up.
    let reach = format!("timeout 5 wget -q -O- http://{ip}:8080/index.html > /dev/null");
    eventually("the live db reaches the live server", LONG, || {
        project.exec("db", &reach)
    });
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {}\nservices:\n  ext: {{}}\n  db: {{}}\nbackup:\n  dir: ./backups\n  dumps:\n    records:\n      service: db\n      command: [echo, rows]\n      restore: [sh, -c, \"cat > /dev/null && {reach}\"]\n  drill:\n    timeout: 30s\n",
            project.name
        ),
    );
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    let report = ws
        .opsbook(&[
            "backup",
            "drill",
            "--state-dir",
            &state(&ws),
            "--format",
            "json",
        ])
        .expect_code(2)
        .json();
    let failed = result(&report, "drill", "drill");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("`sh -c cat > /dev/null && {reach}` exited"))
            && message.contains("in the twin of `db`"),
        "{failed}"
    );
    assert!(
        drill_resources(&project).is_empty(),
        "{:?}",
        drill_resources(&project)
    );
}

#[test]
fn backup_drill_restores_into_twins_and_reports_each_step() {
    let project = Project::fixed_width("x-drill");
    let dbdata = project.volume("dbdata");
    project
        .service("db")
        .mount(&dbdata, "/data")
        .script("[ -f /data/records.txt ] || echo 'order 1' > /data/records.txt")
        .start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\n\
             backup:\n  dir: ./backups\n  volumes: [dbdata]\n  drill:\n    timeout: 60s\n    checks:\n      \
             records: {{ exec: {{ service: db, command: [cat, /data/records.txt], stdout_contains: \"order 1\" }} }}\n",
            project.name
        ),
    );
    eventually("db wrote its records", LONG, || {
        project.exec("db", "test -f /data/records.txt")
    });
    let filters = Filters::new(&ws)
        .literal(&project.name, "[PROJECT]")
        .regex(r"\bshop-\d{8}T\d{6}Z\b", "shop-YYYYMMDDThhmmssZ")
        .regex(r"\bdrill [0-9a-f]{8}\b", "drill [DRILL]")
        .regex(r"\bopsbook-drill-[0-9a-f]{8}-", "opsbook-drill-[DRILL]-")
        .regex(r"\b\d+(?:\.\d)?[BKMG]\b", "[SIZE]")
        .regex(r"\bin \d+\.\ds\b", "in [T]s");
    assert_run(
        &ws.opsbook(&["backup", "drill", "--state-dir", &state(&ws)]),
        &filters,
        3,
        "",
        "error: no backup in [WS]/backups\n",
    );
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    assert_run(
        &ws.opsbook(&["backup", "drill", "--state-dir", &state(&ws)]),
        &filters,
        0,
        r#"
STATUS  SECTION  NAME            MESSAGE
ok      drill    verify          shop-YYYYMMDDThhmmssZ: 1 item read back whole
ok      drill    restore dbdata  volume [PROJECT]_dbdata into opsbook-drill-[DRILL]-dbdata ([SIZE])
ok      drill    twin db         opsbook-drill-[DRILL]-db ready
ok      drill    check records   `cat /data/records.txt` succeeded: "order 1"
ok      drill    cleanup         removed 1 container, 1 volume, 1 network
ok      drill    recorded        drill [DRILL] of shop-YYYYMMDDThhmmssZ passed: in shop-YYYYMMDDThhmmssZ/drill.json
ok: 6 ok in [MS] ms
"#,
        "drill [DRILL]: verifying shop-YYYYMMDDThhmmssZ\n",
    );
    assert!(drill_resources(&project).is_empty());
}

/// A project of one service `db` whose volume `dbdata` is backed up and
/// drilled (`extra`: more of `backup:`), with one backup taken.
fn one_db_drill(tag: &str, extra: &str) -> (Project, Workspace) {
    let project = Project::new(tag);
    let dbdata = project.volume("dbdata");
    project
        .service("db")
        .mount(&dbdata, "/data")
        .script("echo 'order 1' > /data/records.txt")
        .start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {}\nservices:\n  db: {{}}\n\
             backup:\n  dir: ./backups\n  volumes: [dbdata]\n{extra}",
            project.name
        ),
    );
    eventually("db wrote its records", LONG, || {
        project.exec("db", "test -f /data/records.txt")
    });
    ws.opsbook(&["backup", "--state-dir", &state(&ws)])
        .expect_code(0);
    (project, ws)
}

/// A process of the test's own (`sleep`), killed when dropped.
struct Sleeper(std::process::Child);

impl Sleeper {
    fn spawn() -> Sleeper {
        Sleeper(
            std::process::Command::new("sleep")
                .arg("600")
                .spawn()
                .unwrap(),
        )
    }

    /// Its pid, start time (`/proc/<pid>/stat` field 22) and the boot id.
    fn identity(&self) -> (u32, u64, String) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0.id())).unwrap();
        let (_, fields) = stat.rsplit_once(')').unwrap();
        let started = fields.split_whitespace().nth(19).unwrap().parse().unwrap();
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        (self.0.id(), started, boot.trim().to_string())
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Scratch resources (a volume, a network, a created container) labelled
/// as drill `id`'s, made by the test; whatever is left is removed when
/// dropped.
struct FakeDrill {
    id: String,
}

impl FakeDrill {
    fn new(project: &Project, id: &str, labels: &[(&str, String)]) -> FakeDrill {
        let mut args: Vec<String> = vec![
            "--label".to_string(),
            format!("opsbook.drill={id}"),
            "--label".to_string(),
            format!("opsbook.drill.project={}", project.name),
        ];
        for (key, value) in labels {
            args.extend(["--label".to_string(), format!("{key}={value}")]);
        }
        let name = format!("opsbook-drill-{id}-db");
        let docker = |verb: &[&str], tail: &[&str]| {
            let out = std::process::Command::new("docker")
                .args(verb)
                .args(&args)
                .args(tail)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        let fake = FakeDrill { id: id.to_string() };
        docker(&["volume", "create"], &[&name]);
        docker(&["network", "create", "--internal"], &[&name]);
        docker(
            &["create", "--name", &name],
            &[support::FIXTURE_IMAGE, "true"],
        );
        fake
    }

    /// What of it is on the engine (`ps -a: ID`, `volume ls: NAME`, …).
    fn resources(&self) -> Vec<String> {
        let label = format!("label=opsbook.drill={}", self.id);
        let mut found = Vec::new();
        for kind in ["ps -a", "volume ls", "network ls"] {
            let mut args: Vec<&str> = kind.split(' ').collect();
            args.extend(["-q", "--filter", &label]);
            let out = std::process::Command::new("docker")
                .args(&args)
                .output()
                .unwrap();
            found.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|l| format!("{kind}: {l}")),
            );
        }
        found
    }
}

impl Drop for FakeDrill {
    fn drop(&mut self) {
        let name = format!("opsbook-drill-{}-db", self.id);
        for args in [
            vec!["rm", "-f", "-v", &name],
            vec!["volume", "rm", "-f", &name],
            vec!["network", "rm", &name],
        ] {
            let _ = std::process::Command::new("docker")
                .args(&args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

#[test]
fn leftovers_under_a_reused_pid_are_removed_and_a_live_drills_are_kept() {
    let (project, ws) = one_db_drill("drill-pid", "  drill:\n    timeout: 60s\n");
    // A live process stands for a drill's: its pid, start time and boot.
    let sleeper = Sleeper::spawn();
    let (pid, started, boot) = sleeper.identity();
    let tag = format!("{:x}", std::process::id());
    let live_labels = |started: u64| {
        vec![
            ("opsbook.drill.pid", pid.to_string()),
            ("opsbook.drill.started", started.to_string()),
            ("opsbook.drill.boot", boot.clone()),
        ]
    };
    // Its pid, but a process that started at another time: the pid was
    // reused, the drill that made these is gone.
    let reused = FakeDrill::new(&project, &format!("{tag}reused"), &live_labels(started + 1));
    // Another boot: gone too, whatever has that pid now.
    let mut rebooted_labels = live_labels(started);
    rebooted_labels[2].1 = "00000000-0000-0000-0000-000000000000".to_string();
    let rebooted = FakeDrill::new(&project, &format!("{tag}reboot"), &rebooted_labels);
    // The very process: a drill under way, kept.
    let live = FakeDrill::new(&project, &format!("{tag}live"), &live_labels(started));
    // An older opsbook's labels (the pid only), the pid running: kept.
    let old = FakeDrill::new(
        &project,
        &format!("{tag}old"),
        &[("opsbook.drill.pid", pid.to_string())],
    );
    for fake in [&reused, &rebooted, &live, &old] {
        assert_eq!(fake.resources().len(), 3, "{:?}", fake.resources());
    }

    let report = ws
        .opsbook(&[
            "backup",
            "drill",
            "--state-dir",
            &state(&ws),
            "--format",
            "json",
        ])
        .expect_code(0)
        .json();
    for gone in [&reused, &rebooted] {
        let removed = result(&report, "drill", &format!("leftovers {}", gone.id));
        assert_eq!(removed["status"], "ok", "{removed}");
        assert_eq!(
            removed["message"],
            format!(
                "removed what drill {} left behind (1 container, 1 volume, 1 network)",
                gone.id
            )
        );
        assert!(gone.resources().is_empty(), "{:?}", gone.resources());
    }
    for kept in [&live, &old] {
        assert_eq!(kept.resources().len(), 3, "{:?}", kept.resources());
        let name = format!("leftovers {}", kept.id);
        assert!(
            !report["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == name),
            "{report:#}"
        );
    }

    // Once the process is gone, the next drill removes both.
    drop(sleeper);
    let report = ws
        .opsbook(&[
            "backup",
            "drill",
            "--state-dir",
            &state(&ws),
            "--format",
            "json",
        ])
        .expect_code(0)
        .json();
    for gone in [&live, &old] {
        let removed = result(&report, "drill", &format!("leftovers {}", gone.id));
        assert_eq!(removed["status"], "ok", "{removed}");
        assert!(gone.resources().is_empty(), "{:?}", gone.resources());
    }
    assert!(
        drill_resources(&project).is_empty(),
        "{:?}",
        drill_resources(&project)
    );
}

/// Removes, when dropped, every scratch resource labelled as a drill of
/// `project`'s: what a drill the test had to kill left.
struct SweptAfter<'a>(&'a Project);

impl Drop for SweptAfter<'_> {
    fn drop(&mut self) {
        for resource in drill_resources(self.0) {
            let (kind, id) = resource.split_once(": ").unwrap();
            let remove: &[&str] = match kind {
                "ps -a" => &["rm", "-f", "-v"],
                "volume ls" => &["volume", "rm", "-f"],
                _ => &["network", "rm"],
            };
            let _ = std::process::Command::new("docker")
                .args(remove)
                .arg(id)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

#[test]
fn a_hung_dump_restore_ends_the_drill_at_its_deadline_and_everything_is_removed() {
    // The dump's `restore` never ends: without a deadline the drill waits an hour.
    let (project, ws) = one_db_drill(
        "drill-hung",
        "  dumps:\n    records:\n      service: db\n      command: [cat, /data/records.txt]\n      \
         restore: [sleep, \"3600\"]\n  drill:\n    timeout: 60s\n    restore_timeout: 3s\n",
    );
    let _swept = SweptAfter(&project);
    let child = ws.spawn(&[
        "backup",
        "drill",
        "--state-dir",
        &state(&ws),
        "--format",
        "json",
    ]);
    // The twin's start (2 s to settle), 3 s of restore, the cleanup: well
    // within a minute, where it waited an hour.
    let run = support::finish_within(child, Duration::from_secs(90));
    eprintln!("the drill took {:?}", run.took);
    let report = run.expect_code(2).json();
    let hung = result(&report, "drill", "restore records");
    assert_eq!(hung["status"], "crit", "{hung}");
    assert_eq!(
        hung["message"],
        "`sleep 3600` in the twin of `db` did not finish within 3s (`backup.drill.restore_timeout`)"
    );
    let waited = hung["duration_ms"].as_u64().unwrap();
    assert!((3000..8000).contains(&waited), "{hung}");
    let failed = result(&report, "drill", "drill");
    assert_eq!(
        failed["message"],
        "restore records hung: `sleep 3600` in the twin of `db` did not finish within 3s (`backup.drill.restore_timeout`)"
    );
    let cleanup = result(&report, "drill", "cleanup");
    assert_eq!(cleanup["status"], "ok", "{cleanup}");
    assert_eq!(
        cleanup["message"],
        "removed 1 container, 1 volume, 1 network"
    );
    assert!(
        drill_resources(&project).is_empty(),
        "{:?}",
        drill_resources(&project)
    );
    assert!(
        !ws.path().join("state").join("drills").exists()
            || std::fs::read_dir(ws.path().join("state").join("drills"))
                .unwrap()
                .next()
                .is_none()
    );
    // Recorded as a failed drill, naming the step.
    let list = ws
        .opsbook(&["backup", "list", "--format", "json"])
        .expect_code(0)
        .json();
    let drill = &list["backups"][0]["drill"];
    assert_eq!(drill["passed"], false, "{list:#}");
}
