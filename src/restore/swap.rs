//! The swap, with what must be stopped stopped: volumes restored directly
//! are unpacked and verified beside their data first, the safety backup
//! takes the dumps while their services run, then with the services
//! stopped its volumes and files and each item's replacing (a staged
//! volume by rename), then the services start again, saying how long they
//! were down; the data a swap set aside goes into the safety backup, and
//! the verify checks run. A failure or a signal after the replacing began
//! puts every changed item back (`rollback`) before the services start.

use std::time::{Duration, Instant};

use crate::backup::manifest::Kind;
use crate::check;
use crate::deploy::lifecycle::Lifecycle;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;
use crate::ui::human;

use super::prepare::Prepared;
use super::replace::{self};
use super::results::{WayBack, report_items};
use super::rollback::{Outcomes, Undo};
use super::safety::{self, Safety, Taken};
use super::staged::{self, Staged};
use super::targets::{Planned, Target};
use super::{INTERRUPTED, Options, fail_untouched, rollback, targets, upfront};

/// What happened while the services were down.
#[derive(Default)]
pub(super) struct Replaced<'a> {
    pub(super) safety: Option<CheckResult>,
    pub(super) taken: Option<Taken>,
    /// A safety backup still open: the copies of the volumes swapped out
    /// are added once the services run again (then `taken` is its view).
    pub(super) pending: Option<Safety<'a>>,
    /// First stop to last start, when anything was stopped.
    pub(super) downtime: Option<Duration>,
    /// Each item tried, in order: its size, or why it failed.
    pub(super) outcomes: Outcomes,
    pub(super) failure: Option<String>,
    /// After a failure: each changed item put back from the safety backup, or why not.
    pub(super) put_back: Vec<(String, Result<(), String>)>,
    /// Without a safety backup: the volumes swapped in whose set-aside data
    /// (then the only copy of their state before) is kept until the whole
    /// restore is verified.
    pub(super) set_aside: Vec<String>,
}

/// The safety backup's dumps while their services run, then, with the
/// services stopped, its volumes and files and the replacing (put back
/// after a failure); the services start again whatever happened, and the
/// verify checks run when all went well. The way back, once anything was
/// attempted, and whether every item was restored; an error only when
/// Docker fails before anything was stopped.
pub(super) async fn restore(
    runbook: &Runbook,
    options: &Options,
    prepared: &Prepared<'_>,
    lifecycle: &Lifecycle<'_>,
    report: &mut Report,
) -> Result<(Option<WayBack>, bool), Error> {
    let deployment = &prepared.deployment;
    let progress = lifecycle.progress;
    let containers = deployment.containers().await?;

    let Some(staged) = stage(prepared, lifecycle, report).await else {
        return Ok((None, false));
    };
    // The dumps first, while their services run (nothing is stopped yet).
    let safety = if options.safety_backup {
        let safety = safety_dumps(runbook, prepared, &containers, lifecycle, &staged).await?;
        match safety {
            Ok(taken) => Some(taken),
            Err(reason) => {
                staged.iter().for_each(|s| s.clean(false));
                report.results.push(CheckResult::new(
                    "restore",
                    "result",
                    Status::Crit,
                    safety_refused(&reason, "nothing was stopped or changed"),
                ));
                return Ok((None, false));
            }
        }
    } else {
        None
    };

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
    let mut verified = false;
    if replaced.failure.is_none() && all_started {
        // The verify checks, as after a startup.
        let checks = check::verify_checks(runbook, deployment).await?;
        verified = checks.iter().all(|r| r.status == Status::Ok);
        report.results.extend(checks);
    }
    let verified = verified && !lifecycle.interrupt.is_raised();
    report
        .results
        .extend(finish_set_aside(&replaced.set_aside, &staged, verified));
    Ok((Some(way_back), replaced.failure.is_none()))
}

/// Without a safety backup, the data a swap set aside is the only copy of
/// the state before: removed only once the whole restore is verified (the
/// items, the start, the verify checks, no signal); otherwise kept and
/// named, with the way back to it.
fn finish_set_aside(names: &[String], staged: &[Staged], verified: bool) -> Vec<CheckResult> {
    let mut notes = Vec::new();
    for s in staged.iter().filter(|s| names.contains(&s.name)) {
        if verified {
            s.clean(true);
            continue;
        }
        notes.push(CheckResult::new(
            "restore",
            format!("{}: set aside", s.name),
            Status::Warn,
            format!(
                "the restore did not verify and no safety backup was taken, so the data from before it is kept in {}: to go back to it, stop the services and rename it to {}; once the volume's data is right, remove it (rm -rf)",
                s.old.display(),
                s.data.display()
            ),
        ));
    }
    notes
}

/// Volumes restored directly, unpacked and verified beside their data
/// first; `None` when one could not be (the report says why, nothing was
/// changed).
async fn stage(
    prepared: &Prepared<'_>,
    lifecycle: &Lifecycle<'_>,
    report: &mut Report,
) -> Option<Vec<Staged>> {
    let staging = staged::stage_all(
        &prepared.entry.path,
        prepared.streamed.as_ref(),
        &prepared.planned,
        &prepared.identities,
        lifecycle.progress,
        &lifecycle.interrupt,
    )
    .await;
    match staging {
        Ok(staging) => {
            report.results.extend(staging.notes);
            Some(staging.staged)
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
            None
        }
    }
}

/// The safety backup opened, with the dumps taken while their services
/// run; why not, when they could not be.
async fn safety_dumps<'a>(
    runbook: &Runbook,
    prepared: &'a Prepared<'_>,
    containers: &'a [crate::docker::Container],
    lifecycle: &Lifecycle<'a>,
    staged: &[Staged],
) -> Result<Result<Safety<'a>, String>, Error> {
    let deployment = &prepared.deployment;
    let progress = lifecycle.progress;
    let opened = Safety::open(
        deployment,
        containers,
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
    Ok(dumps.map(|()| taken))
}

/// A safety backup that cannot be taken refuses the restore: why, what was
/// left alone, and the way forward.
pub(super) fn safety_refused(reason: &str, untouched: &str) -> String {
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
pub(super) async fn replace_all<'a>(
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
    if replaced.failure.is_some() {
        let undo = Undo {
            runbook,
            planned: &prepared.planned,
            stopping: &prepared.stopping,
            identities: &prepared.identities,
            lifecycle,
            staged,
        };
        let taken = replaced.taken.as_ref();
        replaced.put_back = rollback::put_back(&undo, taken, &replaced.outcomes).await;
    }
    replaced
}

/// Replaces each item in order, until one fails or a signal comes; a
/// volume staged beside its data is swapped in.
pub(super) async fn replace_items(
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
pub(super) async fn start_for_dumps(
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
