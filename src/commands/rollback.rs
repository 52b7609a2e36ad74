//! `opsbook rollback SERVICE [--to IMAGE|previous]`: put a service back on
//! the image it ran before its last update (from the image history in the
//! state folder: by its name when that still names the same image, else
//! by id, since the tag may have moved on), or on any image on the host,
//! behind the same health gate and put-back as `update`.

use std::path::PathBuf;

use super::update::{How, carry_out};
use crate::deploy::gated::Wanted;
use crate::deploy::image_history::ImageHistory;
use crate::docker::Deployment;
use crate::error::Error;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::ui::progress::Progress;

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
    if crate::deploy::resolve(runbook, &deployment)
        .await?
        .is_swarm()
    {
        let deployment = crate::deploy::into_stack(deployment);
        if options.to == "previous" {
            return super::stack::roll_back(
                runbook,
                &deployment,
                service,
                options.dry_run,
                options.yes,
                progress,
                report,
            )
            .await;
        }
        let wanted = [Wanted {
            service: service.clone(),
            image: Some(options.to.clone()),
        }];
        let asked = super::stack::Asked {
            section: "rollback",
            wanted: &wanted,
            dry_run: options.dry_run,
            yes: options.yes,
            backup_first: None,
        };
        return super::stack::update(runbook, &deployment, asked, progress, report).await;
    }
    let image = if options.to == "previous" {
        let history = ImageHistory::open(&options.state_dir, &runbook.data_lock_key())?;
        crate::deploy::gated::previous(&deployment, &history, service).await?
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
