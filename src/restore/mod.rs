//! Restoring a backup (`opsbook restore [ID|latest]`): the riskiest page of the operators'
//! runbooks made safe, and all or nothing. In order: verify the backup (a
//! bad one changes nothing, exit 2); check every item's preconditions
//! (`precheck`, exit 3 on a problem); show the plan and confirm; start a
//! dump's service that is not running; unpack and verify, in one pass, each
//! volume restored directly beside its data while the services run
//! (`staged`; such a volume skips the up-front verify); take a safety
//! backup of exactly the items being replaced (one it cannot take refuses
//! the restore, exit 2); stop what uses the data; replace the items (a
//! staged volume by rename); start everything again in dependency order,
//! saying how long the services were down; copy the data a swap set aside
//! into the safety backup; run the verify checks. A failure or a signal
//! after the replacing began puts every item it changed back (`rollback`: a
//! staged volume by renaming its old data back, the rest from the safety
//! backup) before the services start again; only what cannot be put back
//! is left to the printed command that goes back.

mod from_copy;
mod precheck;
mod replace;
mod rollback;
mod safety;
mod staged;
mod targets;
mod upfront;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::backup::catalog::BackupEntry;
use crate::backup::collect::Elsewhere;
use crate::backup::manifest::{Kind, Manifest};
use crate::check;
use crate::deploy::homes::Homes;
use crate::deploy::lifecycle::Lifecycle;
use crate::docker::{self, Deployment};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::runbook::model::Backup;
use crate::state::StateDir;
use crate::steps::{Setup, hooks};
use crate::ui::confirm::confirm_plan;
use crate::ui::human;
use crate::ui::progress::Progress;

use precheck::ToStart;
use replace::Identities;
use rollback::{Outcomes, Undo};
use safety::{Safety, Taken};
use staged::Staged;
use targets::{Planned, Target};

/// Why the work stopped when a signal came.
const INTERRUPTED: &str = "interrupted by a signal";

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
    /// `--from NAME`: download the backup from this copy target first.
    pub from: Option<String>,
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
    /// The services dumps need that are not running: started first.
    to_start: Vec<ToStart>,
    /// The services that are stopped, and started again after.
    stopping: Vec<String>,
    /// A stack's volumes on other nodes, for the safety backup.
    elsewhere: Elsewhere,
}

/// What happened while the services were down.
#[derive(Default)]
struct Replaced<'a> {
    safety: Option<CheckResult>,
    taken: Option<Taken>,
    /// A safety backup still open: the copies of the volumes swapped out
    /// are added once the services run again (then `taken` is its view).
    pending: Option<Safety<'a>>,
    /// First stop to last start, when anything was stopped.
    downtime: Option<Duration>,
    /// Each item tried, in order: its size, or why it failed.
    outcomes: Outcomes,
    failure: Option<String>,
    /// After a failure: each changed item put back from the safety backup, or why not.
    put_back: Vec<(String, Result<(), String>)>,
}

/// Restores the backup `options` names. `hooks` runs `restore.before`
/// and `.after` (the command hands in the step engine's setup).
pub async fn run(
    runbook: &Runbook,
    options: &Options,
    hooks: Setup<'_>,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let fetched;
    let options = match &options.from {
        Some(name) => {
            let dir = runbook.backup_dir(crate::backup::settings(runbook)?);
            let id = from_copy::fetch(runbook, &dir, name, options.id.as_deref(), progress).await?;
            report.results.push(CheckResult::new(
                "restore",
                "download",
                Status::Ok,
                format!("{id} downloaded from copy target `{name}` and checked"),
            ));
            fetched = Options {
                id: Some(id),
                from: None,
                only: options.only.clone(),
                identity: options.identity.clone(),
                state_dir: options.state_dir.clone(),
                runbook_flag: options.runbook_flag.clone(),
                ..*options
            };
            &fetched
        }
        None => options,
    };
    let prepared = prepare(runbook, options).await?;
    let (entry, planned) = (&prepared.entry, &prepared.planned);

    // 1. Verify: a backup that does not read back changes nothing. A volume
    // restored directly is verified as it is unpacked beside its data, before
    // anything stops (a dry run verifies everything).
    progress.say(format!("verifying {}", entry.id));
    let upfront = planned
        .iter()
        .filter(|p| options.dry_run || !is_direct(p))
        .map(|p| p.item.clone())
        .collect();
    let bad = upfront::verify_items(&entry.path, upfront, &prepared.identities).await;
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
    let lifecycle = Lifecycle::listening(&prepared.deployment, progress, "restore");
    // A dump's service that is not running starts first (or the restore is refused).
    let started = precheck::start_first(runbook, &lifecycle, &prepared.to_start).await?;
    report.results.extend(started);
    let hook_setup = hooks;
    let hooks = runbook.model.restore.as_ref();
    let before = hooks.map(|h| h.before.as_slice()).unwrap_or_default();
    let after = hooks.map(|h| h.after.as_slice()).unwrap_or_default();
    if !hooks::run(hook_setup, "restore.before", before, report).await {
        fail_untouched(report, "a restore.before step failed");
        let again = precheck::stop_again(runbook, &lifecycle, &prepared.to_start).await;
        report.results.extend(again);
        return Ok(());
    }
    // Safety backup, stop, replace (or put back), start again; the verify checks.
    let done = restore(runbook, options, &prepared, &lifecycle, report).await;
    // Whatever happened above: `after` undoes what `before` did (maintenance mode off).
    hooks::run(hook_setup, "restore.after", after, report).await;
    if !matches!(done, Ok((_, true))) {
        // Not restored: a service started for a dump is stopped again, as it was.
        let again = precheck::stop_again(runbook, &lifecycle, &prepared.to_start).await;
        report.results.extend(again);
    }
    if let (Some(way_back), _) = done?
        && let Some(id) = &way_back.safety_id
    {
        report
            .blocks
            .push(Block::Line(format!("safety backup: {id}")));
    }
    Ok(())
}

/// A volume restored directly on this host (staged, then swapped in).
fn is_direct(p: &Planned) -> bool {
    matches!(
        p.target,
        Target::Volume {
            direct: Some(_),
            ..
        }
    )
}

/// The backup, its items and where each goes back to, and the services that
/// stop: all checked against the runbook and Docker (exit 3 on a problem).
async fn prepare<'a>(runbook: &'a Runbook, options: &Options) -> Result<Prepared<'a>, Error> {
    let backup = crate::backup::settings(runbook)?;
    let dir = runbook.backup_dir(backup);
    let entry = crate::backup::select(&dir, options.id.as_deref(), false)?
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
    let deployment = crate::deploy::connect(runbook, "restore").await?;
    let on_stack = deployment.is_stack();
    let homes = match on_stack {
        true => Some(Homes::read(&deployment).await?),
        false => None,
    };
    let planned = targets::resolve(
        &deployment,
        runbook,
        backup,
        &project,
        items,
        homes.as_ref(),
    )
    .await?;
    drop(homes);
    if crate::docker::engine_is_remote()
        && planned
            .iter()
            .any(|p| matches!(p.target, targets::Target::File { .. }))
    {
        return Err(crate::backup::remote_files(deployment.endpoint()));
    }
    let identities = upfront::identities(&entry.path, &planned, options.identity.as_deref())?;
    let containers = crate::docker::containers_with_tasks(&deployment).await?;
    let to_start = precheck::check(&deployment, &planned, &containers).await?;
    let stop = targets::services_to_stop(&planned, |s| runbook.plan.dependents_of(s));
    // What runs now, and what starts first for a dump, stops for the replacing.
    let running = if on_stack {
        crate::deploy::scale::scaled_up(&crate::docker::Stack::read(&deployment).await?, &stop)
    } else {
        docker::running_services(&containers, &stop)
    };
    let mut elsewhere = targets::elsewhere(&planned);
    // The safety backup's dumps run in tasks wherever they run.
    for p in &planned {
        if let Target::Dump { service, .. } = &p.target
            && let Some(task) = docker::running_of(&containers, service)
            && let Some(node) = &task.node
        {
            let engine = deployment.on_node(node).await.map_err(|why| {
                Error::Usage(format!(
                    "dump `{}`: {why}; nothing was changed",
                    p.item.name
                ))
            })?;
            elsewhere
                .dumps
                .insert(service.clone(), (engine, task.id.clone()));
        }
    }
    let stopping = stop
        .into_iter()
        .filter(|s| running.contains(s) || to_start.iter().any(|t| t.service == *s))
        .collect();
    Ok(Prepared {
        backup,
        dir,
        entry,
        project,
        deployment,
        planned,
        identities,
        to_start,
        stopping,
        elsewhere,
    })
}

/// The safety backup's dumps while their services run, then, with the
/// services stopped, its volumes and files and the replacing (put back
/// after a failure); the services start again whatever happened, and the
/// verify checks run when all went well. The way back, once anything was
/// attempted, and whether every item was restored; an error only when
/// Docker fails before anything was stopped.
async fn restore(
    runbook: &Runbook,
    options: &Options,
    prepared: &Prepared<'_>,
    lifecycle: &Lifecycle<'_>,
    report: &mut Report,
) -> Result<(Option<WayBack>, bool), Error> {
    let deployment = &prepared.deployment;
    let progress = lifecycle.progress;
    let containers = deployment.containers().await?;

    // Volumes restored directly are unpacked and verified beside their data first.
    let staging = staged::stage_all(
        &prepared.entry.path,
        &prepared.planned,
        &prepared.identities,
        progress,
        &lifecycle.interrupt,
    )
    .await;
    let staged = match staging {
        Ok(staging) => {
            report.results.extend(staging.notes);
            staging.staged
        }
        Err((results, why)) => {
            report.results.extend(results);
            let reason = match why {
                staged::Unstaged::Bad(_) => format!("backup {} does not verify", prepared.entry.id),
                staged::Unstaged::Interrupted => INTERRUPTED.to_string(),
                staged::Unstaged::Failed(_) => {
                    "a volume could not be unpacked beside its data".to_string()
                }
            };
            fail_untouched(report, &reason);
            return Ok((None, false));
        }
    };

    // The dumps first, while their services run (nothing is stopped yet).
    let mut safety = None;
    if options.safety_backup {
        let opened = Safety::open(
            deployment,
            &containers,
            &prepared.elsewhere,
            prepared.backup,
            &prepared.dir,
            runbook.name(),
        );
        let mut taken = opened.inspect_err(|_| staged.iter().for_each(|s| s.clean(false)))?;
        progress.say("safety backup of the current state");
        let dumps = taken
            .copy(
                &prepared.planned,
                |p| p.item.kind == Kind::Dump,
                progress,
                &lifecycle.interrupt,
            )
            .await;
        if let Err(reason) = dumps {
            staged.iter().for_each(|s| s.clean(false));
            report.results.push(CheckResult::new(
                "restore",
                "result",
                Status::Crit,
                safety_refused(&reason, "nothing was stopped or changed"),
            ));
            return Ok((None, false));
        }
        safety = Some(taken);
    }

    let down = Instant::now();
    let done = lifecycle
        .while_stopped(&runbook.plan, &prepared.stopping, |all_stopped| {
            replace_all(runbook, prepared, lifecycle, safety, &staged, all_stopped)
        })
        .await;
    report
        .results
        .extend(done.stopped.into_iter().filter(|r| r.status != Status::Ok));
    let mut replaced = done.outcome;
    if !prepared.stopping.is_empty() {
        replaced.downtime = Some(down.elapsed());
    }
    // The services run again: the data swapped out goes into the safety backup.
    safety::after_swap(runbook, &mut replaced, &staged, progress).await;
    report.results.extend(replaced.safety.clone());
    let all_started = done.started.iter().all(|r| r.status == Status::Ok);
    report.results.extend(done.started);

    let way_back = WayBack {
        runbook_flag: options.runbook_flag.clone(),
        safety_id: replaced.taken.as_ref().map(|t| t.id.clone()),
    };
    report_items(prepared, &replaced, &way_back, report);
    if replaced.failure.is_none() && all_started {
        // The verify checks, as after a startup.
        report
            .results
            .extend(check::verify_checks(runbook, deployment).await?);
    }
    Ok((Some(way_back), replaced.failure.is_none()))
}

/// A safety backup that cannot be taken refuses the restore: why, what was
/// left alone, and the way forward.
fn safety_refused(reason: &str, untouched: &str) -> String {
    if reason == INTERRUPTED {
        return format!(
            "{INTERRUPTED} during the safety backup: the restore was refused, {untouched}"
        );
    }
    format!(
        "safety backup: {reason}: the restore was refused, {untouched}; to restore without a safety backup (the current state of these items is then not kept), run it again with --no-safety-backup"
    )
}

/// With the services stopped: the rest of the safety backup, then each item
/// (files and volumes first, then dumps, whose services start for them). A
/// failure or a signal ends it after the item in hand, and what changed is
/// put back from the safety backup.
async fn replace_all<'a>(
    runbook: &Runbook,
    prepared: &Prepared<'_>,
    lifecycle: &Lifecycle<'a>,
    safety: Option<Safety<'a>>,
    staged: &[Staged],
    all_stopped: bool,
) -> Replaced<'a> {
    let progress = lifecycle.progress;
    let mut replaced = Replaced::default();
    if !all_stopped {
        replaced.failure = Some("a service did not stop: nothing was replaced".into());
        return replaced;
    }
    let interrupt = &lifecycle.interrupt;
    if let Some(mut taken) = safety {
        // A volume swapped out is copied once the services run again.
        let swapped_out = |p: &Planned| staged.iter().any(|s| s.name == p.item.name);
        let rest = taken
            .copy(
                &prepared.planned,
                |p| p.item.kind != Kind::Dump && !swapped_out(p),
                progress,
                interrupt,
            )
            .await;
        let deferred = !staged.is_empty();
        let (finished, pending) = match rest {
            Err(reason) => (Err(reason), None),
            Ok(()) if deferred => (Ok(taken.view()), Some(taken)),
            Ok(()) => (taken.finish(runbook), None),
        };
        let finished = finished.and_then(|taken| {
            // One this run cannot read back is of no use to it: not kept.
            upfront::readable(&taken, &prepared.identities).inspect_err(|_| {
                let _ = std::fs::remove_dir_all(&taken.folder);
            })?;
            Ok(taken)
        });
        match finished {
            Ok(taken) => {
                if pending.is_none() {
                    progress.say(format!("safety backup {}", taken.id));
                    replaced.safety = Some(safety::taken_result(&taken, &prepared.dir));
                }
                replaced.taken = Some(taken);
                replaced.pending = pending;
            }
            Err(reason) => {
                replaced.failure = Some(safety_refused(&reason, "nothing was replaced"));
                return replaced;
            }
        }
    }

    replace_items(runbook, prepared, lifecycle, staged, &mut replaced).await;
    if replaced.failure.is_some()
        && let Some(taken) = &replaced.taken
    {
        let undo = Undo {
            runbook,
            planned: &prepared.planned,
            stopping: &prepared.stopping,
            identities: &prepared.identities,
            lifecycle,
            staged,
        };
        replaced.put_back = rollback::put_back(&undo, taken, &replaced.outcomes).await;
    }
    replaced
}

/// Replaces each item in order, until one fails or a signal comes; a
/// volume staged beside its data is swapped in.
async fn replace_items(
    runbook: &Runbook,
    prepared: &Prepared<'_>,
    lifecycle: &Lifecycle<'_>,
    staged: &[Staged],
    replaced: &mut Replaced<'_>,
) {
    let progress = lifecycle.progress;
    let is_dump = |p: &&Planned| matches!(p.target, Target::Dump { .. });
    let planned = &prepared.planned;
    let ordered = planned
        .iter()
        .filter(|p| !is_dump(p))
        .chain(planned.iter().filter(is_dump));
    let mut dumps_ready = false;
    for p in ordered {
        if lifecycle.interrupt.is_raised() {
            replaced.failure = Some(INTERRUPTED.into());
            return;
        }
        if is_dump(&p) && !dumps_ready {
            dumps_ready = true;
            if let Err(reason) = start_for_dumps(runbook, prepared, lifecycle).await {
                replaced.failure = Some(reason);
                return;
            }
        }
        let started = Instant::now();
        let meter = progress.meter(&p.item.name);
        let result = match staged.iter().find(|s| s.name == p.item.name) {
            Some(staged) => staged.swap(),
            None => {
                replace::item(
                    &prepared.deployment,
                    &prepared.entry.path,
                    p,
                    &prepared.identities,
                    meter.counter(),
                )
                .await
            }
        };
        meter.done();
        match &result {
            Ok(()) => progress.say(format!(
                "{}: restored {} in {}",
                p.item.name,
                human::bytes(p.item.size),
                human::took(started.elapsed())
            )),
            Err(failed) => progress.say(format!("{}: FAILED: {}", p.item.name, failed.reason)),
        }
        let failed = result.is_err();
        replaced
            .outcomes
            .push((p.item.name.clone(), result.map(|()| p.item.size)));
        if failed {
            replaced.failure = Some(format!("`{}` could not be restored", p.item.name));
            return;
        }
    }
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

/// What was and was not restored, what was put back, the failure, and the
/// way back when something changed that was not put back.
fn report_items(
    prepared: &Prepared,
    replaced: &Replaced<'_>,
    way_back: &WayBack,
    report: &mut Report,
) {
    let safety_id = way_back.safety_id.as_deref().unwrap_or_default();
    for p in &prepared.planned {
        report.results.push(item_result(p, replaced, safety_id));
    }
    let outcomes = &replaced.outcomes;
    let changed = rollback::changed(outcomes);
    let put_back = |ok: bool| -> Vec<&str> {
        replaced
            .put_back
            .iter()
            .filter(|(_, o)| o.is_ok() == ok)
            .map(|(n, _)| n.as_str())
            .collect()
    };
    let (back, not_back) = (put_back(true), put_back(false));
    // Changed and still changed: what the way back is for.
    let left: Vec<&str> = changed
        .iter()
        .copied()
        .filter(|n| !back.contains(n))
        .collect();
    let show_way_back = replaced.failure.is_some() && !left.is_empty();
    if let Some(reason) = &replaced.failure {
        report.results.push(CheckResult::new(
            "restore",
            "result",
            Status::Crit,
            reason.clone(),
        ));
        if replaced.taken.is_some() || !changed.is_empty() {
            report
                .results
                .push(put_back_result(&changed, &back, &not_back, way_back));
        }
        if show_way_back {
            report.blocks.push(Block::Line(way_back.line()));
        }
    }
    let restored: Vec<&str> = outcomes
        .iter()
        .filter(|(n, o)| o.is_ok() && !back.contains(&n.as_str()))
        .map(|(n, _)| n.as_str())
        .collect();
    report.extra.insert(
        "restore".into(),
        json!({
            "backup": prepared.entry.id,
            "safety_backup": way_back.safety_id,
            "restored": restored,
            "put_back": back,
            "not_put_back": not_back,
            "way_back": show_way_back.then(|| way_back.line()),
            "downtime_ms": replaced.downtime.map_or(0, |d| d.as_millis() as u64),
        }),
    );
    if let Some(down) = replaced.downtime {
        report.blocks.push(Block::Line(format!(
            "services were down {}",
            human::took(down)
        )));
    }
}

/// One item's result: restored, put back, failed, or not reached.
fn item_result(p: &Planned, replaced: &Replaced<'_>, safety_id: &str) -> CheckResult {
    let name = &p.item.name;
    let outcome = replaced.outcomes.iter().find(|(n, _)| n == name);
    let back = replaced
        .put_back
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, o)| o);
    let result = |status, message: String| CheckResult::new("restore", name, status, message);
    match (outcome, back) {
        (Some((_, Ok(size))), None) => result(
            Status::Ok,
            format!("restored ({}) into {}", human::bytes(*size), p.describe()),
        )
        .with_value(*size as f64, "bytes"),
        (Some((_, Ok(_))), Some(Ok(()))) => result(
            Status::Warn,
            format!("restored, then put back from safety backup {safety_id}: as it was before"),
        ),
        (Some((_, Ok(_))), Some(Err(e))) => result(
            Status::Crit,
            format!(
                "restored, and NOT put back from safety backup {safety_id} ({e}): it holds the backup's data"
            ),
        ),
        (Some((_, Err(f))), Some(Ok(()))) => result(
            Status::Crit,
            format!(
                "{}; put back from safety backup {safety_id}: as it was before",
                f.reason
            ),
        ),
        (Some((_, Err(f))), Some(Err(e))) => result(
            Status::Crit,
            format!(
                "{}; NOT put back from safety backup {safety_id} ({e}): its state is unknown",
                f.reason
            ),
        ),
        (Some((_, Err(f))), None) if !f.touched => {
            result(Status::Crit, format!("{}; left as it was", f.reason))
        }
        (Some((_, Err(f))), None) => result(
            Status::Crit,
            format!("{}; it may be partly restored", f.reason),
        ),
        (None, _) => result(
            Status::Crit,
            "not restored: the restore stopped before it (left as it was)".into(),
        ),
    }
}

/// After a failure: whether the deployment is as it was before the restore.
fn put_back_result(
    changed: &[&str],
    back: &[&str],
    not_back: &[&str],
    way_back: &WayBack,
) -> CheckResult {
    let result = |status, message: String| CheckResult::new("restore", "put back", status, message);
    let Some(id) = &way_back.safety_id else {
        return result(
            Status::Crit,
            format!(
                "no safety backup was taken (--no-safety-backup): nothing to put back from; changed by the restore and left so: {}",
                listed(
                    &changed.iter().rev().copied().collect::<Vec<_>>(),
                    "nothing"
                )
            ),
        );
    };
    // Warn, not ok: shown in the text report too, as its last line.
    if changed.is_empty() {
        return result(
            Status::Warn,
            "nothing had changed yet: the deployment is as it was before the restore".into(),
        );
    }
    if not_back.is_empty() {
        return result(
            Status::Warn,
            format!(
                "put back from safety backup {id}: {}: the deployment is as it was before the restore",
                back.join(", ")
            ),
        );
    }
    result(
        Status::Crit,
        format!(
            "NOT as before the restore: put back from safety backup {id}: {}; could not be put back: {}",
            listed(back, "none"),
            not_back.join(", ")
        ),
    )
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
    for start in &prepared.to_start {
        report.blocks.push(Block::Line(format!(
            "`{}` is not running: started first for dump `{}` (the restore is refused if it does not become ready)",
            start.service,
            start.items.join("`, `")
        )));
    }
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
    for start in &prepared.to_start {
        parts.push(format!("starting {} first (not running)", start.service));
    }
    if !prepared.stopping.is_empty() {
        parts.push(format!(
            "stopping {} (started again after)",
            prepared.stopping.join(", ")
        ));
    }
    (question, parts)
}

fn listed(names: &[impl AsRef<str>], none: &str) -> String {
    if names.is_empty() {
        return none.to_string();
    }
    let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    names.join(", ")
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
