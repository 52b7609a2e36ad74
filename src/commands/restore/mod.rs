//! `opsbook restore [ID|latest]`: the riskiest page of the operators'
//! runbooks made safe. In order: verify the backup (a bad one changes
//! nothing, exit 2); show the plan and confirm; stop what uses the data;
//! take a safety backup of exactly the items being replaced; replace them
//! exactly; start everything again in dependency order; run the verify
//! checks. A failure or a signal after the stop ends the replacing there,
//! starts the services again, and prints the command that goes back.

mod check;
mod replace;
mod safety;
mod targets;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::backup::catalog::BackupEntry;
use crate::backup::manifest::{Kind, Manifest};
use crate::commands::backup::AsStep;
use crate::confirm::confirm_plan;
use crate::docker::{self, Deployment};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::history::StateDir;
use crate::human;
use crate::lifecycle::Lifecycle;
use crate::probe;
use crate::progress::Progress;
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::runbook::model::Backup;
use crate::steps::hooks;

use replace::Identities;
use safety::Safety;
use targets::{Planned, Target};

pub struct Options {
    pub id: Option<String>,
    pub only: Vec<String>,
    pub dry_run: bool,
    pub yes: bool,
    pub identity: Option<PathBuf>,
    pub safety_backup: bool,
    pub state_dir: PathBuf,
    /// The `--runbook` given, repeated in the command that goes back.
    pub runbook_flag: Option<PathBuf>,
}

/// Everything worked out before anything changes.
struct Prepared<'a> {
    backup: &'a Backup,
    dir: PathBuf,
    entry: BackupEntry,
    project: String,
    deployment: Deployment,
    planned: Vec<Planned>,
    identities: Identities,
    /// The services that are stopped, and started again after.
    stopping: Vec<String>,
}

/// What happened while the services were down.
#[derive(Default)]
struct Replaced {
    safety: Option<CheckResult>,
    safety_id: Option<String>,
    /// Each item tried, in order: its size, or why it failed.
    outcomes: Vec<(String, Result<u64, String>)>,
    failure: Option<String>,
}

pub async fn run(
    runbook: &Runbook,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let prepared = prepare(runbook, options).await?;
    let (entry, planned) = (&prepared.entry, &prepared.planned);

    // 1. Verify: a backup that does not read back changes nothing.
    progress.say(format!("verifying {}", entry.id));
    let bad = check::verify_items(&entry.path, planned, &prepared.identities).await;
    if !bad.is_empty() {
        report.results.extend(bad);
        report.results.push(CheckResult::new(
            "restore",
            "result",
            Status::Crit,
            format!(
                "backup {} does not verify: nothing was stopped or changed",
                entry.id
            ),
        ));
        return Ok(());
    }

    // 2. The plan, and a yes.
    show_plan(&prepared, report);
    if options.dry_run {
        report.results.push(CheckResult::new(
            "restore",
            "dry-run",
            Status::Ok,
            format!("dry run: backup {} verified, nothing was changed", entry.id),
        ));
        return Ok(());
    }
    let (question, parts) = confirmation(&prepared);
    if !confirm_plan(&question, &parts, options.yes)? {
        return Err(Error::Usage(
            "restore cancelled: nothing was changed".into(),
        ));
    }

    let state = StateDir::open(&options.state_dir)?;
    let _lock = state.lock(&runbook.data_lock_key(), "restore")?;
    let backups = AsStep {
        runbook,
        state_dir: &options.state_dir,
        progress,
    };
    let hook_setup = backups.setup(true);
    let hooks = runbook.model.restore.as_ref();
    let before = hooks.map(|h| h.before.as_slice()).unwrap_or_default();
    let after = hooks.map(|h| h.after.as_slice()).unwrap_or_default();
    if !hooks::run(hook_setup, "restore.before", before, report).await {
        fail_untouched(report, "a restore.before step failed");
        return Ok(());
    }
    // 3.-6. Safety backup, stop, replace, start again; the verify checks.
    let way_back = restore(runbook, options, &prepared, progress, report).await;
    // Whatever happened above: `after` undoes what `before` did (maintenance mode off).
    hooks::run(hook_setup, "restore.after", after, report).await;
    if let Some(way_back) = way_back?
        && let Some(id) = &way_back.safety_id
    {
        report
            .blocks
            .push(Block::Line(format!("safety backup: {id}")));
    }
    Ok(())
}

/// The backup, its items and where each goes back to, and the services that
/// stop: all checked against the runbook and Docker (exit 3 on a problem).
async fn prepare<'a>(runbook: &'a Runbook, options: &Options) -> Result<Prepared<'a>, Error> {
    let backup = super::backup::settings(runbook)?;
    let dir = runbook.resolve(&backup.dir);
    let entry = super::backup::select(&dir, options.id.as_deref(), false)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Usage(format!("no backup in {}", dir.display())))?;
    let manifest = Manifest::read(&entry.path).map_err(|source| Error::File {
        path: entry.path.join("manifest.json"),
        action: "read",
        source,
    })?;
    let items = targets::select_items(&manifest.items, &options.only)?;
    let project = runbook.require_project("restore")?;
    let deployment = Deployment::connect(Some(project.clone())).await?;
    let planned = targets::resolve(&deployment, runbook, backup, &project, items).await?;
    let identities = check::identities(&entry.path, &planned, options.identity.as_deref())?;
    let stop = targets::services_to_stop(&planned, |s| runbook.plan.dependents_of(s));
    let stopping = docker::running_services(&deployment.list().await?, &stop);
    Ok(Prepared {
        backup,
        dir,
        entry,
        project,
        deployment,
        planned,
        identities,
        stopping,
    })
}

/// The safety backup's dumps while their services run, then, with the
/// services stopped, its volumes and files and the replacing; the services
/// start again whatever happened, and the verify checks run when all went
/// well. The way back, once anything was attempted; an error only when
/// Docker fails before anything was stopped.
async fn restore(
    runbook: &Runbook,
    options: &Options,
    prepared: &Prepared<'_>,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<Option<WayBack>, Error> {
    let deployment = &prepared.deployment;
    let containers = deployment.containers().await?;
    let lifecycle = Lifecycle::listening(deployment, progress, "restore");
    let interrupt = lifecycle.interrupt.clone();

    // The dumps first, while their services run (nothing is stopped yet).
    let mut safety = None;
    if options.safety_backup {
        let mut taken = Safety::open(
            deployment,
            &containers,
            prepared.backup,
            &prepared.dir,
            runbook.name(),
        )?;
        progress.say("safety backup of the current state");
        let dumps = taken
            .copy(
                &prepared.planned,
                |kind| kind == Kind::Dump,
                progress,
                &interrupt,
            )
            .await;
        if let Err(reason) = dumps {
            fail_untouched(report, &format!("safety backup: {reason}"));
            return Ok(None);
        }
        safety = Some(taken);
    }

    let done = lifecycle
        .while_stopped(&runbook.plan, &prepared.stopping, |all_stopped| {
            replace_all(runbook, prepared, &lifecycle, safety, all_stopped, progress)
        })
        .await;
    report
        .results
        .extend(done.stopped.into_iter().filter(|r| r.status != Status::Ok));
    let replaced = done.outcome;
    report.results.extend(replaced.safety.clone());
    let all_started = done.started.iter().all(|r| r.status == Status::Ok);
    report.results.extend(done.started);

    let way_back = WayBack {
        runbook_flag: options.runbook_flag.clone(),
        safety_id: replaced.safety_id.clone(),
    };
    report_items(prepared, &replaced, &way_back, report);
    if replaced.failure.is_none() && all_started {
        // The verify checks, as after a startup.
        report
            .results
            .extend(probe::verify_checks(runbook, deployment).await?);
    }
    Ok(Some(way_back))
}

/// With the services stopped: the rest of the safety backup, then each item
/// (files and volumes first, then dumps, whose services start for them). A
/// failure or a signal ends it after the item in hand.
async fn replace_all(
    runbook: &Runbook,
    prepared: &Prepared<'_>,
    lifecycle: &Lifecycle<'_>,
    safety: Option<Safety<'_>>,
    all_stopped: bool,
    progress: Progress<'_>,
) -> Replaced {
    let mut replaced = Replaced::default();
    if !all_stopped {
        replaced.failure = Some("a service did not stop: nothing was replaced".into());
        return replaced;
    }
    let interrupt = &lifecycle.interrupt;
    if let Some(mut taken) = safety {
        let rest = taken
            .copy(
                &prepared.planned,
                |kind| kind != Kind::Dump,
                progress,
                interrupt,
            )
            .await;
        match rest.and_then(|()| taken.finish(runbook)) {
            Ok(id) => {
                progress.say(format!("safety backup {id}"));
                replaced.safety = Some(CheckResult::new(
                    "restore",
                    "safety backup",
                    Status::Ok,
                    format!(
                        "safety backup {id} of the current state ({})",
                        prepared.dir.display()
                    ),
                ));
                replaced.safety_id = Some(id);
            }
            Err(reason) => {
                replaced.failure = Some(format!("safety backup: {reason}: nothing was replaced"));
                return replaced;
            }
        }
    }

    let is_dump = |p: &&Planned| matches!(p.target, Target::Dump { .. });
    let planned = &prepared.planned;
    let ordered = planned
        .iter()
        .filter(|p| !is_dump(p))
        .chain(planned.iter().filter(is_dump));
    let mut dumps_ready = false;
    for p in ordered {
        if interrupt.is_raised() {
            replaced.failure = Some("interrupted by a signal".into());
            break;
        }
        if is_dump(&p) && !dumps_ready {
            dumps_ready = true;
            if let Err(reason) = start_for_dumps(runbook, prepared, lifecycle).await {
                replaced.failure = Some(reason);
                break;
            }
        }
        let started = Instant::now();
        let meter = progress.meter(&p.item.name);
        let result = replace::item(
            &prepared.deployment,
            &prepared.entry.path,
            p,
            &prepared.identities,
            meter.counter(),
        )
        .await;
        meter.done();
        match &result {
            Ok(()) => progress.say(format!(
                "{}: restored {} in {}",
                p.item.name,
                human::bytes(p.item.size),
                human::took(started.elapsed())
            )),
            Err(reason) => progress.say(format!("{}: FAILED: {reason}", p.item.name)),
        }
        let failed = result.is_err();
        replaced
            .outcomes
            .push((p.item.name.clone(), result.map(|()| p.item.size)));
        if failed {
            replaced.failure = Some(format!("`{}` could not be restored", p.item.name));
            break;
        }
    }
    replaced
}

/// Starts the stopped services a dump's restore needs (its service and what
/// that depends on); the reason when one does not come up.
async fn start_for_dumps(
    runbook: &Runbook,
    prepared: &Prepared<'_>,
    lifecycle: &Lifecycle<'_>,
) -> Result<(), String> {
    let dependents = |s: &str| runbook.plan.dependents_of(s);
    let needed = targets::needed_for_dumps(&prepared.planned, &prepared.stopping, dependents);
    if needed.is_empty() {
        return Ok(());
    }
    let containers = prepared
        .deployment
        .list()
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + runbook.plan.startup_timeout;
    let plan = &runbook.plan;
    let started = lifecycle
        .start(
            &plan.start_order(&needed),
            &plan.depends_on,
            &containers,
            deadline,
        )
        .await;
    match started.iter().find(|r| r.status != Status::Ok) {
        Some(bad) => Err(format!(
            "`{}` did not start for the dumps: {}",
            bad.name, bad.message
        )),
        None => Ok(()),
    }
}

/// What was and was not restored, the failure and the way back.
fn report_items(prepared: &Prepared, replaced: &Replaced, way_back: &WayBack, report: &mut Report) {
    let outcomes = &replaced.outcomes;
    for p in &prepared.planned {
        let outcome = outcomes.iter().find(|(name, _)| *name == p.item.name);
        report.results.push(match outcome {
            Some((_, Ok(size))) => CheckResult::new(
                "restore",
                &p.item.name,
                Status::Ok,
                format!("restored ({}) into {}", human::bytes(*size), p.describe()),
            )
            .with_value(*size as f64, "bytes"),
            Some((_, Err(reason))) => {
                CheckResult::new("restore", &p.item.name, Status::Crit, reason.clone())
            }
            None => CheckResult::new(
                "restore",
                &p.item.name,
                Status::Crit,
                "not restored: the restore stopped before it",
            ),
        });
    }
    let show_way_back = replaced.failure.is_some() && !outcomes.is_empty();
    if let Some(reason) = &replaced.failure {
        report.results.push(CheckResult::new(
            "restore",
            "result",
            Status::Crit,
            reason.clone(),
        ));
        if show_way_back {
            report.blocks.push(Block::Line(way_back.line()));
        }
    }
    report.extra.insert(
        "restore".into(),
        json!({
            "backup": prepared.entry.id,
            "safety_backup": way_back.safety_id,
            "restored": outcomes.iter().filter(|(_, o)| o.is_ok()).map(|(n, _)| n).collect::<Vec<_>>(),
            "way_back": show_way_back.then(|| way_back.line()),
        }),
    );
}

fn show_plan(prepared: &Prepared, report: &mut Report) {
    report.blocks.push(Block::Table {
        header: vec!["item", "kind", "size", "restored into"],
        rows: prepared
            .planned
            .iter()
            .map(|p| {
                vec![
                    p.item.name.clone(),
                    format!("{:?}", p.item.kind).to_lowercase(),
                    human::bytes(p.item.size),
                    p.describe(),
                ]
            })
            .collect(),
    });
    report.blocks.push(Block::Line(format!(
        "from backup {} ({}); stopped, then started again: {}",
        prepared.entry.id,
        prepared.entry.created_at.strftime("%Y-%m-%d %H:%M:%SZ"),
        listed(&prepared.stopping, "nothing")
    )));
}

/// The question asked before anything changes, and its parts: each item
/// and where it goes, then what stops.
fn confirmation(prepared: &Prepared) -> (String, Vec<String>) {
    let question = format!(
        "restore backup {} into `{}`",
        prepared.entry.id, prepared.project
    );
    let mut parts: Vec<String> = prepared
        .planned
        .iter()
        .map(|p| format!("{} → {}", p.item.name, p.describe()))
        .collect();
    if !prepared.stopping.is_empty() {
        parts.push(format!(
            "stopping {} (started again after)",
            prepared.stopping.join(", ")
        ));
    }
    (question, parts)
}

fn listed(names: &[String], none: &str) -> String {
    if names.is_empty() {
        none.to_string()
    } else {
        names.join(", ")
    }
}

/// A failure before anything was stopped or replaced.
fn fail_untouched(report: &mut Report, reason: &str) {
    report.results.push(CheckResult::new(
        "restore",
        "result",
        Status::Crit,
        format!("{reason}: nothing was stopped or changed"),
    ));
}

/// The command that puts the safety backup back.
struct WayBack {
    runbook_flag: Option<PathBuf>,
    safety_id: Option<String>,
}

impl WayBack {
    fn line(&self) -> String {
        let Some(id) = &self.safety_id else {
            return "no safety backup was taken: the items restored above cannot be undone by opsbook".into();
        };
        let runbook = self
            .runbook_flag
            .as_deref()
            .map(|p: &Path| format!(" --runbook {}", p.display()))
            .unwrap_or_default();
        format!("to go back to the state before this restore: opsbook{runbook} restore {id} --yes")
    }
}
