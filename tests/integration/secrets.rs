//! The promise: a secret is never shown unmasked, anywhere. One secret of
//! every kind (the table) is planted in a container's env, command line,
//! healthcheck output and logs, in exec check output, in the steps of a
//! procedure and a playbook, in dump commands, in check URLs, in
//! DOCKER_HOST and in an incident's title and notes. Each test runs the
//! commands one item of the issue names and asserts that no planted value
//! is in any stdout, any stderr, or any file under the workspace and the
//! state folder (the incident bundle and the backup items unpacked), and
//! that the masked text is really shown. Each test is named after its item.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, Project, Run, Workspace, eventually, result};

const LONG: Duration = Duration::from_secs(60);

/// One planted secret: the issue's item it regresses (0: the runbook's own
/// `redact:` patterns), the text planted, the values that must never be
/// shown, and how the text reads once masked.
struct Secret {
    item: u8,
    text: &'static str,
    values: &'static [&'static str],
    masked: &'static str,
}

/// Every kind. On one line they are joined by blanks: the `key: value`
/// kind runs to the end of its line, so it comes last.
const SECRETS: &[Secret] = &[
    Secret {
        item: 1,
        text: "DB_PASSWORD=envpw-k01",
        values: &["envpw-k01"],
        masked: "DB_PASSWORD=****",
    },
    Secret {
        item: 7,
        text: "DB_PASS=dbpass-k02",
        values: &["dbpass-k02"],
        masked: "DB_PASS=****",
    },
    Secret {
        item: 2,
        text: "MYSQL_PWD=mysqlpwd-k03",
        values: &["mysqlpwd-k03"],
        masked: "MYSQL_PWD=****",
    },
    Secret {
        item: 4,
        text: "PGPASSWORD=pgpw-k04",
        values: &["pgpw-k04"],
        masked: "PGPASSWORD=****",
    },
    Secret {
        item: 3,
        text: r#"{"password":"jsonpw-k05"}"#,
        values: &["jsonpw-k05"],
        masked: r#"{"password":"****"}"#,
    },
    Secret {
        item: 3,
        text: r#"PASSWORD="twoa-k06 twob-k06""#,
        values: &["twoa-k06", "twob-k06"],
        masked: r#"PASSWORD="****""#,
    },
    Secret {
        item: 6,
        text: r#"PASSWORD="esca-k07\"escb-k07""#,
        values: &["esca-k07", "escb-k07"],
        masked: r#"PASSWORD="****""#,
    },
    Secret {
        item: 6,
        text: "postgres://shop:ata-k09@atb-k09@db:5432/shop",
        values: &["ata-k09", "atb-k09"],
        masked: "postgres://shop:****@db:5432/shop",
    },
    Secret {
        item: 2,
        text: "'X-Auth: xauth-k10'",
        values: &["xauth-k10"],
        masked: "'X-Auth: ****'",
    },
    Secret {
        item: 7,
        text: "'Authorization: Bearer bearerk11abcdef'",
        values: &["bearerk11abcdef"],
        masked: "'Authorization: ****'",
    },
    Secret {
        item: 7,
        text: "ghp_k12aBcDeFgHiJkLmNoPqRsTuVwXyZ012345",
        values: &["k12aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"],
        masked: "****",
    },
    Secret {
        item: 7,
        text: "github_pat_11K13AAAA0bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        values: &["K13AAAA0bbbbbbbbbbbbbbbbbbbb"],
        masked: "****",
    },
    Secret {
        item: 7,
        text: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrMTQifQ.k14signaturePart_xyz",
        values: &["eyJzdWIiOiJrMTQifQ", "k14signaturePart_xyz"],
        masked: "****",
    },
    Secret {
        item: 7,
        text: "-----BEGIN EC PRIVATE KEY----- MHcpemonek15AAAA -----END EC PRIVATE KEY-----",
        values: &["MHcpemonek15AAAA"],
        masked: "-----BEGIN EC PRIVATE KEY-----****-----END EC PRIVATE KEY-----",
    },
    Secret {
        item: 7,
        text: "-----BEGIN RSA PRIVATE KEY-----\nMIIEpemk16line1\nMIIEpemk16line2\n-----END RSA PRIVATE KEY-----",
        values: &["MIIEpemk16line1", "MIIEpemk16line2"],
        masked: "-----BEGIN RSA PRIVATE KEY-----****-----END RSA PRIVATE KEY-----",
    },
    Secret {
        item: 7,
        text: "AKIAK17ABCDEFGHIJKLM",
        values: &["K17ABCDEFGHIJKLM"],
        masked: "****",
    },
    Secret {
        item: 7,
        text: "https://hooks.slack.com/services/TK18AAAAA/BK18BBBBB/k18slackwebhookpath",
        values: &["TK18AAAAA", "k18slackwebhookpath"],
        masked: "https://hooks.slack.com/services/****",
    },
    Secret {
        item: 7,
        text: "--password flagpw-k19",
        values: &["flagpw-k19"],
        masked: "--password ****",
    },
    Secret {
        item: 7,
        text: "-p dashp-k20",
        values: &["dashp-k20"],
        masked: "-p ****",
    },
    Secret {
        item: 7,
        text: "-u ops:dashu-k21",
        values: &["dashu-k21"],
        masked: "-u ops:****",
    },
    Secret {
        item: 7,
        text: "'Cookie: sid=cookie-k22'",
        values: &["cookie-k22"],
        masked: "'Cookie: ****'",
    },
    Secret {
        item: 7,
        text: "'Set-Cookie: sid=setcookie-k23; Path=/'",
        values: &["setcookie-k23"],
        masked: "'Set-Cookie: ****'",
    },
    Secret {
        item: 0,
        text: "custom-k24-code",
        values: &["custom-k24-code"],
        masked: "****",
    },
    Secret {
        item: 6,
        text: "password: cola-k08 colb-k08",
        values: &["cola-k08", "colb-k08"],
        masked: "password: ****",
    },
];

/// Planted in one place each: a check's URL, a dump command, a step's URL,
/// DOCKER_HOST.
const CHECK_URL: &str = "http://ops:checkurl-k26@127.0.0.1:1/health";
const DUMP_SH: &str = "PGPASSWORD=dumpsh-k27 true; echo dumped";
const STEP_URL: &str = "http://ops:stepurl-k28@127.0.0.1:1/health";
const DOCKER_HOST: &str = "tcp://ops:dockerhost-k25@127.0.0.1:1";
const ELSEWHERE: [&str; 4] = [
    "checkurl-k26",
    "dumpsh-k27",
    "stepurl-k28",
    "dockerhost-k25",
];

fn one_line(texts: impl Fn(&Secret) -> &'static str) -> String {
    SECRETS
        .iter()
        .filter(|s| !s.text.contains('\n'))
        .map(texts)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every kind on one line, as planted.
fn planted_line() -> String {
    one_line(|s| s.text)
}

/// The same line, masked.
fn masked_line() -> String {
    one_line(|s| s.masked)
}

/// A YAML (JSON) string.
fn yaml(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// The container `db`: every kind in its env (the pairs), in files
/// `/k/NN` (one each) and `/planted.line` (all on one line), in its log
/// (each one-line kind as an `ERROR` line, and the PEM block), and in its
/// command line; its healthcheck prints the line and fails.
pub(crate) fn planted(tag: &str) -> (Project, Workspace) {
    let project = Project::new(tag);
    let mut script = String::from("mkdir -p /k\n");
    for (i, secret) in SECRETS.iter().enumerate() {
        script.push_str(&format!(
            "cat > /k/{i:02} <<'PLANTED'\n{}\nPLANTED\n",
            secret.text
        ));
    }
    script.push_str(&format!(
        "cat > /planted.line <<'PLANTED'\n{}\nPLANTED\ncat <<'PLANTED'\n",
        planted_line()
    ));
    for secret in SECRETS {
        // A PEM body line alone is plain base64 to any rule: no error line.
        if secret.text.contains('\n') {
            script.push_str(&format!("{}\n", secret.text));
        } else {
            script.push_str(&format!("ERROR {}\n", secret.text));
        }
    }
    script.push_str("PLANTED\ntouch /ready");
    let mut db = project.service("db");
    for secret in SECRETS.iter().take(4) {
        db = db.env(secret.text);
    }
    db.healthcheck("test -f /ready && cat /planted.line; exit 1")
        .script(&script)
        .start();
    let ws = Workspace::new();
    ws.write("opsbook.yaml", runbook(&project.name));
    eventually("db quotes the planted line as unhealthy", LONG, || {
        let run = ws.opsbook(&["status", "--format", "json"]);
        run.code > 0
            && result(&run.json(), "containers", "db")["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("running but unhealthy: DB_PASSWORD="))
    });
    (project, ws)
}

/// Every kind as extra arguments of an argv.
fn as_arguments() -> String {
    SECRETS
        .iter()
        .map(|s| format!(", {}", yaml(s.text)))
        .collect()
}

fn runbook(project: &str) -> String {
    let mut checks = format!(
        "checks:\n  web:\n    http: {{ url: {}, timeout: 1s }}\n  line:\n    exec: {{ service: db, command: [sh, -c, 'cat /planted.line; exit 1'{}] }}\n",
        yaml(CHECK_URL),
        as_arguments()
    );
    for i in 0..SECRETS.len() {
        checks.push_str(&format!(
            "  k{i:02}:\n    exec: {{ service: db, command: [sh, -c, 'cat /k/{i:02}; exit 1'] }}\n"
        ));
    }
    let every_kind: Vec<&str> = SECRETS.iter().map(|s| s.text).collect();
    let heredoc = format!(
        "cat > /dev/null <<'PLANTED'\n{}\nPLANTED",
        every_kind.join("\n")
    );
    let steps = format!(
        "      - http: {{ url: {}, timeout: 1s }}\n        continue_on_error: true\n\
         \x20     - sh: {}\n        continue_on_error: true\n\
         \x20     - exec: {{ service: db, command: [sh, -c, 'cat /planted.line'{}] }}\n        continue_on_error: true\n",
        yaml(STEP_URL),
        yaml(&heredoc),
        as_arguments()
    );
    format!(
        "version: 1\nname: shop\nproject: {project}\n{CALM_HOST}services:\n  db: {{}}\n\
         startup:\n  timeout: 5s\nshutdown:\n  grace: 1s\nredact: ['custom-k[0-9]+-code']\n\
         logs:\n  since: 10m\n  match: ['^ERROR']\n{checks}\
         backup:\n  dir: ./backups\n  dumps:\n    argv:\n      service: db\n      command: [sh, -c, 'echo dumped'{}]\n    \
         shell:\n      service: db\n      command: {{ sh: {} }}\n\
         incident:\n  dir: ./incidents\n  playbooks:\n    planted:\n{steps}\
         procedures:\n  planted:\n    steps:\n{steps}",
        as_arguments(),
        yaml(DUMP_SH),
    )
}

/// The runs of one test, each kept to be searched.
struct Runs<'a> {
    ws: &'a Workspace,
    seen: Vec<(String, Run)>,
}

impl<'a> Runs<'a> {
    fn new(ws: &'a Workspace) -> Runs<'a> {
        Runs {
            ws,
            seen: Vec::new(),
        }
    }

    fn state(&self) -> String {
        self.ws.path().join("state").display().to_string()
    }

    /// Runs opsbook with the state folder in the workspace.
    fn run(&mut self, args: &[&str]) -> &Run {
        self.run_with(args, &[])
    }

    fn run_with(&mut self, args: &[&str], env: &[(&str, &str)]) -> &Run {
        let state = self.state();
        let mut all = vec!["--state-dir", &state];
        all.extend(args);
        let run = self.ws.opsbook_with(&all, env);
        self.seen.push((args.join(" "), run));
        &self.seen.last().unwrap().1
    }

    /// No planted value in any stdout or stderr, nor in any file under
    /// the workspace (but the runbook, which is where they were planted).
    fn assert_nothing_leaked(&self) {
        for (what, run) in &self.seen {
            assert_masked(&format!("stdout of `{what}`"), run.stdout.as_bytes());
            assert_masked(&format!("stderr of `{what}`"), run.stderr.as_bytes());
        }
        for (path, bytes) in files(self.ws.path()) {
            if path.ends_with("opsbook.yaml") {
                continue;
            }
            let shown = path.display().to_string();
            assert_masked(&shown, &bytes);
            if shown.ends_with(".tar.zst") {
                let decoder = zstd::stream::read::Decoder::new(&bytes[..]).unwrap();
                let mut archive = tar::Archive::new(decoder);
                for entry in archive.entries().unwrap() {
                    let mut entry = entry.unwrap();
                    let name = format!("{shown}:{}", entry.path().unwrap().display());
                    let mut inside = Vec::new();
                    entry.read_to_end(&mut inside).unwrap();
                    assert_masked(&name, &inside);
                }
            } else if shown.ends_with(".zst") {
                let inside = zstd::stream::decode_all(&bytes[..]).unwrap();
                assert_masked(&format!("{shown}, unpacked"), &inside);
            }
        }
    }
}

pub(crate) fn assert_masked(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let values = SECRETS.iter().flat_map(|s| s.values.iter().copied());
    for value in values.chain(ELSEWHERE) {
        assert!(
            !text.contains(value),
            "`{value}` leaked into {what}:\n{text}"
        );
    }
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                found.push((path, bytes));
            }
        }
    }
    found
}

fn message(report: &serde_json::Value, section: &str, name: &str) -> String {
    result(report, section, name)["message"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Opens an incident with a plain title; its id.
fn open_incident(runs: &mut Runs<'_>, title: &str) -> String {
    let title = format!("--title={title}");
    let report = runs
        .run(&[
            "incident",
            "open",
            "--severity",
            "P1",
            &title,
            "--format",
            "json",
        ])
        .json();
    report["incident"]["id"].as_str().unwrap().to_string()
}

#[test]
fn healthcheck_output_is_masked_in_status_daily_check_and_restart() {
    let (_project, ws) = planted("sec-health");
    let mut runs = Runs::new(&ws);
    let unhealthy = format!("running but unhealthy: {}", masked_line());
    runs.run(&["status"]);
    let status = runs.run(&["status", "--format", "json"]).json();
    assert_eq!(message(&status, "containers", "db"), unhealthy);
    for format in ["table", "json", "junit", "prometheus"] {
        let run = runs.run(&["daily-check", "--only", "containers", "--format", format]);
        if format == "json" {
            assert_eq!(message(&run.json(), "containers", "db"), unhealthy);
        }
        if format == "table" || format == "junit" {
            assert!(run.stdout.contains("DB_PASSWORD=****"), "{}", run.stdout);
        }
    }
    let restart = runs
        .run(&["restart", "db", "--yes", "--format", "json"])
        .json();
    let restarted = message(&restart, "restart", "db");
    assert!(
        restarted.contains("health unhealthy: \"DB_PASSWORD=****"),
        "{restarted}"
    );
    runs.assert_nothing_leaked();
}

#[test]
fn step_descriptions_are_masked_in_plans_progress_results_errors_and_incidents() {
    let (_project, ws) = planted("sec-steps");
    let mut runs = Runs::new(&ws);
    let plan = runs.run(&["run", "planted", "--dry-run"]).expect_code(0);
    for shown in [
        "http: http://ops:****@127.0.0.1:1/health",
        "'X-Auth: ****'",
        "MYSQL_PWD=****",
        r#"{"password":"****"}"#,
    ] {
        assert!(plan.stdout.contains(shown), "{shown} in\n{}", plan.stdout);
    }
    runs.run(&["run", "planted", "--dry-run", "--format", "json"])
        .expect_code(0);
    // No terminal, no --yes: refused, naming the steps.
    let refused = runs.run(&["run", "planted"]).expect_code(3);
    assert!(
        refused.stderr.contains("destructive steps") && refused.stderr.contains("MYSQL_PWD=****"),
        "{}",
        refused.stderr
    );
    let ran = runs.run(&["run", "planted", "--yes", "--format", "json"]);
    assert!(ran.stderr.contains("step 2/3: sh:"), "{}", ran.stderr);
    let report = ran.json();
    assert_eq!(report["procedure"]["run"], 3, "{report:#}");

    let id = open_incident(&mut runs, "db unhealthy");
    runs.run(&["incident", "run", &id, "planted"])
        .expect_code(3);
    runs.run(&["incident", "run", &id, "planted", "--dry-run"])
        .expect_code(0);
    runs.run(&["incident", "run", &id, "planted", "--yes"]);
    let shown = runs.run(&["incident", "show", &id]).expect_code(0);
    assert!(shown.stdout.contains("X-Auth: ****"), "{}", shown.stdout);
    runs.run(&["incident", "show", &id, "--format", "json"])
        .expect_code(0);
    runs.run(&["incident", "close", &id, "--summary", "recovered"])
        .expect_code(0);
    runs.run(&["incident", "bundle", &id]).expect_code(0);
    let folder = ws.path().join("incidents").join(&id);
    let timeline = std::fs::read_to_string(folder.join("timeline.jsonl")).unwrap();
    assert!(timeline.contains("MYSQL_PWD=****"), "{timeline}");
    let postmortem = std::fs::read_to_string(folder.join("postmortem.md")).unwrap();
    assert!(postmortem.contains("http://ops:****@"), "{postmortem}");
    runs.assert_nothing_leaked();
}

#[test]
fn output_is_masked_before_it_is_quoted_and_in_evidence_inspects() {
    let (project, ws) = planted("sec-quoted");
    let mut runs = Runs::new(&ws);
    let report = runs
        .run(&["daily-check", "--only", "checks", "--format", "json"])
        .json();
    for (i, secret) in SECRETS.iter().enumerate() {
        assert_eq!(
            message(&report, "checks", &format!("k{i:02}")),
            format!(
                "`sh -c cat /k/{i:02}; exit 1` exited 1: \"{}\"",
                secret.masked
            ),
            "{}",
            secret.text
        );
    }
    for format in ["table", "junit", "prometheus"] {
        runs.run(&["daily-check", "--only", "checks", "--format", format]);
    }
    let logs = runs
        .run(&["daily-check", "--only", "logs", "--format", "json"])
        .json();
    assert!(
        message(&logs, "logs", "db").contains("\"ERROR DB_PASSWORD=****\""),
        "{logs:#}"
    );

    // The evidence: the inspect of the unhealthy container holds its Cmd.
    let id = open_incident(&mut runs, "db unhealthy");
    let db = project.container_name("db");
    let inspect = ws
        .path()
        .join("incidents")
        .join(&id)
        .join("evidence")
        .join(format!("inspect/{db}.json"));
    let inspect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(inspect).unwrap()).unwrap();
    let cmd = inspect["Config"]["Cmd"][2].as_str().unwrap();
    for secret in SECRETS {
        assert!(cmd.contains(secret.masked), "{} in {cmd}", secret.masked);
    }
    runs.assert_nothing_leaked();
}

#[test]
fn validate_and_backup_mask_check_urls_and_dump_commands() {
    let (_project, ws) = planted("sec-backup");
    let mut runs = Runs::new(&ws);
    let table = runs.run(&["validate"]).expect_code(0);
    assert!(
        table.stdout.contains("http://ops:****@127.0.0.1:1/health"),
        "{}",
        table.stdout
    );
    let plan = runs.run(&["validate", "--format", "json"]).json();
    assert_eq!(
        plan["plan"]["checks"][0]["target"],
        "http://ops:****@127.0.0.1:1/health"
    );
    let dry = runs.run(&["backup", "--dry-run"]).expect_code(0);
    assert!(dry.stdout.contains("PGPASSWORD=****"), "{}", dry.stdout);
    runs.run(&["backup", "--dry-run", "--format", "json"])
        .expect_code(0);
    let made = runs
        .run(&["backup", "--format", "json"])
        .expect_code(0)
        .json();
    let id = made["backup"]["id"].as_str().unwrap();
    let manifest = ws.path().join("backups").join(id).join("manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    assert_eq!(
        manifest["items"][1]["source"],
        "db: sh -c PGPASSWORD=**** true; echo dumped"
    );
    runs.assert_nothing_leaked();
}

#[test]
fn docker_host_credentials_are_masked_in_the_unreachable_error() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", runbook("opsbook-test-sec-dead"));
    let mut runs = Runs::new(&ws);
    let dead = [("DOCKER_HOST", DOCKER_HOST)];
    let run = runs.run_with(&["status"], &dead).expect_code(3);
    assert!(
        run.stderr
            .contains("cannot reach Docker at `tcp://ops:****@127.0.0.1:1`"),
        "{}",
        run.stderr
    );
    for args in [
        &["status", "--format", "json", "-vv"][..],
        &["daily-check", "--only", "containers", "--format", "json"],
        &["daily-check", "--only", "containers", "--format", "junit"],
        &["restart", "db", "--yes"],
        &["backup", "--format", "json"],
        &["run", "planted", "--yes"],
        &[
            "incident",
            "open",
            "--severity",
            "P1",
            "--title",
            "docker gone",
        ],
    ] {
        runs.run_with(args, &dead);
    }
    runs.assert_nothing_leaked();
}

#[test]
fn partial_masks_leave_no_tail_in_urls_quotes_or_words() {
    let (_project, ws) = planted("sec-partial");
    let mut runs = Runs::new(&ws);
    let status = runs.run(&["status", "--format", "json"]).json();
    let shown = message(&status, "containers", "db");
    let id = open_incident(&mut runs, "partial masks");
    for secret in SECRETS.iter().filter(|s| s.item == 6) {
        assert!(
            shown.contains(secret.masked),
            "{} in {shown}",
            secret.masked
        );
        runs.run(&["incident", "note", &id, "--", secret.text])
            .expect_code(0);
    }
    let title = format!("--title={}", planted_line());
    runs.run(&["incident", "open", "--severity", "P2", &title]);
    runs.run(&["incident", "show", &id, "--format", "json"])
        .expect_code(0);
    runs.assert_nothing_leaked();
}

#[test]
fn secret_scanner_kinds_are_masked_in_every_output_and_file() {
    let (_project, ws) = planted("sec-kinds");
    let mut runs = Runs::new(&ws);
    let status = runs.run(&["status", "--format", "json"]).json();
    let shown = message(&status, "containers", "db");
    for secret in SECRETS.iter().filter(|s| !s.text.contains('\n')) {
        assert!(
            shown.contains(secret.masked),
            "{} in {shown}",
            secret.masked
        );
    }
    let id = open_incident(&mut runs, "scanner kinds");
    for secret in SECRETS {
        runs.run(&["incident", "note", &id, "--", secret.text])
            .expect_code(0);
    }
    let summary = format!("--summary={}", planted_line());
    let shown = runs.run(&["incident", "show", &id]).expect_code(0);
    assert!(
        shown.stdout.contains("-----BEGIN RSA PRIVATE KEY-----****"),
        "{}",
        shown.stdout
    );
    runs.run(&["incident", "close", &id, &summary])
        .expect_code(0);
    runs.run(&["incident", "bundle", &id]).expect_code(0);
    runs.run(&["daily-check", "--format", "json"]);
    runs.assert_nothing_leaked();
}

#[test]
fn validate_shows_a_check_urls_password_masked() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nchecks:\n  api:\n    http: { url: \"http://admin:hunter2-k30@127.0.0.1:1/health\" }\n",
    );
    assert_run(
        &ws.opsbook(&["validate"]),
        &Filters::new(&ws),
        0,
        r#"
PLAN        DETAIL
runbook     shop (opsbook.yaml)
project     (every compose project on the host)
mode        compose (no project: every compose project)
startup     (no services listed: every container of the project)
shutdown    (no services listed: every container of the project)
thresholds  memory 80/85%  swap 25/50%  load 2/2.5 per core  disk 85/90% on /
check api   http http://admin:****@127.0.0.1:1/health
ok: 1 ok in [MS] ms
"#,
        "",
    );
}

#[test]
fn a_containers_own_secret_printed_in_its_logs_is_masked_everywhere() {
    // A value nothing recognises as a secret but the container's own
    // secret-named variable (no `password=` before it in the log line).
    const VALUE: &str = "plainword-k7q2";
    let project = Project::new("sec-env-log");
    project
        .service("db")
        .env(&format!("DB_PASSWORD={VALUE}"))
        .script(&format!(
            "echo \"error: could not log in as admin with {VALUE}\"; sleep 100000"
        ))
        .start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {}\n{CALM_HOST}services:\n  db: {{}}\nlogs:\n  since: 1h\n  match: ['error']\n",
            project.name
        ),
    );
    eventually("db logged", LONG, || {
        project.exec("db", "true")
            && ws
                .opsbook(&["daily-check", "--only", "logs", "--format", "json"])
                .stdout
                .contains("could not log in")
    });
    let mut shown = String::new();
    for args in [
        vec!["daily-check"],
        vec!["daily-check", "--format", "json"],
        vec!["daily-check", "--only", "logs"],
        vec!["daily-check", "--only", "logs", "--format", "json"],
        vec!["status", "--format", "json"],
    ] {
        let run = ws.opsbook(&args);
        shown.push_str(&run.stdout);
        shown.push_str(&run.stderr);
    }
    assert!(
        !shown.contains(VALUE),
        "the container's secret shown:\n{shown}"
    );
    assert!(
        shown.contains("could not log in as admin with ****"),
        "the line is still quoted, masked:\n{shown}"
    );
}
