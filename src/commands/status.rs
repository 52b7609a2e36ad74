//! `opsbook status`: the project's containers (or a stack's services) and
//! the host's figures at a glance, graded (see `check::status`).

use crate::check::status;
use crate::deploy;
use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;

pub(crate) async fn run(runbook: &Runbook, report: &mut Report) -> Result<(), Error> {
    status::run(runbook, deploy::look(runbook), report).await
}
