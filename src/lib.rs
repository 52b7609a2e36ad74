//! opsbook executes the runbook of a Docker (compose) deployment.
//!
//! Data flows one way: runbook → plan → work done through the adapters
//! (`docker`, `host`) and the shared machinery → graded results → a rendered
//! report. `app::run` is the whole program; the binary only hands it the
//! arguments and exits with its code. `commands` holds one module per
//! subcommand; everything else is shared below it and never imports it.

mod app;
mod backup;
mod check;
mod cli;
mod commands;
mod deploy;
mod docker;
mod error;
mod fleet;
mod grade;
mod host;
mod images;
mod incident;
mod interrupt;
mod notify;
mod redact;
mod render;
mod restore;
mod runbook;
mod serve;
mod state;
mod steps;
mod ui;

pub use app::run;

/// Whether `text` loads as a valid runbook (parsed and validated, as
/// `opsbook validate` loads one): the tests fuzz the loader through this,
/// the library's one entry point besides `run`.
pub fn parses(text: &[u8]) -> bool {
    runbook::parse(text, None, "fuzz.yaml").is_ok()
}
