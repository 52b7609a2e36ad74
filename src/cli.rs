//! The command tree (clap), and nothing else.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

use crate::report::Format;

/// Executes the runbook of a Docker (compose) deployment.
#[derive(Debug, Parser)]
#[command(name = "opsbook", version, about, propagate_version = true)]
pub struct Cli {
    /// The runbook file [default: $OPSBOOK_RUNBOOK, ./opsbook.yaml,
    /// /etc/opsbook/opsbook.yaml, else the embedded default]
    #[arg(long, global = true, value_name = "FILE")]
    pub runbook: Option<PathBuf>,

    /// How to print the report on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Print nothing when everything is OK (for cron).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// No colours (also off when stdout is not a terminal or NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,

    /// More detail on stderr (-v info, -vv debug).
    #[arg(long, short, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the runbook and print the resolved plan: service order, checks, backup items.
    Validate,
    /// The project's containers and the host's figures at a glance.
    Status,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Validate => "validate",
            Command::Status => "status",
        }
    }
}
