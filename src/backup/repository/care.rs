//! Looking after the repository: `backup verify` (restic's check: the
//! structure, then every pack's bytes read and checked against their
//! hashes, or a share of them with `--read-data-subset`) and `backup
//! prune` (the runbook's `keep` as restic's forget rules over the
//! project's snapshots, then the repository's prune). Prune removes the
//! packs no snapshot needs at once, as restic's does; opsbook's lock keeps
//! its own backups out meanwhile, so one repository is pruned from one host
//! (the README says so). Each copy target's copy is pruned with it.

use rustic_core::{CheckOptions, KeepOptions, PruneOptions, ReadSubsetOption};

use super::{Place, TAG};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::runbook::model::Keep;
use crate::ui::human;

/// `backup verify`: restic's check of the repository, reading `subset`
/// of the data (all of it when none).
pub(crate) async fn verify(
    place: &Place,
    subset: Option<&str>,
    report: &mut Report,
) -> Result<(), Error> {
    let share = subset.unwrap_or("all");
    let read: ReadSubsetOption = share.parse().map_err(|_| {
        Error::Usage(format!(
            "--read-data-subset `{share}`: give a share (10%), a part (1/5) or a size (500MiB)"
        ))
    })?;
    let repository = place.open().await?;
    let held = place.lock(&repository, false, "verify").await?;
    report.results.extend(super::lock::removed(&held, "verify"));
    let started = std::time::Instant::now();
    let checked = tokio::task::spawn_blocking(move || {
        let options = CheckOptions::default()
            .read_data(true)
            .read_data_subset(read);
        repository.check(options)
    })
    .await;
    held.release().await;
    let checked = checked
        .map_err(|e| Error::Usage(format!("repository: {e}")))?
        .map_err(|e| place.refused(&e))?;
    for (level, finding) in &checked.0 {
        // rustic_core does not export the level's type: its name tells.
        let status = if format!("{level:?}") == "Warn" {
            Status::Warn
        } else {
            Status::Crit
        };
        report.results.push(CheckResult::new(
            "verify",
            "repository",
            status,
            finding.to_string(),
        ));
    }
    if checked.0.is_empty() {
        report.results.push(CheckResult::new(
            "verify",
            "repository",
            Status::Ok,
            format!(
                "restic repository {} checked, data read: {share}, in {}",
                place.location(),
                human::took(started.elapsed())
            ),
        ));
    }
    Ok(())
}

/// How `backup prune` was asked for.
pub(crate) struct Pruning<'a> {
    pub dry_run: bool,
    pub yes: bool,
    pub state_dir: &'a std::path::Path,
}

/// `backup prune`: in the repository and in each copy target's copy (by
/// the target's own `keep`, else the backup's), the snapshots `keep` does
/// not keep forgotten (all of them kept without one), then unused data
/// pruned; one confirmation for all, under the lock no backup of this
/// runbook runs beside. A copy that fails is crit; the others go on.
pub(crate) async fn prune(
    runbook: &Runbook,
    place: &Place,
    asked: &Pruning<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let copies = super::copy::targets(runbook, None)?;
    let also = match copies.is_empty() {
        true => String::new(),
        false => " and in its copies on every copy target".to_string(),
    };
    if !asked.dry_run
        && !crate::ui::confirm::confirm(
            &format!(
                "forget the snapshots backup.keep does not keep in {}{also}, and prune",
                place.location()
            ),
            asked.yes,
        )?
    {
        return Err(Error::Usage("prune cancelled: nothing was deleted".into()));
    }
    let state = crate::state::StateDir::open(asked.state_dir)?;
    let _lock = state.lock(&runbook.data_lock_key(), "backup prune")?;
    let keep = runbook.model.backup.as_ref().and_then(|b| b.keep);
    prune_one(runbook, place, keep, None, asked.dry_run, report).await?;
    for copy in &copies {
        let label = format!("copy {}", copy.name);
        let (status, message) = match copy.place.made().await {
            Ok(false) => (
                Status::Ok,
                format!("no copy yet on {}: nothing to prune", copy.place.location()),
            ),
            _ => {
                let keep = copy.keep.or(keep);
                let (place, name) = (&copy.place, Some(copy.name.as_str()));
                match prune_one(runbook, place, keep, name, asked.dry_run, report).await {
                    Ok(()) => continue,
                    Err(e) => (Status::Crit, e.lines().join("; ")),
                }
            }
        };
        report
            .results
            .push(CheckResult::new("prune", &label, status, message));
    }
    Ok(())
}

/// One repository's prune by `keep`; `copy`: the copy target it is on.
async fn prune_one(
    runbook: &Runbook,
    place: &Place,
    keep: Option<Keep>,
    copy: Option<&str>,
    dry_run: bool,
    report: &mut Report,
) -> Result<(), Error> {
    let label = copy.map_or("repository".to_string(), |name| format!("copy {name}"));
    let Some(keep) = keep else {
        report.results.push(CheckResult::new(
            "prune",
            &label,
            Status::Ok,
            "no backup.keep: every snapshot is kept",
        ));
        return Ok(());
    };
    let rules = rules(keep);
    let repository = place.open().await?;
    let held = place.lock(&repository, !dry_run, "prune").await?;
    report.results.extend(super::lock::removed(&held, "prune"));
    let project = format!("project={}", runbook.name());
    let pruned = tokio::task::spawn_blocking(move || {
        let snapshots = repository
            .get_matching_snapshots(|s| s.tags.contains(TAG) && s.tags.contains(&project))?;
        let decided = rules.apply(snapshots, &jiff::Zoned::now())?;
        let doomed: Vec<_> = decided.iter().filter(|f| !f.keep).collect();
        let names: Vec<String> = doomed.iter().map(|f| shown(&f.snapshot)).collect();
        if dry_run || doomed.is_empty() {
            return Ok((names, None));
        }
        let ids: Vec<_> = doomed.iter().map(|f| f.snapshot.id).collect();
        repository.delete_snapshots(&ids)?;
        let options = PruneOptions::default().instant_delete(true);
        let plan = repository.prune_plan(&options)?;
        let stats = (
            plan.stats.packs_to_delete.remove,
            plan.stats.size_to_delete.remove,
        );
        repository.prune(&options, plan)?;
        Ok((names, Some(stats)))
    })
    .await;
    held.release().await;
    let pruned = pruned
        .map_err(|e| Error::Usage(format!("repository: {e}")))?
        .map_err(|e: Box<rustic_core::RusticError>| place.refused(&e))?;
    let (names, stats) = pruned;
    let verb = if dry_run { "would forget" } else { "forgot" };
    for name in &names {
        let name = copy.map_or(name.clone(), |copy| format!("{copy}:{name}"));
        report.results.push(CheckResult::new(
            "prune",
            name,
            Status::Ok,
            verb.to_string(),
        ));
    }
    let of = copy.map_or(String::new(), |_| format!(" in {}", place.location()));
    report.blocks.push(Block::Line(match stats {
        Some((packs, bytes)) => format!(
            "{} snapshot(s) forgotten{of}; {packs} pack(s), {}, no longer needed were removed",
            names.len(),
            human::bytes(bytes)
        ),
        None if dry_run => format!(
            "dry run: {} snapshot(s) would be forgotten{of}",
            names.len()
        ),
        None => format!("nothing to forget{of}"),
    }));
    Ok(())
}

/// `backup.keep` as restic's forget rules.
fn rules(keep: Keep) -> KeepOptions {
    let n = |rule: Option<u32>| rule.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    let mut options = KeepOptions::default();
    options.keep_last = n(keep.last);
    options.keep_daily = n(keep.daily);
    options.keep_weekly = n(keep.weekly);
    options.keep_monthly = n(keep.monthly);
    options
}

/// A snapshot as the prune names it: its backup id.
fn shown(snapshot: &rustic_core::repofile::SnapshotFile) -> String {
    snapshot
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("backup=").map(str::to_string))
        .unwrap_or_else(|| snapshot.id.to_string())
}
