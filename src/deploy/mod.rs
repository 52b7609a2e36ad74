//! The deployment as one type: a compose project or a Swarm stack, resolved
//! once (`mode`), and everything that changes it as a whole: starting and
//! stopping in dependency tiers with health waits (`lifecycle` for compose
//! containers, `scale` for a stack's services, `converge` waiting for
//! Swarm), "while stopped" for backup and restore, putting services on
//! another image behind a health gate and back (`gated` for compose,
//! `rolling` for Swarm, `image_history` for rollback, `image_prune` for
//! what `images prune` keeps), and where a stack's
//! volumes live (`homes`). Commands never ask which engine they are on.
//! `init` reads a running deployment and writes its runbook.

pub(crate) mod converge;
mod dry_run;
pub(crate) mod gated;
pub(crate) mod homes;
pub(crate) mod image_history;
pub(crate) mod image_prune;
pub(crate) mod init;
pub(crate) mod lifecycle;
pub(crate) mod mode;
pub(crate) mod restart;
pub(crate) mod rolling;
pub(crate) mod scale;
pub(crate) mod shutdown;
pub(crate) mod startup;
pub(crate) mod update;

pub(crate) use mode::{as_deployed, describe, into_stack, refuse_on_stack, resolve};

use futures_util::future::LocalBoxFuture;

use crate::docker::Deployment;
use crate::error::Error;
use crate::grade::Status;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::runbook::model::Step;

/// The runbook's project for `command`, connected to and seen as it is
/// deployed: a stack when it is one (with the swarm's other nodes), else
/// compose containers. The one way a command reaches its deployment.
pub(crate) async fn connect(runbook: &Runbook, command: &str) -> Result<Deployment, Error> {
    let project = runbook.require_project(command)?;
    let deployment = Deployment::connect(Some(project)).await?;
    as_deployed(runbook, deployment).await
}

/// The deployment of the runbook's project as `connect` gives it, or of
/// every compose project on the engine when the runbook names none (the
/// embedded default): what `status` and `daily-check` look at.
pub(crate) async fn look(runbook: &Runbook) -> Result<Deployment, Error> {
    let deployment = Deployment::connect(runbook.plan.project.clone()).await?;
    as_deployed(runbook, deployment).await
}

/// What an operation on the deployment is handed by the layers above it:
/// the runbook's before/after steps of a section, and a backup taken
/// first. Steps and backups start and stop services through deploy/, so
/// they sit above it and the command hands them in (`steps::Setup` is
/// one).
pub(crate) trait Hooks {
    /// Runs the `stage` steps (`startup.before`) into `report`; whether
    /// every one passed.
    fn run<'a>(
        &'a self,
        stage: &'a str,
        steps: &'a [Step],
        report: &'a mut Report,
    ) -> LocalBoxFuture<'a, bool>;

    /// Takes the runbook's backup: its status and one line (`update.backup`).
    fn take_backup(&self) -> LocalBoxFuture<'_, (Status, String)>;

    /// Takes the runbook's backup, every result of it into `report`
    /// (`shutdown --backup`).
    fn backup_into<'a>(&'a self, report: &'a mut Report) -> LocalBoxFuture<'a, Result<(), Error>>;
}
