//! From the parsed command line to the chosen command's one call: its
//! options built from clap's arguments and the global flags, then the
//! command run into the report. Split in two matches: the commands that
//! read (checks, reports, the agent) and those that change the deployment,
//! its backups or its incidents.

use crate::cli::{self, BackupAction, Cli, Command, IncidentAction};
use crate::commands::{self, daily_check, incident};
use crate::error::Error;
use crate::render::Report;
use crate::runbook;

use super::{Globals, block_on, block_on_agent};

/// Runs the chosen command into `report`: its options from the parsed
/// arguments, then its one call. The commands that change the deployment
/// are in `change`.
pub(super) fn dispatch(
    cli: &Cli,
    globals: &Globals,
    source: &runbook::Source,
    report: &mut Report,
) -> Result<(), Error> {
    let (runbook, report_mut) = (globals.runbook, report);
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
        Command::Report(args) => commands::report::run(
            runbook,
            &globals.state_dir,
            args.since,
            args.uptime,
            report_mut,
        )?,
        Command::Startup(_)
        | Command::Shutdown(_)
        | Command::Restart(_)
        | Command::Update(_)
        | Command::Rollback(_)
        | Command::Images(_)
        | Command::Backup(_)
        | Command::Restore(_)
        | Command::Incident(_)
        | Command::Run(_) => change(cli, globals, report_mut)?,
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
        // Handled before any runbook is loaded (`without_runbook`, `run`).
        Command::Fleet(_)
        | Command::Init(_)
        | Command::Completions { .. }
        | Command::Man { .. } => {}
    }
    Ok(())
}

/// The commands that change the deployment, its backups or its incidents.
fn change(cli: &Cli, globals: &Globals, report_mut: &mut Report) -> Result<(), Error> {
    let (runbook, progress) = (globals.runbook, globals.progress);
    match &cli.command {
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
                pull: args.pull,
            };
            block_on(commands::update::run(
                runbook, &options, progress, report_mut,
            ))?;
        }
        Command::Images(args) => match &args.action {
            cli::ImagesAction::Prune { keep, dry_run } => {
                let asked = commands::images::Pruning {
                    keep: *keep,
                    dry_run: *dry_run,
                    yes: globals.yes,
                    state_dir: &globals.state_dir,
                };
                block_on(commands::images::prune(runbook, &asked, report_mut))?;
            }
        },
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
        Command::Restore(args) => restore(cli, globals, args, report_mut)?,
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
        // The others are `dispatch`'s.
        _ => {}
    }
    Ok(())
}

/// `restore`: a backup put back, from this host or a copy target.
fn restore(
    cli: &Cli,
    globals: &Globals,
    args: &cli::RestoreArgs,
    report: &mut Report,
) -> Result<(), Error> {
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
    let run = commands::restore::run(globals.runbook, &options, globals.progress, report);
    block_on(run)
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
            read_data_subset,
        }) => block_on(commands::backup::verify(
            runbook,
            id.as_deref(),
            *all,
            identity.as_deref(),
            copy.as_deref(),
            read_data_subset.as_deref(),
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
        Some(BackupAction::InitRepository) => {
            block_on(commands::backup::init_repository(runbook, report))
        }
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
        cli::Part::Images => daily_check::Part::Images,
    }
}
