//! opsbook executes the runbook of a Docker (compose) deployment.
//!
//! Data flows one way: runbook → plan → work done through the adapters
//! (`docker`, `host`) and the shared machinery → graded results → a rendered
//! report. `app::run` is the whole program; the binary only hands it the
//! arguments and exits with its code. `commands` holds one module per
//! subcommand; everything else is shared below it and never imports it.

pub mod app;
pub mod backup;
pub mod cli;
pub mod commands;
pub mod confirm;
pub mod container_grade;
pub mod copies;
pub mod cron;
pub mod docker;
pub mod docker_disk;
pub mod error;
pub mod files;
pub mod fleet;
pub mod grade;
pub mod history;
pub mod host;
pub mod host_command;
pub mod human;
pub mod incident;
pub mod interrupt;
pub mod journal;
pub mod lifecycle;
pub mod log_grade;
pub mod logfile;
pub mod logscan;
pub mod notify;
pub mod probe;
pub mod progress;
pub mod redact;
pub mod render;
pub mod resources;
pub mod runbook;
pub mod serve;
pub mod steps;
pub mod sustain;
pub mod swarm;
pub mod update;

pub use app::run;
