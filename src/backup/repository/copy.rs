//! Copies of the repository off the host (`backup.copies` beside
//! `backup.repository`). Each copy target holds a restic repository of its
//! own in its folder `restic` (beside any archive copies), made at the first
//! copy with the runbook repository's password, chunker and compression, so
//! the same data makes the same chunks there and a copy sends only the
//! blobs the target lacks, as `restic copy` does. A snapshot's file is
//! written last: a copy cut short (a signal, a dead connection) leaves no
//! snapshot there, only packs the target's next prune removes. Both
//! repositories hold a shared restic lock for the copy.
//!
//! `backup` copies each new snapshot to every target; `backup copy`
//! copies the ones asked for where they are missing (by backup id).

use std::sync::Arc;
use std::time::Instant;

use rustic_core::repofile::SnapshotFile;

use super::ahead::Full;
use super::{Opened, Place, TAG};
use crate::backup::LATEST;
use crate::backup::copies::{INTERRUPTED, Target};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::runbook::model::Keep;

/// Results are filed under this section, as archive copies' are.
const SECTION: &str = "copies";

/// A copy target, as the copy of the repository it holds.
pub(crate) struct Copy {
    pub name: String,
    pub keep: Option<Keep>,
    pub place: Place,
}

/// The runbook's copy targets (or only `only`), each as the place of its
/// copy of the repository.
pub(crate) fn targets(runbook: &Runbook, only: Option<&str>) -> Result<Vec<Copy>, Error> {
    Target::all(runbook, only)
        .map_err(Error::Usage)?
        .into_iter()
        .map(|target| {
            let (name, keep) = (target.name.clone(), target.keep);
            let place = Place::on_copy(runbook, target)?;
            Ok(Copy { name, keep, place })
        })
        .collect()
}

/// The one copy target `name`, as the place of its copy.
pub(crate) fn target(runbook: &Runbook, name: &str) -> Result<Copy, Error> {
    let mut all = targets(runbook, Some(name))?;
    all.pop()
        .ok_or_else(|| Error::Usage(format!("no copy target `{name}`")))
}

/// Which snapshots to copy: one backup (`latest`: the newest), or all.
#[derive(Clone, Copy)]
pub(crate) enum Wanted<'a> {
    One(&'a str),
    All,
}

/// `backup copy [ID|latest] [--all-missing] [--to NAME]` of a repository.
pub(crate) async fn copy(
    runbook: &Runbook,
    id: Option<&str>,
    all_missing: bool,
    to: Option<&str>,
    report: &mut Report,
) -> Result<(), Error> {
    let interrupt = Interrupt::listen();
    let mut main = main(runbook)?;
    main.heed(&interrupt);
    let targets = targets(runbook, to)?;
    if targets.is_empty() {
        return Err(Error::Usage(format!(
            "the runbook `{}` has no `backup.copies` to copy to",
            runbook.display
        )));
    }
    let wanted = match all_missing {
        true => Wanted::All,
        false => Wanted::One(id.unwrap_or(LATEST)),
    };
    to_targets(runbook, &main, wanted, targets, &interrupt, report).await
}

/// Copies the new backup `id` to every target: what `backup` does last. A
/// failure is a crit result; the snapshot stays good in the repository.
pub(crate) async fn after_backup(
    runbook: &Runbook,
    id: &str,
    interrupt: &Interrupt,
    report: &mut Report,
) {
    let copied = match (main(runbook), targets(runbook, None)) {
        (Ok(mut main), Ok(targets)) => {
            main.heed(interrupt);
            to_targets(runbook, &main, Wanted::One(id), targets, interrupt, report).await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    if let Err(e) = copied {
        report.results.push(CheckResult::new(
            SECTION,
            "targets",
            Status::Crit,
            format!(
                "{}: the backup is kept in the repository, not copied",
                e.lines().join("; ")
            ),
        ));
    }
}

/// The runbook's repository.
fn main(runbook: &Runbook) -> Result<Place, Error> {
    Place::of(runbook, crate::backup::settings(runbook)?)?
        .ok_or_else(|| Error::Usage("the runbook has no backup.repository".to_string()))
}

/// Opens the repository, chooses the snapshots, and copies them to each
/// target in turn (after a signal, none is begun), under a shared lock.
async fn to_targets(
    runbook: &Runbook,
    main: &Place,
    wanted: Wanted<'_>,
    targets: Vec<Copy>,
    interrupt: &Interrupt,
    report: &mut Report,
) -> Result<(), Error> {
    let opened = main.open().await?;
    let held = main.lock(&opened, false, "copy").await?;
    report.results.extend(super::lock::removed(&held, "copy"));
    let chosen = chosen(runbook, main, opened, wanted).await;
    if let Ok((source, chosen)) = &chosen {
        for target in &targets {
            if interrupt.is_raised() {
                report.results.push(CheckResult::new(
                    SECTION,
                    &target.name,
                    Status::Crit,
                    format!(
                        "nothing copied to {}: {INTERRUPTED} before its turn; the backup is kept in the repository (`opsbook backup copy` sends it)",
                        target.place.location()
                    ),
                ));
                continue;
            }
            to_target(runbook, source, chosen, target, interrupt, report).await;
        }
    }
    held.release().await;
    chosen.map(|_| ())
}

/// The repository indexed for reading, and the project's snapshots
/// `wanted` names.
async fn chosen(
    runbook: &Runbook,
    main: &Place,
    opened: Opened,
    wanted: Wanted<'_>,
) -> Result<(Arc<Full>, Arc<Vec<SnapshotFile>>), Error> {
    let project = format!("project={}", runbook.name());
    let (indexed, all) = tokio::task::spawn_blocking(move || {
        let all =
            opened.get_matching_snapshots(|s| s.tags.contains(TAG) && s.tags.contains(&project))?;
        Ok::<_, Box<rustic_core::RusticError>>((opened.to_indexed()?, all))
    })
    .await
    .map_err(|e| Error::Usage(format!("repository: {e}")))?
    .map_err(|e| main.refused(&e))?;
    let mut all: Vec<SnapshotFile> = all;
    all.sort_by_key(|s| s.time.timestamp());
    let chosen = match wanted {
        Wanted::All => all,
        Wanted::One(LATEST) => all.pop().into_iter().collect(),
        Wanted::One(id) => all
            .into_iter()
            .filter(|s| backup_id(s) == Some(id))
            .collect(),
    };
    if chosen.is_empty() {
        return Err(Error::Usage(match wanted {
            Wanted::One(id) if id != LATEST => {
                format!("no backup `{id}` in restic repository {}", main.location())
            }
            _ => format!("no backup in restic repository {}", main.location()),
        }));
    }
    Ok((Arc::new(indexed), Arc::new(chosen)))
}

/// A snapshot's opsbook backup id (its `backup=` tag).
fn backup_id(snapshot: &SnapshotFile) -> Option<&str> {
    snapshot.tags.iter().find_map(|t| t.strip_prefix("backup="))
}

/// Copies those of `chosen` the target lacks; one result for the target.
async fn to_target(
    runbook: &Runbook,
    source: &Arc<Full>,
    chosen: &Arc<Vec<SnapshotFile>>,
    target: &Copy,
    interrupt: &Interrupt,
    report: &mut Report,
) {
    let started = Instant::now();
    let location = target.place.location();
    let (status, message) = match into(runbook, source, chosen, &target.place, report).await {
        Ok(copied) if copied.ids.is_empty() => (
            Status::Ok,
            format!("{location} already holds every backup asked for"),
        ),
        Ok(copied) => (
            Status::Ok,
            format!(
                "copied {} to {location}{} in {}",
                copied.ids.join(", "),
                match copied.made {
                    true => " (its repository made)",
                    false => "",
                },
                crate::ui::human::took(started.elapsed())
            ),
        ),
        Err(_) if interrupt.is_raised() => (
            Status::Crit,
            format!(
                "not copied to {location}: {INTERRUPTED}; the copy was cut short and no snapshot of it is there, the backup is kept in the repository (`opsbook backup copy` sends it)"
            ),
        ),
        Err(e) => (
            Status::Crit,
            format!("not copied to {location}: {}", e.lines().join("; ")),
        ),
    };
    report
        .results
        .push(CheckResult::new(SECTION, &target.name, status, message));
}

/// What a copy into one target did.
struct Copied {
    /// The backups copied (none: the target held them all).
    ids: Vec<String>,
    /// Whether the target's repository was made for this copy.
    made: bool,
}

/// Copies into `place` the snapshots of `chosen` whose backup is not
/// there yet, under a shared lock of that repository.
async fn into(
    runbook: &Runbook,
    source: &Arc<Full>,
    chosen: &Arc<Vec<SnapshotFile>>,
    place: &Place,
    report: &mut Report,
) -> Result<Copied, Error> {
    let (opened, made) = place.open_or_make(source.config()).await?;
    let held = place.lock(&opened, false, "copy").await?;
    report.results.extend(super::lock::removed(&held, "copy"));
    let (source, chosen) = (source.clone(), chosen.clone());
    let project = format!("project={}", runbook.name());
    let copied = tokio::task::spawn_blocking(move || {
        let there: Vec<String> = opened
            .get_matching_snapshots(|s| s.tags.contains(TAG) && s.tags.contains(&project))?
            .iter()
            .filter_map(|s| backup_id(s).map(str::to_string))
            .collect();
        let missing: Vec<&SnapshotFile> = chosen
            .iter()
            .filter(|s| backup_id(s).is_none_or(|id| !there.iter().any(|t| t == id)))
            .collect();
        if !missing.is_empty() {
            source.copy(&opened.to_indexed_ids()?, missing.iter().copied())?;
        }
        Ok::<_, Box<rustic_core::RusticError>>(
            missing
                .iter()
                .filter_map(|s| backup_id(s).map(str::to_string))
                .collect(),
        )
    })
    .await;
    held.release().await;
    let ids = copied
        .map_err(|e| Error::Usage(format!("repository: {e}")))?
        .map_err(|e| place.refused(&e))?;
    Ok(Copied { ids, made })
}
