//! What a command hands back: its results and anything it wants shown, and
//! the renderers that turn that into table, JSON, JUnit or Prometheus text.
//! Commands build a `Report`; only `app::run` writes it to stdout.

mod json;
mod junit;
mod prometheus;
mod table;

use std::time::Duration;

use serde_json::{Map, Value};

use crate::grade::{CheckResult, Status};

/// The output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Junit,
    Prometheus,
}

#[derive(Debug, Clone)]
pub struct Report {
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
}

/// A piece of terminal output beyond the results.
#[derive(Debug, Clone)]
pub enum Block {
    /// A table; a column headed `status` is coloured by its value.
    Table {
        header: Vec<&'static str>,
        rows: Vec<Vec<String>>,
    },
    /// A line of text.
    Line(String),
}

/// How to render: format, colour, and whether an all-OK report prints at all.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub format: Format,
    pub color: bool,
    pub quiet: bool,
}

impl Report {
    pub fn new(command: &str, runbook: &str, started_at: jiff::Timestamp) -> Report {
        Report {
            command: command.to_string(),
            runbook: runbook.to_string(),
            started_at,
            duration: Duration::ZERO,
            results: Vec::new(),
            extra: Map::new(),
            blocks: Vec::new(),
        }
    }

    /// The worst status of the results: the run's status and exit code.
    pub fn status(&self) -> Status {
        Status::worst(self.results.iter().map(|r| r.status))
    }

    /// The text to print on stdout, or nothing (`--quiet` and all OK).
    pub fn render(&self, style: Style) -> Option<String> {
        if style.quiet && self.status() == Status::Ok {
            return None;
        }
        Some(match style.format {
            Format::Table => table::render(self, style.color),
            Format::Json => json::render(self),
            Format::Junit => junit::render(self),
            Format::Prometheus => prometheus::render(self),
        })
    }
}
