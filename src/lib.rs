//! opsbook executes the runbook of a Docker (compose) deployment.
//!
//! Data flows one way: runbook → plan → work done through the adapters
//! (`docker`, `host`) and the shared machinery → graded results → a rendered
//! report. `app::run` is the whole program; the binary only hands it the
//! arguments and exits with its code. `commands` holds one module per
//! subcommand; everything else is shared below it and never imports it.

pub mod app;
pub mod backup;
pub mod check;
pub mod cli;
pub mod commands;
pub mod copies;
pub mod deploy;
pub mod docker;
pub mod error;
pub mod fleet;
pub mod grade;
pub mod host;
pub mod incident;
pub mod interrupt;
pub mod notify;
pub mod redact;
pub mod render;
pub mod restore;
pub mod runbook;
pub mod serve;
pub mod state;
pub mod steps;
pub mod ui;

pub use app::run;
