//! `opsbook init` on deployments brought up with Compose as an operator
//! would: the real-software stack (PostgreSQL, Redis, nginx in front of a
//! Python API, all from Debian's packages), the busybox example of the
//! README, and a host running two projects. The runbook it writes is used
//! unchanged: validate, daily-check, backup (a real dump and the volumes),
//! the data damaged, restore, the data back exactly.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{Project, REAL_IMAGE, Workspace, eventually, free_port};

/// A compose project brought up from `compose.yml` in `ws`, taken down with
/// its volumes and network when dropped.
struct Compose<'a> {
    ws: &'a Workspace,
    project: Project,
}

impl<'a> Compose<'a> {
    fn up(ws: &'a Workspace, tag: &str, file: &str) -> Compose<'a> {
        let project = Project::new(tag);
        ws.write("compose.yml", file);
        let compose = Compose { ws, project };
        compose.run(&["up", "-d"]);
        compose
    }

    fn name(&self) -> &str {
        &self.project.name
    }

    fn run(&self, args: &[&str]) {
        let out = Command::new("docker-compose")
            .args(["-p", &self.project.name, "-f", "compose.yml"])
            .args(args)
            .current_dir(self.ws.path())
            .output()
            .expect("docker-compose (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The id of `service`'s container (Compose v1 and v2 name them apart).
    fn container(&self, service: &str) -> String {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--filter"])
            .arg(format!("label=com.docker.compose.project={}", self.name()))
            .arg("--filter")
            .arg(format!("label=com.docker.compose.service={service}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits until each of `services` is healthy.
    fn healthy(&self, services: &[&str]) {
        for service in services {
            let id = self.container(service);
            eventually(
                &format!("{service} healthy"),
                Duration::from_secs(90),
                || {
                    Command::new("docker")
                        .args(["inspect", "-f", "{{.State.Health.Status}}", &id])
                        .output()
                        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "healthy")
                },
            );
        }
    }

    /// A shell command's output in `service`'s container.
    fn sh(&self, service: &str, script: &str) -> String {
        let out = Command::new("docker")
            .args(["exec", &self.container(service), "sh", "-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Compose<'_> {
    fn drop(&mut self) {
        let _ = Command::new("docker-compose")
            .args([
                "-p",
                &self.project.name,
                "-f",
                "compose.yml",
                "down",
                "-v",
                "-t",
                "1",
            ])
            .current_dir(self.ws.path())
            .output();
    }
}

/// The real stack: a secret in the database's environment and in the API's URL.
fn real_stack(port: u16) -> String {
    format!(
        r#"services:
  db:
    image: {REAL_IMAGE}
    command: [pg-serve]
    environment:
      POSTGRES_DB: shop
      POSTGRES_USER: shop
      POSTGRES_PASSWORD: init-test-Secret-9d1
    volumes: [pgdata:/var/lib/postgresql/data]
    healthcheck:
      test: ["CMD-SHELL", "grep -q ^ready /var/lib/postgresql/data/postmaster.pid && pg_isready -q -h 127.0.0.1 -U shop -d shop"]
      interval: 1s
      retries: 90
  cache:
    image: {REAL_IMAGE}
    command: [redis-serve]
    volumes: [redisdata:/data]
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 1s
      retries: 90
  api:
    image: {REAL_IMAGE}
    command: [python3, /opt/apps/erp-backend.py]
    environment:
      DATABASE_URL: postgresql://shop:init-test-Secret-9d1@db/shop
      REDIS_URL: redis://cache:6379/0
      PORT: "8000"
    depends_on:
      db: {{ condition: service_healthy }}
      cache: {{ condition: service_healthy }}
  web:
    image: {REAL_IMAGE}
    command: [nginx-proxy, "8080", "api:8000"]
    ports: ["127.0.0.1:{port}:8080"]
    depends_on: [api]
volumes:
  pgdata:
  redisdata:
"#
    )
}

/// What init writes for the real stack (`PROJECT`, `PORT`, `DIR` stand in).
const REAL_RUNBOOK: &str = r#"# The runbook of the compose project `PROJECT`, written by `opsbook init` from its
# running containers (and DIR/compose.yml). Read it through: every section is a
# starting point, graded by the defaults operators use. Then:
#   opsbook validate && opsbook backup && opsbook daily-check
# The reference of every key: README, "A runbook, section by section".
version: 1
name: PROJECT
project: PROJECT

services:                          # startup in tiers by depends_on, shutdown in reverse
  # cache: Redis (told by its processes); startup waits for its healthcheck `redis-cli ping`
  cache: { critical: true }
  # db: PostgreSQL (told by its processes); startup waits for its healthcheck `grep -q ^ready /var/lib/postgresql/data/postmaster.pid && pg_isready -q -h 127.0.0.1 -U shop -d shop`
  db: { critical: true }
  # api: no healthcheck: startup counts it ready once it runs
  api: { depends_on: [db, cache], critical: true }
  # web: nginx (told by its processes); no healthcheck: startup counts it ready once it runs
  web: { depends_on: [api] }

thresholds:                        # the host, as operators grade it
  memory: { warn: 80%, crit: 85% }
  swap:   { warn: 25%, crit: 50% }
  load:   { warn: 2.0, crit: 2.5 }       # 1-minute load average per core
  disk:   { warn: 85%, crit: 90%, paths: ["/"] }

checks:
  cache-ping:   # Redis
    exec: { service: cache, command: [redis-cli, ping], stdout_contains: PONG }
  db-ready:   # PostgreSQL
    exec: { service: db, command: [sh, '-c', 'pg_isready -U "${POSTGRES_USER:-postgres}"'], stdout_contains: 'accepting connections' }
  web-http:   # answered 200 when init asked
    http: { url: 'http://127.0.0.1:PORT/health', status: 200, max_latency: 2s, timeout: 5s }
    retry: { count: 2, delay: 2s }
  web-config:   # nginx
    exec: { service: web, command: [nginx, '-t'] }

logs:                              # lines counted per service over the window
  since: 24h
  match: ['(?i)\berror\b', '(?i)\bfatal\b', '(?i)\bpanic\b']
  warn: 1
  crit: 100

startup:
  timeout: 2m                      # each tier's wait until running and healthy
  verify: [cache-ping, db-ready, web-http, web-config]

shutdown:
  grace: 10s

backup:
  dir: ./backups                   # beside this runbook; 0700, one folder per backup
  volumes: [redisdata]
  # pgdata (db at /var/lib/postgresql/data): its database's data, in the dump below instead (a copy of a
  # running database's files is not consistent)
  dumps:
    db:                           # PostgreSQL, with the container's own credentials
      service: db
      command: [sh, -c, 'pg_dump -U "${POSTGRES_USER:-postgres}" -d "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" --clean --if-exists']
      restore: [sh, -c, 'psql -q -v ON_ERROR_STOP=1 --single-transaction -U "${POSTGRES_USER:-postgres}" -d "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"']
  before:
    - exec: { service: cache, command: [redis-cli, SAVE] }   # Redis writes its snapshot first
  # stop: [api]                    # services stopped while the volumes are copied
  keep: { last: 3, daily: 7, weekly: 4 }
  max_age: 26h                     # daily-check warns when the newest backup is older

# Secrets: the values of these variables of the containers are masked in
# whatever opsbook shows (their names say they are secret); the commands
# above name them, never hold them: db POSTGRES_PASSWORD.
# More patterns to mask: redact: ['tok_[A-Za-z0-9]{24}']

# Where warn and crit go (webhook, ntfy, Slack, mail: README, Notifications):
# notify:
#   webhook: { url: "https://hooks.example.com/opsbook", on: [warn, crit] }
"#;

/// The results of a JSON report that are not ok, leaving out the host's
/// own figures (this machine's load and disk under the parallel tests).
fn not_ok(report: &serde_json::Value) -> Vec<String> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "ok")
        .filter(|r| r["section"] != "host" && r["name"] != "free space")
        .map(|r| {
            let text = |key: &str| r[key].as_str().unwrap_or_default().to_string();
            let (status, section) = (text("status"), text("section"));
            format!("{status} {section}/{}: {}", text("name"), text("message"))
        })
        .collect()
}

/// `daily-check` as JSON: exit 0, or a host figure is the only thing not ok.
fn daily_check(ws: &Workspace) -> Vec<String> {
    let run = ws.opsbook(&["daily-check", "--state-dir", "state", "--format", "json"]);
    let report = run.json();
    let problems = not_ok(&report);
    if problems.is_empty() {
        let host_only = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["status"] != "ok");
        assert!(run.code == 0 || host_only, "{}", run.stdout);
    }
    problems
}

#[test]
fn init_writes_the_real_stacks_runbook_which_backs_up_and_restores_it_unchanged() {
    let ws = Workspace::new();
    let port = free_port();
    let stack = Compose::up(&ws, "init-real", &real_stack(port));
    stack.healthy(&["db", "cache"]);
    eventually(
        "the API answers through nginx",
        Duration::from_secs(60),
        || reqwest_free_get(port).is_some_and(|status| status == 200),
    );
    let dir = ws.path().display().to_string();
    let filters = Filters::new(&ws)
        .literal(stack.name(), "PROJECT")
        .literal(&port.to_string(), "PORT")
        .literal(&dir, "DIR")
        .regex(r"in \d+ ms", "in [MS] ms");

    let run = ws.opsbook(&["init", "--project", stack.name()]);
    assert_run(
        &run,
        &filters,
        0,
        "wrote `opsbook.yaml` for `PROJECT`: 4 services, 4 checks
not decided (see the comments in the runbook):
  api: no healthcheck, no published port (startup counts it ready once it runs; add a healthcheck to its compose service)
  web: no healthcheck (startup counts it ready once it runs; add a healthcheck to its compose service)
next:
  opsbook validate
  opsbook backup
  opsbook daily-check
ok: 1 ok in [MS] ms
",
        "",
    );
    let written = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    let placed = |text: &str| {
        text.replace(stack.name(), "PROJECT")
            .replace(&port.to_string(), "PORT")
            .replace(&dir, "DIR")
    };
    assert_eq!(placed(&written), REAL_RUNBOOK, "{written}");
    assert!(
        !written.contains("init-test-Secret-9d1"),
        "no value is copied"
    );

    // It never overwrites; --dry-run prints the same runbook.
    let again = ws.opsbook(&["init", "--project", stack.name()]);
    assert_run(
        &again,
        &filters,
        3,
        "",
        "error: `opsbook.yaml` exists: opsbook init never overwrites a runbook without --force (--dry-run prints the new one instead)\n",
    );
    let dry = ws.opsbook(&["init", "--project", stack.name(), "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(placed(&dry.stdout), REAL_RUNBOOK);

    ws.opsbook(&["validate"]).expect_code(0);
    // Before the first backup, that is what daily-check says is missing.
    assert_eq!(
        daily_check(&ws),
        ["warn backups/newest: no backup yet in ./backups"]
    );

    seed(&stack);
    let backup = ws.opsbook(&["backup", "--format", "json"]);
    assert_eq!(backup.code, 0, "{}{}", backup.stdout, backup.stderr);
    let manifest = newest_manifest(&ws.path().join("backups"));
    let items: Vec<String> = manifest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["kind"].as_str().unwrap(),
                i["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(items, ["volume redisdata", "dump db"], "{manifest}");
    assert_eq!(daily_check(&ws), Vec::<String>::new());

    // Damaged for real, then put back exactly.
    stack.sh("db", "psql -qU shop -d shop -c \"DELETE FROM orders WHERE id = 1; INSERT INTO orders VALUES (3, 'forged');\"");
    stack.sh("cache", "redis-cli SET order:1 damaged && redis-cli SAVE");
    let restore = ws.opsbook(&["restore", "latest", "--yes"]);
    assert_eq!(restore.code, 0, "{}{}", restore.stdout, restore.stderr);
    assert_eq!(
        stack.sh(
            "db",
            "psql -tAU shop -d shop -c 'SELECT id, item FROM orders ORDER BY id'"
        ),
        "1|tea\n2|cake\n"
    );
    assert_eq!(stack.sh("cache", "redis-cli GET order:1"), "tea\n");
    assert!(!restore.stdout.contains("init-test-Secret-9d1"));
}

/// Rows in PostgreSQL and a key in Redis, written down by Redis.
fn seed(stack: &Compose) {
    stack.sh(
        "db",
        "psql -qU shop -d shop -c \"CREATE TABLE orders (id int PRIMARY KEY, item text); INSERT INTO orders VALUES (1, 'tea'), (2, 'cake');\"",
    );
    stack.sh("cache", "redis-cli SET order:1 tea");
}

/// The manifest of the one backup in `dir`.
fn newest_manifest(dir: &Path) -> serde_json::Value {
    let mut ids: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    ids.sort();
    let text = std::fs::read_to_string(ids.last().unwrap().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The status of GET /health on 127.0.0.1:`port`, through a plain socket.
fn reqwest_free_get(port: u16) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// The README's busybox example, on ports of its own, and a second project
/// beside it: init asks which (exit 3 without a terminal), then writes the
/// example's runbook, which backs up and restores its volumes exactly.
#[test]
fn init_on_a_host_of_two_projects_asks_which_and_the_examples_runbook_restores_it() {
    let ws = Workspace::new();
    let (web, api) = (free_port(), free_port());
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop/compose.yml"),
    )
    .unwrap()
    .replace("18080", &web.to_string())
    .replace("18081", &api.to_string());
    let shop = Compose::up(&ws, "init-shop", &example);
    let other_ws = Workspace::new();
    let other = Compose::up(
        &other_ws,
        "init-other",
        "services:\n  idle:\n    image: opsbook-fixture:1\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 2147483647 & wait\"]\n",
    );
    shop.healthy(&["db", "cache", "api"]);

    let run = ws.opsbook(&["init"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    for named in [
        format!("{} (4 containers)", shop.name()),
        format!("{} (1 container)", other.name()),
    ] {
        assert!(run.stderr.contains(&named), "{named} in {}", run.stderr);
    }
    assert!(
        run.stderr.ends_with("; name one with --project\n"),
        "{}",
        run.stderr
    );
    assert!(!ws.path().join("opsbook.yaml").exists());

    let run = ws.opsbook(&["init", "--project", shop.name()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let written = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    for line in [
        "  db: { critical: true }",
        "  api: { depends_on: [db, cache], critical: true }",
        "  web: { depends_on: [api] }",
        &format!("    http: {{ url: 'http://127.0.0.1:{api}/health', status: 200,"),
        &format!("    http: {{ url: 'http://127.0.0.1:{web}/', status: 200,"),
        "  volumes: [dbdata, uploads]",
        "  verify: [api-http, web-http]",
    ] {
        assert!(written.contains(line), "`{line}` in\n{written}");
    }
    ws.opsbook(&["validate"]).expect_code(0);
    shop.sh("api", "echo receipt-1 > /uploads/receipt.txt");
    ws.opsbook(&["backup"]).expect_code(0);
    assert_eq!(daily_check(&ws), Vec::<String>::new());
    shop.sh("db", "echo 'order 2: forged' > /data/records.txt");
    shop.sh("api", "rm /uploads/receipt.txt");
    let restore = ws.opsbook(&["restore", "latest", "--yes"]);
    assert_eq!(restore.code, 0, "{}{}", restore.stdout, restore.stderr);
    assert_eq!(
        shop.sh("db", "cat /data/records.txt"),
        "order 1: 2 x coffee\n"
    );
    assert_eq!(shop.sh("api", "cat /uploads/receipt.txt"), "receipt-1\n");
}
