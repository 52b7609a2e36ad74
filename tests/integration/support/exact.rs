//! The harness of the whole-output tests, in the manner of casey/just's
//! test suite: a test states the whole exit code, stdout and stderr of a
//! run and `assert_run` compares them whole, after a few narrow `Filters`
//! have replaced what differs from run to run (times, sizes, host figures,
//! timestamps, ids, ports, the workspace path, the test's project name).
//! Anything else that changes (a word, a column, the order of rows, a
//! status) fails the test, showing a line diff. The tests themselves live in
//! the file of the command they run (`status.rs`, `backup/mod.rs`...).
//!
//! Table cells that a filter shortens or lengthens keep their column: the
//! blanks after the cell are adjusted by the difference, so the expected
//! tables are aligned as the real ones are. For that the container names
//! must have the same length on every run (`Project::fixed_width`).

use regex::{Captures, Regex};

use crate::support::{Run, Workspace};

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

    /// Every run of two blanks or more as two: for a table with a column of
    /// paths in the workspace, whose width follows the temporary folder's
    /// (last, after the filters that keep columns).
    pub fn collapse_blanks(self) -> Filters {
        self.regex(" {2,}", "  ")
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
    pub fn resource_columns(self) -> Filters {
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
    pub fn resource_results(self) -> Filters {
        const SIZE: &str = r"[\d.]+(?:[KMGTPE]|B)";
        self.regex(
            &format!(
                r"(?m)(\bresources +\S+ +)memory {SIZE} of {SIZE} host \(\d+\.\d%\); cpu \d+\.\d% of one core \(no CPU limit\); \d+ pids?$"
            ),
            "${1}memory [MEM] of [SIZE] host ([N]%); cpu [CPU]% of one core (no CPU limit); [PIDS]",
        )
    }

    /// `text` with every filter applied.
    pub fn apply(&self, text: &str) -> String {
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
