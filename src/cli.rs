//! The command tree (clap), and nothing else.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::report::Format;
use crate::runbook::units;

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

    /// Where history and locks are kept [default: /var/lib/opsbook as root,
    /// else $XDG_STATE_HOME/opsbook or ~/.local/state/opsbook]
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

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
    /// The morning checklist in one run: host, containers, logs, checks and
    /// backups, graded, recorded in the history, notified.
    DailyCheck(DailyCheckArgs),
    /// Trends from the history: memory, load, disk and failing checks per day.
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct DailyCheckArgs {
    /// Only these parts (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PART")]
    pub only: Vec<Part>,

    /// The deadline of the whole run; what has not answered by then is unknown.
    #[arg(long, value_parser = duration, default_value = "30s")]
    pub timeout: Duration,

    /// Run again until everything passes or this long has passed (for CI right
    /// after a deploy); only the last run is printed and recorded.
    #[arg(long, value_parser = duration, value_name = "DURATION")]
    pub wait: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    Host,
    Containers,
    Logs,
    Checks,
    Backups,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// How far back to look.
    #[arg(long, value_parser = duration, default_value = "7d")]
    pub since: Duration,
}

/// `30s`, `5m`, `7d`: the runbook's own duration syntax.
fn duration(text: &str) -> Result<Duration, String> {
    text.parse::<units::Duration>().map(units::Duration::std)
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Validate => "validate",
            Command::Status => "status",
            Command::DailyCheck(_) => "daily-check",
            Command::Report(_) => "report",
        }
    }
}
