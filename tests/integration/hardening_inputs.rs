//! Hostile and careless input (issue 14, items 13-19): every bad runbook or
//! flag is one located line per problem, exit 3, never a panic or a hang;
//! and a few thousand mutated runbooks go through the parser without a
//! panic, each in bounded time.

use std::time::{Duration, Instant};

use crate::support::Workspace;

const REFERENCE: &str = include_str!("../../examples/shop/opsbook.yaml");

/// Validates `yaml` in a fresh workspace: exit 3, nothing on stdout; stderr.
fn refused(yaml: &str) -> String {
    let ws = Workspace::new();
    ws.write("opsbook.yaml", yaml);
    let run = ws.opsbook(&["validate"]);
    assert_eq!(run.code, 3, "{yaml}\n{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "");
    run.stderr
}

#[test]
fn item13_durations_are_bounded_in_the_runbook_and_on_the_command_line() {
    let stderr = refused(&REFERENCE.replace("max_age: 26h", "max_age: 150000000000000d"));
    assert_eq!(
        stderr,
        "error: opsbook.yaml:54:12: backup.max_age: duration `150000000000000d` is too long: at most 3650d\n"
    );
    let ws = Workspace::new();
    ws.write("opsbook.yaml", REFERENCE);
    for args in [
        ["daily-check", "--timeout", "150000000000000d"],
        ["report", "--since", "150000000000000d"],
        ["daily-check", "--wait", "150000000000000d"],
    ] {
        let run = ws.opsbook(&args);
        assert_eq!(run.code, 3, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("is too long: at most 3650d"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn item14_a_runbook_must_be_a_regular_file_of_at_most_4_mib() {
    let ws = Workspace::new();
    let fifo = ws.path().join("fifo.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let started = Instant::now();
    let run = ws.opsbook(&["validate", "--runbook", "fifo.yaml"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            3,
            "error: cannot read runbook `fifo.yaml`: it is not a regular file (a FIFO, a device or a folder)\n"
        )
    );
    let run = ws.opsbook(&["validate", "--runbook", "/dev/zero"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);

    let big = format!("version: 1\nname: \"{}\"\n", "x".repeat(5 * 1024 * 1024));
    ws.write("big.yaml", big);
    let run = ws.opsbook(&["validate", "--runbook", "big.yaml"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            3,
            "error: cannot read runbook `big.yaml`: it is larger than 4 MiB: is it the right file?\n"
        )
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Each nonsense value, and the field and message that refuse it.
const NONSENSE: &[(&str, &str, &str)] = &[
    (
        "grace: 10s",
        "grace: 0s",
        "shutdown.grace: `shutdown.grace` is 0",
    ),
    (
        "timeout: 2m",
        "timeout: 0s",
        "startup.timeout: `startup.timeout` is 0",
    ),
    (
        "max_age: 26h",
        "max_age: 0s",
        "backup.max_age: `backup.max_age` is 0",
    ),
    (
        "load:   { warn: 2.0, crit: 2.5 }",
        "load:   { warn: .nan, crit: 2.5 }",
        "thresholds.load: the load limits must be numbers",
    ),
    (
        "status: 200, json",
        "status: 0, json",
        "checks.api-health.http.status: `0` is not an HTTP status",
    ),
    (
        "url: \"http://127.0.0.1:18081/health\"",
        "url: \"http://127.0.0.1:99999/health\"",
        "checks.api-health.http.url: `http://127.0.0.1:99999/health` is not a valid URL",
    ),
    (
        "status: 200, json",
        "status: 200, method: \"GE T\", json",
        "checks.api-health.http.method: `GE T` is not an HTTP method",
    ),
    (
        "status: 200, json",
        "status: 200, headers: { \"X Auth\": a }, json",
        "checks.api-health.http.headers: `X Auth` is not a header name",
    ),
    (
        "status: 200, json",
        "status: 200, headers: { X-Auth: \"a\\r\\nInjected: b\" }, json",
        "checks.api-health.http.headers: the value of header `X-Auth` cannot hold line breaks",
    ),
    (
        "command: [test, -f, /data/ready]",
        "command: [\"\", -f, /data/ready]",
        "checks.db-ready.exec.command: the command is empty",
    ),
    ("name: shop", "name: \"\"", "name: `name` is empty"),
    (
        "project: shop ",
        "project: \"\" ",
        "project: `project` is empty",
    ),
];

#[test]
fn item16_values_that_parse_but_make_no_sense_are_refused_with_their_place() {
    for (from, to, expected) in NONSENSE {
        assert!(REFERENCE.contains(from), "the reference has no `{from}`");
        let stderr = refused(&REFERENCE.replacen(from, to, 1));
        let line = stderr.lines().next().unwrap_or_default();
        assert!(
            line.starts_with("error: opsbook.yaml:") && line.contains(expected),
            "{to}: {stderr}"
        );
        let place: Vec<u64> = line
            .trim_start_matches("error: opsbook.yaml:")
            .split(':')
            .take(2)
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        assert!(
            place.iter().all(|n| *n > 0),
            "{to}: no line and column: {line}"
        );
    }
    let steps = "procedures:\n  empty:\n    steps:\n      - sh: \"\"\n      - run: [\"\", x]\n";
    let stderr = refused(&format!("version: 1\n{steps}"));
    assert_eq!(
        stderr,
        "error: opsbook.yaml:5:9: procedures.empty.steps[0].sh: the shell script is empty\n\
         error: opsbook.yaml:6:9: procedures.empty.steps[1].run: the command is empty: it needs a program to run\n"
    );
    let stderr = refused("version: 1\nredact: [\"\", \"x*\"]\n");
    assert_eq!(
        stderr,
        "error: opsbook.yaml:2:1: redact: pattern `` matches the empty string: it would mask every character\n\
         error: opsbook.yaml:2:1: redact: pattern `x*` matches the empty string: it would mask every character\n"
    );
}

#[test]
fn item18_parser_wording_is_said_in_the_operators_words() {
    let stderr = refused("version: 1\nname: a\nname: b\n");
    assert!(
        stderr.contains("a key appears twice in the same mapping: keep one"),
        "{stderr}"
    );
    assert!(!stderr.contains("DuplicateKeyPolicy"), "{stderr}");
    assert!(!stderr.contains('?'), "{stderr}");
    let stderr = refused("version: 1\nlogs:\n  match: [x]\n  warn: -3\n");
    assert!(!stderr.contains("invalid u64"), "{stderr}");
    assert!(stderr.contains("expected a whole number"), "{stderr}");
}

#[test]
fn item18_only_state_folder_errors_suggest_another_state_dir() {
    let ws = Workspace::new();
    ws.write("not-a-folder", "x");
    ws.write(
        "opsbook.yaml",
        "version: 1\nbackup: { dir: ./not-a-folder, files: [opsbook.yaml] }\n",
    );
    let run = ws.opsbook(&["backup", "list"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("error: cannot read `"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("--state-dir"), "{}", run.stderr);
    ws.write("state-file", "x");
    let run = ws.opsbook(&["daily-check", "--only", "host", "--state-dir", "state-file"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("(choose another folder with --state-dir)"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_empty_opsbook_runbook_counts_as_unset() {
    let ws = Workspace::new();
    let run = ws.opsbook_with(
        &["validate", "--format", "json"],
        &[("OPSBOOK_RUNBOOK", "")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["runbook"], "embedded:default");
}

/// The README's `opsbook validate` example, run as written from the
/// repository root, prints exactly what the README shows.
#[test]
fn item19_the_readme_example_reports_every_problem_at_once() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let command = "$ opsbook validate --runbook examples/broken.yaml\n";
    let at = readme.find(command).expect("the example in README.md") + command.len();
    let shown = &readme[at..at + readme[at..].find("```").expect("the block's end")];
    assert_eq!(shown.lines().count(), 5, "five problems: {shown}");
    let output = assert_cmd::Command::cargo_bin("opsbook")
        .expect("opsbook binary")
        .current_dir(root)
        .env_remove("OPSBOOK_RUNBOOK")
        .args(["validate", "--runbook", "examples/broken.yaml"])
        .output()
        .expect("run opsbook");
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&output.stderr), shown);
    assert!(output.stdout.is_empty());
}

/// A small deterministic generator (xorshift), so a failing case can be
/// reproduced from its number.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[(self.next() % from.len() as u64) as usize]
    }
}

/// Values a careless or hostile hand puts where a good one was.
const TOKENS: &[&str] = &[
    "0s",
    "-1",
    ".nan",
    ".inf",
    "\"\"",
    "150000000000000d",
    "[",
    "{",
    "~",
    "true",
    "*a",
    "&a x",
    "!!binary aGk=",
    "\"\\u0000\"",
    "\"\\e[2J\"",
    "18446744073709551616",
    "1e400",
    "[[[[[[[[[[]]]]]]]]]]",
    "{a: {b: {c: {d: {}}}}}",
    "'",
    "- -",
    ": :",
    "\t",
    "%YAML 1.2",
    "@",
    "`",
    "\"x\"x",
    "10 parsecs",
    "100%%",
    "0%",
    "101%",
    "-0",
    "0x10",
    "1_000",
];

fn mutate(text: &str, m: &mut Mutator) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..=(m.next() % 3) {
        if lines.is_empty() {
            break;
        }
        let at = (m.next() % lines.len() as u64) as usize;
        match m.next() % 6 {
            0 => {
                lines.remove(at);
            }
            1 => {
                let copy = lines[at].clone();
                lines.insert(at, copy);
            }
            2 => {
                // The value after the first `: ` replaced by a token.
                let token = m.pick(TOKENS);
                if let Some(colon) = lines[at].find(": ") {
                    lines[at] = format!("{}: {token}", &lines[at][..colon]);
                } else {
                    lines[at].push_str(token);
                }
            }
            3 => {
                let token = m.pick(TOKENS);
                lines.insert(at, format!("{token}: {token}"));
            }
            4 => lines[at] = format!("  {}", lines[at]),
            _ => {
                let cut = (m.next() % (lines[at].len() as u64 + 1)) as usize;
                let cut = (0..=cut)
                    .rev()
                    .find(|i| lines[at].is_char_boundary(*i))
                    .unwrap_or(0);
                lines[at].truncate(cut);
            }
        }
    }
    lines.join("\n")
}

#[test]
fn thousands_of_mutated_runbooks_parse_without_a_panic_in_bounded_time() {
    let seeds = [
        REFERENCE,
        include_str!("../../runbooks/default.yaml"),
        include_str!("../../runbooks/erp.yaml"),
        include_str!("../../runbooks/huly.yaml"),
    ];
    let mut m = Mutator(0x9e37_79b9_7f4a_7c15);
    let (mut valid, mut invalid) = (0, 0);
    let started = Instant::now();
    for case in 0..2500 {
        let text = mutate(seeds[case % seeds.len()], &mut m);
        let clock = Instant::now();
        let parsed = std::panic::catch_unwind(|| {
            opsbook::runbook::parse(text.as_bytes(), None, "fuzz.yaml").is_ok()
        });
        let took = clock.elapsed();
        match parsed {
            Ok(true) => valid += 1,
            Ok(false) => invalid += 1,
            Err(_) => panic!("case {case} panicked on:\n{text}"),
        }
        assert!(
            took < Duration::from_secs(2),
            "case {case} took {took:?}:\n{text}"
        );
    }
    assert!(
        invalid > 500 && valid > 50,
        "{valid} valid, {invalid} invalid"
    );
    assert!(started.elapsed() < Duration::from_secs(120));
}

/// An escape sequence in a title or an id is shown on the terminal, never
/// obeyed; the JSON record keeps the text as it was given.
#[test]
fn item17_control_characters_are_shown_escaped_on_the_terminal() {
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
