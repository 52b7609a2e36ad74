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
mod from_repository;
mod precheck;
mod prepare;
mod replace;
mod results;
mod rollback;
mod safety;
mod staged;
mod swap;
mod targets;
mod upfront;

use std::path::PathBuf;

use crate::backup::repository::export::Reading;
use crate::deploy::lifecycle::Lifecycle;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::state::StateDir;
use crate::steps::{Setup, hooks};
use crate::ui::confirm::confirm_plan;
use crate::ui::progress::Progress;

use targets::{Planned, Target};

/// Why the work stopped when a signal came.
const INTERRUPTED: &str = "interrupted by a signal";

pub(crate) struct Options {
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

impl Options {
    /// The same restore, of backup `id`, brought into the backup folder.
    fn of_backup(&self, id: String) -> Options {
        Options {
            id: Some(id),
            from: None,
            only: self.only.clone(),
            identity: self.identity.clone(),
            state_dir: self.state_dir.clone(),
            runbook_flag: self.runbook_flag.clone(),
            ..*self
        }
    }
}

/// Restores the backup `options` names. `hooks` runs `restore.before`
/// and `.after` (the command hands in the step engine's setup).
pub(crate) async fn run(
    runbook: &Runbook,
    options: &Options,
    hooks: Setup<'_>,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let backup = crate::backup::settings(runbook)?;
    if let Some(place) = crate::backup::repository::Place::of(runbook, backup)? {
        // `--from NAME`: the copy of the repository on that target.
        let place = match &options.from {
            Some(name) => crate::backup::repository::copy::target(runbook, name)?.place,
            None => place,
        };
        let fetched = from_repository::fetched(runbook, options, &place, progress, report).await?;
        let (options, reading) = (&fetched.options, Some(&fetched.reading));
        let done = restore(runbook, options, reading, hooks, progress, report).await;
        let _ = std::fs::remove_dir_all(&fetched.folder);
        fetched.reading.release().await;
        return done;
    }
    let fetched = match &options.from {
        Some(name) => Some(from_copy::fetched(runbook, options, name, progress, report).await?),
        None => None,
    };
    restore(
        runbook,
        fetched.as_ref().unwrap_or(options),
        None,
        hooks,
        progress,
        report,
    )
    .await
}

/// Restores the backup `options` names from the backup folder (its
/// volumes from `reading`'s snapshot, when it was read from a repository).
async fn restore(
    runbook: &Runbook,
    options: &Options,
    reading: Option<&Reading>,
    hooks: Setup<'_>,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let mut prepared = prepare::prepare(runbook, options).await?;
    if let Some(reading) = reading {
        from_repository::complete(reading, &mut prepared, options.dry_run).await?;
    }
    // What an earlier restore killed mid-way kept of the state before it.
    let unfinished = crate::backup::catalog::unfinished_safety(&prepared.dir);
    report
        .results
        .extend(crate::backup::freshness::unfinished_safety(
            &unfinished,
            "restore",
        ));
    let entry = &prepared.entry;
    if !verified(&prepared, options.dry_run, progress, report).await {
        return Ok(());
    }

    // 2. The plan, and a yes.
    results::show_plan(&prepared, report);
    if options.dry_run {
        report.results.push(CheckResult::new(
            "restore",
            "dry-run",
            Status::Ok,
            format!("dry run: backup {} verified, nothing was changed", entry.id),
        ));
        return Ok(());
    }
    let (question, parts) = results::confirmation(&prepared);
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
    let done = swap::restore(runbook, options, &prepared, &lifecycle, report).await;
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

/// Step 1, verify: a backup that does not read back changes nothing. A volume
/// restored directly is verified as it is unpacked beside its data, before
/// anything stops (a dry run verifies everything). Whether it verified.
async fn verified(
    prepared: &prepare::Prepared<'_>,
    dry_run: bool,
    progress: Progress<'_>,
    report: &mut Report,
) -> bool {
    let entry = &prepared.entry;
    progress.say(format!("verifying {}", entry.id));
    let upfront = prepared
        .planned
        .iter()
        .filter(|p| dry_run || !is_direct(p))
        .map(|p| p.item.clone())
        .collect();
    let bad = upfront::verify_items(&entry.path, upfront, &prepared.identities).await;
    if bad.is_empty() {
        return true;
    }
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
    false
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

/// A failure before anything was stopped or replaced.
fn fail_untouched(report: &mut Report, reason: &str) {
    report.results.push(CheckResult::new(
        "restore",
        "result",
        Status::Crit,
        format!("{reason}: nothing was stopped or changed"),
    ));
}
