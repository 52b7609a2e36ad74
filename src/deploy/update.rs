//! `update` and `rollback` of the deployment, on compose or a stack, all
//! or nothing. Compose services are recreated on their new image one by
//! one in dependency order, each behind a health gate, then the verify
//! checks; when one fails, everything the update touched is put back
//! (`gated`). A stack's services take Swarm's rolling update tier by tier,
//! waited for, and Swarm's rollback when one does not converge or a verify
//! check fails (`rolling`). `update.backup` takes the runbook's backup
//! first; `rollback` finds the image a service ran before in the image
//! history (`image_history`), or takes Swarm's own rollback on a stack.

use std::path::Path;

use crate::check;
use crate::docker::{Deployment, Stack};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::state::StateDir;
use crate::ui::confirm::{confirm, confirm_plan};
use crate::ui::progress::Progress;

use super::Hooks;
use super::dry_run;
use super::gated::{self, Planned, Target, Updater, Wanted};
use super::image_history::ImageHistory;
use super::lifecycle::Lifecycle;
use super::rolling::SwarmUpdate;

/// Puts `services` (every known one when neither they nor `images` name
/// any) on a new image: the one `images` names (`--image SERVICE=IMAGE`),
/// else whatever the image name their container runs now points to.
pub(crate) async fn update(
    runbook: &Runbook,
    services: &[String],
    images: &[(String, String)],
    asked: &Asked<'_>,
    hooks: &dyn Hooks,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let how = &asked.how(
        "update",
        runbook.model.update.as_ref().is_some_and(|u| u.backup),
    );
    let deployment = super::connect(runbook, "update").await?;
    let known = if deployment.is_stack() {
        Stack::read(&deployment).await?.names()
    } else {
        let containers = deployment.list().await?;
        let deployed: Vec<String> = containers.iter().map(|c| c.service.clone()).collect();
        runbook.plan.tiers_with(&deployed).concat()
    };
    let wanted = wanted(services, images, &known)?;
    if deployment.is_stack() {
        return stack_update(runbook, &deployment, &wanted, how, hooks, progress, report).await;
    }
    carry_out(runbook, &deployment, &wanted, how, hooks, progress, report).await
}

/// Puts `service` back on the image it ran before its last update (`to`
/// is `previous`), or on the image `to` names.
pub(crate) async fn rollback(
    runbook: &Runbook,
    service: &str,
    to: &str,
    asked: &Asked<'_>,
    hooks: &dyn Hooks,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let how = &asked.how("rollback", false);
    let deployment = super::connect(runbook, "rollback").await?;
    if deployment.is_stack() {
        if to == "previous" {
            return stack_roll_back(runbook, &deployment, service, how, progress, report).await;
        }
        let wanted = [Wanted {
            service: service.to_string(),
            image: Some(to.to_string()),
        }];
        return stack_update(runbook, &deployment, &wanted, how, hooks, progress, report).await;
    }
    let image = if to == "previous" {
        let history = ImageHistory::open(how.state_dir, &runbook.data_lock_key())?;
        gated::previous(&deployment, &history, service).await?
    } else {
        to.to_string()
    };
    let wanted = [Wanted {
        service: service.to_string(),
        image: Some(image),
    }];
    carry_out(runbook, &deployment, &wanted, how, hooks, progress, report).await
}

/// The services named and those `--image` names (every known one when
/// neither names any), each with its image; an unknown name is refused.
fn wanted(
    services: &[String],
    images: &[(String, String)],
    known: &[String],
) -> Result<Vec<Wanted>, Error> {
    let unknown = |service: &str| {
        Error::Usage(format!(
            "unknown service `{service}` (services are: {})",
            known.join(", ")
        ))
    };
    let mut wanted: Vec<Wanted> = Vec::new();
    for service in services {
        if !known.contains(service) {
            return Err(unknown(service));
        }
        wanted.push(Wanted {
            service: service.clone(),
            image: None,
        });
    }
    for (service, image) in images {
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
/// What the operator asked with the command: `--dry-run`, `--yes`, and
/// the state folder (the update lock and the image history).
pub(crate) struct Asked<'a> {
    pub dry_run: bool,
    pub yes: bool,
    pub state_dir: &'a Path,
    /// `update --pull`: pull each image first, as `update.pull: true` does.
    pub pull: bool,
}

impl<'a> Asked<'a> {
    fn how(&self, section: &'static str, backup_first: bool) -> How<'a> {
        How {
            section,
            dry_run: self.dry_run,
            yes: self.yes,
            state_dir: self.state_dir,
            backup_first,
            pull: self.pull,
        }
    }
}

struct How<'a> {
    pub section: &'static str,
    pub dry_run: bool,
    pub yes: bool,
    pub state_dir: &'a Path,
    pub backup_first: bool,
    pub pull: bool,
}

/// `update.backup`: the runbook's backup before anything changes, said as
/// a result; whether the update goes on (not when the backup failed).
async fn backup_first(how: &How<'_>, hooks: &dyn Hooks, report: &mut Report) -> bool {
    if !how.backup_first {
        return true;
    }
    let (status, message) = hooks.take_backup().await;
    let ok = status == Status::Ok;
    let (status, message) = if ok {
        (Status::Ok, message)
    } else {
        (Status::Crit, format!("{message}: nothing was changed"))
    };
    report.results.push(CheckResult::new(
        how.section,
        "backup first",
        status,
        message,
    ));
    ok
}

/// Plans, shows, confirms and applies an update (or a rollback) of
/// `wanted`, under the project's update lock, recording the images in the
/// image history.
async fn carry_out(
    runbook: &Runbook,
    deployment: &Deployment,
    wanted: &[Wanted],
    how: &How<'_>,
    hooks: &dyn Hooks,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let state = StateDir::open(how.state_dir)?;
    let _lock = state.lock(&crate::deploy::gated::lock_key(runbook), how.section)?;
    let updater = Updater {
        lifecycle: Lifecycle::listening(deployment, progress, how.section),
        runbook,
        pull: how.pull || crate::deploy::gated::pulls(runbook),
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
        report.results.push(CheckResult::dry_run(how.section));
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
    if !backup_first(how, hooks, report).await {
        return Ok(());
    }
    // `update.before` and `.after` frame an update (not a rollback).
    let (before, after) = match (&runbook.model.update, how.section) {
        (Some(update), "update") => (update.before.as_slice(), update.after.as_slice()),
        _ => (&[][..], &[][..]),
    };
    if !before.is_empty() && !hooks.run("update.before", before, report).await {
        report.results.push(CheckResult::new(
            how.section,
            "result",
            Status::Crit,
            "an update.before step failed: no service was changed",
        ));
        return Ok(());
    }
    let after = (!after.is_empty()).then_some(crate::deploy::gated::After {
        hooks,
        stage: "update.after",
        steps: after,
    });
    let mut history = ImageHistory::open(how.state_dir, &runbook.data_lock_key())?;
    let applied = updater.apply(&planned, &mut history, after).await;
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

/// Update of a stack's services (`wanted`, known to be its): Swarm's
/// rolling update tier by tier, all or nothing (`swarm::update`).
async fn stack_update(
    runbook: &Runbook,
    deployment: &Deployment,
    wanted: &[Wanted],
    how: &How<'_>,
    hooks: &dyn Hooks,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let (section, dry_run, yes) = (how.section, how.dry_run, how.yes);
    let project = runbook.require_project(section)?;
    let stack = Stack::read(deployment).await?;
    let names: Vec<String> = wanted.iter().map(|w| w.service.clone()).collect();
    let tiers = runbook.plan.start_order(&names);
    let to = |name: &str| {
        let now = stack.service(name).map_or("-", |s| s.image.as_str());
        let image = wanted
            .iter()
            .find(|w| w.service == name)
            .and_then(|w| w.image.as_deref());
        match image {
            Some(image) => {
                format!("{now} → {image} (Swarm's rolling update), wait until converged")
            }
            None => format!(
                "{now} again (a forced update, the name resolved anew), wait until converged"
            ),
        }
    };
    if dry_run {
        let rows = dry_run::rows(&tiers, to);
        dry_run::stack_plan(report, section, &tiers, rows);
        return Ok(());
    }
    let lines: Vec<String> = tiers
        .iter()
        .flatten()
        .map(|n| format!("{n}: {}", to(n)))
        .collect();
    if !confirm(
        &format!("{section} on stack `{project}`: {}", lines.join("; ")),
        yes,
    )? {
        return Err(Error::Usage(format!(
            "{section} cancelled: nothing was changed"
        )));
    }
    if !backup_first(how, hooks, report).await {
        return Ok(());
    }
    let updater = SwarmUpdate {
        deployment,
        progress,
        interrupt: Interrupt::listen(),
        section,
    };
    let pairs: Vec<(String, Option<String>)> = wanted
        .iter()
        .map(|w| (w.service.clone(), w.image.clone()))
        .collect();
    let updated = updater.run(&runbook.plan, &pairs).await;
    let all = updated.iter().all(|r| r.status == Status::Ok);
    report.results.extend(updated);
    if updater.interrupt.is_raised() {
        report.results.push(CheckResult::interrupted(section));
        return Ok(());
    }
    // Converged is not yet right: the verify checks, as after a compose
    // update, and a failed one rolls back what this update changed.
    if all {
        let checks = check::verify_checks(runbook, deployment).await?;
        let failed = checks.iter().any(|r| r.status != Status::Ok);
        report.results.extend(checks);
        if failed {
            let names: Vec<String> = pairs.into_iter().map(|(name, _)| name).collect();
            report
                .results
                .extend(updater.roll_back_all(&runbook.plan, &names).await);
        }
    }
    Ok(())
}

/// `rollback SERVICE` (to `previous`) of a stack: Swarm's own rollback to
/// the spec before the service's last update, waited for.
async fn stack_roll_back(
    runbook: &Runbook,
    deployment: &Deployment,
    service: &str,
    how: &How<'_>,
    progress: Progress<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let (dry_run, yes) = (how.dry_run, how.yes);
    let project = runbook.require_project("rollback")?;
    let stack = Stack::read(deployment).await?;
    if stack.service(service).is_none() {
        return Err(Error::Usage(format!(
            "unknown service `{service}` (services are: {})",
            stack.names().join(", ")
        )));
    }
    let tiers = vec![vec![service.to_string()]];
    if dry_run {
        let rows = dry_run::rows(&tiers, |_| {
            "Swarm's rollback to the spec before its last update, wait until converged".into()
        });
        dry_run::stack_plan(report, "rollback", &tiers, rows);
        return Ok(());
    }
    if !confirm(
        &format!("roll `{service}` of stack `{project}` back to its spec before its last update"),
        yes,
    )? {
        return Err(Error::Usage(
            "rollback cancelled: nothing was changed".into(),
        ));
    }
    let updater = SwarmUpdate {
        deployment,
        progress,
        interrupt: Interrupt::listen(),
        section: "rollback",
    };
    report
        .results
        .extend(updater.roll_back(&runbook.plan, service).await);
    Ok(())
}
