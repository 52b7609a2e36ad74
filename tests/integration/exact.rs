//! Exact output, in the manner of casey/just's test suite: each test states
//! the whole exit code, stdout and stderr of a run and compares them whole,
//! after a few narrow filters have replaced what differs from run to run
//! (times, sizes, host figures, timestamps, the workspace path, the test's
//! project name). Anything else that changes (a word, a column, the order
//! of rows, a status) fails the test, showing a line diff.
//!
//! Table cells that a filter shortens or lengthens keep their column: the
//! blanks after the cell are adjusted by the difference, so the expected
//! tables below are aligned as the real ones are. For that the container
//! names must have the same length on every run (`Project::fixed_width`).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use regex::{Captures, Regex};

use crate::support::{CALM_HOST, Project, Run, Workspace, eventually, free_port};

const LONG: Duration = Duration::from_secs(30);

/// The replacements applied, in order, to stdout and stderr.
pub struct Filters {
    rules: Vec<(Regex, String)>,
}

impl Filters {
    /// The workspace path as `[WS]`, and the milliseconds of the summary line.
    pub fn new(ws: &Workspace) -> Filters {
        let mut filters = Filters { rules: Vec::new() };
        let path = ws.path().display().to_string();
        if let Ok(real) = ws.path().canonicalize() {
            let real = real.display().to_string();
            if real != path {
                filters = filters.literal(&real, "[WS]");
            }
        }
        filters.literal(&path, "[WS]").regex(
            r"(?m)^((?:ok|warn|crit|unknown): .+ in )\d+ ms$",
            "${1}[MS] ms",
        )
    }

    /// `text` and the rest of its word (`-db-1` after a project name): the
    /// cell is the word, whose column is kept.
    pub fn literal(self, text: &str, placeholder: &str) -> Filters {
        let placeholder = format!("{}${{1}}", placeholder.replace('$', "$$"));
        self.regex(&format!(r"{}(\S*)", regex::escape(text)), &placeholder)
    }

    /// `placeholder` may use the pattern's groups (`${1}`).
    pub fn regex(mut self, pattern: &str, placeholder: &str) -> Filters {
        let regex = Regex::new(pattern).unwrap_or_else(|e| panic!("filter `{pattern}`: {e}"));
        self.rules.push((regex, placeholder.to_string()));
        self
    }

    /// Host figures as the tables show them: `host:` line of `status`, the
    /// host results of `daily-check`.
    pub fn host(self) -> Filters {
        const SIZE: &str = r"[\d.]+(?:[KMGTPE]|B)";
        self.regex(
            &format!(
                r"(?m)^host: (?:\S+ · )?memory \d+% of {SIZE} · swap \d+% · load \d+\.\d\d/core \(\d+ cores\) · disk / \d+%$"
            ),
            "host: [HOST] · memory [N]% of [SIZE] · swap [N]% · load [LOAD]/core ([N] cores) · disk / [N]%",
        )
        .regex(
            &format!(r"\bmemory \d+\.\d% used \({SIZE} of {SIZE}\)"),
            "memory [N]% used ([SIZE] of [SIZE])",
        )
        .regex(
            &format!(r"(?m)(\bswap +)(?:no swap configured|swap \d+\.\d% used \({SIZE} of {SIZE}\))$"),
            "${1}[SWAP]",
        )
        .regex(
            r"\bload \d+\.\d\d per core \(\d+\.\d\d over \d+ cores\)",
            "load [LOAD] per core ([LOAD] over [N] cores)",
        )
        .regex(
            &format!(r"(?m)(\bdisk / +)/ \d+\.\d% used \({SIZE} free\)$"),
            "${1}/ [N]% used ([SIZE] free)",
        )
    }

    /// The `status` table's CPU %, MEM, MEM % and PIDS cells of a running
    /// container, and (as their widths follow the figures) the spacing of
    /// those four columns on every line.
    fn resource_columns(self) -> Filters {
        const SIZE: &str = r"[\d.]+(?:[KMGTPE]|B)";
        self.regex(
            r"(?m)(UPTIME +)CPU % +MEM +MEM % +PIDS +(IMAGE)$",
            "${1}CPU %  MEM  MEM %  PIDS  ${2}",
        )
        .regex(
            &format!(r"(?m)(\[UP\] +)\d+\.\d% +{SIZE}(?: / {SIZE})? +\d+\.\d% +\d+ +(\S+)$"),
            "${1}[CPU]  [MEM]  [MEM%]  [PIDS]  ${2}",
        )
        .regex(
            r"(?m)(\s-\s+)-\s+-\s+-\s+-\s+(\S+)$",
            "${1}-  -  -  -  ${2}",
        )
    }

    /// The figures of a `resources` result of a container without limits.
    fn resource_results(self) -> Filters {
        const SIZE: &str = r"[\d.]+(?:[KMGTPE]|B)";
        self.regex(
            &format!(
                r"(?m)(\bresources +\S+ +)memory {SIZE} of {SIZE} host \(\d+\.\d%\); cpu \d+\.\d% of one core \(no CPU limit\); \d+ pids?$"
            ),
            "${1}memory [MEM] of [SIZE] host ([N]%); cpu [CPU]% of one core (no CPU limit); [PIDS]",
        )
    }

    fn apply(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (regex, placeholder) in &self.rules {
            text = replace_keeping_columns(regex, &text, placeholder);
        }
        text
    }
}

/// Replaces every match; a match followed by two blanks or more and more
/// text on its line is a table cell, whose blanks are adjusted so that the
/// next column stays where it was.
fn replace_keeping_columns(regex: &Regex, text: &str, placeholder: &str) -> String {
    let mut out = String::new();
    let mut last = 0;
    for caps in regex.captures_iter(text) {
        let whole = caps.get(0).expect("group 0");
        if whole.start() < last {
            continue;
        }
        out.push_str(&text[last..whole.start()]);
        let replaced = expand(&caps, placeholder);
        out.push_str(&replaced);
        last = whole.end();
        let rest = &text[whole.end()..];
        let blanks = rest.len() - rest.trim_start_matches(' ').len();
        let cell_follows = rest[blanks..].chars().next().is_some_and(|c| c != '\n');
        if blanks >= 2 && cell_follows {
            let width = whole.as_str().chars().count() + blanks;
            let kept = width.saturating_sub(replaced.chars().count()).max(2);
            out.push_str(&" ".repeat(kept));
            last += blanks;
        }
    }
    out.push_str(&text[last..]);
    out
}

fn expand(caps: &Captures<'_>, placeholder: &str) -> String {
    let mut replaced = String::new();
    caps.expand(placeholder, &mut replaced);
    replaced
}

/// Drops the newline that starts an expected text written as a raw string.
fn text(expected: &str) -> &str {
    expected.strip_prefix('\n').unwrap_or(expected)
}

/// Asserts the run's exit code, stdout and stderr, filtered, whole.
#[track_caller]
pub fn assert_run(run: &Run, filters: &Filters, code: i32, stdout: &str, stderr: &str) {
    let actual = (
        run.code,
        filters.apply(&run.stdout),
        filters.apply(&run.stderr),
    );
    let (stdout, stderr) = (text(stdout), text(stderr));
    if actual == (code, stdout.to_string(), stderr.to_string()) {
        return;
    }
    let mut report = String::new();
    if actual.0 != code {
        report.push_str(&format!("exit code: expected {code}, got {}\n", actual.0));
    }
    for (name, expected, got) in [("stdout", stdout, &actual.1), ("stderr", stderr, &actual.2)] {
        if expected != got {
            report.push_str(&format!(
                "--- {name} (- expected, + actual)\n{}",
                diff(expected, got)
            ));
        }
    }
    panic!(
        "{report}--- filtered stdout\n{}--- filtered stderr\n{}--- raw stdout\n{}--- raw stderr\n{}",
        actual.1, actual.2, run.stdout, run.stderr
    );
}

/// A line diff: `  ` same, `- ` expected only, `+ ` actual only.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let line = |sign: &str, text: &str| {
        let shown = text.strip_suffix('\n').unwrap_or(text);
        let end = if text.ends_with('\n') {
            ""
        } else {
            " (no newline)"
        };
        format!("{sign}{shown}{end}\n")
    };
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&line("  ", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&line("+ ", b[j]));
            j += 1;
        } else {
            out.push_str(&line("- ", a[i]));
            i += 1;
        }
    }
    out
}

#[test]
fn the_filters_keep_table_columns_in_place() {
    let ws = Workspace::new();
    let filters = Filters::new(&ws)
        .regex(r"\d+s\b", "[UP]")
        .literal("long-project-name", "[P]");
    assert_eq!(
        filters.apply(
            "A   UPTIME  B\nx   3s      y\nx   12s     y\nlong-project-name-db-1  z\nin 3s\n"
        ),
        "A   UPTIME  B\nx   [UP]    y\nx   [UP]    y\n[P]-db-1                z\nin [UP]\n"
    );
    assert_eq!(diff("a\nb\nc\n", "a\nc\nd\n"), "  a\n- b\n  c\n+ d\n");
}

/// Serves `/health` (200, `{"status": "ok"}`) and nothing else (404) on a
/// free port of 127.0.0.1, for as long as the test runs.
fn tiny_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buffer = [0; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request);
            let (status, body) = if request.starts_with("GET /health ") {
                ("200 OK", r#"{"status": "ok"}"#)
            } else {
                ("404 Not Found", "not here")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// db (healthy, critical), worker (exited 3), web (running, no healthcheck),
/// and api listed but with no container.
fn mixed_project(tag: &str) -> Project {
    let project = Project::fixed_width(tag);
    project.service("db").healthcheck("true").start();
    project.service("worker").script("exit 3").start();
    project.service("web").start();
    project.wait_for_health("db", "healthy", LONG);
    eventually("worker exited", LONG, || {
        project.times("worker").state == "exited"
    });
    project
}

fn mixed_runbook(project: &Project, rest: &str) -> String {
    format!(
        "version: 1\nname: shop\nproject: {}\nservices:\n  db: {{ critical: true }}\n  web: {{ depends_on: [db] }}\n  worker: {{}}\n  api: {{ depends_on: [db] }}\n{CALM_HOST}{rest}",
        project.name
    )
}

#[test]
fn status_table() {
    let project = mixed_project("x-status");
    let ws = Workspace::new();
    ws.write("opsbook.yaml", mixed_runbook(&project, ""));
    let filters = Filters::new(&ws)
        .literal(&project.name, "[PROJECT]")
        .regex(
            r"(running +(?:healthy|none) +\d+ +)(?:\d+m(?: \d+s)?|\d+s)",
            "${1}[UP]",
        )
        .resource_columns()
        .host();
    assert_run(
        &ws.opsbook(&["status"]),
        &filters,
        1,
        r#"
SERVICE  CONTAINER                                   STATUS  STATE    HEALTH   RESTARTS  UPTIME  CPU %  MEM  MEM %  PIDS  IMAGE
db       [PROJECT]-db-1                              ok      running  healthy  0         [UP]    [CPU]  [MEM]  [MEM%]  [PIDS]  opsbook-fixture:1
worker   [PROJECT]-worker-1                          warn    exited   none     0         -       -  -  -  -  opsbook-fixture:1
web      [PROJECT]-web-1                             ok      running  none     0         [UP]    [CPU]  [MEM]  [MEM%]  [PIDS]  opsbook-fixture:1
api      -                                           warn    missing  -        -         -       -  -  -  -  -
host: [HOST] · memory [N]% of [SIZE] · swap [N]% · load [LOAD]/core ([N] cores) · disk / [N]%
warn    containers/worker: exited with code 3
warn    containers/api: no container for this service
warn: 2 warn, 6 ok in [MS] ms
"#,
        "",
    );
}

#[test]
fn daily_check_table() {
    let project = mixed_project("x-daily");
    let port = tiny_server();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        mixed_runbook(
            &project,
            &format!(
                "checks:\n  health:\n    http: {{ url: \"http://127.0.0.1:{port}/health\", json: {{ status: ok }} }}\n\
                 \x20 gone:\n    http: {{ url: \"http://127.0.0.1:{port}/gone\" }}\n\
                 \x20 db-file:\n    exec: {{ service: db, command: [cat, /nope] }}\n    hint: the db writes it when it starts\n"
            ),
        ),
    );
    let filters = Filters::new(&ws)
        .literal(&project.name, "[PROJECT]")
        .regex(r"(?m)\b200 in \d+ ms$", "200 in [MS] ms")
        .resource_results()
        .host();
    let run = ws.opsbook(&["daily-check", "--state-dir", "state"]);
    assert_run(
        &run,
        &filters,
        2,
        r#"
STATUS  SECTION     NAME     MESSAGE
ok      host        memory   memory [N]% used ([SIZE] of [SIZE])
ok      host        swap     [SWAP]
ok      host        load     load [LOAD] per core ([LOAD] over [N] cores)
ok      host        disk /   / [N]% used ([SIZE] free)
ok      containers  db       running, healthy
warn    containers  worker   exited with code 3
ok      containers  web      running
warn    containers  api      no container for this service
ok      resources   db       memory [MEM] of [SIZE] host ([N]%); cpu [CPU]% of one core (no CPU limit); [PIDS]
ok      resources   web      memory [MEM] of [SIZE] host ([N]%); cpu [CPU]% of one core (no CPU limit); [PIDS]
crit    checks      db-file  `cat /nope` exited 1: "cat: can't open '/nope': No such file or directory" (hint: the db writes it when it starts)
ok      checks      health   200 in [MS] ms
crit    checks      gone     status 404, expected 200: "not here"
crit: 2 crit, 2 warn, 9 ok in [MS] ms
"#,
        "",
    );
}

#[test]
fn backup_and_backup_list_tables() {
    let ws = Workspace::new();
    ws.write("compose.yml", "services: {}\n");
    ws.write("nginx.conf", "server { listen 80; }\n");
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: opsbook-test-exact-nothing-{}\nbackup:\n  dir: ./backups\n  files: [compose.yml, nginx.conf]\n",
            std::process::id()
        ),
    );
    let filters = Filters::new(&ws)
        .regex(r"\bshop-\d{8}T\d{6}Z\b", "shop-YYYYMMDDThhmmssZ")
        .regex(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", "YYYY-MM-DD hh:mm:ssZ")
        .regex(r"\b\d+\.\ds\b", "[T]s");
    let made = r#"
ITEM         SIZE  STORED  RATIO  TIME
compose.yml  13B   22B     0.6x   [T]s
nginx.conf   22B   31B     0.7x   [T]s
backup shop-YYYYMMDDThhmmssZ in [WS]/backups
ok: 2 ok in [MS] ms
"#;
    let progress = r#"
compose.yml: 13B → 22B in [T]s
nginx.conf: 22B → 31B in [T]s
"#;
    let first = ws.opsbook(&["backup", "--state-dir", "state"]);
    assert_run(&first, &filters, 0, made, progress);
    // Another second, another id (two in the same second get a `-2`).
    std::thread::sleep(Duration::from_millis(1100));
    let second = ws.opsbook(&["backup", "--state-dir", "state"]);
    assert_run(&second, &filters, 0, made, progress);

    let list = ws.opsbook(&["backup", "list"]);
    let filters = filters.regex(r"(?m)  \d+s$", "  [AGE]");
    assert_run(
        &list,
        &filters,
        0,
        r#"
ID                     CREATED               ITEMS  SIZE  AGE
shop-YYYYMMDDThhmmssZ  YYYY-MM-DD hh:mm:ssZ  2      53B   [AGE]
shop-YYYYMMDDThhmmssZ  YYYY-MM-DD hh:mm:ssZ  2      53B   [AGE]
2 backups in [WS]/backups
ok: 1 ok in [MS] ms
"#,
        "",
    );
    // The filters hide the ids: newest first.
    let id = |run: &Run| {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with("backup "))
            .unwrap();
        line.split(' ').nth(1).unwrap().to_string()
    };
    let (older, newer) = (id(&first), id(&second));
    let at = |id: &str| list.stdout.find(&format!("{id} ")).unwrap();
    assert!(at(&newer) < at(&older), "{older} {newer}\n{}", list.stdout);
}

#[test]
fn report_table() {
    let ws = Workspace::new();
    let closed = free_port();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\n{CALM_HOST}checks:\n  api:\n    http: {{ url: \"http://127.0.0.1:{closed}/health\", timeout: 2s }}\n"
        ),
    );
    ws.opsbook(&["daily-check", "--only", "host", "--state-dir", "state"])
        .expect_code(0);
    ws.opsbook(&[
        "daily-check",
        "--only",
        "host,checks",
        "--state-dir",
        "state",
    ])
    .expect_code(2);
    let filters = Filters::new(&ws)
        .regex(r"\b\d{4}-\d\d-\d\d\b", "YYYY-MM-DD")
        .regex(r"\b\d\d:\d\d UTC\b", "hh:mm UTC")
        .regex(r"\b\d+(?:\.\d)?%/\d+(?:\.\d)?%", "[M]%/[M]%")
        .regex(r"\b\d+(?:\.\d)?/\d+(?:\.\d)?\b", "[L]/[L]")
        .regex(r"(\[L\]/\[L\] +)\d+(?:\.\d)?%", "${1}[D]%")
        .regex(r"\bdisk peak \d+(?:\.\d)?%", "disk peak [D]%");
    // Both runs on one UTC day: a test run across midnight sees two days.
    let run = ws.opsbook(&["report", "--since", "7d", "--state-dir", "state"]);
    assert_run(
        &run,
        &filters,
        2,
        r#"
DAY         RUNS  MEMORY AVG/PEAK  LOAD AVG/PEAK  DISK PEAK  FAILING  STATUS
YYYY-MM-DD  2     [M]%/[M]%        [L]/[L]        [D]%       1        crit
memory peak ▄
load peak   ▄
2 runs in the last 7d
crit    report/newest: the newest run, YYYY-MM-DD hh:mm UTC, was crit (1 failing result)
crit: 1 crit, 1 ok in [MS] ms
"#,
        "",
    );

    let run = ws.opsbook(&["report", "--state-dir", "elsewhere"]);
    assert_run(
        &run,
        &filters,
        3,
        r#"
STATUS   SECTION  NAME     MESSAGE
unknown  report   history  no daily-check recorded for this runbook in the last 7d (in `elsewhere`)
unknown: 1 unknown in [MS] ms
"#,
        "",
    );
}

// The main refusals: exit 3, nothing on stdout, and on stderr one `error:`
// line saying what is wrong and, where it helps, what would be right (after
// any progress line printed before it). Each also checks nothing was done.

/// A project label no container carries: commands that ask Docker find
/// nothing of it.
fn empty_project() -> String {
    format!("opsbook-test-exact-empty-{:07}", std::process::id())
}

#[track_caller]
fn refused(ws: &Workspace, filters: &Filters, args: &[&str], stderr: &str) {
    assert_run(&ws.opsbook(args), filters, 3, "", stderr);
}

#[test]
fn a_runbook_with_an_unknown_key_or_bad_yaml_runs_nothing() {
    let ws = Workspace::new();
    let filters = Filters::new(&ws);
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nservices:\n  db: { critical: true, dependson: [cache] }\n  cache: {}\n",
    );
    refused(
        &ws,
        &filters,
        &["daily-check", "--state-dir", "state"],
        "error: opsbook.yaml:4:25: services.db.dependson: unknown field `dependson`, expected one of depends_on, critical, logs, thresholds\n",
    );
    assert!(!ws.path().join("state").exists(), "no run was recorded");
    ws.write(
        "broken.yaml",
        "version: 1\nname: shop\nservices:\n  db: { critical: true }\n   cache: {}\n",
    );
    refused(
        &ws,
        &filters,
        &["status", "--runbook", "broken.yaml"],
        "error: broken.yaml:5:4: while parsing a block mapping, did not find expected key\n",
    );
}

#[test]
fn restart_of_an_unknown_service() {
    let ws = Workspace::new();
    let project = empty_project();
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\nproject: {project}\nservices:\n  db: {{}}\n  api: {{ depends_on: [db] }}\n"),
    );
    let filters = Filters::new(&ws).literal(&project, "[PROJECT]");
    refused(
        &ws,
        &filters,
        &["restart", "nosuchservice", "--yes"],
        "error: unknown service `nosuchservice` (services are: db, api)\n",
    );
}

#[test]
fn shutdown_without_yes_and_without_a_terminal_stops_nothing() {
    let project = Project::new("x-shutdown");
    project.service("web").start();
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: shop\nproject: {}\nservices:\n  web: {{}}\n",
            project.name
        ),
    );
    let filters = Filters::new(&ws).literal(&project.name, "[PROJECT]");
    refused(
        &ws,
        &filters,
        &["shutdown"],
        "error: stop 1 running container of `[PROJECT]`: this needs confirmation; without a terminal pass --yes (nothing was changed)\n",
    );
    assert_eq!(project.times("web").state, "running");
}

#[test]
fn restore_without_yes_and_without_a_terminal_changes_nothing() {
    let ws = Workspace::new();
    let project = empty_project();
    ws.write("compose.yml", "services: {}\n");
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\nproject: {project}\nbackup:\n  dir: ./backups\n  files: [compose.yml]\n"),
    );
    ws.opsbook(&["backup", "--state-dir", "state"])
        .expect_code(0);
    ws.write("compose.yml", "services: { changed: {} }\n");
    let filters = Filters::new(&ws)
        .literal(&project, "[PROJECT]")
        .regex(r"\bshop-\d{8}T\d{6}Z\b", "shop-YYYYMMDDThhmmssZ");
    refused(
        &ws,
        &filters,
        &["restore", "latest", "--state-dir", "state"],
        "verifying shop-YYYYMMDDThhmmssZ\n\
         error: restore backup shop-YYYYMMDDThhmmssZ into `[PROJECT]`: compose.yml → file [WS]/compose.yml: \
         this needs confirmation; without a terminal pass --yes (nothing was changed)\n",
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("compose.yml")).unwrap(),
        "services: { changed: {} }\n"
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
    refused(
        &ws,
        &filters,
        &["run", "nosuchprocedure", "--state-dir", "state"],
        "error: no procedure `nosuchprocedure` in `opsbook.yaml` (procedures: tidy)\n",
    );
    refused(
        &ws,
        &filters,
        &["run", "tidy", "--state-dir", "state"],
        "error: procedure `tidy` has destructive steps (2 `sh: echo done > done.txt`, 3 `run: touch touched.txt`): \
         this needs confirmation; without a terminal pass --yes (nothing was changed)\n",
    );
    assert!(!ws.path().join("done.txt").exists());
    assert!(!ws.path().join("touched.txt").exists());
}

#[test]
fn incident_open_with_an_unknown_severity() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nincident:\n  dir: ./incidents\n",
    );
    let filters = Filters::new(&ws);
    refused(
        &ws,
        &filters,
        &[
            "incident",
            "open",
            "--severity",
            "P9",
            "--title",
            "api returns 500",
            "--state-dir",
            "state",
        ],
        "error: --severity: `P9` is not one of the runbook's severities (P1, P2, P3, P4)\n",
    );
    assert!(
        !ws.path().join("incidents").exists(),
        "no incident was opened"
    );
}

#[test]
fn commands_that_change_containers_need_a_project() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nservices:\n  db: {}\nbackup:\n  dir: ./backups\n  files: [opsbook.yaml]\n",
    );
    let filters = Filters::new(&ws);
    for command in ["startup", "shutdown", "restart", "backup"] {
        refused(
            &ws,
            &filters,
            &[command, "--yes", "--state-dir", "state"],
            &format!(
                "error: {command} needs `project` in the runbook (`opsbook.yaml`): \
                 it acts on the containers of one compose project\n"
            ),
        );
    }
    assert!(!ws.path().join("backups").exists(), "no backup was made");
}

#[test]
fn backup_commands_need_a_backup_section() {
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\nproject: {}\n", empty_project()),
    );
    let filters = Filters::new(&ws);
    for args in [
        &["backup"][..],
        &["backup", "list"],
        &["backup", "verify", "--all"],
        &["backup", "prune", "--yes"],
        &["restore", "latest", "--yes"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--state-dir", "state"]);
        refused(
            &ws,
            &filters,
            &args,
            "error: the runbook `opsbook.yaml` has no `backup` section\n",
        );
    }
}

#[test]
fn backup_verify_of_an_unknown_id() {
    let ws = Workspace::new();
    ws.write("compose.yml", "services: {}\n");
    ws.write(
        "opsbook.yaml",
        format!("version: 1\nname: shop\nproject: {}\nbackup:\n  dir: ./backups\n  files: [compose.yml]\n", empty_project()),
    );
    let filters = Filters::new(&ws);
    refused(
        &ws,
        &filters,
        &["backup", "verify", "nosuchid"],
        "error: no backup `nosuchid` in [WS]/backups\n",
    );
    ws.opsbook(&["backup", "--state-dir", "state"])
        .expect_code(0);
    refused(
        &ws,
        &filters,
        &["backup", "verify", "nosuchid"],
        "error: no backup `nosuchid` in [WS]/backups\n",
    );
}
