//! opsbook executes the runbook of a Docker (compose) deployment.
//!
//! Data flows one way: runbook → plan → work done through the adapters
//! (`docker`, `host`) → results → report. `run` is the whole program; the
//! binary only hands it the arguments and exits with its code.

pub mod backup;
pub mod cli;
pub mod confirm;
pub mod container_grade;
pub mod docker;
pub mod error;
pub mod files;
pub mod history;
pub mod host;
pub mod host_command;
pub mod incident;
pub mod interrupt;
pub mod lifecycle;
pub mod logscan;
pub mod notify;
pub mod probe;
pub mod progress;
pub mod redact;
pub mod report;
pub mod runbook;
pub mod sections;
pub mod status;
pub mod steps;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use clap::Parser;
use clap::error::ErrorKind;

use cli::{Cli, Command};
use error::Error;
use report::{Format, Report, Style};
use status::{CheckResult, Status};

/// Runs opsbook with these arguments and returns the exit code.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                // Usage errors are "could not run": 3, not clap's 2 (which means crit here).
                _ => Status::Unknown.exit_code(),
            };
        }
    };
    init_logging(cli.verbose, cli.no_color);
    let style = Style {
        format: cli.format,
        color: use_color(cli.no_color),
        quiet: cli.quiet,
    };
    let started_at = jiff::Timestamp::now();
    let clock = Instant::now();
    match execute(&cli, started_at) {
        Ok(mut report) => {
            report.duration = clock.elapsed();
            if let Some(text) = report.render(style) {
                print(&text);
            }
            report.status().exit_code()
        }
        Err(error) => {
            for line in error.lines() {
                eprintln!("error: {line}");
            }
            // Machines reading JSON still get one object, saying why.
            if style.format == Format::Json {
                let mut report = Report::new(cli.command.name(), "", started_at);
                report.duration = clock.elapsed();
                report.results = error
                    .lines()
                    .into_iter()
                    .map(|line| CheckResult::new("opsbook", "error", error.status(), line))
                    .collect();
                if let Some(text) = report.render(Style {
                    quiet: false,
                    ..style
                }) {
                    print(&text);
                }
            }
            error.status().exit_code()
        }
    }
}

fn execute(cli: &Cli, started_at: jiff::Timestamp) -> Result<Report, Error> {
    let source = runbook::discover(cli.runbook.clone(), std::env::var_os("OPSBOOK_RUNBOOK"));
    tracing::info!(?source, "runbook");
    let runbook = runbook::load(&source)?;
    let mut report = Report::new(cli.command.name(), &runbook.display, started_at);
    let progress = progress::Progress::new(cli.quiet);
    match &cli.command {
        Command::Validate => sections::validate::run(&runbook, &mut report),
        Command::Status => runtime()?.block_on(sections::status::run(&runbook, &mut report))?,
        Command::DailyCheck(args) => {
            let options = sections::daily_check::Options {
                only: args.only.clone(),
                timeout: args.timeout,
                wait: args.wait,
                state_dir: state_dir(cli),
                record: true,
            };
            runtime()?.block_on(sections::daily_check::run(&runbook, &options, &mut report))?;
        }
        Command::Report(args) => {
            sections::trends::run(&runbook, &state_dir(cli), args.since, &mut report)?
        }
        Command::Startup(args) => {
            let options = sections::startup::Options {
                skip_preflight: args.skip_preflight,
                dry_run: args.dry_run,
                state_dir: state_dir(cli),
            };
            runtime()?.block_on(sections::startup::run(
                &runbook,
                &options,
                progress,
                &mut report,
            ))?;
        }
        Command::Shutdown(args) => {
            let options = sections::shutdown::Options {
                emergency: args.emergency,
                backup: args.backup,
                force: args.force,
                dry_run: args.dry_run,
                yes: cli.yes,
                state_dir: state_dir(cli),
            };
            runtime()?.block_on(sections::shutdown::run(
                &runbook,
                &options,
                progress,
                &mut report,
            ))?;
        }
        Command::Restart(args) => {
            let options = sections::restart::Options {
                services: args.services.clone(),
                with_dependents: args.with_dependents,
                dry_run: args.dry_run,
                yes: cli.yes,
            };
            runtime()?.block_on(sections::restart::run(
                &runbook,
                &options,
                progress,
                &mut report,
            ))?;
        }
        Command::Backup(args) => {
            use cli::BackupAction;
            let state = state_dir(cli);
            match &args.action {
                None => runtime()?.block_on(sections::backup::create(
                    &runbook,
                    args.dry_run,
                    &state,
                    progress,
                    &mut report,
                ))?,
                Some(BackupAction::List) => sections::backup::list(&runbook, &mut report)?,
                Some(BackupAction::Verify { id, all, identity }) => {
                    runtime()?.block_on(sections::backup::verify_backups(
                        &runbook,
                        id.as_deref(),
                        *all,
                        identity.as_deref(),
                        &mut report,
                    ))?
                }
                Some(BackupAction::Prune { dry_run }) => {
                    sections::backup::prune(&runbook, *dry_run, cli.yes, &state, &mut report)?
                }
            }
        }
        Command::Run(args) => {
            let options = sections::procedure::Options {
                name: args.procedure.clone(),
                list: args.list,
                dry_run: args.dry_run,
                yes: cli.yes,
                state_dir: state_dir(cli),
            };
            runtime()?.block_on(sections::procedure::run(
                &runbook,
                &options,
                progress,
                &mut report,
            ))?;
        }
        Command::Incident(args) => {
            let options = sections::incident::Options {
                yes: cli.yes,
                state_dir: state_dir(cli),
            };
            runtime()?.block_on(sections::incident::run(
                &runbook,
                &args.action,
                &options,
                progress,
                &mut report,
            ))?;
        }
        Command::Restore(args) => {
            let options = sections::restore::Options {
                id: args.id.clone(),
                only: args.only.clone(),
                dry_run: args.dry_run,
                yes: cli.yes,
                identity: args.identity.clone(),
                safety_backup: !args.no_safety_backup,
                state_dir: state_dir(cli),
                runbook_flag: cli.runbook.clone(),
            };
            runtime()?.block_on(sections::restore::run(
                &runbook,
                &options,
                progress,
                &mut report,
            ))?;
        }
    }
    Ok(report)
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

fn state_dir(cli: &Cli) -> std::path::PathBuf {
    cli.state_dir
        .clone()
        .unwrap_or_else(history::default_state_dir)
}

/// Writes the report to stdout. A closed pipe (`opsbook status | head`) is
/// not an error worth a panic: the reader has what it wanted.
fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Colour only on a terminal, and never with `--no-color` or `NO_COLOR`.
fn use_color(no_color_flag: bool) -> bool {
    color_allowed(no_color_flag) && std::io::stdout().is_terminal()
}

fn color_allowed(no_color_flag: bool) -> bool {
    let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color_flag && !no_color_env
}

/// Logs go to stderr, never stdout: `--format json | jq` always works.
fn init_logging(verbose: u8, no_color_flag: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPSBOOK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("opsbook={level}")));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(color_allowed(no_color_flag) && std::io::stderr().is_terminal());
    // Timings matter when debugging (-vv); a warning to an operator needs none.
    let _ = if verbose >= 2 {
        logs.with_timer(tracing_subscriber::fmt::time::uptime())
            .try_init()
    } else {
        logs.without_time().try_init()
    };
}
