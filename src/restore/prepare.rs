//! What a restore works out before anything changes: the backup chosen,
//! its items selected, where each goes back to (`targets`), the keys an
//! encrypted one needs, every item's preconditions (`precheck`), which
//! services stop, and on a stack the nodes its volumes and dumps live on.
//! A problem is a refusal (exit 3) with nothing changed.

use std::path::PathBuf;

use crate::backup::catalog::BackupEntry;
use crate::backup::collect::Elsewhere;
use crate::backup::manifest::Manifest;
use crate::backup::repository::export::Volumes;
use crate::deploy::homes::Homes;
use crate::docker::{self, Deployment};
use crate::error::Error;
use crate::runbook::Runbook;
use crate::runbook::model::Backup;

use super::Options;
use super::precheck::{self, ToStart};
use super::replace::Identities;
use super::targets::{self, Planned, Target};
use super::upfront;

/// Everything worked out before anything changes.
pub(super) struct Prepared<'a> {
    pub(super) backup: &'a Backup,
    pub(super) dir: PathBuf,
    pub(super) entry: BackupEntry,
    pub(super) project: String,
    pub(super) deployment: Deployment,
    pub(super) planned: Vec<Planned>,
    pub(super) identities: Identities,
    /// The services dumps need that are not running: started first.
    pub(super) to_start: Vec<ToStart>,
    /// The services that are stopped, and started again after.
    pub(super) stopping: Vec<String>,
    /// A stack's volumes on other nodes, for the safety backup.
    pub(super) elsewhere: Elsewhere,
    /// The snapshot the volumes restored directly stream from, for a
    /// backup read from a repository.
    pub(super) streamed: Option<Volumes>,
}

/// The backup, its items and where each goes back to, and the services that
/// stop: all checked against the runbook and Docker (exit 3 on a problem).
pub(super) async fn prepare<'a>(
    runbook: &'a Runbook,
    options: &Options,
) -> Result<Prepared<'a>, Error> {
    let backup = crate::backup::settings(runbook)?;
    let dir = runbook.backup_dir(backup);
    let entry = crate::backup::select(&dir, options.id.as_deref(), false)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Usage(format!("no backup in {}", dir.display())))?;
    let manifest = Manifest::read(&entry.path).map_err(|source| Error::File {
        path: entry.path.join("manifest.json"),
        action: "read",
        source,
    })?;
    let items = targets::select_items(&manifest.items, &options.only)?;
    let project = runbook.require_project("restore")?;
    let deployment = crate::deploy::connect(runbook, "restore").await?;
    let on_stack = deployment.is_stack();
    let homes = match on_stack {
        true => Some(Homes::read(&deployment).await?),
        false => None,
    };
    let planned = targets::resolve(
        &deployment,
        runbook,
        backup,
        &project,
        items,
        homes.as_ref(),
    )
    .await?;
    drop(homes);
    if crate::docker::engine_is_remote()
        && planned
            .iter()
            .any(|p| matches!(p.target, targets::Target::File { .. }))
    {
        return Err(crate::backup::remote_files(deployment.endpoint()));
    }
    let identities = upfront::identities(&entry.path, &planned, options.identity.as_deref())?;
    let containers = crate::docker::containers_with_tasks(&deployment).await?;
    let to_start = precheck::check(&deployment, &planned, &containers).await?;
    let stop = targets::services_to_stop(&planned, |s| runbook.plan.dependents_of(s));
    // What runs now, and what starts first for a dump, stops for the replacing.
    let running = if on_stack {
        crate::deploy::scale::scaled_up(&crate::docker::Stack::read(&deployment).await?, &stop)
    } else {
        docker::running_services(&containers, &stop)
    };
    let mut elsewhere = targets::elsewhere(&planned);
    // The safety backup's dumps run in tasks wherever they run.
    for p in &planned {
        if let Target::Dump { service, .. } = &p.target
            && let Some(task) = docker::running_of(&containers, service)
            && let Some(node) = &task.node
        {
            let engine = deployment.on_node(node).await.map_err(|why| {
                Error::Usage(format!(
                    "dump `{}`: {why}; nothing was changed",
                    p.item.name
                ))
            })?;
            elsewhere
                .dumps
                .insert(service.clone(), (engine, task.id.clone()));
        }
    }
    let stopping = stop
        .into_iter()
        .filter(|s| running.contains(s) || to_start.iter().any(|t| t.service == *s))
        .collect();
    Ok(Prepared {
        backup,
        dir,
        entry,
        project,
        deployment,
        planned,
        identities,
        to_start,
        stopping,
        elsewhere,
        streamed: None,
    })
}
