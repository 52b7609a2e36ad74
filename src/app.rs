//! The program: arguments in, exit code out. Parse the command line (clap
//! usage errors exit 3), set up logging, find and load the runbook, turn
//! clap's arguments into the chosen command's options, run it, and print
//! its report on stdout in the chosen format. Errors go to stderr (and, with
//! `--format json`, still as one JSON object on stdout).
//!
//! Everything printed is masked: by the runbook's redactor once it is
//! loaded, by the built-in rules before (a usage error, an invalid runbook).

use std::ffi::OsString;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use clap::error::ErrorKind;

use crate::cli::{self, BackupAction, Cli, Command, IncidentAction};
use crate::commands::{self, daily_check, incident};
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
        print(&commands::completions::script(*shell));
        return 0;
    }
    init_logging(cli.verbose, cli.no_color);
    let style = Style {
        format: format(cli.format),
        color: use_color(cli.no_color),
        quiet: cli.quiet,
    };
    let started_at = jiff::Timestamp::now();
    let clock = Instant::now();
    let mut redactor = Redactor::builtin();
    let outcome = match fleet_run(&cli, &argv) {
        Some(over) => over,
        None => execute(&cli, started_at, clock, &mut redactor),
    };
    match outcome {
        Ok(mut report) => {
            report.duration = clock.elapsed();
            if let Some(text) = report.render(style, &redactor) {
                print(&text);
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
                    print(&text);
                }
            }
            error.status().exit_code()
        }
    }
}

/// `fleet list`, or a command over the fleet (`--fleet`, `$OPSBOOK_FLEET`):
/// no runbook of this process's own is loaded. None: a one-host run.
fn fleet_run(cli: &Cli, argv: &[OsString]) -> Option<Result<Report, Error>> {
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
    let outcome = dispatch(cli, &globals, &source, &mut report);
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

/// Runs the chosen command into `report`: its options from the parsed
/// arguments, then its one call.
// layout: dispatch (one match over the commands, an arm each)
fn dispatch(
    cli: &Cli,
    globals: &Globals,
    source: &runbook::Source,
    report: &mut Report,
) -> Result<(), Error> {
    let (runbook, progress, report_mut) = (globals.runbook, globals.progress, report);
    match &cli.command {
        Command::Validate => block_on(commands::validate::run(runbook, report_mut))?,
        Command::Status => block_on(commands::status::run(runbook, report_mut))?,
        Command::DailyCheck(args) => {
            let options = daily_check::Options {
                only: args.only.iter().copied().map(part).collect(),
                timeout: args.timeout,
                wait: args.wait,
                state_dir: globals.state_dir.clone(),
                record: true,
            };
            block_on(daily_check::run(runbook, &options, report_mut))?;
        }
        Command::Report(args) => {
            commands::report::run(runbook, &globals.state_dir, args.since, report_mut)?
        }
        Command::Startup(args) => {
            let options = commands::startup::Options {
                skip_preflight: args.skip_preflight,
                dry_run: args.dry_run,
                state_dir: globals.state_dir.clone(),
            };
            block_on(commands::startup::run(
                runbook, &options, progress, report_mut,
            ))?;
        }
        Command::Shutdown(args) => {
            let options = commands::shutdown::Options {
                emergency: args.emergency,
                backup: args.backup,
                force: args.force,
                dry_run: args.dry_run,
                yes: globals.yes,
                state_dir: globals.state_dir.clone(),
            };
            block_on(commands::shutdown::run(
                runbook, &options, progress, report_mut,
            ))?;
        }
        Command::Restart(args) => {
            let options = commands::restart::Options {
                services: args.services.clone(),
                with_dependents: args.with_dependents,
                dry_run: args.dry_run,
                yes: globals.yes,
            };
            block_on(commands::restart::run(
                runbook, &options, progress, report_mut,
            ))?;
        }
        Command::Update(args) => {
            let options = commands::update::Options {
                services: args.services.clone(),
                images: args.images.clone(),
                dry_run: args.dry_run,
                yes: globals.yes,
                state_dir: globals.state_dir.clone(),
            };
            block_on(commands::update::run(
                runbook, &options, progress, report_mut,
            ))?;
        }
        Command::Rollback(args) => {
            let options = commands::rollback::Options {
                service: args.service.clone(),
                to: args.to.clone(),
                dry_run: args.dry_run,
                yes: globals.yes,
                state_dir: globals.state_dir.clone(),
            };
            block_on(commands::rollback::run(
                runbook, &options, progress, report_mut,
            ))?;
        }
        Command::Backup(args) => backup(globals, args, report_mut)?,
        Command::Restore(args) => {
            let options = commands::restore::Options {
                id: args.id.clone(),
                only: args.only.clone(),
                dry_run: args.dry_run,
                yes: globals.yes,
                identity: args.identity.clone(),
                safety_backup: !args.no_safety_backup,
                state_dir: globals.state_dir.clone(),
                runbook_flag: cli.runbook.clone(),
                from: args.from.clone(),
            };
            block_on(commands::restore::run(
                runbook, &options, progress, report_mut,
            ))?;
        }
        Command::Incident(args) => {
            let options = incident::Options {
                yes: globals.yes,
                state_dir: globals.state_dir.clone(),
            };
            let action = incident_action(&args.action);
            block_on(incident::run(
                runbook, &action, &options, progress, report_mut,
            ))?;
        }
        Command::Run(args) => {
            let options = commands::run::Options {
                name: args.procedure.clone(),
                list: args.list,
                dry_run: args.dry_run,
                yes: globals.yes,
                state_dir: globals.state_dir.clone(),
            };
            block_on(commands::run::run(runbook, &options, progress, report_mut))?;
        }
        Command::Serve(args) => {
            let options = commands::serve::Options {
                listen: args.listen,
                token_file: args.token_file.clone(),
                log_json: args.log_format == cli::LogFormat::Json,
                state_dir: globals.state_dir.clone(),
            };
            block_on_agent(commands::serve::run(source, &options, report_mut))?;
        }
        Command::Ping(args) => {
            let ping = match (args.start, args.fail) {
                (true, _) => commands::ping::Ping::Start,
                (_, true) => commands::ping::Ping::Fail,
                _ => commands::ping::Ping::Success,
            };
            commands::ping::run(runbook, &globals.state_dir, &args.name, ping, report_mut)?;
        }
        // Handled before any runbook is loaded (`run`, `fleet_run`).
        Command::Fleet(_)
        | Command::Init(_)
        | Command::Completions { .. }
        | Command::Man { .. } => {}
    }
    Ok(())
}

/// `backup` and its actions: list, verify, prune.
fn backup(globals: &Globals, args: &cli::BackupArgs, report: &mut Report) -> Result<(), Error> {
    let (runbook, state_dir) = (globals.runbook, &globals.state_dir);
    match &args.action {
        None => {
            let made = commands::backup::create(
                runbook,
                args.dry_run,
                state_dir,
                globals.progress,
                report,
            );
            block_on(made).map(|_| ())
        }
        Some(BackupAction::List { copy }) => {
            block_on(commands::backup::list(runbook, copy.as_deref(), report))
        }
        Some(BackupAction::Verify {
            id,
            all,
            identity,
            copy,
        }) => block_on(commands::backup::verify(
            runbook,
            id.as_deref(),
            *all,
            identity.as_deref(),
            copy.as_deref(),
            report,
        )),
        Some(BackupAction::Copy {
            id,
            all_missing,
            to,
        }) => block_on(commands::backup::copy(
            runbook,
            id.as_deref(),
            *all_missing,
            to.as_deref(),
            report,
        )),
        Some(BackupAction::Drill { id, identity }) => block_on(commands::backup::drill(
            runbook,
            id.as_deref(),
            identity.as_deref(),
            state_dir,
            globals.progress,
            report,
        )),
        Some(BackupAction::Prune { dry_run }) => block_on(commands::backup::prune(
            runbook,
            *dry_run,
            globals.yes,
            state_dir,
            report,
        )),
    }
}

fn incident_action(action: &IncidentAction) -> incident::Action {
    match action.clone() {
        IncidentAction::Open { severity, title } => incident::Action::Open { severity, title },
        IncidentAction::Note { id, text } => incident::Action::Note { id, text },
        IncidentAction::Ack { id } => incident::Action::Ack { id },
        IncidentAction::Run {
            id,
            playbook,
            dry_run,
        } => incident::Action::Run {
            id,
            playbook,
            dry_run,
        },
        IncidentAction::List => incident::Action::List,
        IncidentAction::Show { id } => incident::Action::Show { id },
        IncidentAction::Close { id, summary } => incident::Action::Close { id, summary },
        IncidentAction::Bundle { id } => incident::Action::Bundle { id },
    }
}

fn part(part: cli::Part) -> daily_check::Part {
    match part {
        cli::Part::Host => daily_check::Part::Host,
        cli::Part::Containers => daily_check::Part::Containers,
        cli::Part::Logs => daily_check::Part::Logs,
        cli::Part::Checks => daily_check::Part::Checks,
        cli::Part::Backups => daily_check::Part::Backups,
        cli::Part::Heartbeats => daily_check::Part::Heartbeats,
    }
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
        .with_writer(|| MaskedLog(Vec::new()))
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

/// One log event, masked by the built-in rules as it goes to stderr
/// (logging starts before the runbook, and its patterns, are read).
struct MaskedLog(Vec<u8>);

impl Write for MaskedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskedLog {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let masked = Redactor::builtin().redact(&text).into_owned();
        let _ = std::io::stderr().lock().write_all(masked.as_bytes());
    }
}
