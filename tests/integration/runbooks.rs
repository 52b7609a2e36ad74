//! The five runbooks of `runbooks/`, each run end to end against a stand-in
//! of its deployment: the same service names, dependencies, published ports,
//! health endpoints and volumes, built from the busybox fixture, with small
//! scripts standing in for mongosh, pg_isready, redis-cli, mc, sqlite3 and
//! the dump tools. Each goes through startup, daily-check, backup,
//! daily-check, restore, an incident with one playbook, and shutdown.
//!
//! The runbooks publish fixed ports (80, 3000, 3001, 8090, 9200…), so these
//! tests take turns.

use std::path::Path;
use std::sync::Mutex;

use crate::support::{Project, Workspace};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// One stand-in service.
struct StandIn {
    name: &'static str,
    /// Shell run first (fake tools, files); the container is healthy once it ends.
    setup: String,
    /// (container port, host port) served by busybox httpd from /www.
    port: Option<(u16, u16)>,
    mounts: Vec<(&'static str, &'static str)>,
    env: Vec<&'static str>,
}

fn service(name: &'static str) -> StandIn {
    StandIn {
        name,
        setup: String::new(),
        port: None,
        mounts: Vec::new(),
        env: Vec::new(),
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
        self.port = Some((container, host));
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

    fn env(mut self, pair: &'static str) -> Self {
        self.env.push(pair);
        self
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// PostgreSQL (or TimescaleDB): pg_isready, pg_dump and psql standing in,
/// the "database" a file in the `pgdata` volume.
fn postgres() -> StandIn {
    service("postgres")
        .mount("pgdata", "/pgdata")
        .tool("pg_isready", "echo 'accepting connections'")
        .tool("pg_dump", "cat /pgdata/db.sql")
        .tool(
            "psql",
            r#"for a in "$@"; do case "$a" in *"< 150"*) echo t; exit 0;; *blks_hit*) echo 99.2; exit 0;; *max_connections*) echo 4; exit 0;; SELECT*|VACUUM*) echo 1; exit 0;; esac; done; cat > /pgdata/db.sql"#,
        )
        .run("[ -f /pgdata/db.sql ] || echo 'INSERT 1;' > /pgdata/db.sql")
}

/// Creates (does not start) the stand-ins: `opsbook startup` starts them.
/// Returns their names.
fn create(project: &Project, services: Vec<StandIn>) -> Vec<&'static str> {
    let names: Vec<&'static str> = services.iter().map(|s| s.name).collect();
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
        let mut script = format!("rm -f /ready; mkdir -p /www; {}", s.setup);
        if let Some((port, _)) = s.port {
            script.push_str(&format!("httpd -p {port} -h /www; "));
        }
        script.push_str("touch /ready");
        let mut spec = project
            .service(s.name)
            .script(&script)
            .healthcheck("test -f /ready");
        if let Some((container, host)) = s.port {
            spec = spec.port(container, host);
        }
        for (volume, path) in &s.mounts {
            spec = spec.mount(&format!("{}_{volume}", project.name), path);
        }
        for pair in &s.env {
            spec = spec.env(pair);
        }
        spec.create();
    }
    names
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
/// machine's load, memory or disk against the runbook's thresholds) may be
/// worse than ok, and `allowed` sections besides.
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
        .filter(|r| r["section"] != "host" && !allowed.contains(&r["section"].as_str().unwrap()))
        .collect();
    assert!(
        bad.is_empty() && run.code != 3,
        "{args:?} exited {}: {bad:#?}\n{}",
        run.code,
        run.stderr
    );
    report
}

/// Data changed after the backup, and how to tell it came back.
struct Change {
    service: &'static str,
    change: &'static str,
    restored: &'static str,
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
    passes(ws, &["backup"], &[]);
    passes(ws, &["daily-check"], &[]);
    assert!(project.exec(change.service, change.change));
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
}

#[test]
fn huly() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let project = Project::new("rb-huly");
    let services = create(
        &project,
        vec![
            service("mongodb")
                .mount("db", "/data/db")
                .tool("mongosh", "echo 1")
                .tool("mongodump", "cat /data/db/records")
                .tool("mongorestore", "cat > /data/db/records")
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
            service("front"),
            service("nginx")
                .tool(
                    "nginx",
                    "echo 'nginx: configuration file test is successful'",
                )
                .page("/", "<title>Huly</title>")
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
    let change = Change {
        service: "mongodb",
        change: "echo 'workspace 2' > /data/db/records",
        restored: "grep -qx 'workspace 1' /data/db/records",
    };
    day(&project, &services, &ws, "frontend-down", change);
}

#[test]
fn fulsk() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let project = Project::new("rb-fulsk");
    let services = create(
        &project,
        vec![
            postgres(),
            service("redis")
                .mount("redis-data", "/data")
                .tool("redis-cli", r#"[ "$1" = ping ] && echo PONG || echo ok"#),
            service("mqtt"),
            service("loki").page("/ready", "ready").serve(3100, 3100),
            service("backend")
                .mount("uploads", "/app/uploads")
                .page("/health", "ok")
                .serve(3001, 3001),
            service("frontend")
                .mount("certs", "/etc/nginx/certs")
                .page("/health", "ok")
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
        ],
    );
    let change = Change {
        service: "backend",
        change: "echo new > /app/uploads/added.png",
        restored: "test ! -e /app/uploads/added.png",
    };
    day(&project, &services, &ws, "service-restart", change);
}

#[test]
fn fdts() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let project = Project::new("rb-fdts");
    let services = create(
        &project,
        vec![
            service("app")
                .mount("app-data", "/app/data")
                .mount("uploads", "/app/uploads")
                .tool(
                    "sqlite3",
                    r#"case "$*" in *integrity*) echo ok;; *) echo 1;; esac"#,
                )
                .run("[ -f /app/data/database.sqlite ] || echo 'SQLite format 3' > /app/data/database.sqlite")
                .page("/api/health", r#"{"status":"ok"}"#)
                .serve(3001, 3001),
            service("nginx").tool("nginx", "exit 0"),
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
    let change = Change {
        service: "app",
        change: "echo broken > /app/data/database.sqlite",
        restored: "grep -qx 'SQLite format 3' /app/data/database.sqlite",
    };
    day(&project, &services, &ws, "application-down", change);
}

#[test]
fn nutri() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let project = Project::new("rb-nutri");
    let services = create(
        &project,
        vec![
            service("backend")
                .env("DATABASE_URL=postgres://supabase/nutri")
                .tool("pg_dump", r#"echo "-- dump of $3""#)
                .tool("psql", "cat > /restored.sql")
                .page("/health/", r#"{"status":"healthy"}"#)
                .page("/health/live", "ok")
                .serve(3000, 3000),
            service("ml-service")
                .page("/health", r#"{"status":"healthy"}"#)
                .serve(8000, 8000),
        ],
    );
    let ws = workspace("nutri.yaml", &project, &[(".env", "JWT_SECRET=old\n")]);
    let change = Change {
        service: "backend",
        change: "rm -f /restored.sql",
        restored: "grep -q -- '-- dump of' /restored.sql",
    };
    day(&project, &services, &ws, "service-down", change);
}

#[test]
fn erp() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let project = Project::new("rb-erp");
    let services = create(
        &project,
        vec![
            postgres(),
            service("redis").tool(
                "redis-cli",
                r#"[ "$1" = info ] && printf '# Memory\nused_memory:1048576\n' || echo PONG"#,
            ),
            service("backend"),
            service("nginx")
                .page("/health", r#"{"status":"ok","timestamp":"now"}"#)
                .serve(80, 80),
            service("prometheus")
                .page("/-/healthy", "Prometheus is Healthy.")
                .serve(9090, 9090),
            service("alertmanager")
                .page("/-/healthy", "OK")
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
        ],
    );
    let change = Change {
        service: "postgres",
        change: "echo 'INSERT 2;' > /pgdata/db.sql",
        restored: "grep -qx 'INSERT 1;' /pgdata/db.sql",
    };
    day(&project, &services, &ws, "system-outage", change);
}
