//! `opsbook run PROCEDURE` and the `before`/`after` hooks of the built-in
//! sections, against real containers and files.

use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{Project, Workspace, eventually, result};

const LONG: Duration = Duration::from_secs(60);
/// What has already happened by the end of the run (a process gone) is
/// not waited for long.
const SHORT: Duration = Duration::from_secs(10);

fn deployment(tag: &str, extra: &str) -> (Project, Workspace) {
    let project = Project::new(tag);
    let data = project.volume("data");
    project
        .service("db")
        .mount(&data, "/data")
        .script("[ -f /data/x ] || echo 1 > /data/x")
        .start();
    project
        .service("api")
        .script("mkdir -p /www; echo ok > /www/health; httpd -p 8080 -h /www")
        .start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\n  api: {{ depends_on: [db] }}\nshutdown:\n  grace: 2s\n\
             checks:\n  db-data:\n    exec: {{ service: db, command: [test, -f, /data/x] }}\n\
             backup:\n  dir: ./backups\n  volumes: [data]\n{extra}",
            project.name
        ),
    );
    eventually("db wrote its data", LONG, || {
        project.exec("db", "test -f /data/x")
    });
    (project, ws)
}

const PROCEDURES: &str = concat!(
    "procedures:\n",
    "  weekly-vacuum:\n",
    "    description: VACUUM and ANALYZE\n",
    "    steps:\n",
    "      - exec: { service: db, command: [sh, -c, 'echo vacuumed >> /data/maintenance.log'] }\n",
    "      - check: [db-data]\n",
    "  integrity:\n",
    "    description: read-only checks\n",
    "    steps:\n",
    "      - check: [db-data]\n",
    "      - wait: 50ms\n",
);

#[test]
fn procedures_list_dry_run_and_run() {
    let (project, ws) = deployment("proc-run", PROCEDURES);
    let list = ws
        .opsbook(&["run", "--list", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(list["procedures"][0]["name"], "weekly-vacuum");
    assert_eq!(list["procedures"][0]["description"], "VACUUM and ANALYZE");
    assert_eq!(list["procedures"][1]["steps"], 2);

    let dry = ws.opsbook(&["run", "weekly-vacuum", "--dry-run"]);
    dry.expect_code(0);
    assert!(dry.stdout.contains("exec: db: sh -c"), "{}", dry.stdout);
    assert!(!project.exec("db", "test -f /data/maintenance.log"));

    // A destructive step without a terminal needs --yes; read-only ones do not.
    ws.opsbook(&["run", "weekly-vacuum"]).expect_code(3);
    assert!(!project.exec("db", "test -f /data/maintenance.log"));
    ws.opsbook(&["run", "integrity"]).expect_code(0);
    let report = ws
        .opsbook(&["run", "weekly-vacuum", "--yes", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(report["procedure"]["run"], 2);
    assert_eq!(
        project.output("db", "cat /data/maintenance.log"),
        "vacuumed\n"
    );
    let run = ws.opsbook(&["run", "nope"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("weekly-vacuum, integrity"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_failing_before_hook_stops_the_section_and_after_hooks_run() {
    let hooks = concat!(
        "  before:\n",
        "    - exec: { service: api, command: [sh, -c, 'touch /www/maintenance'] }\n",
        "  after:\n",
        "    - exec: { service: api, command: [sh, -c, 'rm /www/maintenance; echo done >> /www/after.log'] }\n",
        "restore:\n",
        "  before:\n",
        "    - exec: { service: api, command: [sh, -c, 'touch /www/restoring'] }\n",
        "  after:\n",
        "    - exec: { service: api, command: [sh, -c, 'rm /www/restoring'] }\n",
    );
    let (project, ws) = deployment("proc-hooks", hooks);
    let state = ws.path().join("state").display().to_string();
    ws.opsbook(&["backup", "--state-dir", &state])
        .expect_code(0);
    assert!(
        !project.exec("api", "test -e /www/maintenance"),
        "after undid before"
    );
    assert_eq!(project.output("api", "cat /www/after.log"), "done\n");

    let report = ws
        .opsbook(&[
            "restore",
            "--yes",
            "--state-dir",
            &state,
            "--format",
            "json",
        ])
        .expect_code(0)
        .json();
    assert_eq!(
        result(
            &report,
            "hook",
            "restore.before 1 exec: api: sh -c touch /www/restoring"
        )["status"],
        "ok"
    );
    assert!(!project.exec("api", "test -e /www/restoring"));

    // A before step that fails: no backup, nothing stopped.
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace("touch /www/maintenance", "exit 7"),
    );
    let db_started = project.times("db").started;
    let run = ws.opsbook(&["backup", "--state-dir", &state, "--format", "json"]);
    let report = run.expect_code(2).json();
    assert!(
        result(&report, "backup", "result")["message"]
            .as_str()
            .unwrap()
            .contains("backup.before"),
        "{report:#}"
    );
    assert_eq!(project.times("db").started, db_started);
    let backups = std::fs::read_dir(ws.path().join("backups"))
        .unwrap()
        .count();
    assert_eq!(
        backups, 2,
        "the first backup and restore's safety backup only"
    );
}

#[test]
fn a_backup_step_in_a_backup_hook_is_refused() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nproject: p\nbackup:\n  dir: ./b\n  before:\n    - backup: true\n",
    );
    let run = ws.opsbook(&["validate"]);
    run.expect_code(3);
    assert!(run.stderr.contains("backup.before[0]"), "{}", run.stderr);
    assert!(run.stderr.contains("would run itself"), "{}", run.stderr);
}

/// Runs the binary on a pseudo-terminal (util-linux `script`), typing `keys`.
fn on_a_terminal(ws: &Workspace, args: &str, keys: &str) -> i32 {
    use std::io::Write;
    let binary = assert_cmd::cargo::cargo_bin("opsbook");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{} {args}", binary.display()), "/dev/null"])
        .current_dir(ws.path())
        .env_remove("OPSBOOK_RUNBOOK")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("util-linux `script` runs the binary on a terminal");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(keys.as_bytes()).unwrap();
    }
    child.wait().unwrap().code().unwrap_or(-1)
}

#[test]
fn on_a_terminal_destructive_steps_ask_and_notes_are_confirmed() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: t\nprocedures:\n  p:\n    steps:\n      - sh: 'echo hi > out.txt'\n      - note: Tell the team\n",
    );
    // Declined: the step does not run and nothing after it does.
    assert_eq!(on_a_terminal(&ws, "run p", "n\n"), 1);
    assert!(!ws.path().join("out.txt").exists());
    // Yes to the step, no to the note: done, but the note is a warning.
    assert_eq!(on_a_terminal(&ws, "run p", "y\nn\n"), 1);
    assert!(ws.path().join("out.txt").exists());
    // Yes to both.
    std::fs::remove_file(ws.path().join("out.txt")).unwrap();
    assert_eq!(on_a_terminal(&ws, "run p", "y\ny\n"), 0);
    assert!(ws.path().join("out.txt").exists());
}

#[test]
fn pause_freezes_a_service_until_unpause_and_a_failed_procedure_leaves_nothing_frozen() {
    let (project, ws) = deployment("proc-pause", "");
    let project_name = project.container_name("api");
    let paused = |expect: &str| {
        format!("[ \"$(docker inspect -f '{{{{.State.Paused}}}}' {project_name})\" = {expect} ]")
    };
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        format!(
            "{text}procedures:\n  freeze:\n    steps:\n      - pause: [api]\n      - sh: \"{}\"\n      - unpause: [api]\n\
             \x20 broken:\n    steps:\n      - pause: [api]\n      - run: [\"false\"]\n      - unpause: [api]\n",
            paused("true").replace('"', "\\\"")
        ),
    );
    let run = ws.opsbook(&["run", "freeze", "--yes", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(project.exec("api", "true"), "api runs again");
    let run = ws.opsbook(&["run", "broken", "--yes", "--format", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    let steps = report["results"].as_array().unwrap();
    let last = steps.last().unwrap();
    assert_eq!(last["status"], "warn", "{report:#}");
    assert_eq!(
        last["message"],
        "the steps ended before their unpause: api unpaused again"
    );
    let state = std::process::Command::new("sh")
        .args(["-c", &paused("false")])
        .status()
        .unwrap();
    assert!(state.success(), "api is not left paused");
}

/// A real Alertmanager (Debian's) on a free loopback port.
fn alertmanager(tag: &str) -> (Project, u16) {
    use crate::support::{REAL_IMAGE, free_port};
    let project = Project::new(tag);
    let port = free_port();
    project
        .service("alertmanager")
        .runs(REAL_IMAGE, &["alertmanager-serve"])
        .port(9093, port)
        .start();
    eventually("Alertmanager ready", LONG, || {
        project.exec(
            "alertmanager",
            "busybox wget -qO /dev/null 127.0.0.1:9093/-/ready",
        )
    });
    (project, port)
}

#[test]
fn http_steps_send_any_method_and_a_body() {
    let (_alertmanager, port) = alertmanager("proc-http");
    let ws = Workspace::new();
    let url = format!("http://127.0.0.1:{port}/api/v2/silences");
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nprocedures:\n  maintenance:\n    steps:\n\
             \x20     - http:\n          url: \"{url}\"\n          method: post\n          headers: {{ Content-Type: application/json }}\n\
             \x20         body: '{{\"matchers\": [{{\"name\": \"service\", \"value\": \"backend\", \"isRegex\": false}}], \"startsAt\": \"2026-01-01T00:00:00Z\", \"endsAt\": \"2030-01-01T00:00:00Z\", \"createdBy\": \"opsbook\", \"comment\": \"opsbook maintenance\"}}'\n\
             \x20         contains: silenceID\n\
             \x20     - http: {{ url: \"{url}\", contains: opsbook maintenance }}\n\
             \x20     - http: {{ url: \"{url}\", method: DELETE, status: 405 }}\n"
        ),
    );
    let run = ws.opsbook(&["run", "maintenance", "--yes", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    let steps: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            format!("1 http: POST {url}"),
            format!("2 http: {url}"),
            format!("3 http: DELETE {url}")
        ]
    );
}

#[test]
fn a_silence_lasts_while_the_steps_run_and_is_expired_however_they_end() {
    let (alertmanager, port) = alertmanager("proc-silence");
    let ws = Workspace::new();
    let base = format!("http://127.0.0.1:{port}");
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nprocedures:\n  maintenance:\n    steps:\n\
             \x20     - silence: {{ url: \"{base}\", matchers: {{ service: backend }}, for: 10m, comment: opsbook test }}\n\
             \x20     - http: {{ url: \"{base}/api/v2/alerts/groups\" }}\n\
             \x20     - http: {{ url: \"{base}/api/v2/silences\", contains: '\"state\":\"active\"' }}\n\
             \x20 broken:\n    steps:\n\
             \x20     - silence: {{ url: \"{base}\", matchers: {{ service: backend }} }}\n\
             \x20     - run: [\"false\"]\n"
        ),
    );
    let silences = || {
        let answer = alertmanager.output(
            "alertmanager",
            "busybox wget -qO- 127.0.0.1:9093/api/v2/silences",
        );
        let listed: serde_json::Value = serde_json::from_str(&answer).unwrap();
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["status"]["state"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let run = ws.opsbook(&["run", "maintenance", "--yes", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    let last = report["results"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["name"].as_str(), last["message"].as_str()),
        (Some("3 expire silences"), Some("1 silence expired"))
    );
    assert_eq!(silences(), ["expired"]);
    let run = ws.opsbook(&["run", "broken", "--yes", "--format", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(silences(), ["expired", "expired"]);
}

#[test]
fn steps_decide_with_when_on_failure_and_on_timeout() {
    let ws = Workspace::new();
    ws.write("broken", "");
    ws.write(
        "opsbook.yaml",
        concat!(
            "version: 1\nchecks:\n  flag: { file: { path: broken } }\nprocedures:\n",
            "  recover:\n    steps:\n",
            "      - { run: [sh, -c, 'echo first >> log'], when: { check: flag, is: ok } }\n",
            "      - { run: [sh, -c, 'echo never >> log'], when: { check: flag, is: failing } }\n",
            "      - run: [\"false\"]\n        on_failure:\n          - run: [sh, -c, 'echo fallback >> log']\n",
            "      - run: [sleep, \"5\"]\n        timeout: 300ms\n        on_timeout:\n          - run: [sh, -c, 'echo escalate >> log']\n",
            "      - run: [sh, -c, 'echo end >> log']\n",
            "  hopeless:\n    steps:\n",
            "      - run: [\"false\"]\n        on_failure:\n          - run: [\"false\"]\n",
            "      - run: [sh, -c, 'echo unreachable >> log']\n",
        ),
    );
    let dry = ws.opsbook(&["run", "recover", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    assert!(
        dry.stdout
            .contains("run: sh -c echo first >> log (only when `flag` is ok)")
            && dry
                .stdout
                .contains("  on failure 1: run: sh -c echo fallback >> log")
            && dry
                .stdout
                .contains("  on timeout 1: run: sh -c echo escalate >> log"),
        "{}",
        dry.stdout
    );
    let run = ws.opsbook(&["run", "recover", "--yes", "--format", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("log")).unwrap(),
        "first\nfallback\nescalate\nend\n"
    );
    let report = run.json();
    let named: Vec<(String, String)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let pair = |n: &str, s: &str| (n.to_string(), s.to_string());
    assert_eq!(
        named,
        [
            pair("1 run: sh -c echo first >> log", "ok"),
            pair("2 run: sh -c echo never >> log", "ok"),
            pair("3 run: false", "warn"),
            pair("3 on failure of 3: run: sh -c echo fallback >> log", "ok"),
            pair("4 run: sleep 5", "warn"),
            pair("4 on timeout of 4: run: sh -c echo escalate >> log", "ok"),
            pair("5 run: sh -c echo end >> log", "ok"),
        ]
    );
    assert_eq!(
        result(&report, "procedure", "2 run: sh -c echo never >> log")["message"],
        "skipped: check `flag` is ok (the step runs when it is failing)"
    );
    let run = ws.opsbook(&["run", "hopeless", "--yes"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        !std::fs::read_to_string(ws.path().join("log"))
            .unwrap()
            .contains("unreachable")
    );

    ws.write(
        "opsbook.yaml",
        "version: 1\nprocedures:\n  p:\n    steps:\n      - run: [\"true\"]\n        when: { check: nope, is: crit }\n        on_timeout: [{ wait: 1s }]\n",
    );
    let run = ws.opsbook(&["validate"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        "error: opsbook.yaml:6:24: procedures.p.steps[0].when.check: unknown check `nope`\n\
         error: opsbook.yaml:7:9: procedures.p.steps[0].on_timeout: `on_timeout` runs when the step outlives its `timeout`: give one\n"
    );
}

#[test]
fn notify_steps_send_the_procedure_and_its_status_so_far() {
    let (port, received) = crate::daily_check::webhook_receiver();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nnotify:\n  webhook: {{ url: \"http://127.0.0.1:{port}/hook\" }}\nprocedures:\n  maintenance:\n    steps:\n\
             \x20     - notify: Maintenance window starts\n\
             \x20     - {{ run: [\"false\"], continue_on_error: true }}\n\
             \x20     - notify: Maintenance done\n"
        ),
    );
    let run = ws.opsbook(&["run", "maintenance", "--yes"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let texts: Vec<String> = (0..2)
        .map(|_| {
            let body = received.recv_timeout(Duration::from_secs(5)).unwrap();
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            body["text"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        texts,
        [
            "opsbook procedure `maintenance`: Maintenance window starts (so far: ok)",
            "opsbook procedure `maintenance`: Maintenance done (so far: crit)"
        ]
    );
    ws.write(
        "opsbook.yaml",
        "version: 1\nprocedures:\n  p:\n    steps:\n      - notify: hello\n",
    );
    let run = ws.opsbook(&["validate"]);
    assert_eq!(
        run.stderr,
        "error: opsbook.yaml:5:9: procedures.p.steps[0].notify: a notify step sends to `notify.webhook`: the runbook has none\n"
    );
}

#[test]
fn scale_sets_the_number_of_a_services_containers_through_compose() {
    let project = Project::new("proc-scale");
    let ws = Workspace::new();
    ws.write(
        "compose.yml",
        "services:\n  worker:\n    image: opsbook-fixture:1\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n",
    );
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {}\nservices:\n  worker: {{}}\nstartup:\n  up: [docker-compose, -f, compose.yml, up, -d]\n\
             procedures:\n  more:\n    steps:\n      - scale: {{ service: worker, replicas: 3 }}\n\
             \x20 fewer:\n    steps:\n      - scale: {{ service: worker, replicas: 1 }}\n",
            project.name
        ),
    );
    let running = || {
        let out = std::process::Command::new("docker")
            .args(["ps", "-q", "--filter"])
            .arg(format!("label=com.docker.compose.project={}", project.name))
            .args(["--filter", "label=com.docker.compose.service=worker"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let run = ws.opsbook(&["run", "more", "--yes", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(running(), 3);
    assert_eq!(
        result(&run.json(), "procedure", "1 scale: worker to 3")["message"],
        "worker: 3 containers running"
    );
    let run = ws.opsbook(&["run", "fewer", "--yes"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(running(), 1);
}

#[test]
fn run_list_of_one_procedure_says_procedure_in_the_singular() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nprocedures:\n  tidy: { steps: [ { wait: 1ms } ] }\n",
    );
    let report = ws
        .opsbook(&["run", "--list", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(
        report["results"][0]["message"], "1 procedure in opsbook.yaml",
        "{report:#}"
    );
}

#[test]
fn run_of_an_unknown_procedure_and_of_a_destructive_one_without_yes() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nprocedures:\n  tidy:\n    description: Tidy up\n    steps:\n      - note: Look at the disk\n      - sh: \"echo done > done.txt\"\n      - run: [touch, touched.txt]\n",
    );
    let filters = Filters::new(&ws);
    assert_run(
        &ws.opsbook(&["run", "nosuchprocedure", "--state-dir", "state"]),
        &filters,
        3,
        "",
        "error: no procedure `nosuchprocedure` in `opsbook.yaml` (procedures: tidy)\n",
    );
    assert_run(
        &ws.opsbook(&["run", "tidy", "--state-dir", "state"]),
        &filters,
        3,
        "",
        "error: procedure `tidy` has destructive steps (2 `sh: echo done > done.txt`, 3 `run: touch touched.txt`): \
         this needs confirmation; without a terminal pass --yes (nothing was changed)\n",
    );
    assert!(!ws.path().join("done.txt").exists());
    assert!(!ws.path().join("touched.txt").exists());
}

const TIDY: &str = "version: 1\nname: shop\nprocedures:\n  tidy:\n    description: Tidy up\n    steps:\n      - note: Look at the disk\n      - sh: \"echo done > done.txt\"\n      - run: [touch, touched.txt]\n  vacuum:\n    steps:\n      - wait: 1ms\n";

#[test]
fn run_list_shows_each_procedure_its_steps_and_description() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", TIDY);
    assert_run(
        &ws.opsbook(&["run", "--list"]),
        &Filters::new(&ws),
        0,
        r#"
PROCEDURE  STEPS  DESCRIPTION
tidy       3      Tidy up
vacuum     1
ok: 1 ok in [MS] ms
"#,
        "",
    );
}

#[test]
fn run_dry_run_shows_the_steps_and_which_ones_ask() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", TIDY);
    assert_run(
        &ws.opsbook(&["run", "tidy", "--dry-run", "--state-dir", "state"]),
        &Filters::new(&ws),
        0,
        r#"
#  STEP                      ASKS
1  note: Look at the disk
2  sh: echo done > done.txt  yes
3  run: touch touched.txt    yes
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert!(!ws.path().join("done.txt").exists());
}

#[test]
fn run_goes_through_the_steps_in_order_and_reports_each() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", TIDY);
    let filters = Filters::new(&ws).regex(r"(?m)(  )\d+\.\ds(  )", "${1}[T]s${2}");
    assert_run(
        &ws.opsbook(&["run", "tidy", "--yes", "--state-dir", "state"]),
        &filters,
        1,
        r#"
#  STEP                      STATUS  TIME  OUTCOME
1  note: Look at the disk    warn    [T]s  pending: no terminal to confirm it on; do it and note it
2  sh: echo done > done.txt  ok      [T]s  `sh -c echo done > done.txt` succeeded
3  run: touch touched.txt    ok      [T]s  `touch touched.txt` succeeded
procedure `tidy` finished: warn
warn    procedure/1 note: Look at the disk: pending: no terminal to confirm it on; do it and note it
warn: 1 warn, 2 ok in [MS] ms
"#,
        r#"
step 1/3: note: Look at the disk
step 1/3: warn: pending: no terminal to confirm it on; do it and note it
step 2/3: sh: echo done > done.txt
step 2/3: ok: `sh -c echo done > done.txt` succeeded
step 3/3: run: touch touched.txt
step 3/3: ok: `touch touched.txt` succeeded
"#,
    );
    assert!(ws.path().join("done.txt").exists());
    assert!(ws.path().join("touched.txt").exists());
}

/// The commands of `container` still running, as the engine's host sees
/// them (`docker top`: works whatever the image has in it).
fn processes(container: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["top", container])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The step results of a run: (name, status, message).
fn steps_of(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let text = |key: &str| r[key].as_str().unwrap_or("").to_string();
            (text("name"), text("status"), text("message"))
        })
        .collect()
}

/// Issue 33, item 10: an exec step that outlives its `timeout` is ended in
/// its container, not left running there: SIGTERM, and SIGKILL 5 s later
/// for one that ignores it (its children too); the step says how, and its
/// `on_timeout` steps run after.
#[test]
fn an_exec_step_that_outlives_its_timeout_is_ended_in_the_container() {
    let project = Project::new("exec-timeout");
    project.service("db").start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\nprocedures:\n  slow:\n    steps:\n\
             \x20     - exec: {{ service: db, command: [sleep, \"301\"] }}\n        timeout: 1s\n\
             \x20       on_timeout:\n          - run: [sh, -c, 'echo escalate >> log']\n\
             \x20     - exec: {{ service: db, command: [sh, -c, \"trap '' TERM; sleep 302 & wait\"] }}\n        timeout: 1s\n",
            project.name
        ),
    );
    let run = ws.opsbook(&["run", "slow", "--yes", "--format", "json"]);
    run.expect_code(2);
    let s = |text: &str| text.to_string();
    assert_eq!(
        steps_of(&run.json()),
        [
            (
                s("1 exec: db: sleep 301"),
                s("warn"),
                s(
                    "`sleep 301` did not finish within 1s: ended with SIGTERM: running its on timeout steps"
                )
            ),
            (
                s("1 on timeout of 1: run: sh -c echo escalate >> log"),
                s("ok"),
                s("`sh -c echo escalate >> log` succeeded")
            ),
            (
                s("2 exec: db: sh -c trap '' TERM; sleep 302 & wait"),
                s("crit"),
                s(
                    "`sh -c trap '' TERM; sleep 302 & wait` did not finish within 1s: ended with SIGKILL (SIGTERM did not end it within 5s)"
                )
            ),
        ]
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("log")).unwrap(),
        "escalate\n"
    );
    let container = project.container_name("db");
    eventually("nothing of the steps runs in the container", SHORT, || {
        !processes(&container).contains("sleep 30")
    });
}

/// The same in a container without a shell to send a signal from: the
/// exec'd process is signalled on the engine's host, which is this one.
#[test]
fn an_exec_step_is_ended_in_a_container_without_a_shell() {
    let image = "opsbook-fixture:no-sh";
    let inspect = std::process::Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .unwrap();
    if !inspect.status.success() {
        let name = format!("opsbook-test-no-sh-{}", std::process::id());
        let made = std::process::Command::new("docker")
            .args([
                "run",
                "--name",
                &name,
                crate::support::FIXTURE_IMAGE,
                "rm",
                "/bin/sh",
            ])
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let committed = std::process::Command::new("docker")
            .args(["commit", &name, image])
            .output()
            .unwrap();
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &name])
            .output();
        // Another test binary may have made it meanwhile.
        assert!(
            committed.status.success()
                || std::process::Command::new("docker")
                    .args(["image", "inspect", image])
                    .output()
                    .unwrap()
                    .status
                    .success()
        );
    }
    let project = Project::new("exec-timeout-no-sh");
    project
        .service("db")
        .runs(image, &["sleep", "3600"])
        .start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{}}\nprocedures:\n  slow:\n    steps:\n\
             \x20     - exec: {{ service: db, command: [sleep, \"303\"] }}\n        timeout: 1s\n",
            project.name
        ),
    );
    let run = ws.opsbook(&["run", "slow", "--yes", "--format", "json"]);
    run.expect_code(2);
    assert_eq!(
        result(&run.json(), "procedure", "1 exec: db: sleep 303")["message"],
        "`sleep 303` did not finish within 1s: ended with SIGTERM"
    );
    let container = project.container_name("db");
    eventually(
        "the step's command does not run in the container",
        SHORT,
        || !processes(&container).contains("sleep 303"),
    );
}
