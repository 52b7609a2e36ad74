//! What a command hands back: its results and anything it wants shown, and
//! the renderers that turn that into table, JSON, JUnit or Prometheus text.
//! Commands build a `Report`; only `app::run` writes it to stdout.
//!
//! Rendering is where a report leaves the process: every string in it
//! (results, blocks, the extra JSON members) is masked by the runbook's
//! redactor first, raw, and only then escaped by the chosen format.

mod json;
mod junit;
mod prometheus;
mod table;

use std::time::Duration;

use serde_json::{Map, Value};

use crate::grade::{CheckResult, Status};
use crate::redact::Redactor;

/// The output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Json,
    Junit,
    Prometheus,
}

#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub command: String,
    pub runbook: String,
    pub started_at: jiff::Timestamp,
    pub duration: Duration,
    pub results: Vec<CheckResult>,
    /// Extra top-level members of the JSON object (`plan`, `containers`).
    pub extra: Map<String, Value>,
    /// What the table format shows above the problems; when empty it shows
    /// every result instead.
    pub blocks: Vec<Block>,
    /// Over a fleet: each host's own report, by host name (JUnit makes a
    /// test suite of each, Prometheus labels each with its `host`).
    pub hosts: Vec<(String, Report)>,
    /// Secret values the run met beyond the runbook's (the containers'
    /// secret-named variables): masked in whatever is rendered.
    pub secrets: Vec<String>,
}

/// A piece of terminal output beyond the results.
#[derive(Debug, Clone)]
pub(crate) enum Block {
    /// A table; a column headed `status` is coloured by its value.
    Table {
        header: Vec<&'static str>,
        rows: Vec<Vec<String>>,
    },
    /// A line of text.
    Line(String),
    /// A document printed as it is and alone, without a summary line
    /// (`init --dry-run`'s runbook, to be redirected into a file).
    Document(String),
}

/// How to render: format, colour, and whether an all-OK report prints at all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub format: Format,
    pub color: bool,
    pub quiet: bool,
}

impl Report {
    pub(crate) fn new(command: &str, runbook: &str, started_at: jiff::Timestamp) -> Report {
        Report {
            command: command.to_string(),
            runbook: runbook.to_string(),
            started_at,
            duration: Duration::ZERO,
            results: Vec::new(),
            extra: Map::new(),
            blocks: Vec::new(),
            hosts: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// A report rebuilt from its JSON envelope (one host's run in a fleet).
    pub(crate) fn from_envelope(envelope: &Value) -> Report {
        let text = |key: &str| envelope[key].as_str().unwrap_or_default().to_string();
        Report {
            command: text("command"),
            runbook: text("runbook"),
            started_at: text("started_at")
                .parse()
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            duration: Duration::from_millis(envelope["duration_ms"].as_u64().unwrap_or(0)),
            results: envelope["results"]
                .as_array()
                .map(|results| results.iter().filter_map(CheckResult::from_json).collect())
                .unwrap_or_default(),
            extra: Map::new(),
            blocks: Vec::new(),
            hosts: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// The worst status of the results: the run's status and exit code.
    pub(crate) fn status(&self) -> Status {
        Status::worst(self.results.iter().map(|r| r.status))
    }

    /// The text to print on stdout, every secret masked, or nothing
    /// (`--quiet` and all OK).
    pub(crate) fn render(&self, style: Style, redactor: &Redactor) -> Option<String> {
        if style.quiet && self.status() == Status::Ok {
            return None;
        }
        let extended;
        let redactor = if self.secrets.is_empty() {
            redactor
        } else {
            extended = redactor.clone().with_values(self.secrets.iter().cloned());
            &extended
        };
        let report = self.redacted(redactor, style.format == Format::Table);
        Some(match style.format {
            Format::Table => table::render(&report, style.color),
            Format::Json => json::render(&report),
            Format::Junit => junit::render(&report),
            Format::Prometheus => prometheus::render(&report),
        })
    }

    /// A copy with every string masked, for the renderers to escape; for a
    /// terminal, control characters shown rather than obeyed (the JSON
    /// record keeps them, escaped by JSON itself).
    fn redacted(&self, redactor: &Redactor, terminal: bool) -> Report {
        let text = |text: &str| {
            let masked = redactor.redact(text);
            if terminal {
                crate::ui::human::printable(&masked).into_owned()
            } else {
                masked.into_owned()
            }
        };
        Report {
            command: text(&self.command),
            runbook: text(&self.runbook),
            started_at: self.started_at,
            duration: self.duration,
            results: self
                .results
                .iter()
                .map(|r| CheckResult {
                    section: text(&r.section),
                    name: text(&r.name),
                    message: text(&r.message),
                    ..r.clone()
                })
                .collect(),
            extra: match redactor.json(&self.extra) {
                Value::Object(extra) => extra,
                _ => Map::new(),
            },
            blocks: self
                .blocks
                .iter()
                .map(|block| match block {
                    Block::Table { header, rows } => Block::Table {
                        header: header.clone(),
                        rows: rows
                            .iter()
                            .map(|row| row.iter().map(|cell| text(cell)).collect())
                            .collect(),
                    },
                    Block::Line(line) => Block::Line(text(line)),
                    // Written from names, never values (`init` reads no
                    // variable's value): masking would break the commands
                    // that name a secret's variable (`MYSQL_PWD="$…"`).
                    Block::Document(document) => Block::Document(document.clone()),
                })
                .collect(),
            hosts: self
                .hosts
                .iter()
                .map(|(host, report)| (text(host), report.redacted(redactor, terminal)))
                .collect(),
            secrets: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_format_masks_every_string_before_escaping() {
        let mut report = Report::new("status", "shop", jiff::Timestamp::UNIX_EPOCH);
        report.results.push(CheckResult::new(
            "containers",
            "step 1 http: https://ops:hunter2@api/health",
            Status::Crit,
            "running but unhealthy: {\"password\":\"hunter3\"}",
        ));
        report.extra.insert(
            "containers".into(),
            json!([{"health_output": "DB_PASSWORD=\"hunter4 x\""}]),
        );
        report.blocks.push(Block::Line("MYSQL_PWD=hunter5".into()));
        report.blocks.push(Block::Table {
            header: vec!["step"],
            rows: vec![vec!["sh: curl -H 'X-Auth: hunter6'".into()]],
        });
        for format in [
            Format::Table,
            Format::Json,
            Format::Junit,
            Format::Prometheus,
        ] {
            let style = Style {
                format,
                color: false,
                quiet: false,
            };
            let text = report
                .render(style, &Redactor::builtin())
                .unwrap_or_default();
            for secret in ["hunter2", "hunter3", "hunter4", "hunter5", "hunter6"] {
                assert!(!text.contains(secret), "{secret} in {format:?}:\n{text}");
            }
        }
    }
}
