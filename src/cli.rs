//! The command tree (clap), and nothing else: `app` turns what is parsed
//! here into each command's own options, so clap stays out of the commands.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::runbook::units;

/// Executes the runbook of a Docker (compose) deployment.
#[derive(Debug, Parser)]
#[command(name = "opsbook", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The runbook file [default: $OPSBOOK_RUNBOOK, ./opsbook.yaml,
    /// /etc/opsbook/opsbook.yaml, else the embedded default]
    #[arg(long, global = true, value_name = "FILE")]
    pub runbook: Option<PathBuf>,

    /// The runbook's text from this file instead (what `serve` hands its runs).
    #[arg(long, global = true, value_name = "FILE", hide = true)]
    pub runbook_text: Option<PathBuf>,

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

    /// Answer yes to confirmations (needed without a terminal).
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,

    /// More detail on stderr (-v info, -vv debug).
    #[arg(long, short, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// The fleet file: run the command on each of its hosts [default:
    /// $OPSBOOK_FLEET]
    #[arg(long, global = true, value_name = "FILE")]
    pub fleet: Option<PathBuf>,

    /// Only these hosts of the fleet: names, groups or globs, separated by
    /// commas; `!` takes away (`prod,!web-2`).
    #[arg(long, global = true, value_name = "PATTERN")]
    pub limit: Option<String>,

    /// How many hosts at once [default: 32; 8 when an engine is reached
    /// over ssh, under sshd's MaxSessions of 10].
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub forks: Option<u16>,

    /// Over a fleet, a command that changes things goes this many hosts
    /// at a time, batch after batch.
    #[arg(long, global = true, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub serial: u16,

    /// Over a fleet, go on to the next batch while at most this percentage
    /// of the hosts failed [default: 0, stop at the first failure].
    #[arg(long, global = true, value_name = "P", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub max_fail_percent: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write a commented runbook from the compose project (or Swarm stack)
    /// running here: services and tiers, checks, dumps, volumes, secrets.
    Init(InitArgs),
    /// Check the runbook and print the resolved plan: service order, checks, backup items.
    Validate,
    /// The project's containers and the host's figures at a glance.
    Status,
    /// The morning checklist in one run: host, containers, logs, checks and
    /// backups, graded, recorded in the history, notified.
    DailyCheck(DailyCheckArgs),
    /// Trends from the history: memory, load, disk and failing checks per day.
    Report(ReportArgs),
    /// Pre-flight, then start the services in dependency order, wait until
    /// each is ready, and run the verify checks.
    Startup(StartupArgs),
    /// Stop the services in reverse dependency order and check they stopped.
    Shutdown(ShutdownArgs),
    /// Stop and start services with the same ordering and waits.
    Restart(RestartArgs),
    /// Put services on a new image, health-gated; put everything back if one fails.
    Update(UpdateArgs),
    /// Put a service back on the image it ran before its last update.
    Rollback(RollbackArgs),
    /// The engine's images: `prune` removes what no container uses, keeping what rollback needs.
    Images(ImagesArgs),
    /// Back up volumes, files and database dumps (and: list, verify, prune).
    Backup(BackupArgs),
    /// Put a backup back exactly: verify it, take a safety backup, stop what
    /// uses the data, replace it, start again and run the verify checks.
    Restore(RestoreArgs),
    /// Open an incident with an evidence bundle, keep its timeline, run its
    /// playbooks, and write the post-mortem when it is closed.
    Incident(IncidentArgs),
    /// Run a custom procedure of the runbook (`procedures:`); `--list` shows them.
    Run(RunArgs),
    /// The always-on agent: the runbook's `schedule:`, `/metrics`,
    /// `/healthz` and a status page.
    Serve(ServeArgs),
    /// Record a ping of a heartbeat (`heartbeats:`) on this host, as the
    /// agent's `/ping/NAME` does: the job finished, started or failed.
    Ping(PingArgs),
    /// The fleet file's hosts (`--fleet`, `$OPSBOOK_FLEET`).
    Fleet(FleetArgs),
    /// Print the shell completions for SHELL on stdout (bash, zsh, fish,
    /// elvish, powershell).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (opsbook(1) and one per subcommand) into DIR.
    #[command(hide = true)]
    Man {
        /// Where the pages go.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct FleetArgs {
    #[command(subcommand)]
    pub action: FleetAction,
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum FleetAction {
    /// The hosts `--limit` selects: name, engine, runbook, groups.
    List,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Where to listen; beyond loopback a token is required.
    #[arg(long, value_name = "ADDR", default_value = crate::serve::DEFAULT_LISTEN)]
    pub listen: std::net::SocketAddr,

    /// A file holding the bearer token [default: $OPSBOOK_SERVE_TOKEN, else $OPSBOOK_TOKEN].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// How each run is logged on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Args)]
pub(crate) struct PingArgs {
    /// The heartbeat's name, as under `heartbeats:`.
    pub name: String,

    /// The job started (a run that does not end within `grace` warns).
    #[arg(long, conflicts_with = "fail")]
    pub start: bool,

    /// The job ended and failed (crit until it next succeeds).
    #[arg(long)]
    pub fail: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// `key=value` pairs (logfmt).
    Text,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The procedure's name.
    #[arg(required_unless_present = "list")]
    pub procedure: Option<String>,

    /// List the procedures.
    #[arg(long, conflicts_with = "procedure")]
    pub list: bool,

    /// Print the steps and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct IncidentArgs {
    #[command(subcommand)]
    pub action: IncidentAction,
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum IncidentAction {
    /// Open an incident: its folder, the evidence bundle, who to call, the checklist.
    Open {
        /// A severity of `incident.severities` (P1 … P4 by default).
        #[arg(long)]
        severity: String,
        /// What is happening, in a few words.
        #[arg(long)]
        title: String,
    },
    /// Add a timestamped note to the timeline.
    Note {
        /// The incident's id.
        id: String,
        /// The note.
        text: String,
    },
    /// Say someone has it: it is no longer overdue and is not escalated.
    Ack {
        /// The incident's id.
        id: String,
    },
    /// Run a playbook of `incident.playbooks`, step by step, onto the timeline.
    Run {
        /// The incident's id.
        id: String,
        /// The playbook's name.
        playbook: String,
        /// List the steps and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The incidents, open and closed: id, severity, state, age, title.
    List,
    /// One incident: its record and whole timeline.
    Show {
        /// The incident's id.
        id: String,
    },
    /// Close an incident and write its post-mortem (`postmortem.md`).
    Close {
        /// The incident's id.
        id: String,
        /// What happened and how it ended, in a sentence or two.
        #[arg(long)]
        summary: String,
    },
    /// Pack the incident's folder into one `.tar.zst` to hand to someone else.
    Bundle {
        /// The incident's id.
        id: String,
    },
}

impl IncidentAction {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            IncidentAction::Open { .. } => "open",
            IncidentAction::Note { .. } => "note",
            IncidentAction::Ack { .. } => "ack",
            IncidentAction::Run { .. } => "run",
            IncidentAction::List => "list",
            IncidentAction::Show { .. } => "show",
            IncidentAction::Close { .. } => "close",
            IncidentAction::Bundle { .. } => "bundle",
        }
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct BackupArgs {
    #[command(subcommand)]
    pub action: Option<BackupAction>,

    /// Print the plan (items, services stopped) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BackupAction {
    /// The complete backups: id, created, items, size, age.
    List {
        /// Those on this copy target instead of the local ones.
        #[arg(long, value_name = "NAME")]
        copy: Option<String>,
    },
    /// Re-hash every stored file and read every stream back.
    Verify {
        /// A backup id, `latest` (the newest the runbook made) or `latest-safety`
        /// (the newest a restore took first) [default: latest].
        id: Option<String>,
        /// Every backup.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// An age identity file, to read encrypted items back.
        #[arg(long, value_name = "FILE")]
        identity: Option<std::path::PathBuf>,
        /// Stream it back from this copy target and verify that.
        #[arg(long, value_name = "NAME")]
        copy: Option<String>,
        /// With `backup.repository`: read this share of the data (10%, 1/5,
        /// 500MiB) rather than all of it.
        #[arg(long, value_name = "SHARE")]
        read_data_subset: Option<String>,
    },
    /// Restore a backup into scratch twins of the services (nothing live is
    /// touched), start them, run `backup.drill.checks`, remove them again.
    Drill {
        /// A backup id, `latest` (the newest the runbook made) or `latest-safety`
        /// (the newest a restore took first) [default: latest].
        id: Option<String>,
        /// An age identity file, to read encrypted items.
        #[arg(long, value_name = "FILE")]
        identity: Option<std::path::PathBuf>,
    },
    /// Put local backups on the copy targets (`backup.copies`) that lack them.
    Copy {
        /// A backup id, `latest` (the newest the runbook made) or `latest-safety`
        /// (the newest a restore took first) [default: latest].
        id: Option<String>,
        /// Every local backup a target lacks.
        #[arg(long, conflicts_with = "id")]
        all_missing: bool,
        /// Only this target.
        #[arg(long, value_name = "NAME")]
        to: Option<String>,
    },
    /// Delete what `backup.keep` does not keep, and leftovers of interrupted backups.
    Prune {
        /// Show what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Make the restic repository `backup.repository` names (format 2, zstd).
    InitRepository,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// A backup id, `latest` (the newest the runbook made) or `latest-safety`
    /// (the newest a restore took first) [default: latest].
    pub id: Option<String>,

    /// Restore only these items (names as in `backup list` and the manifest).
    #[arg(long, value_name = "ITEM", num_args = 1.., value_delimiter = ',')]
    pub only: Vec<String>,

    /// Print the plan (items, targets, services stopped) and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// An age identity file, for an encrypted backup.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<std::path::PathBuf>,

    /// Do not back up the current state of the items first.
    #[arg(long)]
    pub no_safety_backup: bool,

    /// Download the backup from this copy target (`backup.copies`) first,
    /// when the local one is gone or damaged.
    #[arg(long, value_name = "NAME")]
    pub from: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct StartupArgs {
    /// Skip the pre-flight checks (memory, disk, files, Docker).
    #[arg(long)]
    pub skip_preflight: bool,

    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ShutdownArgs {
    /// Kill every container of the project at once: no order, no grace.
    #[arg(long, conflicts_with = "backup")]
    pub emergency: bool,

    /// Make a backup first; if it fails, do not shut down.
    #[arg(long)]
    pub backup: bool,

    /// With --backup: shut down even when the backup failed.
    #[arg(long, requires = "backup")]
    pub force: bool,

    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RestartArgs {
    /// The services to restart [default: all].
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,

    /// Also restart everything that depends on them.
    #[arg(long)]
    pub with_dependents: bool,

    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    /// The services to update [default: all].
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,

    /// Put SERVICE on IMAGE instead of the image its container names
    /// (repeatable); the service is updated even when not listed.
    #[arg(long = "image", value_name = "SERVICE=IMAGE", value_parser = service_image)]
    pub images: Vec<(String, String)>,

    /// Pull each image from its registry first, as `update.pull: true`
    /// does (the digest pulled goes in the image history).
    #[arg(long)]
    pub pull: bool,

    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ImagesArgs {
    #[command(subcommand)]
    pub action: ImagesAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImagesAction {
    /// Remove the images no container uses, the unused build cache and dangling
    /// volumes; keep each service's last images from the image history.
    Prune {
        /// How many of each service's images to keep, the running one included
        /// [default: images.keep, else 2].
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Print what would be removed and remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The service to put back.
    #[arg(value_name = "SERVICE")]
    pub service: String,

    /// The image to put it on: `previous` (the one it ran before its last
    /// update, from opsbook's image history) or any image on the host.
    #[arg(long, value_name = "IMAGE|previous", default_value = "previous")]
    pub to: String,

    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `api=shop-api:2`
fn service_image(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((service, image)) if !service.is_empty() && !image.is_empty() => {
            Ok((service.to_string(), image.to_string()))
        }
        _ => Err(format!("expected SERVICE=IMAGE, got `{text}`")),
    }
}

#[derive(Debug, Args)]
pub(crate) struct DailyCheckArgs {
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

/// `--format`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
    Junit,
    Prometheus,
}

/// `daily-check --only`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Part {
    Host,
    Containers,
    Logs,
    Checks,
    Backups,
    Heartbeats,
    Images,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// How far back to look.
    #[arg(long, value_parser = duration, default_value = "7d")]
    pub since: Duration,
    /// Uptime instead of trends: per check and service the share of ok
    /// runs, the time failing and response-time percentiles; per incident
    /// the time to acknowledge and to resolve.
    #[arg(long)]
    pub uptime: bool,
}

/// `30s`, `5m`, `7d`: the runbook's own duration syntax.
fn duration(text: &str) -> Result<Duration, String> {
    text.parse::<units::Duration>().map(units::Duration::std)
}

/// `opsbook init`'s options.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The compose project or Swarm stack to read [default: the only one running].
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// Where the runbook goes.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "opsbook.yaml")]
    pub output: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
    /// Print the runbook on stdout instead of writing it.
    #[arg(long)]
    pub dry_run: bool,
}

impl Command {
    /// The run as notification targets name it (`backup prune`, `run
    /// deploy`), or None when it is not one they hear: a dry run, a
    /// listing, `serve` (whose scheduled runs are commands of their own).
    pub(crate) fn event(&self) -> Option<String> {
        let dry = |dry_run: bool, name: &str| (!dry_run).then(|| name.to_string());
        match self {
            Command::Validate => Some("validate".into()),
            Command::Status => Some("status".into()),
            Command::DailyCheck(_) => Some("daily-check".into()),
            Command::Report(_) => Some("report".into()),
            Command::Startup(a) => dry(a.dry_run, "startup"),
            Command::Shutdown(a) => dry(a.dry_run, "shutdown"),
            Command::Restart(a) => dry(a.dry_run, "restart"),
            Command::Update(a) => dry(a.dry_run, "update"),
            Command::Rollback(a) => dry(a.dry_run, "rollback"),
            Command::Images(a) => match &a.action {
                ImagesAction::Prune { dry_run, .. } => dry(*dry_run, "images prune"),
            },
            Command::Restore(a) => dry(a.dry_run, "restore"),
            Command::Backup(a) => match &a.action {
                None => dry(a.dry_run, "backup"),
                Some(BackupAction::List { .. }) => Some("backup list".into()),
                Some(BackupAction::Verify { .. }) => Some("backup verify".into()),
                Some(BackupAction::Drill { .. }) => Some("backup drill".into()),
                Some(BackupAction::Copy { .. }) => Some("backup copy".into()),
                Some(BackupAction::Prune { dry_run, .. }) => dry(*dry_run, "backup prune"),
                Some(BackupAction::InitRepository) => Some("backup init-repository".into()),
            },
            Command::Incident(a) => match &a.action {
                IncidentAction::List | IncidentAction::Show { .. } => None,
                IncidentAction::Run { dry_run: true, .. } => None,
                action => Some(format!("incident {}", action.name())),
            },
            Command::Run(a) => match (&a.procedure, a.list || a.dry_run) {
                (Some(name), false) => Some(format!("run {name}")),
                _ => None,
            },
            Command::Serve(_)
            | Command::Ping(_)
            | Command::Fleet(_)
            | Command::Init(_)
            | Command::Completions { .. }
            | Command::Man { .. } => None,
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Command::Init(_) => "init",
            Command::Validate => "validate",
            Command::Status => "status",
            Command::DailyCheck(_) => "daily-check",
            Command::Report(_) => "report",
            Command::Startup(_) => "startup",
            Command::Shutdown(_) => "shutdown",
            Command::Restart(_) => "restart",
            Command::Update(_) => "update",
            Command::Rollback(_) => "rollback",
            Command::Images(_) => "images",
            Command::Backup(_) => "backup",
            Command::Restore(_) => "restore",
            Command::Incident(_) => "incident",
            Command::Run(_) => "run",
            Command::Serve(_) => "serve",
            Command::Ping(_) => "ping",
            Command::Fleet(_) => "fleet",
            Command::Completions { .. } => "completions",
            Command::Man { .. } => "man",
        }
    }
}
