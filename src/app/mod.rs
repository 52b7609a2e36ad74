//! The program: arguments in, exit code out. Parse the command line (clap
//! usage errors exit 3), set up logging, find and load the runbook, turn
//! clap's arguments into the chosen command's options, run it, and print
//! its report on stdout in the chosen format. Errors go to stderr (and, with
//! `--format json`, still as one JSON object on stdout).
//!
//! Everything printed is masked: by the runbook's redactor once it is
//! loaded, by the built-in rules before (a usage error, an invalid runbook).

mod dispatch;
mod terminal;

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use clap::error::ErrorKind;

use crate::cli::{self, Cli, Command, IncidentAction};
use crate::commands;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::notify;
use crate::redact::Redactor;
use crate::render::{Format, Report, Style};
use crate::runbook::{self, Runbook};
use crate::state;
use crate::ui::progress::Progress;

/// Runs opsbook with these arguments and returns the exit code.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    0
                }
                // Usage errors are "could not run": 3, not clap's 2 (which
                // means crit here). They quote the arguments: masked.
                _ => {
                    eprint!("{}", Redactor::builtin().redact(&e.to_string()));
                    Status::Unknown.exit_code()
                }
            };
        }
    };
    // The completion script is the output itself: no report around it.
    if let Command::Completions { shell } = &cli.command {
        terminal::print(&commands::completions::script(*shell));
        return 0;
    }
    terminal::init_logging(cli.verbose, cli.no_color);
    let style = Style {
        format: format(cli.format),
        color: terminal::use_color(cli.no_color),
        quiet: cli.quiet,
    };
    let started_at = jiff::Timestamp::now();
    let clock = Instant::now();
    let mut redactor = Redactor::builtin();
    let outcome = match without_runbook(&cli).or_else(|| fleet_run(&cli, &argv)) {
        Some(done) => done,
        None => execute(&cli, started_at, clock, &mut redactor),
    };
    match outcome {
        Ok(mut report) => {
            report.duration = clock.elapsed();
            if let Some(text) = report.render(style, &redactor) {
                terminal::print(&text);
            }
            report.status().exit_code()
        }
        Err(error) => {
            for line in error.lines() {
                let masked = redactor.redact(&line);
                eprintln!("error: {}", crate::ui::human::printable(&masked));
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
                let style = Style {
                    quiet: false,
                    ..style
                };
                if let Some(text) = report.render(style, &redactor) {
                    terminal::print(&text);
                }
            }
            error.status().exit_code()
        }
    }
}

/// The commands that need no runbook: `man`, `init`, `fleet list`. None:
/// another command.
fn without_runbook(cli: &Cli) -> Option<Result<Report, Error>> {
    let started_at = jiff::Timestamp::now();
    if let Command::Man { dir } = &cli.command {
        let mut report = Report::new("man", "", started_at);
        return Some(commands::completions::man(dir, &mut report).map(|()| report));
    }
    if let Command::Init(args) = &cli.command {
        let mut report = Report::new("init", "", started_at);
        return Some(block_on(commands::init::run(args, &mut report)).map(|()| report));
    }
    if let Command::Fleet(args) = &cli.command {
        let mut report = Report::new("fleet list", "", started_at);
        let cli::FleetAction::List = args.action;
        return Some(
            commands::fleet::list(cli.fleet.clone(), cli.limit.as_deref(), &mut report)
                .map(|()| report),
        );
    }
    None
}

/// A command over the fleet (`--fleet`, `$OPSBOOK_FLEET`): no runbook of
/// this process's own is loaded. None: a one-host run.
fn fleet_run(cli: &Cli, argv: &[OsString]) -> Option<Result<Report, Error>> {
    let started_at = jiff::Timestamp::now();
    let fleet_file = crate::fleet::for_command(cli.fleet.clone(), cli.runbook.is_some())?;
    if let Command::Serve(args) = &cli.command {
        let mut report = Report::new("serve", "", started_at);
        let options = commands::serve::Options {
            listen: args.listen,
            token_file: args.token_file.clone(),
            log_json: args.log_format == cli::LogFormat::Json,
            state_dir: cli
                .state_dir
                .clone()
                .unwrap_or_else(state::default_state_dir),
        };
        return Some(
            block_on_agent(commands::serve::run_fleet(
                &fleet_file,
                cli.limit.as_deref(),
                &options,
                &mut report,
            ))
            .map(|()| report),
        );
    }
    let command = match &cli.command {
        Command::Incident(args) if matches!(args.action, IncidentAction::List) => {
            "incident list".to_string()
        }
        other => other.event().unwrap_or_else(|| other.name().to_string()),
    };
    let over = commands::fleet::Over {
        fleet_file,
        limit: cli.limit.as_deref(),
        forks: cli.forks,
        argv,
        command: &command,
        // A dry run or a listing: what notifications would not hear.
        changes_nothing: cli.command.event().is_none(),
        pace: crate::fleet::rollout::Pace {
            serial: usize::from(cli.serial),
            max_fail_percent: cli.max_fail_percent,
        },
        yes: cli.yes,
        quiet: cli.quiet,
        state_dir: cli
            .state_dir
            .clone()
            .unwrap_or_else(state::default_state_dir),
    };
    let mut report = Report::new(&command, "", started_at);
    Some(block_on(commands::fleet::over(&over, &mut report)).map(|()| report))
}

/// What every command may need from the global flags.
struct Globals<'a> {
    runbook: &'a Runbook,
    state_dir: PathBuf,
    yes: bool,
    progress: Progress<'a>,
}

/// Loads the runbook and runs the command; from the load on, `redactor`
/// is the runbook's, for whatever the caller prints.
fn execute(
    cli: &Cli,
    started_at: jiff::Timestamp,
    clock: Instant,
    redactor: &mut Redactor,
) -> Result<Report, Error> {
    let source = runbook::discover(cli.runbook.clone(), std::env::var_os("OPSBOOK_RUNBOOK"));
    tracing::info!(?source, "runbook");
    let runbook = match &cli.runbook_text {
        Some(text) => runbook::load_text_as(&source, text)?,
        None => runbook::load(&source)?,
    };
    *redactor = runbook.redactor().clone();
    let mut report = Report::new(cli.command.name(), &runbook.display, started_at);
    let globals = Globals {
        runbook: &runbook,
        state_dir: cli
            .state_dir
            .clone()
            .unwrap_or_else(state::default_state_dir),
        yes: cli.yes,
        progress: Progress::new(cli.quiet, runbook.redactor()),
    };
    let notifier = cli.command.event().and_then(|event| {
        notify::Notifier::new(&runbook, &event, &globals.state_dir).map(|n| (event, n))
    });
    if let Some((_, notifier)) = &notifier {
        block_on(async {
            notifier.started().await;
            Ok(())
        })?;
    }
    let outcome = dispatch::dispatch(cli, &globals, &source, &mut report);
    if let Some((event, notifier)) = &notifier {
        let summary = summarize(event, &runbook, &report, &outcome, clock, redactor);
        block_on(async {
            notifier.finished(&runbook, &summary).await;
            Ok(())
        })?;
    }
    outcome.map(|()| report)
}

/// The run as the notification targets see it: the report's results, or
/// the error's lines when it could not run.
fn summarize(
    event: &str,
    runbook: &Runbook,
    report: &Report,
    outcome: &Result<(), Error>,
    clock: Instant,
    redactor: &Redactor,
) -> notify::Summary {
    let plain = Style {
        format: Format::Table,
        color: false,
        quiet: false,
    };
    // The secrets the run met (containers' variables) are masked too.
    let met = redactor.clone().with_values(report.secrets.iter().cloned());
    let masked = |r: &CheckResult| CheckResult {
        name: met.redact(&r.name).into_owned(),
        message: met.redact(&r.message).into_owned(),
        ..r.clone()
    };
    let (results, text) = match outcome {
        Ok(()) => (
            report.results.iter().map(masked).collect::<Vec<_>>(),
            report.render(plain, redactor),
        ),
        Err(error) => (
            error
                .lines()
                .into_iter()
                .map(|line| CheckResult::new("opsbook", "error", error.status(), line))
                .collect(),
            None,
        ),
    };
    notify::summarize(
        event,
        runbook,
        &results,
        report.started_at,
        clock.elapsed(),
        text,
    )
}

fn format(format: cli::Format) -> Format {
    match format {
        cli::Format::Table => Format::Table,
        cli::Format::Json => Format::Json,
        cli::Format::Junit => Format::Junit,
        cli::Format::Prometheus => Format::Prometheus,
    }
}

/// Runs an async command on a small runtime (2 workers: the machine's
/// work is waiting on Docker, sockets and disks, not computing).
fn block_on<T>(work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(work)
}

/// `block_on` for `serve`, which must be gone soon after a signal: work
/// the agent dropped that still holds a blocking thread (a DNS lookup of a
/// send that hangs) is left behind after a second, not waited for.
fn block_on_agent<T>(work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let result = runtime.block_on(work);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}
