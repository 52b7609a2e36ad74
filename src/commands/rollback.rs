//! `opsbook rollback SERVICE [--to IMAGE|previous]`: put a service back on
//! the image it ran before its last update (from the image history in the
//! state folder: by its name when that still names the same image, else
//! by id, since the tag may have moved on), or on any image on the host,
//! behind the same health gate and put-back as `update`.

use std::path::PathBuf;

use super::update::{How, carry_out};
use crate::docker::{self, Deployment, ImageRef};
use crate::error::Error;
use crate::progress::Progress;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::update::Wanted;
use crate::update::images::ImageHistory;

pub struct Options {
    pub service: String,
    /// `previous`, or an image name or id.
    pub to: String,
    pub dry_run: bool,
    pub yes: bool,
    pub state_dir: PathBuf,
}

pub async fn run(
    runbook: &Runbook,
    options: &Options,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let project = runbook.require_project("rollback")?;
    let deployment = Deployment::connect(Some(project)).await?;
    let service = &options.service;
    let image = if options.to == "previous" {
        let current = running_image(&deployment, service).await?;
        let history = ImageHistory::open(&options.state_dir, &runbook.data_lock_key())?;
        previous(&deployment, &history, service, &current).await?
    } else {
        options.to.clone()
    };
    let wanted = [Wanted {
        service: service.clone(),
        image: Some(image),
    }];
    let how = How {
        section: "rollback",
        dry_run: options.dry_run,
        yes: options.yes,
        state_dir: &options.state_dir,
        backup_first: false,
    };
    carry_out(runbook, &deployment, &wanted, &how, progress, report).await
}

/// The image `service` runs now (its first running container's).
async fn running_image(deployment: &Deployment, service: &str) -> Result<ImageRef, Error> {
    let containers = deployment.list().await?;
    let Some(container) = docker::running_of(&containers, service) else {
        return Err(Error::Usage(format!(
            "`{service}` is not running: there is nothing to roll back (`opsbook startup` starts it)"
        )));
    };
    Ok(deployment.snapshot(&container.id).await?.image)
}

/// How to name the image `service` ran before `current`: its name while
/// that names the same image, else its id; refused when it is gone.
async fn previous(
    deployment: &Deployment,
    history: &ImageHistory,
    service: &str,
    current: &ImageRef,
) -> Result<String, Error> {
    let Some(ran) = history.previous(service, &current.id) else {
        return Err(Error::Usage(format!(
            "`{service}` has no earlier image in opsbook's image history (it runs {}; `opsbook update` records each image it replaces): name one with --to IMAGE",
            current.shown()
        )));
    };
    if let Some(image) = deployment.image(&ran.image).await?
        && image.id == ran.id
    {
        return Ok(ran.image.clone());
    }
    if deployment.image(&ran.id).await?.is_some() {
        return Ok(ran.id.clone());
    }
    Err(Error::Usage(format!(
        "the image `{service}` ran before, {} ({}), is no longer on this host: name one with --to IMAGE",
        ran.image,
        docker::short_id(&ran.id)
    )))
}
