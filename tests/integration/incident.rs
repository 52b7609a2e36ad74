//! `opsbook incident` against real containers and files: the evidence
//! bundle (and that no planted secret reaches it), the timeline, playbooks
//! and their steps, `rotate`, the post-mortem, list, show and bundle; its
//! files never written through a link nor in a folder others can write;
//! control characters shown, never obeyed.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{CALM_HOST, Project, Workspace, chmod, eventually, is_link, result};

const LONG: Duration = Duration::from_secs(60);

fn state(ws: &Workspace) -> String {
    ws.path().join("state").display().to_string()
}

/// Secrets planted in env values and log lines; none may reach the incident.
const PLANTED: [&str; 5] = [
    "hunter2-planted",
    "planted-db-secret",
    "abcdefghijklmnop-planted",
    "planted-custom-12345",
    "planted-api-env",
];

/// api runs and logs secrets; db has exited with a secret in its env.
fn deployment(tag: &str, playbooks: &str) -> (Project, Workspace) {
    let project = Project::new(tag);
    project
        .service("api")
        .env("API_TOKEN=planted-api-env")
        .script(
            "echo 'login ok password=hunter2-planted'; \
             echo 'GET / Authorization: Bearer abcdefghijklmnop-planted'; \
             echo 'customer code planted-custom-12345'; echo 'request done'; touch /logged",
        )
        .start();
    project
        .service("db")
        .env("DB_PASSWORD=planted-db-secret")
        .start();
    project.stop("db");
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\n{CALM_HOST}services:\n  db: {{}}\n  api: {{ depends_on: [db] }}\nshutdown:\n  grace: 2s\n\
             redact: ['planted-custom-[0-9]+']\n\
             incident:\n  dir: ./incidents\n  severities:\n    P1: {{ respond_within: 15m }}\n    P2: {{ respond_within: 1h }}\n  \
             contacts: ['On-call: ops@example.com']\n  checklist: [Assess scope and impact, Notify stakeholders]\n  \
             evidence: {{ log_lines: 50 }}\n  playbooks:\n{playbooks}",
            project.name
        ),
    );
    eventually("api has logged", LONG, || {
        project.exec("api", "test -f /logged")
    });
    (project, ws)
}

const PLAYBOOKS: &str = concat!(
    "    recover:\n",
    "      - note: Check the dashboard\n",
    "      - exec: { service: api, command: [sh, -c, 'echo fixing'] }\n",
    "      - run: [sh, -c, 'echo broken >&2; exit 3']\n",
    "      - note: never reached\n",
    "    tolerant:\n",
    "      - run: [sh, -c, 'exit 1']\n",
    "        continue_on_error: true\n",
    "      - wait: 100ms\n",
    "    rotate-jwt:\n",
    "      - rotate: { file: .env, key: JWT_SECRET, bytes: 24, encoding: hex, restart: [api] }\n",
);

fn open(ws: &Workspace, severity: &str) -> (String, PathBuf, serde_json::Value) {
    let report = ws
        .opsbook(&[
            "incident",
            "open",
            "--severity",
            severity,
            "--title",
            "api slow",
            "--state-dir",
            &ws.path().join("state").display().to_string(),
            "--format",
            "json",
        ])
        .expect_code(0)
        .json();
    let id = report["incident"]["id"].as_str().unwrap().to_string();
    let folder = ws.path().join("incidents").join(&id);
    (id, folder, report)
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
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

fn assert_no_secret(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in PLANTED {
        assert!(!text.contains(secret), "{secret} leaked into {what}");
    }
}

fn timeline(folder: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(folder.join("timeline.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn evidence_holds_states_logs_and_host_figures_and_no_secret() {
    let (project, ws) = deployment("inc-evidence", PLAYBOOKS);
    let (id, folder, report) = open(&ws, "p2");
    assert!(id.starts_with("INC-"), "{id}");
    assert_eq!(report["incident"]["severity"], "P2");
    assert_eq!(report["incident"]["respond_within"], "1h");
    assert_eq!(
        report["incident"]["contacts"][0],
        "On-call: ops@example.com"
    );
    assert_eq!(report["incident"]["checklist"][1], "Notify stakeholders");
    assert_eq!(
        std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let api = project.container_name("api");
    let db = project.container_name("db");
    let evidence: Vec<&str> = report["incident"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for wanted in [
        "containers.json".to_string(),
        "daily-check.json".to_string(),
        "host.json".to_string(),
        format!("inspect/{db}.json"),
        format!("logs/{api}.log"),
        format!("logs/{db}.log"),
    ] {
        assert!(
            evidence.contains(&wanted.as_str()),
            "{wanted} in {evidence:?}"
        );
    }
    assert!(
        !evidence.contains(&format!("inspect/{api}.json").as_str()),
        "a healthy running container needs no inspect"
    );
    let read = |name: &str| std::fs::read_to_string(folder.join("evidence").join(name)).unwrap();
    let containers: serde_json::Value = serde_json::from_str(&read("containers.json")).unwrap();
    let state_of = |name: &str| {
        containers
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["state"].clone())
    };
    assert_eq!(state_of(&api), Some("running".into()));
    assert_eq!(state_of(&db), Some("exited".into()));
    let inspect = read(&format!("inspect/{db}.json"));
    assert!(inspect.contains("DB_PASSWORD=****"), "{inspect}");
    let log = read(&format!("logs/{api}.log"));
    assert!(log.contains("login ok password=****"), "{log}");
    assert!(log.contains("request done"), "{log}");
    let host: serde_json::Value = serde_json::from_str(&read("host.json")).unwrap();
    assert!(
        host["host"]["memory"]["total"].as_u64().unwrap() > 0,
        "{host}"
    );
    let check: serde_json::Value = serde_json::from_str(&read("daily-check.json")).unwrap();
    assert_eq!(check["command"], "daily-check");
    assert_eq!(check["status"], "warn", "db is down: {check}");
    assert!(check["duration_ms"].as_u64().unwrap() > 0, "{check}");

    // Nothing anywhere in the incident holds a planted secret, modes tight.
    for (path, bytes) in files(&folder) {
        assert_no_secret(&path.display().to_string(), &bytes);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    // The daily-check inside the evidence is not a recorded run.
    let recorded = std::fs::read_dir(ws.path().join("state").join("history"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(recorded, 0);

    // The bundle holds the folder, and no secret either.
    let report = ws
        .opsbook(&["incident", "bundle", &id, "--format", "json"])
        .expect_code(0)
        .json();
    let bundle = PathBuf::from(report["bundle"].as_str().unwrap());
    assert_eq!(
        std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut archive = tar::Archive::new(
        zstd::stream::read::Decoder::new(std::fs::File::open(&bundle).unwrap()).unwrap(),
    );
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        names.push(entry.path().unwrap().display().to_string());
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        assert_no_secret("the bundle", &bytes);
    }
    assert!(names.contains(&format!("{id}/incident.json")), "{names:?}");
    assert!(
        names.contains(&format!("{id}/evidence/containers.json")),
        "{names:?}"
    );
}

#[test]
fn notes_and_playbook_steps_land_on_the_timeline_in_order_and_a_failing_step_stops() {
    let (_project, ws) = deployment("inc-playbook", PLAYBOOKS);
    let (id, folder, _) = open(&ws, "P1");
    ws.opsbook(&[
        "incident",
        "note",
        &id,
        "paged the DBA, token=planted-db-secret",
    ])
    .expect_code(0);

    // Destructive steps without a terminal need --yes: nothing runs, nothing recorded.
    let before = timeline(&folder).len();
    let run = ws.opsbook(&["incident", "run", &id, "recover"]);
    run.expect_code(3);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    let dry = ws.opsbook(&["incident", "run", &id, "recover", "--dry-run"]);
    dry.expect_code(0);
    assert!(dry.stdout.contains("run: sh -c"), "{}", dry.stdout);
    assert_eq!(timeline(&folder).len(), before);

    let run = ws.opsbook(&[
        "incident", "run", &id, "recover", "--yes", "--format", "json",
    ]);
    let report = run.expect_code(2).json();
    assert_eq!(report["playbook"]["run"], 3, "the fourth step never ran");
    let entries = timeline(&folder);
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "opened", "evidence", "note", "playbook", "step", "step", "step", "playbook"
        ]
    );
    assert_eq!(entries[2]["text"], "paged the DBA, token=****");
    assert_eq!(
        entries[4]["status"], "warn",
        "a note without a terminal is pending"
    );
    assert!(entries[4]["text"].as_str().unwrap().contains("pending"));
    assert_eq!(entries[5]["status"], "ok");
    assert!(entries[5]["text"].as_str().unwrap().contains("fixing"));
    assert_eq!(entries[6]["status"], "crit");
    assert!(
        entries[6]["text"].as_str().unwrap().contains("exited 3"),
        "{}",
        entries[6]
    );
    assert!(
        entries[7]["text"]
            .as_str()
            .unwrap()
            .contains("stopped at step 3 of 4")
    );
    let stamps: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted, "entries in time order");

    // continue_on_error goes on past a failure, which still counts.
    let report = ws
        .opsbook(&[
            "incident", "run", &id, "tolerant", "--yes", "--format", "json",
        ])
        .expect_code(2)
        .json();
    assert_eq!(report["playbook"]["run"], 2);

    // Unknown playbook, unknown id.
    let run = ws.opsbook(&["incident", "run", &id, "nope", "--yes"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("recover, tolerant, rotate-jwt"),
        "{}",
        run.stderr
    );
    for args in [
        vec!["incident", "note", "INC-nope", "x"],
        vec!["incident", "show", "../incidents"],
        vec!["incident", "run", "INC-nope", "recover", "--yes"],
        vec!["incident", "close", "INC-nope", "--summary", "x"],
        vec!["incident", "bundle", "INC-nope"],
    ] {
        let run = ws.opsbook(&args);
        run.expect_code(3);
        assert!(
            run.stderr.contains("no incident"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let run = ws.opsbook(&["incident", "open", "--severity", "P9", "--title", "x"]);
    run.expect_code(3);
    assert!(run.stderr.contains("P1, P2"), "{}", run.stderr);
}

#[test]
fn rotate_changes_only_its_key_keeps_the_mode_and_never_shows_the_value() {
    let (project, ws) = deployment("inc-rotate", PLAYBOOKS);
    let env = ws.write(".env", "A=1\nJWT_SECRET=old-value\nexport OTHER=\"x\"\n");
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o640)).unwrap();
    let api_started = project.times("api").started;
    let (id, folder, _) = open(&ws, "P1");

    let run = ws.opsbook(&["incident", "run", &id, "rotate-jwt", "--yes"]);
    run.expect_code(0);
    let text = std::fs::read_to_string(&env).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], "A=1");
    assert_eq!(lines[2], "export OTHER=\"x\"");
    let value = lines[1].strip_prefix("JWT_SECRET=").unwrap();
    assert_eq!(value.len(), 48);
    assert!(value.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        std::fs::metadata(&env).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let kept: Vec<PathBuf> = std::fs::read_dir(ws.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.display().to_string().contains(".env.before-rotate-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read_to_string(&kept[0]).unwrap(),
        "A=1\nJWT_SECRET=old-value\nexport OTHER=\"x\"\n"
    );
    assert_eq!(
        std::fs::metadata(&kept[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The new value is nowhere but in the file.
    assert!(!run.stdout.contains(value) && !run.stderr.contains(value));
    for (path, bytes) in files(&folder) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(value),
            "the value leaked into {}",
            path.display()
        );
    }
    // api was restarted after the rotation.
    assert_ne!(project.times("api").started, api_started);
    assert_eq!(project.times("api").state, "running");
}

#[test]
fn close_writes_the_postmortem_and_list_and_show_tell_the_state() {
    let (_project, ws) = deployment("inc-close", PLAYBOOKS);
    let (id, folder, _) = open(&ws, "P1");
    let (second, _, _) = open(&ws, "P2");
    ws.opsbook(&["incident", "note", &id, "disk at 99%, logs rotated"])
        .expect_code(0);
    let report = ws
        .opsbook(&[
            "incident",
            "close",
            &id,
            "--summary",
            "The disk filled with logs.",
            "--format",
            "json",
        ])
        .expect_code(0)
        .json();
    let postmortem = folder.join("postmortem.md");
    assert_eq!(report["postmortem"], postmortem.display().to_string());
    assert_eq!(
        std::fs::metadata(&postmortem).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&postmortem).unwrap();
    for wanted in [
        "# Post-mortem: api slow",
        &format!("| Incident | {id} |"),
        "| Severity | P1 (respond within 15m) |",
        "| Duration |",
        "## Summary\n\nThe disk filled with logs.",
        "| note | disk at 99%, logs rotated |",
        "| closed | closed: The disk filled with logs. |",
        "- `containers.json`",
        "## Root cause\n\n_To be filled in._",
        "## Impact",
        "## Resolution",
        "## Action items",
        "## Lessons learned",
    ] {
        assert!(text.contains(wanted), "{wanted:?} in\n{text}");
    }

    // Closed is final.
    ws.opsbook(&["incident", "close", &id, "--summary", "again"])
        .expect_code(3);
    ws.opsbook(&["incident", "note", &id, "late"])
        .expect_code(3);

    let list = ws
        .opsbook(&["incident", "list", "--format", "json"])
        .expect_code(0)
        .json();
    let listed: Vec<(String, bool)> = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i.get("closed_at").is_some(),
            )
        })
        .collect();
    assert_eq!(listed, [(second.clone(), false), (id.clone(), true)]);
    let table = ws
        .opsbook(&["incident", "list"])
        .expect_code(0)
        .stdout
        .clone();
    assert!(
        table.contains("closed") && table.contains("open"),
        "{table}"
    );

    let show = ws
        .opsbook(&["incident", "show", &id, "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(show["incident"]["summary"], "The disk filled with logs.");
    let kinds: Vec<&str> = show["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["opened", "evidence", "note", "closed"]);
    assert_eq!(result(&show, "incident", &id)["message"], "closed");
}

const INCIDENTS: &str = "version: 1\nname: shop\nincident:\n  dir: ./incidents\n  severities:\n    P1: { respond_within: 15m }\n";

fn open_incident(ws: &Workspace) -> (String, PathBuf) {
    let report = ws
        .opsbook(&[
            "incident",
            "open",
            "--severity",
            "P1",
            "--title",
            "disk full",
            "--state-dir",
            &state(ws),
            "--format",
            "json",
        ])
        .expect_code(0)
        .json();
    let id = report["incident"]["id"].as_str().unwrap().to_string();
    let folder = ws.path().join("incidents").join(&id);
    (id, folder)
}

#[test]
fn incident_files_are_never_written_through_a_link() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", INCIDENTS);
    let victim = ws.write("victim.txt", "precious\n");
    let (id, folder) = open_incident(&ws);

    // A planted timeline link: the note is refused, the target untouched.
    let timeline = folder.join("timeline.jsonl");
    let kept = std::fs::read(&timeline).unwrap();
    std::fs::remove_file(&timeline).unwrap();
    std::os::unix::fs::symlink(&victim, &timeline).unwrap();
    let run = ws.opsbook(&["incident", "note", &id, "looked at the disk"]);
    run.expect_code(3);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    std::fs::remove_file(&timeline).unwrap();
    std::fs::write(&timeline, kept).unwrap();
    chmod(&timeline, 0o600);

    // Planted post-mortem and bundle links are replaced, never followed.
    let postmortem = folder.join("postmortem.md");
    std::os::unix::fs::symlink(&victim, &postmortem).unwrap();
    std::os::unix::fs::symlink(&victim, folder.join(".postmortem.md.partial")).unwrap();
    ws.opsbook(&["incident", "close", &id, "--summary", "logs filled it"])
        .expect_code(0);
    assert!(!is_link(&postmortem) && postmortem.is_file());
    let bundle = ws.path().join("incidents").join(format!("{id}.tar.zst"));
    std::os::unix::fs::symlink(&victim, &bundle).unwrap();
    let partial = ws
        .path()
        .join("incidents")
        .join(format!(".{id}.tar.zst.partial"));
    std::os::unix::fs::symlink(&victim, &partial).unwrap();
    ws.opsbook(&["incident", "bundle", &id]).expect_code(0);
    assert!(!is_link(&bundle) && bundle.is_file());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn an_incident_folder_others_can_write_is_refused() {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", INCIDENTS);
    let (id, folder) = open_incident(&ws);
    let incidents = ws.path().join("incidents");
    for mode in [0o1777, 0o777] {
        chmod(&incidents, mode);
        let run = ws.opsbook(&["incident", "note", &id, "more"]);
        run.expect_code(3);
        assert!(
            run.stderr
                .contains(&format!("folder `{}`", incidents.display()))
                && run.stderr.contains("writable by other users"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        let open = ws.opsbook(&["incident", "open", "--severity", "P1", "--title", "x"]);
        open.expect_code(3);
        assert_eq!(std::fs::read_dir(&incidents).unwrap().count(), 1);
    }
    chmod(&incidents, 0o700);
    chmod(&folder, 0o777);
    ws.opsbook(&["incident", "note", &id, "more"])
        .expect_code(3);
    chmod(&folder, 0o700);
    ws.opsbook(&["incident", "note", &id, "more"])
        .expect_code(0);
}

/// An escape sequence in a title or an id is shown on the terminal, never
/// obeyed; the JSON record keeps the text as it was given.
#[test]
fn control_characters_in_a_title_or_an_id_are_shown_escaped_never_obeyed() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nincident: { dir: ./incidents }\n",
    );
    let title = "db down \u{1b}]0;owned\u{7} \u{1b}[2J";
    let run = ws.opsbook(&[
        "incident",
        "open",
        "--severity",
        "P2",
        "--title",
        title,
        "--state-dir",
        "state",
    ]);
    assert!(run.code < 3, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(
        run.stdout
            .contains("db down \\u{1b}]0;owned\\u{7} \\u{1b}[2J"),
        "{}",
        run.stdout
    );
    let listed = ws
        .opsbook(&["incident", "list", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(listed["incidents"][0]["title"], title);

    let run = ws.opsbook(&["incident", "show", "INC-\u{1b}[2J"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(run.stderr.contains("INC-\\u{1b}[2J"), "{}", run.stderr);
}

#[test]
fn incident_open_with_an_unknown_severity() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nincident:\n  dir: ./incidents\n",
    );
    let filters = Filters::new(&ws);
    assert_run(
        &ws.opsbook(&[
            "incident",
            "open",
            "--severity",
            "P9",
            "--title",
            "api returns 500",
            "--state-dir",
            "state",
        ]),
        &filters,
        3,
        "",
        "error: --severity: `P9` is not one of the runbook's severities (P1, P2, P3, P4)\n",
    );
    assert!(
        !ws.path().join("incidents").exists(),
        "no incident was opened"
    );
}

/// An incident folder, a playbook, and a project without containers: the
/// evidence is the same on every run.
fn incident_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\n{CALM_HOST}incident:\n  dir: ./incidents\n  contacts: [\"On-call: ops@example.com\"]\n  \
             checklist: [Assess scope and impact, Notify stakeholders]\n  playbooks:\n    tidy:\n      - note: Look at the disk\n      - sh: \"echo tidied > tidied.txt\"\n",
            crate::support::empty_project()
        ),
    );
    ws
}

/// Incident ids, dates, times, deadlines and ages.
fn incident_filters(ws: &Workspace) -> Filters {
    Filters::new(ws)
        .regex(r"\bINC-\d{8}-\d{6}\b", "INC-[ID]")
        .regex(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\b", "YYYY-MM-DD hh:mm:ss")
        .regex(r"\b\d{4}-\d\d-\d\d \d\d:\d\d\b", "YYYY-MM-DD hh:mm")
        .regex(r"(?m)^\d\d:\d\d:\d\d ", "hh:mm:ss ")
        .regex(r"\(by \d\d:\d\d UTC\)", "(by hh:mm UTC)")
        .regex(r"\bin \d+\.\ds\b", "in [T]s")
        .regex(r"\bafter \d+[smhd](?: \d+[smhd])?", "after [AGE]")
        .regex(r"(YYYY-MM-DD hh:mm +)\d+[smhd](?: \d+[smhd])?", "${1}[AGE]")
}

fn only_incident(ws: &Workspace) -> String {
    let mut ids: Vec<String> = std::fs::read_dir(ws.path().join("incidents"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids.remove(0)
}

#[test]
fn incident_open_prints_the_deadline_contacts_first_steps_and_evidence() {
    let ws = incident_workspace();
    let run = ws.opsbook(&[
        "incident",
        "open",
        "--severity",
        "P2",
        "--title",
        "api returns 500",
        "--state-dir",
        "state",
    ]);
    assert_run(
        &run,
        &incident_filters(&ws),
        0,
        r#"
incident INC-[ID] opened: P2, respond within 1h (by hh:mm UTC)
  api returns 500
contacts:
  On-call: ops@example.com
first steps:
  1. Assess scope and impact
  2. Notify stakeholders
evidence: 3 files captured in [T]s, in [WS]/incidents/INC-[ID]/evidence
ok: 1 ok in [MS] ms
"#,
        "incident INC-[ID] opened; capturing evidence\n",
    );
    let id = only_incident(&ws);
    assert!(
        ws.path()
            .join(format!("incidents/{id}/evidence/containers.json"))
            .is_file()
    );
}

#[test]
fn incident_note_run_list_show_and_close_tell_the_story() {
    let ws = incident_workspace();
    ws.opsbook(&[
        "incident",
        "open",
        "--severity",
        "P2",
        "--title",
        "api returns 500",
        "--state-dir",
        "state",
    ])
    .expect_code(0);
    let id = only_incident(&ws);
    let filters = incident_filters(&ws);
    assert_run(
        &ws.opsbook(&[
            "incident",
            "note",
            &id,
            "restarted the api",
            "--state-dir",
            "state",
        ]),
        &filters,
        0,
        r#"
STATUS  SECTION   NAME  MESSAGE
ok      incident  note  noted on INC-[ID] at YYYY-MM-DD hh:mm:ss UTC
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &ws.opsbook(&[
            "incident",
            "run",
            &id,
            "tidy",
            "--yes",
            "--state-dir",
            "state",
        ]),
        &filters,
        1,
        r#"
#  STEP                          STATUS  TIME  OUTCOME
1  note: Look at the disk        warn    0.0s  pending: no terminal to confirm it on; do it and note it
2  sh: echo tidied > tidied.txt  ok      0.0s  `sh -c echo tidied > tidied.txt` succeeded
playbook `tidy` finished: warn; on the timeline of INC-[ID]
warn    playbook/1 note: Look at the disk: pending: no terminal to confirm it on; do it and note it
warn: 1 warn, 1 ok in [MS] ms
"#,
        r#"
step 1/2: note: Look at the disk
step 1/2: warn: pending: no terminal to confirm it on; do it and note it
step 2/2: sh: echo tidied > tidied.txt
step 2/2: ok: `sh -c echo tidied > tidied.txt` succeeded
"#,
    );
    assert_run(
        &ws.opsbook(&["incident", "list", "--state-dir", "state"]),
        &filters,
        0,
        r#"
ID                   SEVERITY  STATE  OPENED            FOR  TITLE
INC-[ID]             P2        open   YYYY-MM-DD hh:mm  [AGE]  api returns 500
1 incident (1 open) in [WS]/incidents
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &ws.opsbook(&["incident", "show", &id, "--state-dir", "state"]),
        &filters,
        0,
        r#"
INC-[ID] · P2 · api returns 500 · opened YYYY-MM-DD hh:mm:ss UTC
TIME (UTC)  WHAT      STATUS  EVENT
hh:mm:ss    opened            opened (P2): api returns 500
hh:mm:ss    evidence  ok      3 files captured in [T]s
hh:mm:ss    note              restarted the api
hh:mm:ss    playbook          playbook `tidy` started (2 steps)
hh:mm:ss    step      warn    `tidy` step 1/2 `note: Look at the disk`: pending: no terminal to confirm it on; do it and note it
hh:mm:ss    step      ok      `tidy` step 2/2 `sh: echo tidied > tidied.txt`: `sh -c echo tidied > tidied.txt` succeeded
hh:mm:ss    playbook  warn    playbook `tidy` finished: warn
evidence: 3 files in [WS]/incidents/INC-[ID]/evidence
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &ws.opsbook(&[
            "incident",
            "close",
            &id,
            "--summary",
            "the disk was full",
            "--state-dir",
            "state",
        ]),
        &filters,
        0,
        r#"
incident INC-[ID] closed after [AGE]; post-mortem: [WS]/incidents/INC-[ID]/postmortem.md
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &ws.opsbook(&["incident", "list", "--state-dir", "state"]),
        &filters,
        0,
        r#"
ID                   SEVERITY  STATE   OPENED            FOR  TITLE
INC-[ID]             P2        closed  YYYY-MM-DD hh:mm  [AGE]  api returns 500
1 incident (0 open) in [WS]/incidents
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert_run(
        &ws.opsbook(&[
            "incident",
            "show",
            "INC-20200101-000000",
            "--state-dir",
            "state",
        ]),
        &filters,
        3,
        "",
        "error: no incident `INC-[ID]` in [WS]/incidents (`opsbook incident list` shows them)\n",
    );
}

#[test]
fn incident_bundle_packs_the_folder_into_one_file() {
    let ws = incident_workspace();
    ws.opsbook(&[
        "incident",
        "open",
        "--severity",
        "P3",
        "--title",
        "disk full",
        "--state-dir",
        "state",
    ])
    .expect_code(0);
    let id = only_incident(&ws);
    let filters = incident_filters(&ws).regex(r"\(\d+(?:\.\d)?[BKMG]\)", "([SIZE])");
    assert_run(
        &ws.opsbook(&["incident", "bundle", &id, "--state-dir", "state"]),
        &filters,
        0,
        r#"
[WS]/incidents/INC-[ID].tar.zst ([SIZE])
ok: 1 ok in [MS] ms
"#,
        "",
    );
    assert!(ws.path().join(format!("incidents/{id}.tar.zst")).is_file());
}
