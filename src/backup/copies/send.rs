//! Sending backups off the host. `opsbook backup copy [ID|latest]
//! [--all-missing] [--to NAME]` puts local backups on the copy targets
//! (`backup.copies`) where they are missing; `Offsite` sends each new
//! backup to every target, what `backup` does after each backup it makes
//! (a repository's snapshots are copied by `repository::copy`). A failed copy is a
//! crit result naming the target and why; the local backup stays good. So
//! is a copy that SIGINT or SIGTERM cut short: it ends at once, what it
//! sent is not listed on the target, and no target after it is begun.

use std::path::Path;

use super::{INTERRUPTED, Target};
use crate::backup::catalog::BackupEntry;
use crate::backup::repository;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;
use crate::render::Report;
use crate::runbook::Runbook;

use crate::backup::{select, settings};

/// Results are filed under this section.
const SECTION: &str = "copies";

pub(crate) async fn copy(
    runbook: &Runbook,
    id: Option<&str>,
    all_missing: bool,
    to: Option<&str>,
    report: &mut Report,
) -> Result<(), Error> {
    if settings(runbook)?.repository.is_some() {
        return repository::copy::copy(runbook, id, all_missing, to, report).await;
    }
    let dir = runbook.backup_dir(settings(runbook)?);
    let mut targets = Target::all(runbook, to).map_err(Error::Usage)?;
    if targets.is_empty() {
        return Err(Error::Usage(format!(
            "the runbook `{}` has no `backup.copies` to copy to",
            runbook.display
        )));
    }
    let local: Vec<BackupEntry> = select(&dir, id, all_missing)?
        .into_iter()
        .filter(|b| !b.safety || id.is_some())
        .collect();
    let interrupt = Interrupt::listen();
    for target in &mut targets {
        target.heed(&interrupt);
    }
    to_targets(&targets, &local, &interrupt, report).await;
    Ok(())
}

/// Copies the new backup `id` to every target: what `backup` does last.
/// `interrupt`: the backup's own, heard since it began.
pub(crate) async fn after_backup(
    runbook: &Runbook,
    dir: &Path,
    id: &str,
    interrupt: &Interrupt,
    report: &mut Report,
) {
    if crate::backup::copies::copies(runbook).is_empty() {
        return;
    }
    if runbook
        .model
        .backup
        .as_ref()
        .is_some_and(|b| b.repository.is_some())
    {
        return repository::copy::after_backup(runbook, id, interrupt, report).await;
    }
    let mut targets = match Target::all(runbook, None) {
        Ok(targets) => targets,
        Err(problem) => {
            report.results.push(CheckResult::new(
                SECTION,
                "targets",
                Status::Crit,
                format!("{problem}: the backup is kept here, not copied"),
            ));
            return;
        }
    };
    let entry = BackupEntry {
        id: id.to_string(),
        path: dir.join(id),
        created_at: jiff::Timestamp::now(),
        safety: false,
    };
    for target in &mut targets {
        target.heed(interrupt);
    }
    to_targets(&targets, std::slice::from_ref(&entry), interrupt, report).await;
}

/// The copy targets as `backup` hands its new backups to them.
pub(crate) struct Offsite;

impl crate::backup::Offsite for Offsite {
    fn send<'a>(
        &'a self,
        runbook: &'a Runbook,
        dir: &'a Path,
        id: &'a str,
        interrupt: &'a Interrupt,
        report: &'a mut Report,
    ) -> futures_util::future::LocalBoxFuture<'a, ()> {
        Box::pin(after_backup(runbook, dir, id, interrupt, report))
    }
}

/// Each target in turn; after a signal, none is begun.
async fn to_targets(
    targets: &[Target],
    local: &[BackupEntry],
    interrupt: &Interrupt,
    report: &mut Report,
) {
    for target in targets {
        if interrupt.is_raised() {
            report.results.push(CheckResult::new(
                SECTION,
                &target.name,
                Status::Crit,
                format!(
                    "nothing copied to {}: {INTERRUPTED} before its turn; the backup is kept here (`opsbook backup copy` sends it)",
                    target.location()
                ),
            ));
            continue;
        }
        to_target(target, local, report).await;
    }
}

/// Uploads those of `local` the target lacks; one result per target.
async fn to_target(target: &Target, local: &[BackupEntry], report: &mut Report) {
    let there = match target.list().await {
        Ok(listed) => listed,
        Err(problem) => {
            report.results.push(CheckResult::new(
                SECTION,
                &target.name,
                Status::Crit,
                format!("cannot list {}: {problem}", target.location()),
            ));
            return;
        }
    };
    let mut copied = Vec::new();
    for entry in local {
        if there.backups.iter().any(|b| b.id == entry.id) {
            continue;
        }
        // A copy whose manifest does not read is sent again, replacing it.
        let replacing = match there.damaged.iter().any(|d| d.id == entry.id) {
            true => ", replacing a copy whose manifest did not read",
            false => "",
        };
        match target.upload(&entry.id, &entry.path).await {
            Ok(done) => copied.push(format!(
                "{} ({} in {}{replacing})",
                entry.id,
                crate::ui::human::bytes(done.bytes),
                crate::ui::human::took(done.took)
            )),
            Err(problem) if problem == INTERRUPTED => {
                report.results.push(CheckResult::new(
                    SECTION,
                    &target.name,
                    Status::Crit,
                    format!(
                        "{} not copied to {}: {INTERRUPTED}; the copy was cut short and is not listed there, the backup is kept here (`opsbook backup copy` sends it)",
                        entry.id,
                        target.location()
                    ),
                ));
                return;
            }
            Err(problem) => {
                report.results.push(CheckResult::new(
                    SECTION,
                    &target.name,
                    Status::Crit,
                    format!(
                        "{} not copied to {}: {problem}",
                        entry.id,
                        target.location()
                    ),
                ));
                return;
            }
        }
    }
    let message = if copied.is_empty() {
        format!("{} already holds every backup asked for", target.location())
    } else {
        format!("copied {} to {}", copied.join(", "), target.location())
    };
    report
        .results
        .push(CheckResult::new(SECTION, &target.name, Status::Ok, message));
}
