//! `opsbook restart [SERVICE...]`: stop the running services and start them
//! again in dependency order, waiting until ready (see `deploy::restart`).
//! `--with-dependents` takes along everything that depends on them.

use crate::deploy::restart;
use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

pub(crate) use restart::Options;

pub(crate) async fn run(
    runbook: &Runbook,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    restart::run(runbook, options, progress, report).await
}
