//! `opsbook backup` and its actions, each an options-in, one-call,
//! report-out over `backup/` (taking, listing, verifying and drilling
//! backups here) and `copies/` (sending them off the host, listing and
//! verifying a copy target, pruning here and there).

use std::path::Path;

use crate::backup::copies;
use crate::backup::{self, AsStep};
use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

/// The backup command as the step and first backup of other commands:
/// its backups sent off-site as `backup` sends them.
pub(crate) fn as_step<'a>(
    runbook: &'a Runbook,
    state_dir: &'a Path,
    progress: Progress<'a>,
) -> AsStep<'a> {
    AsStep {
        runbook,
        state_dir,
        progress,
        offsite: &copies::Offsite,
    }
}

/// `opsbook backup [--dry-run]`: one backup; its id, when one was made.
pub(crate) async fn create(
    runbook: &Runbook,
    dry_run: bool,
    state_dir: &Path,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<Option<String>, Error> {
    backup::create(
        runbook,
        dry_run,
        state_dir,
        progress,
        &copies::Offsite,
        report,
    )
    .await
}

/// `opsbook backup init-repository`.
pub(crate) async fn init_repository(runbook: &Runbook, report: &mut Report) -> Result<(), Error> {
    backup::repository::init(runbook, report).await
}

/// `opsbook backup list [--copy NAME]`.
pub(crate) async fn list(
    runbook: &Runbook,
    copy: Option<&str>,
    report: &mut Report,
) -> Result<(), Error> {
    match copy {
        None => backup::list::list(runbook, report).await,
        Some(name) => copies::list::list(runbook, name, report).await,
    }
}

/// `opsbook backup verify [ID|latest|--all] [--identity FILE] [--copy NAME]`.
pub(crate) async fn verify(
    runbook: &Runbook,
    id: Option<&str>,
    all: bool,
    identity: Option<&Path>,
    copy: Option<&str>,
    read_data_subset: Option<&str>,
    report: &mut Report,
) -> Result<(), Error> {
    if let Some(place) = backup::repository::Place::of(runbook, backup::settings(runbook)?)? {
        let place = match copy {
            Some(name) => backup::repository::copy::target(runbook, name)?.place,
            None => place,
        };
        return backup::repository::care::verify(&place, read_data_subset, report).await;
    }
    if read_data_subset.is_some() {
        return Err(Error::Usage(
            "--read-data-subset is for a backup.repository: an archive backup is read whole"
                .to_string(),
        ));
    }
    let identities = std::sync::Arc::new(match identity {
        Some(path) => backup::verify::identities(path).map_err(Error::Usage)?,
        None => Vec::new(),
    });
    match copy {
        None => backup::verify::backups(runbook, id, all, &identities, report).await,
        Some(name) => copies::verify::copy(runbook, name, id, all, identities, report).await,
    }
}

/// `opsbook backup copy [ID|latest] [--all-missing] [--to NAME]`.
pub(crate) async fn copy(
    runbook: &Runbook,
    id: Option<&str>,
    all_missing: bool,
    to: Option<&str>,
    report: &mut Report,
) -> Result<(), Error> {
    copies::send::copy(runbook, id, all_missing, to, report).await
}

/// `opsbook backup drill [ID|latest] [--identity FILE]`.
pub(crate) async fn drill(
    runbook: &Runbook,
    id: Option<&str>,
    identity: Option<&Path>,
    state_dir: &Path,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    backup::drill::run(runbook, id, identity, state_dir, progress, report).await
}

/// `opsbook backup prune [--dry-run]`: here and on every copy target.
pub(crate) async fn prune(
    runbook: &Runbook,
    dry_run: bool,
    yes: bool,
    state_dir: &Path,
    report: &mut Report,
) -> Result<(), Error> {
    if let Some(place) = backup::repository::Place::of(runbook, backup::settings(runbook)?)? {
        let options = backup::repository::care::Pruning {
            dry_run,
            yes,
            state_dir,
        };
        return backup::repository::care::prune(runbook, &place, &options, report).await;
    }
    copies::prune::prune(runbook, dry_run, yes, state_dir, report).await
}
