//! The five runbooks of `runbooks/`, each run end to end against its
//! deployment rebuilt from real software where Debian ships it (the
//! `opsbook-real:test` image: PostgreSQL, Redis, nginx, SQLite, Mosquitto,
//! Prometheus, Alertmanager, and the applications as a few lines of Node.js
//! or Python that write to and read from their databases). What Debian does
//! not ship (MongoDB, MinIO, Elasticsearch, Grafana, Loki, Kibana,
//! Logstash) is a busybox stand-in with the same name, port and health
//! endpoint. Each goes through startup, daily-check, backup, data damaged
//! for real, restore with the exact data back, one playbook of its page,
//! and shutdown.
//!
//! The runbooks publish fixed ports (80, 3000, 3001, 8090, 9200…): each test
//! takes a lock per host port it publishes, in port order, so those that
//! share none run at the same time and the others take turns.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use crate::support::{Project, REAL_IMAGE, Workspace, result};

/// One lock per published host port, made on first use.
static PORTS: Mutex<BTreeMap<u16, &'static Mutex<()>>> = Mutex::new(BTreeMap::new());

/// Takes the locks of `ports`, lowest first (no two tests can wait on each other).
fn take_ports(ports: &[u16]) -> Vec<MutexGuard<'static, ()>> {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let locks: Vec<&'static Mutex<()>> = {
        let mut all = PORTS.lock().unwrap_or_else(|e| e.into_inner());
        sorted
            .iter()
            .map(|p| {
                *all.entry(*p)
                    .or_insert_with(|| Box::leak(Box::new(Mutex::new(()))))
            })
            .collect()
    };
    locks
        .into_iter()
        .map(|l| l.lock().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// The services created, and the ports they publish held for the test.
struct Created {
    names: Vec<&'static str>,
    _ports: Vec<MutexGuard<'static, ()>>,
}

impl std::ops::Deref for Created {
    type Target = [&'static str];
    fn deref(&self) -> &Self::Target {
        &self.names
    }
}

/// One service: the real software, or a busybox stand-in.
struct StandIn {
    name: &'static str,
    /// The real thing: a command of the real image and its healthcheck.
    real: Option<(Vec<&'static str>, &'static str)>,
    /// Shell run first (fake tools, files); the container is healthy once it ends.
    setup: String,
    /// (container port, host port) published; a stand-in's are served by
    /// busybox httpd from /www.
    ports: Vec<(u16, u16)>,
    mounts: Vec<(&'static str, &'static str)>,
    env: Vec<String>,
}

fn service(name: &'static str) -> StandIn {
    StandIn {
        name,
        real: None,
        setup: String::new(),
        ports: Vec::new(),
        mounts: Vec::new(),
        env: Vec::new(),
    }
}

/// The real software: `argv` run from the real image, healthy when `health`
/// (a shell command in it) succeeds.
fn real(name: &'static str, argv: &[&'static str], health: &'static str) -> StandIn {
    StandIn {
        real: Some((argv.to_vec(), health)),
        ..service(name)
    }
}

impl StandIn {
    /// A fake command `/bin/NAME` running `body`.
    fn tool(mut self, name: &str, body: &str) -> Self {
        self.setup.push_str(&format!(
            "printf '%s\\n' '#!/bin/sh' {} > /bin/{name}; chmod +x /bin/{name}; ",
            shell_quote(body)
        ));
        self
    }

    /// A file served at `path` (`/` is index.html).
    fn page(mut self, path: &str, body: &str) -> Self {
        let file = if path.ends_with('/') {
            format!("/www{path}index.html")
        } else {
            format!("/www{path}")
        };
        let dir = Path::new(&file)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        self.setup.push_str(&format!(
            "mkdir -p {dir}; printf '%s' {} > {file}; ",
            shell_quote(body)
        ));
        self
    }

    fn serve(mut self, container: u16, host: u16) -> Self {
        self.ports.push((container, host));
        self
    }

    fn mount(mut self, volume: &'static str, path: &'static str) -> Self {
        self.mounts.push((volume, path));
        self
    }

    fn run(mut self, shell: &str) -> Self {
        self.setup.push_str(shell);
        self.setup.push_str("; ");
        self
    }

    fn env(mut self, pair: &str) -> Self {
        self.env.push(pair.to_string());
        self
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// PostgreSQL (Debian's 15; TimescaleDB and Supabase's Postgres are plain
/// PostgreSQL here) with its data in the `pgdata` volume and `database`
/// made on the first start.
fn postgres(name: &'static str, database: &'static str, user: &'static str) -> StandIn {
    real(
        name,
        &["pg-serve"],
        // Only once the postmaster says it is ready: a connection while it
        // is starting is logged as FATAL, which the log checks count.
        "grep -q ^ready /var/lib/postgresql/data/postmaster.pid && pg_isready -q -h 127.0.0.1 -d \"$POSTGRES_DB\"",
    )
    .mount("pgdata", "/var/lib/postgresql/data")
    .env(&format!("POSTGRES_DB={database}"))
    .env(&format!("POSTGRES_USER={user}"))
    .env(&format!("PGUSER={user}"))
}

/// A health endpoint answered by the real service itself.
fn answers(url: &str) -> &'static str {
    Box::leak(format!("busybox wget -qO /dev/null {url}").into_boxed_str())
}

/// Creates (does not start) the stand-ins: `opsbook startup` starts them.
/// Returns their names.
fn create(project: &Project, services: Vec<StandIn>) -> Created {
    let names: Vec<&'static str> = services.iter().map(|s| s.name).collect();
    let published: Vec<u16> = services
        .iter()
        .flat_map(|s| s.ports.iter().map(|(_, host)| *host))
        .collect();
    let ports = take_ports(&published);
    let mut volumes: Vec<&str> = services
        .iter()
        .flat_map(|s| s.mounts.iter().map(|(v, _)| *v))
        .collect();
    volumes.sort();
    volumes.dedup();
    for volume in volumes {
        project.volume(volume);
    }
    for s in services {
        let mut spec = match &s.real {
            Some((argv, health)) => project
                .service(s.name)
                .runs(REAL_IMAGE, argv)
                .healthcheck(health),
            None => {
                let mut script = format!("rm -f /ready; mkdir -p /www; {}", s.setup);
                for (port, _) in &s.ports {
                    script.push_str(&format!("httpd -p {port} -h /www; "));
                }
                script.push_str("touch /ready");
                project
                    .service(s.name)
                    .script(&script)
                    .healthcheck("test -f /ready")
            }
        }
        .networked();
        for (container, host) in &s.ports {
            spec = spec.port(*container, *host);
        }
        for (volume, path) in &s.mounts {
            spec = spec.mount(&format!("{}_{volume}", project.name), path);
        }
        for pair in &s.env {
            spec = spec.env(pair);
        }
        spec.create();
    }
    Created {
        names,
        _ports: ports,
    }
}

/// The runbook from `runbooks/`, pointed at the test's project, in a workspace
/// holding `files`.
fn workspace(runbook: &str, project: &Project, files: &[(&str, &str)]) -> Workspace {
    let ws = Workspace::new();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("runbooks")
            .join(runbook),
    )
    .unwrap();
    let name = runbook.trim_end_matches(".yaml");
    let pointed = text.replace(
        &format!("\nproject: {name}\n"),
        &format!("\nproject: {}\n", project.name),
    );
    assert_ne!(pointed, text, "the runbook names project `{name}`");
    ws.write("opsbook.yaml", pointed);
    for (path, content) in files {
        ws.write(path, content);
    }
    ws
}

/// Runs a command that must pass; only the host's own figures (this test
/// machine's load, memory or disk against the runbook's thresholds) and a
/// playbook's notes for a person may be worse than ok, and `allowed`
/// sections besides.
fn passes(ws: &Workspace, args: &[&str], allowed: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--state-dir", "state", "--format", "json"]);
    let run = ws.opsbook(&all);
    let report: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}\n{}", run.stdout, run.stderr));
    let bad: Vec<&serde_json::Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "ok")
        // A playbook's note for a person stays pending without a terminal.
        .filter(|r| {
            !(r["section"] == "playbook"
                && r["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("pending: no terminal")))
        })
        // The machine's own load and disk show in its host figures, the
        // backups folder's free space and, under parallel tests, in a
        // container's CPU sample: not the runbook's doing.
        .filter(|r| {
            let section = r["section"].as_str().unwrap();
            let machine = section == "host"
                || (section == "backups" && r["name"] == "free space")
                || (section == "resources" && r["status"] == "warn");
            !machine && !allowed.contains(&section)
        })
        .collect();
    assert!(
        bad.is_empty() && run.code != 3,
        "{args:?} exited {}: {bad:#?}\n{}",
        run.code,
        run.stderr
    );
    report
}

/// Data written before the backup, damaged after it, and how to tell it
/// came back: shell commands run in `service`'s container.
struct Change {
    service: &'static str,
    seed: &'static str,
    change: &'static str,
    restored: &'static str,
    /// Procedures of the runbook run once the deployment is up.
    procedures: &'static [&'static str],
}

/// The whole day of a deployment, through the runbook.
fn day(project: &Project, services: &[&str], ws: &Workspace, playbook: &str, change: Change) {
    passes(ws, &["validate"], &[]);
    let report = passes(ws, &["startup"], &[]);
    for service in services {
        assert_eq!(
            project.times(service).state,
            "running",
            "{service}: {report:#}"
        );
    }
    // Before the first backup, the backup check is the one warning.
    let report = passes(ws, &["daily-check"], &["backups"]);
    assert!(
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["section"] == "backups" && r["status"] == "warn"),
        "{report:#}"
    );
    assert!(
        project.exec(change.service, change.seed),
        "seeding {}",
        change.service
    );
    assert!(project.exec(change.service, change.restored));
    passes(ws, &["backup"], &[]);
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    if text.contains("\n  drill:") {
        // The backup restored into scratch twins and proved there.
        let report = passes(ws, &["backup", "drill"], &[]);
        assert!(
            report["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"].as_str().is_some_and(|n| n.starts_with("check "))),
            "{report:#}"
        );
        for service in services {
            assert_eq!(project.times(service).state, "running", "{service}");
        }
    }
    let report = passes(ws, &["daily-check"], &[]);
    let mut reports = vec![report];
    for procedure in change.procedures {
        reports.push(passes(ws, &["run", procedure], &[]));
    }
    // The tokens of `.env` (bearer headers) are masked in every report.
    let dotenv = std::fs::read_to_string(ws.path().join(".env")).unwrap_or_default();
    for (name, value) in dotenv.lines().filter_map(|line| line.split_once('=')) {
        for report in reports.iter().filter(|_| name.ends_with("_TOKEN")) {
            assert!(
                !report.to_string().contains(value),
                "{name} shown: {report:#}"
            );
        }
    }
    assert!(
        project.exec(change.service, change.change),
        "damaging {}",
        change.service
    );
    assert!(!project.exec(change.service, change.restored));
    passes(ws, &["restore", "latest", "--yes"], &[]);
    assert!(
        project.exec(change.service, change.restored),
        "{}: the backup's data is back",
        change.service
    );
    let opened = passes(
        ws,
        &["incident", "open", "--severity", "P1", "--title", "drill"],
        &[],
    );
    let id = opened["incident"]["id"].as_str().unwrap().to_string();
    let report = passes(ws, &["incident", "run", &id, playbook, "--yes"], &[]);
    // Both counts must be there (null == null would pass), and every step ran.
    let steps = report["playbook"]["steps"].as_u64();
    let run = report["playbook"]["run"].as_u64();
    assert!(
        steps.is_some_and(|n| n > 0) && run == steps,
        "playbook steps {steps:?}, run {run:?}: {report:#}"
    );
    passes(ws, &["shutdown", "--yes"], &[]);
    for service in services {
        assert_ne!(project.times(service).state, "running", "{service}");
    }
    // Reverse order: each service stopped no later than what it depends on.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    let runbook: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let finished = |s: &str| project.times(s).finished.unwrap();
    for (service, spec) in runbook["services"].as_object().unwrap() {
        for dependency in spec["depends_on"].as_array().into_iter().flatten() {
            let dependency = dependency.as_str().unwrap();
            assert!(
                finished(service) <= finished(dependency),
                "{service} (depends on {dependency}) stopped after it"
            );
        }
    }
}

/// `psql` of one query in `database` as `user`, its rows as plain text.
fn sql(user: &str, database: &str, query: &str) -> String {
    format!(
        "psql -v ON_ERROR_STOP=1 -qtA -U {user} -d {database} -c {}",
        shell_quote(query)
    )
}

#[test]
fn huly() {
    let project = Project::new("rb-huly");
    let services = create(
        &project,
        vec![
            service("mongodb")
                .mount("db", "/data/db")
                .tool("mongosh", "echo 1")
                .tool("mongodump", "cat /data/db/records")
                .tool(
                    "mongorestore",
                    "mkdir -p /data/db && cat > /data/db/records",
                )
                .run("[ -f /data/db/records ] || echo 'workspace 1' > /data/db/records"),
            service("minio")
                .mount("files", "/data")
                .tool("mc", "echo 'The cluster is ready'")
                .run("[ -f /data/blob ] || echo 'attachment 1' > /data/blob"),
            service("elastic")
                .mount("elastic", "/usr/share/elasticsearch/data")
                .page("/_cluster/health", r#"{"status":"green"}"#)
                .serve(9200, 9200),
            service("account"),
            service("transactor"),
            service("workspace"),
            service("front")
                .page("/", "<title>Huly</title>")
                .serve(8080, 8080),
            real(
                "nginx",
                &["nginx-proxy", "80", "front:8080"],
                answers("127.0.0.1/nginx-health"),
            )
            .serve(80, 8090),
        ],
    );
    let ws = workspace(
        "huly.yaml",
        &project,
        &[
            ("compose.yml", "services: {}\n"),
            (
                "huly.conf",
                "SECRET=old\nMONGO_URL=mongodb://mongodb:27017\n",
            ),
            (".huly.secret", "secret\n"),
            ("nginx.conf", "server { listen 80; }\n"),
        ],
    );
    // Private, as the page's weekly audit wants them (the checks
    // `huly-conf-private` and `huly-secret-private`).
    for private in ["huly.conf", ".huly.secret"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            ws.path().join(private),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let change = Change {
        service: "mongodb",
        seed: "true",
        change: "echo 'workspace 2' > /data/db/records",
        restored: "grep -qx 'workspace 1' /data/db/records",
        procedures: &[],
    };
    day(&project, &services, &ws, "frontend-down", change);
}

#[test]
fn fulsk() {
    let project = Project::new("rb-fulsk");
    let services = create(
        &project,
        vec![
            postgres("postgres", "fulsk", "fulsk_user"),
            real("redis", &["redis-serve"], "redis-cli ping | grep -q PONG")
                .mount("redis-data", "/data"),
            real(
                "mqtt",
                &["mqtt-serve"],
                "mosquitto_pub -h 127.0.0.1 -t health -m ok",
            ),
            service("loki").page("/ready", "ready").serve(3100, 3100),
            real(
                "backend",
                &["node", "/opt/apps/fulsk-backend.js"],
                answers("127.0.0.1:3001/health"),
            )
            .env("DATABASE_URL=postgresql://fulsk_user@postgres/fulsk")
            .env("REDIS_URL=redis://redis:6379")
            .mount("uploads", "/app/uploads")
            .serve(3001, 3001),
            real(
                "frontend",
                &["nginx-proxy", "80", "backend:3001"],
                answers("127.0.0.1/nginx-health"),
            )
            .mount("certs", "/etc/nginx/certs")
            .serve(80, 80),
            service("grafana")
                .page("/api/health", r#"{"database":"ok","version":"10"}"#)
                .serve(3000, 3000),
        ],
    );
    let ws = workspace(
        "fulsk.yaml",
        &project,
        &[
            ("docker-compose.prod.yml", "services: {}\n"),
            (
                ".env.production",
                "JWT_SECRET=old\nDATABASE_URL=postgres://fulsk\n",
            ),
            ("nginx.conf", "server { listen 80; }\n"),
            // The archive copy target (`backup.copies.archive`): a folder
            // that exists, named through .env as on the server.
            (".env", "FULSK_ARCHIVE_DIR=archive\n"),
            ("archive/.keep", ""),
        ],
    );
    // Redis: keys written, flushed after the backup, back after the restore.
    let change = Change {
        service: "redis",
        seed: "redis-cli SET site:1 Oslo && redis-cli SET site:2 Bergen",
        change: "redis-cli FLUSHALL",
        restored: "[ \"$(redis-cli GET site:1)$(redis-cli GET site:2)\" = OsloBergen ]",
        procedures: &[],
    };
    // certbot's cron ends with `opsbook ping certbot` (the heartbeat the
    // runbook grades): it ran tonight.
    ws.opsbook(&["ping", "certbot", "--state-dir", "state"])
        .expect_code(0);
    day(&project, &services, &ws, "service-restart", change);
}

#[test]
fn fdts() {
    let project = Project::new("rb-fdts");
    let services = create(
        &project,
        vec![
            real(
                "app",
                &["node", "/opt/apps/fdts-app.js"],
                answers("127.0.0.1:3001/api/health"),
            )
            .mount("app-data", "/app/data")
            .mount("uploads", "/app/uploads")
            .serve(3001, 3001),
            real(
                "nginx",
                &["nginx-proxy", "80", "app:3001"],
                answers("127.0.0.1/nginx-health"),
            ),
            service("backup").mount("app-data", "/app/data"),
        ],
    );
    let ws = workspace(
        "fdts.yaml",
        &project,
        &[
            ("docker-compose.yml", "services: {}\n"),
            (".env.production", "JWT_SECRET=a\nJWT_REFRESH_SECRET=b\n"),
        ],
    );
    // fdts.service's journal: a real one, read from the workspace.
    crate::systemd::write_journal(
        &ws.path().join("journal"),
        &[("fdts.service", 60, "Started fdts.service - FDTS.")],
    );
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    let mut text = text.replacen("\nlogs:\n", "\nlogs:\n  journal_dir: journal\n", 1);
    if !Path::new("/run/systemd/system").exists() {
        eprintln!(
            "no systemd as init here: the fdts-unit check is left out (it could only be unknown)"
        );
        let check = "  fdts-unit:                       # \"systemctl status fdts\"\n    unit: fdts.service\n";
        assert!(text.contains(check));
        text = text.replacen(check, "", 1).replacen(
            "    hint: \"journalctl -u fdts.service --since '10 minutes ago'\"\n",
            "",
            1,
        );
    }
    ws.write("opsbook.yaml", text);
    let db = "/app/data/database.sqlite";
    let change = Change {
        service: "app",
        seed: Box::leak(format!("sqlite3 {db} \"CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada'), ('bo');\"").into_boxed_str()),
        change: Box::leak(format!("sqlite3 {db} 'DELETE FROM users;'").into_boxed_str()),
        restored: Box::leak(format!("[ \"$(sqlite3 {db} 'SELECT group_concat(name) FROM users;')\" = ada,bo ]").into_boxed_str()),
        procedures: &[],
    };
    day(&project, &services, &ws, "security-breach", change);
    // The JWT secrets were rotated, and the app restarted on them answered.
    let env = std::fs::read_to_string(ws.path().join(".env.production")).unwrap();
    assert!(
        !env.contains("JWT_SECRET=a\n") && !env.contains("JWT_REFRESH_SECRET=b\n"),
        "{env}"
    );
}

#[test]
fn nutri() {
    // Supabase's Postgres is managed outside the deployment: another project.
    let supabase = Project::new("rb-nutri-db");
    let project = Project::new("rb-nutri");
    supabase
        .service("supabase")
        .runs(REAL_IMAGE, &["pg-serve"])
        .env("POSTGRES_DB=nutri")
        .mount(&supabase.volume("pgdata"), "/var/lib/postgresql/data")
        .healthcheck("pg_isready -q -h 127.0.0.1 -U postgres")
        .joins(&project.network())
        .start();
    supabase.wait_for_health("supabase", "healthy", std::time::Duration::from_secs(60));
    let services = create(
        &project,
        vec![
            real(
                "backend",
                &["node", "/opt/apps/nutri-backend.js"],
                answers("127.0.0.1:3000/health/live"),
            )
            .env("DATABASE_URL=postgresql://postgres@supabase/nutri")
            .serve(3000, 3000),
            real(
                "ml-service",
                &["python3", "/opt/apps/ml-service.py"],
                answers("127.0.0.1:8000/health"),
            )
            .serve(8000, 8000),
        ],
    );
    let ws = workspace("nutri.yaml", &project, &[(".env", "JWT_SECRET=old\n")]);
    let change = Change {
        service: "backend",
        seed: Box::leak(
            format!(
                "psql -v ON_ERROR_STOP=1 -q \"$DATABASE_URL\" -c {}",
                shell_quote("CREATE TABLE meals (id int PRIMARY KEY, name text); INSERT INTO meals VALUES (1, 'oats'), (2, 'soup');")
            )
            .into_boxed_str(),
        ),
        change: Box::leak(format!("psql -q \"$DATABASE_URL\" -c {}", shell_quote("DROP TABLE meals;")).into_boxed_str()),
        restored: Box::leak(
            format!(
                "[ \"$(psql -qtA \"$DATABASE_URL\" -c {})\" = oats,soup ]",
                shell_quote("SELECT string_agg(name, ',' ORDER BY id) FROM meals;")
            )
            .into_boxed_str(),
        ),
        procedures: &[],
    };
    day(&project, &services, &ws, "service-down", change);
    deploy_and_roll_back(&project, &ws);
}

/// The Nutri page's deploy and "Rollback Deployment": the backend updated
/// to a new release (the database dumped first, the health gate and verify
/// checks passed), then the `rollback` playbook back to the image before.
fn deploy_and_roll_back(project: &Project, ws: &Workspace) {
    let release = format!("opsbook-nutri-release:{}", std::process::id());
    let mut build = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &release, "-"])
        .env("DOCKER_BUILDKIT", "0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    build
        .stdin
        .take()
        .unwrap()
        .write_all(format!("FROM {REAL_IMAGE}\nENV NUTRI_RELEASE=2\n").as_bytes())
        .unwrap();
    assert!(build.wait().unwrap().success());
    let release_env = || project.output("backend", "echo \"${NUTRI_RELEASE:-1}\"");
    passes(ws, &["startup"], &[]);
    let before = passes(ws, &["backup", "list"], &[])["backups"]
        .as_array()
        .map(Vec::len);
    let report = passes(
        ws,
        &["update", "--yes", "--image", &format!("backend={release}")],
        &[],
    );
    assert_eq!(result(&report, "update", "backup first")["status"], "ok");
    assert_eq!(release_env().trim(), "2");
    let after = passes(ws, &["backup", "list"], &[])["backups"]
        .as_array()
        .map(Vec::len);
    assert_eq!(after, before.map(|n| n + 1), "update.backup took one");
    let opened = passes(
        ws,
        &[
            "incident",
            "open",
            "--severity",
            "P2",
            "--title",
            "bad release",
        ],
        &[],
    );
    let id = opened["incident"]["id"].as_str().unwrap().to_string();
    passes(ws, &["incident", "run", &id, "rollback", "--yes"], &[]);
    assert_eq!(release_env().trim(), "1");
    passes(ws, &["shutdown", "--yes"], &[]);
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", &release])
        .output();
}

/// The bearer tokens of ERP's auth/me check and report request.
const API_TOKEN: &str = "erp-api-7f3c9a51d2";
const ADMIN_TOKEN: &str = "erp-admin-c41be08f66";

#[test]
fn erp() {
    let project = Project::new("rb-erp");
    let database = "erp_quty_karunia_prod";
    let services = create(
        &project,
        vec![
            postgres("postgres", database, "postgres"),
            real("redis", &["redis-serve"], "redis-cli ping | grep -q PONG"),
            real(
                "backend",
                &["python3", "/opt/apps/erp-backend.py"],
                answers("127.0.0.1:8000/health"),
            )
            .env("DATABASE_URL=postgresql://postgres@postgres/erp_quty_karunia_prod")
            .env("REDIS_URL=redis://redis:6379/0")
            .env(&format!("ERP_API_TOKEN={API_TOKEN}"))
            .env(&format!("ERP_ADMIN_TOKEN={ADMIN_TOKEN}")),
            real(
                "nginx",
                &["nginx-proxy", "80", "backend:8000", "443"],
                answers("127.0.0.1/nginx-health"),
            )
            .serve(80, 80)
            .serve(443, 443),
            real(
                "prometheus",
                &["prometheus-serve"],
                answers("127.0.0.1:9090/-/healthy"),
            )
            .serve(9090, 9090),
            real(
                "alertmanager",
                &["alertmanager-serve"],
                answers("127.0.0.1:9093/-/healthy"),
            )
            .serve(9093, 9093),
            service("grafana")
                .page("/api/health", r#"{"database":"ok"}"#)
                .serve(3000, 3000),
            service("elasticsearch")
                .page("/_cluster/health", r#"{"status":"green"}"#)
                .serve(9200, 9200),
            service("logstash"),
            service("kibana")
                .page(
                    "/api/status",
                    r#"{"status":{"overall":{"level":"available"}}}"#,
                )
                .serve(5601, 5601),
        ],
    );
    let ws = workspace(
        "erp.yaml",
        &project,
        &[
            ("docker-compose.production.yml", "services: {}\n"),
            (".env.production", "DATABASE_URL=postgresql://erp\n"),
            (
                ".env",
                &format!("ERP_API_TOKEN={API_TOKEN}\nERP_ADMIN_TOKEN={ADMIN_TOKEN}\n"),
            ),
        ],
    );
    let change = Change {
        service: "postgres",
        seed: Box::leak(
            sql(
                "postgres",
                database,
                "CREATE TABLE orders (id int PRIMARY KEY, item text); INSERT INTO orders VALUES (1, 'fabric'), (2, 'thread'), (3, 'buttons');",
            )
            .into_boxed_str(),
        ),
        change: Box::leak(sql("postgres", database, "DROP TABLE orders;").into_boxed_str()),
        restored: Box::leak(
            format!(
                "[ \"$({})\" = fabric,thread,buttons ]",
                sql("postgres", database, "SELECT string_agg(item, ',' ORDER BY id) FROM orders;")
            )
            .into_boxed_str(),
        ),
        procedures: &[],
    };
    day(&project, &services, &ws, "system-outage", change);
}
