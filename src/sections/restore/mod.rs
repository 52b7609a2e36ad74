//! `opsbook restore [ID|latest]`: the riskiest page of the operators'
//! runbooks made safe. In order: verify the backup (a bad one changes
//! nothing, exit 2); show the plan and confirm; stop what uses the data;
//! take a safety backup of exactly the items being replaced; replace them
//! exactly; start everything again in dependency order; run the verify
//! checks. A failure or a signal after the stop ends the replacing there,
//! starts the services again, and prints the command that goes back.

mod check;
mod plan;
mod replace;
mod safety;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::backup::manifest::{Kind, Manifest};
use crate::confirm::confirm;
use crate::docker::{Deployment, State};
use crate::error::Error;
use crate::history::StateDir;
use crate::host::human_bytes;
use crate::interrupt::Interrupt;
use crate::lifecycle::Lifecycle;
use crate::progress::Progress;
use crate::report::{Block, Report};
use crate::runbook::Runbook;
use crate::status::{CheckResult, Status};

use plan::{Planned, Target};
use replace::Identities;
use safety::Safety;

pub struct Options {
    pub id: Option<String>,
    pub only: Vec<String>,
    pub dry_run: bool,
    pub yes: bool,
    pub identity: Option<PathBuf>,
    pub safety_backup: bool,
    pub state_dir: PathBuf,
    /// The `--runbook` given, repeated in the command that goes back.
    pub runbook_flag: Option<PathBuf>,
}

pub async fn run(
    runbook: &Runbook,
    options: &Options,
    progress: Progress,
    report: &mut Report,
) -> Result<(), Error> {
    let backup = super::backup::settings(runbook)?;
    let dir = runbook.resolve(&backup.dir);
    let entry = super::backup::select(&dir, options.id.as_deref(), false)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Usage(format!("no backup in {}", dir.display())))?;
    let manifest = Manifest::read(&entry.path).map_err(|source| Error::State {
        path: entry.path.join("manifest.json"),
        action: "read",
        source,
    })?;
    let items = plan::select_items(&manifest.items, &options.only)?;
    let project = super::require_project(runbook, "restore")?;
    let deployment = Deployment::connect(Some(project.clone())).await?;
    let planned = plan::resolve(&deployment, runbook, backup, &project, items).await?;
    let identities = check::identities(&entry.path, &planned, options.identity.as_deref())?;

    // 1. Verify: a backup that does not read back changes nothing.
    progress.say(format!("verifying {}", entry.id));
    let bad = check::verify_items(&entry.path, &planned, &identities).await;
    if !bad.is_empty() {
        report.results.extend(bad);
        report.results.push(CheckResult::new(
            "restore",
            "result",
            Status::Crit,
            format!(
                "backup {} does not verify: nothing was stopped or changed",
                entry.id
            ),
        ));
        return Ok(());
    }

    let dependents = |s: &str| runbook.plan.dependents_of(s);
    let stop = plan::services_to_stop(&planned, dependents);
    let refs = deployment.list().await?;
    let running_before: Vec<String> = stop
        .iter()
        .filter(|s| {
            refs.iter()
                .any(|c| c.service == **s && c.state == State::Running)
        })
        .cloned()
        .collect();

    // 2. The plan, and a yes.
    report.blocks.push(plan_table(&planned));
    report.blocks.push(Block::Line(format!(
        "from backup {} ({}); stopped, then started again: {}",
        entry.id,
        entry.created_at.strftime("%Y-%m-%d %H:%M:%SZ"),
        if running_before.is_empty() {
            "nothing".to_string()
        } else {
            running_before.join(", ")
        }
    )));
    if options.dry_run {
        report.results.push(CheckResult::new(
            "restore",
            "dry-run",
            Status::Ok,
            format!("dry run: backup {} verified, nothing was changed", entry.id),
        ));
        return Ok(());
    }
    if !confirm(
        &format!(
            "restore backup {} into `{project}`: {}{}",
            entry.id,
            planned
                .iter()
                .map(|p| format!("{} → {}", p.item.name, p.describe()))
                .collect::<Vec<_>>()
                .join("; "),
            if running_before.is_empty() {
                String::new()
            } else {
                format!(
                    "; stopping {} (started again after)",
                    running_before.join(", ")
                )
            }
        ),
        options.yes,
    )? {
        return Err(Error::Usage(
            "restore cancelled: nothing was changed".into(),
        ));
    }

    let state = StateDir::open(&options.state_dir)?;
    let _lock = state.lock(&format!("{}-data", runbook.state_key()), "restore")?;
    let hooks = runbook.model.restore.as_ref();
    let before = hooks.map(|h| h.before.as_slice()).unwrap_or_default();
    if !super::hooks::run(
        runbook,
        "restore.before",
        before,
        progress,
        &options.state_dir,
        report,
    )
    .await
    {
        fail_untouched(report, "a restore.before step failed");
        return Ok(());
    }
    let containers = deployment.containers().await?;
    let lifecycle = Lifecycle::listening(&deployment, progress, "restore");
    let interrupt = lifecycle.interrupt.clone();
    let mut way_back = WayBack {
        runbook_flag: options.runbook_flag.as_deref(),
        safety_id: None,
    };
    let after = hooks.map(|h| h.after.as_slice()).unwrap_or_default();

    // 3. The safety backup's dumps, while their services run (nothing is stopped yet).
    let mut safety = None;
    if options.safety_backup {
        let mut taken = Safety::open(&deployment, &containers, backup, &dir, runbook.name())?;
        progress.say("safety backup of the current state");
        let dumps = taken
            .copy(&planned, |kind| kind == Kind::Dump, progress, &interrupt)
            .await;
        if let Err(reason) = dumps {
            fail_untouched(report, &format!("safety backup: {reason}"));
            super::hooks::run(
                runbook,
                "restore.after",
                after,
                progress,
                &options.state_dir,
                report,
            )
            .await;
            return Ok(());
        }
        safety = Some(taken);
    }

    // 4. Stop what uses the data.
    let stop_tiers = super::tiers_of(runbook, &running_before, true);
    let stopped = lifecycle.stop(&stop_tiers, &refs, runbook.plan.grace).await;
    let stop_failed = stopped.iter().any(|r| r.status != Status::Ok);
    report
        .results
        .extend(stopped.into_iter().filter(|r| r.status != Status::Ok));

    // 3 (cont.). The safety backup's volumes and files, now that nothing writes them.
    let mut failure: Option<String> = None;
    if stop_failed {
        failure = Some("a service did not stop: nothing was replaced".into());
    }
    if let (None, Some(mut taken)) = (&failure, safety) {
        let rest = taken
            .copy(&planned, |kind| kind != Kind::Dump, progress, &interrupt)
            .await;
        match rest.and_then(|()| taken.finish(runbook)) {
            Ok(id) => {
                progress.say(format!("safety backup {id}"));
                report.results.push(CheckResult::new(
                    "restore",
                    "safety backup",
                    Status::Ok,
                    format!(
                        "safety backup {id} of the current state ({})",
                        dir.display()
                    ),
                ));
                way_back.safety_id = Some(id);
            }
            Err(reason) => {
                failure = Some(format!("safety backup: {reason}: nothing was replaced"));
            }
        }
    }

    // 5. Replace, item by item; a signal lets the item in hand finish.
    let mut outcomes: Vec<(String, Result<u64, String>)> = Vec::new();
    if failure.is_none() {
        let ordered: Vec<&Planned> = planned
            .iter()
            .filter(|p| !matches!(p.target, Target::Dump { .. }))
            .chain(
                planned
                    .iter()
                    .filter(|p| matches!(p.target, Target::Dump { .. })),
            )
            .collect();
        let mut dumps_ready = false;
        for p in ordered {
            if interrupt.is_raised() {
                failure = Some("interrupted by a signal".into());
                break;
            }
            if matches!(p.target, Target::Dump { .. }) && !dumps_ready {
                dumps_ready = true;
                let needed = plan::needed_for_dumps(&planned, &running_before, dependents);
                if !needed.is_empty() {
                    let refs = deployment.list().await?;
                    let tiers = super::tiers_of(runbook, &needed, false);
                    let deadline = Instant::now() + runbook.plan.startup_timeout;
                    let started = lifecycle
                        .start(&tiers, &runbook.plan.depends_on, &refs, deadline)
                        .await;
                    if let Some(bad) = started.iter().find(|r| r.status != Status::Ok) {
                        failure = Some(format!(
                            "`{}` did not start for the dumps: {}",
                            bad.name, bad.message
                        ));
                        break;
                    }
                }
            }
            let started = Instant::now();
            let meter = progress.meter(&p.item.name);
            let replaced =
                replace_one(&deployment, &entry.path, p, &identities, meter.counter()).await;
            meter.done();
            match &replaced {
                Ok(()) => progress.say(format!(
                    "{}: restored {} in {:.1}s",
                    p.item.name,
                    human_bytes(p.item.size),
                    started.elapsed().as_secs_f64()
                )),
                Err(reason) => progress.say(format!("{}: FAILED: {reason}", p.item.name)),
            }
            let failed = replaced.is_err();
            outcomes.push((p.item.name.clone(), replaced.map(|()| p.item.size)));
            if failed {
                failure = Some(format!("`{}` could not be restored", p.item.name));
                break;
            }
        }
    }

    // 6. Start again, always, in dependency order.
    let lifecycle = Lifecycle {
        interrupt: Interrupt::never(),
        ..lifecycle
    };
    let refs = deployment.list().await?;
    let start_tiers = super::tiers_of(runbook, &running_before, false);
    let deadline = Instant::now() + runbook.plan.startup_timeout;
    let started = lifecycle
        .start(&start_tiers, &runbook.plan.depends_on, &refs, deadline)
        .await;
    let all_started = started.iter().all(|r| r.status == Status::Ok);
    report.results.extend(started);

    // What was and was not restored.
    for p in &planned {
        let outcome = outcomes.iter().find(|(name, _)| *name == p.item.name);
        report.results.push(match outcome {
            Some((_, Ok(size))) => CheckResult::new(
                "restore",
                &p.item.name,
                Status::Ok,
                format!("restored ({}) into {}", human_bytes(*size), p.describe()),
            )
            .with_value(*size as f64, "bytes"),
            Some((_, Err(reason))) => {
                CheckResult::new("restore", &p.item.name, Status::Crit, reason.clone())
            }
            None => CheckResult::new(
                "restore",
                &p.item.name,
                Status::Crit,
                "not restored: the restore stopped before it",
            ),
        });
    }
    if let Some(reason) = &failure {
        report.results.push(CheckResult::new(
            "restore",
            "result",
            Status::Crit,
            reason.clone(),
        ));
        if !outcomes.is_empty() {
            report.blocks.push(Block::Line(way_back.line()));
        }
    } else if all_started {
        // 7. The verify checks, as after a startup.
        report
            .results
            .extend(super::startup::verify_checks(runbook, &deployment).await?);
    }
    // Whatever happened above: `after` undoes what `before` did (maintenance mode off).
    super::hooks::run(
        runbook,
        "restore.after",
        after,
        progress,
        &options.state_dir,
        report,
    )
    .await;
    report.extra.insert(
        "restore".into(),
        json!({
            "backup": entry.id,
            "safety_backup": way_back.safety_id,
            "restored": outcomes.iter().filter(|(_, o)| o.is_ok()).map(|(n, _)| n).collect::<Vec<_>>(),
            "way_back": (failure.is_some() && !outcomes.is_empty()).then(|| way_back.line()),
        }),
    );
    if let Some(id) = &way_back.safety_id {
        report
            .blocks
            .push(Block::Line(format!("safety backup: {id}")));
    }
    Ok(())
}

async fn replace_one(
    deployment: &Deployment,
    folder: &Path,
    p: &Planned,
    identities: &Identities,
    counter: Arc<std::sync::atomic::AtomicU64>,
) -> Result<(), String> {
    match &p.target {
        Target::Volume {
            full, root, image, ..
        } => {
            replace::volume(
                deployment,
                (full, root, image),
                folder,
                &p.item,
                identities,
                counter,
            )
            .await
        }
        Target::File { path } => replace::file(path, folder, &p.item, identities, counter).await,
        Target::Dump {
            service, restore, ..
        } => {
            let refs = deployment.list().await.map_err(|e| e.to_string())?;
            let container = refs
                .iter()
                .find(|c| c.service == *service && c.state == State::Running)
                .ok_or_else(|| format!("no running container of service `{service}`"))?;
            replace::dump(
                deployment,
                &container.id,
                restore,
                folder,
                &p.item,
                identities,
                counter,
            )
            .await
        }
    }
}

fn plan_table(planned: &[Planned]) -> Block {
    Block::Table {
        header: vec!["item", "kind", "size", "restored into"],
        rows: planned
            .iter()
            .map(|p| {
                vec![
                    p.item.name.clone(),
                    format!("{:?}", p.item.kind).to_lowercase(),
                    human_bytes(p.item.size),
                    p.describe(),
                ]
            })
            .collect(),
    }
}

/// A failure before anything was stopped or replaced.
fn fail_untouched(report: &mut Report, reason: &str) {
    report.results.push(CheckResult::new(
        "restore",
        "result",
        Status::Crit,
        format!("{reason}: nothing was stopped or changed"),
    ));
}

/// The command that puts the safety backup back.
struct WayBack<'a> {
    runbook_flag: Option<&'a Path>,
    safety_id: Option<String>,
}

impl WayBack<'_> {
    fn line(&self) -> String {
        let Some(id) = &self.safety_id else {
            return "no safety backup was taken: the items restored above cannot be undone by opsbook".into();
        };
        let runbook = self
            .runbook_flag
            .map(|p| format!(" --runbook {}", p.display()))
            .unwrap_or_default();
        format!("to go back to the state before this restore: opsbook{runbook} restore {id} --yes")
    }
}
