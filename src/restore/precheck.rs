//! Every item's preconditions, checked before anything is stopped or
//! changed, so that a restore does not stop half-way on something it could
//! have seen: a volume's helper image is on the host; a file's folder
//! exists, is a folder and is writable, and neither the file nor the one
//! written beside it is a folder; a dump's service has a container. A dump
//! whose service is not running is started first (`start_first`, before
//! the safety backup, which dumps it too); one that does not become ready
//! refuses the restore. Each refusal is exit 3, naming the item. When the
//! restore does not complete, what was started first is stopped again
//! (`stop_again`): the deployment is left as it was found.

use std::path::Path;
use std::time::Instant;

use crate::deploy::lifecycle::Lifecycle;
use crate::docker::{ContainerRef, Deployment, State};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;
use crate::runbook::Runbook;

use super::targets::{Planned, Target};

const NOTHING: &str = "nothing was changed";

/// A service that is not running, and the dumps that need it.
pub(super) struct ToStart {
    pub service: String,
    pub items: Vec<String>,
}

/// Checks every planned item against the host and Docker; the services a
/// dump needs that are not running (to start first).
pub(super) async fn check(
    deployment: &Deployment,
    planned: &[Planned],
    containers: &[ContainerRef],
) -> Result<Vec<ToStart>, Error> {
    let mut to_start: Vec<ToStart> = Vec::new();
    for p in planned {
        let name = &p.item.name;
        match &p.target {
            Target::Volume {
                full,
                image,
                direct: None,
                home,
                ..
            } => {
                let engine = home.as_ref().map_or(deployment, |h| h.engine(deployment));
                if !engine.image_exists(image).await? {
                    return Err(Error::Usage(format!(
                        "item `{name}`: image `{image}`, which writes volume `{full}`, is not on this host: pull it or set `backup.helper_image`; {NOTHING}"
                    )));
                }
            }
            // Written on this host: no helper image.
            Target::Volume { .. } => {}
            Target::File { path } => file(name, path).map_err(Error::Usage)?,
            Target::Dump { service, .. } => {
                let mine: Vec<&ContainerRef> = containers
                    .iter()
                    .filter(|c| c.service == *service)
                    .collect();
                // A stack's service without a running task is scaled up
                // first, wherever its old tasks' containers were.
                if mine.is_empty() && !deployment.is_stack() {
                    return Err(Error::Usage(format!(
                        "dump `{name}` is restored in service `{service}`, which has no container: create it (e.g. `docker compose up --no-start`) and restore again; {NOTHING}"
                    )));
                }
                if mine.iter().any(|c| c.state == State::Running) {
                    continue;
                }
                match to_start.iter_mut().find(|s| s.service == *service) {
                    Some(start) => start.items.push(name.clone()),
                    None => to_start.push(ToStart {
                        service: service.clone(),
                        items: vec![name.clone()],
                    }),
                }
            }
        }
    }
    Ok(to_start)
}

/// A file target: its folder there, a folder, writable; the file itself
/// and the one written beside it (`.<name>.opsbook-restore`) not folders.
fn file(name: &str, path: &Path) -> Result<(), String> {
    let problem = |what: String| format!("item `{name}`: {what}; {NOTHING}");
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Err(problem(format!("`{}` is not a file path", path.display())));
    };
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(problem(format!(
                "`{}` is not a folder, so `{}` cannot be written",
                parent.display(),
                path.display()
            )));
        }
        Err(e) => {
            return Err(problem(format!(
                "folder `{}` cannot be read ({e}), so `{}` cannot be written: create it and restore again",
                parent.display(),
                path.display()
            )));
        }
    }
    let access = rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK;
    if let Err(e) = rustix::fs::access(parent, access) {
        return Err(problem(format!(
            "folder `{}` is not writable ({e}), so `{}` cannot be replaced",
            parent.display(),
            path.display()
        )));
    }
    let beside = path
        .file_name()
        .map(|n| parent.join(format!(".{}.opsbook-restore", n.to_string_lossy())));
    for folder in std::iter::once(path.to_path_buf()).chain(beside) {
        if std::fs::symlink_metadata(&folder).is_ok_and(|m| m.is_dir()) {
            return Err(problem(format!(
                "`{}` is a folder, so `{}` cannot be replaced",
                folder.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

/// Starts the services the dumps need that are not running, in dependency
/// order with the startup wait. One that does not become ready is stopped
/// again and refuses the restore (exit 3, naming it and its dumps).
pub(super) async fn start_first(
    runbook: &Runbook,
    lifecycle: &Lifecycle<'_>,
    to_start: &[ToStart],
) -> Result<Vec<CheckResult>, Error> {
    if to_start.is_empty() {
        return Ok(Vec::new());
    }
    let plan = &runbook.plan;
    let services: Vec<String> = to_start.iter().map(|s| s.service.clone()).collect();
    let containers = lifecycle.deployment.list().await?;
    let deadline = Instant::now() + plan.startup_timeout;
    let started = lifecycle
        .start(
            &plan.start_order(&services),
            &plan.depends_on,
            &containers,
            deadline,
        )
        .await;
    let dumps_of = |service: &str| {
        to_start
            .iter()
            .find(|s| s.service == service)
            .map(|s| s.items.join("`, `"))
            .unwrap_or_default()
    };
    if let Some(bad) = started.iter().find(|r| r.status != Status::Ok) {
        // Left as it was found: stopped.
        let now = lifecycle.deployment.list().await?;
        lifecycle
            .stop(&plan.stop_order(&services), &now, plan.grace)
            .await;
        return Err(Error::Usage(format!(
            "dump `{}` is restored in service `{}`, which was not running: started for it, it did not become ready ({}); the restore was refused and `{}` stopped again: nothing was changed",
            dumps_of(&bad.name),
            bad.name,
            bad.message,
            bad.name
        )));
    }
    Ok(started
        .into_iter()
        .map(|r| {
            let message = format!(
                "was not running: started first for dump `{}` ({})",
                dumps_of(&r.name),
                r.message
            );
            CheckResult::new("restore", &r.name, Status::Ok, message)
        })
        .collect())
}

/// Stops again the services `start_first` started, whatever was signalled
/// (each one's result, a warn: the restore did not complete).
pub(super) async fn stop_again(
    runbook: &Runbook,
    lifecycle: &Lifecycle<'_>,
    to_start: &[ToStart],
) -> Vec<CheckResult> {
    if to_start.is_empty() {
        return Vec::new();
    }
    let steady = Lifecycle {
        deployment: lifecycle.deployment,
        progress: lifecycle.progress,
        interrupt: Interrupt::never(),
        section: lifecycle.section,
    };
    let plan = &runbook.plan;
    let services: Vec<String> = to_start.iter().map(|s| s.service.clone()).collect();
    let stopped = match lifecycle.deployment.list().await {
        Ok(containers) => {
            steady
                .stop(&plan.stop_order(&services), &containers, plan.grace)
                .await
        }
        Err(e) => services
            .iter()
            .map(|s| CheckResult::new("restore", s, Status::Crit, e.to_string()))
            .collect(),
    };
    stopped
        .into_iter()
        .map(|r| {
            let (status, message) = match r.status {
                Status::Ok => (
                    Status::Warn,
                    format!(
                        "started first for the restore, which did not complete: stopped again, as it was ({})",
                        r.message
                    ),
                ),
                other => (other, format!("started first for the restore, NOT stopped again: {}", r.message)),
            };
            CheckResult::new("restore", &r.name, status, message)
        })
        .collect()
}
