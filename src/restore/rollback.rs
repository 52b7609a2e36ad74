//! All or nothing: when an item fails (or a signal comes) after the
//! replacing began, every item already replaced, and the failing one when
//! it may have been partly written, is put back from the safety backup, in
//! reverse order, before the services start again. The safety backup holds
//! exactly those items in the stored format, so `replace::item` puts them
//! back as it restores any backup. A file the safety backup has no copy of
//! did not exist before the restore: putting it back removes it. A volume
//! swapped in by `staged` is put back by renaming its set-aside data back,
//! which needs no copy.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::deploy::lifecycle::Lifecycle;
use crate::interrupt::Interrupt;
use crate::runbook::Runbook;

use super::replace::{self, Failed, Identities};
use super::safety::Taken;
use super::staged::Staged;
use super::targets::{self, Planned, Target};

/// Each item tried, in order: its size, or why it failed.
pub(super) type Outcomes = Vec<(String, Result<u64, Failed>)>;

/// What the put-back needs from the restore.
pub(super) struct Undo<'a> {
    pub runbook: &'a Runbook,
    pub planned: &'a [Planned],
    /// The services the restore stopped.
    pub stopping: &'a [String],
    pub identities: &'a Identities,
    pub lifecycle: &'a Lifecycle<'a>,
    /// The volumes staged beside their data: swapped back by rename.
    pub staged: &'a [Staged],
}

/// The items that may have changed, newest first: every one replaced, and
/// the failing one when it was touched.
pub(super) fn changed(outcomes: &Outcomes) -> Vec<&str> {
    outcomes
        .iter()
        .rev()
        .filter(|(_, o)| o.as_ref().map_or_else(|f| f.touched, |_| true))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// Puts every changed item back, newest first: a volume swapped in by
/// renaming its set-aside data back (no copy needed, so also without a
/// safety backup), anything else from `taken`; without one, only the
/// swapped volumes come back. Each one's outcome. Signals are not heeded: it is what makes the signal safe. The
/// services started again for the dumps are stopped before a volume or a
/// file is put back (nothing may write to it meanwhile).
pub(super) async fn put_back(
    undo: &Undo<'_>,
    taken: Option<&Taken>,
    outcomes: &Outcomes,
) -> Vec<(String, Result<(), String>)> {
    let deployment = undo.lifecycle.deployment;
    let progress = undo.lifecycle.progress;
    let steady = Lifecycle {
        deployment,
        progress,
        interrupt: Interrupt::never(),
        section: undo.lifecycle.section,
    };
    let plan = &undo.runbook.plan;
    let dependents = |s: &str| plan.dependents_of(s);
    let for_dumps = targets::needed_for_dumps(undo.planned, undo.stopping, dependents);
    let mut stopped_again = for_dumps.is_empty();
    let mut results = Vec::new();
    for name in changed(outcomes) {
        let Some(p) = undo.planned.iter().find(|p| p.item.name == name) else {
            continue;
        };
        let swapped = undo.staged.iter().find(|s| s.name == name);
        let Some(from) = taken.map(|t| t.id.as_str()).or(swapped.map(|_| "")) else {
            continue;
        };
        if !stopped_again && !matches!(p.target, Target::Dump { .. }) {
            stopped_again = true;
            if let Ok(containers) = deployment.list().await {
                steady
                    .stop(&plan.stop_order(&for_dumps), &containers, plan.grace)
                    .await;
            }
        }
        progress.say(match swapped {
            Some(s) => format!("{name}: putting back {}", s.old.display()),
            None => format!("{name}: putting back from safety backup {from}"),
        });
        let copy = taken.and_then(|t| t.items.iter().find(|i| i.name == name).map(|i| (t, i)));
        let outcome = match copy {
            _ if swapped.is_some() => swapped.map_or(Ok(()), Staged::swap_back),
            Some((taken, item)) => {
                let copy = Planned {
                    item: item.clone(),
                    target: p.target.clone(),
                };
                let counter = Arc::new(AtomicU64::new(0));
                replace::item(deployment, &taken.folder, &copy, undo.identities, counter)
                    .await
                    .map_err(|f| f.reason)
            }
            None => absent(p),
        };
        if let Err(reason) = &outcome {
            progress.say(format!("{name}: NOT put back: {reason}"));
        }
        results.push((name.to_string(), outcome));
    }
    results
}

/// An item the safety backup has no copy of: a file that did not exist
/// before the restore is removed again.
fn absent(p: &Planned) -> Result<(), String> {
    match &p.target {
        Target::File { path } => {
            crate::state::files::remove_if_present(path).map_err(|e| format!("removing it: {e}"))
        }
        _ => Err("the safety backup has no copy of it".into()),
    }
}
