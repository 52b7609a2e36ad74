//! `opsbook update [SERVICE...] [--image SERVICE=IMAGE...]`: put services
//! on a new image (the one `--image` names, else whatever the image name
//! their container runs now points to), in dependency order, each behind
//! a health gate, then the verify checks; when one fails, everything this
//! update touched is put back (see `crate::deploy::gated`). `update.backup` takes
//! the runbook's backup first and `update.pull` pulls the images first;
//! either failing changes nothing.

use std::path::{Path, PathBuf};

use crate::commands::backup::AsStep;
use crate::deploy::gated::{Planned, Target, Updater, Wanted};
use crate::deploy::image_history::ImageHistory;
use crate::deploy::lifecycle::Lifecycle;
use crate::docker::Deployment;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;
use crate::state::StateDir;
use crate::steps::TakeBackup;
use crate::ui::confirm::confirm_plan;
use crate::ui::progress::Progress;

pub struct Options {
    pub services: Vec<String>,
    /// `--image SERVICE=IMAGE`
    pub images: Vec<(String, String)>,
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
    let project = runbook.require_project("update")?;
    let deployment = Deployment::connect(Some(project)).await?;
    if crate::deploy::resolve(runbook, &deployment)
        .await?
        .is_swarm()
    {
        let deployment = crate::deploy::into_stack(deployment);
        let known = crate::docker::Stack::read(&deployment).await?.names();
        let wanted = wanted(options, &known)?;
        let asked = super::stack::Asked {
            section: "update",
            wanted: &wanted,
            dry_run: options.dry_run,
            yes: options.yes,
            backup_first: runbook
                .model
                .update
                .as_ref()
                .is_some_and(|u| u.backup)
                .then_some(options.state_dir.as_path()),
        };
        return super::stack::update(runbook, &deployment, asked, progress, report).await;
    }
    let containers = deployment.list().await?;
    let deployed: Vec<String> = containers.iter().map(|c| c.service.clone()).collect();
    let known: Vec<String> = runbook.plan.tiers_with(&deployed).concat();
    let wanted = wanted(options, &known)?;
    let how = How {
        section: "update",
        dry_run: options.dry_run,
        yes: options.yes,
        state_dir: &options.state_dir,
        backup_first: runbook.model.update.as_ref().is_some_and(|u| u.backup),
    };
    carry_out(runbook, &deployment, &wanted, &how, progress, report).await
}

/// The services named and those `--image` names (every known one when
/// neither names any), each with its image; an unknown name is refused.
fn wanted(options: &Options, known: &[String]) -> Result<Vec<Wanted>, Error> {
    let unknown = |service: &str| {
        Error::Usage(format!(
            "unknown service `{service}` (services are: {})",
            known.join(", ")
        ))
    };
    let mut wanted: Vec<Wanted> = Vec::new();
    for service in &options.services {
        if !known.contains(service) {
            return Err(unknown(service));
        }
        wanted.push(Wanted {
            service: service.clone(),
            image: None,
        });
    }
    for (service, image) in &options.images {
        if !known.contains(service) {
            return Err(unknown(service));
        }
        match wanted.iter_mut().find(|w| w.service == *service) {
            Some(w) => w.image = Some(image.clone()),
            None => wanted.push(Wanted {
                service: service.clone(),
                image: Some(image.clone()),
            }),
        }
    }
    if wanted.is_empty() {
        wanted = known
            .iter()
            .map(|service| Wanted {
                service: service.clone(),
                image: None,
            })
            .collect();
    }
    Ok(wanted)
}

/// How `carry_out` is run: by `update`, or by `rollback`.
pub(super) struct How<'a> {
    pub section: &'static str,
    pub dry_run: bool,
    pub yes: bool,
    pub state_dir: &'a Path,
    pub backup_first: bool,
}

/// Plans, shows, confirms and applies an update (or a rollback) of
/// `wanted`, under the project's update lock, recording the images in the
/// image history.
pub(super) async fn carry_out(
    runbook: &Runbook,
    deployment: &Deployment,
    wanted: &[Wanted],
    how: &How<'_>,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let state = StateDir::open(how.state_dir)?;
    let _lock = state.lock(&crate::deploy::gated::lock_key(runbook), how.section)?;
    let updater = Updater {
        lifecycle: Lifecycle::listening(deployment, progress, how.section),
        runbook,
    };
    let targets = updater.plan(wanted, how.dry_run).await?;
    report
        .extra
        .insert("services".into(), crate::deploy::gated::describe(&targets));
    let mut planned: Vec<Planned> = Vec::new();
    for target in targets {
        match target {
            Target::Change(p) if !how.dry_run => planned.push(p),
            other => report.results.push(shown(how.section, &other)),
        }
    }
    if how.dry_run {
        report.results.push(CheckResult::new(
            how.section,
            "dry-run",
            Status::Ok,
            "dry run: nothing was changed",
        ));
        return Ok(());
    }
    if planned.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = planned
        .iter()
        .map(|p| format!("{}: {} → {}", p.service, p.from.shown(), p.to.shown()))
        .collect();
    let question = format!(
        "{} {} (each stopped and recreated; put back if one fails)",
        how.section,
        crate::ui::human::count(planned.len(), "service")
    );
    if !confirm_plan(&question, &parts, how.yes)? {
        return Err(Error::Usage(format!(
            "{} cancelled: nothing was changed",
            how.section
        )));
    }
    if how.backup_first {
        let backups = AsStep {
            runbook,
            state_dir: how.state_dir,
            progress,
        };
        let (status, message) = backups.take().await;
        if status != Status::Ok {
            report.results.push(CheckResult::new(
                how.section,
                "backup first",
                Status::Crit,
                format!("{message}: nothing was changed"),
            ));
            return Ok(());
        }
        report.results.push(CheckResult::new(
            how.section,
            "backup first",
            Status::Ok,
            message,
        ));
    }
    let mut history = ImageHistory::open(how.state_dir, &runbook.data_lock_key())?;
    let applied = updater.apply(&planned, &mut history).await;
    report.results.extend(applied.results);
    report.results.extend(applied.verify);
    if let Err(e) = history.save() {
        report.results.push(CheckResult::new(
            how.section,
            "image history",
            Status::Warn,
            format!("not written, so `rollback` cannot find these images: {e}"),
        ));
    }
    if updater.lifecycle.interrupt.is_raised() {
        report.results.push(CheckResult::new(
            how.section,
            "interrupted",
            Status::Crit,
            "interrupted by a signal: what this run had changed was put back",
        ));
    }
    Ok(())
}

/// The result line of a target that is not changed now.
fn shown(section: &str, target: &Target) -> CheckResult {
    let (service, message) = match target {
        Target::Change(p) => (
            &p.service,
            format!("would go {} → {}", p.from.shown(), p.to.shown()),
        ),
        Target::Current { service, image } => (
            service,
            format!("already on {}: nothing to do", image.shown()),
        ),
        Target::Idle { service } => (
            service,
            "not running: left alone (`opsbook startup` starts it)".to_string(),
        ),
        Target::WouldPull {
            service,
            from,
            image,
        } => (
            service,
            format!("would pull {image}, then go from {}", from.shown()),
        ),
    };
    CheckResult::new(section, service, Status::Ok, message)
}
