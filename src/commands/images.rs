//! `opsbook images prune`: options in, one call to `deploy::image_prune`, the
//! report out.

pub(crate) use crate::deploy::image_prune::Pruning;

use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;

/// `opsbook images prune [--keep N] [--dry-run]`.
pub(crate) async fn prune(
    runbook: &Runbook,
    asked: &Pruning<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    crate::deploy::image_prune::prune(runbook, asked, report).await
}
