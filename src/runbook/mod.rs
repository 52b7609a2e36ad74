//! The runbook: the YAML file that describes one deployment and how to run
//! it. `load` finds and parses it, `validate` checks what parsing cannot, and
//! `Plan` is the resolved form every command works from.

mod bounds;
mod command;
pub(crate) mod cron;
pub(crate) mod interpolate;
mod load;
pub(crate) mod model;
mod order;
mod plan;
pub(crate) mod units;
mod validate;
pub(crate) mod wording;

use std::path::{Path, PathBuf};

pub(crate) use load::{Source, collect, discover, load, load_text_as, load_with_text, parse};
pub(crate) use plan::{ContainerThresholds, Floor, HostThresholds, Plan};
pub(crate) use validate::locate::locate_key;

use model::{Backup, Model};

use crate::error::Error;
use crate::redact::Redactor;

/// A loaded, validated runbook.
#[derive(Debug)]
pub(crate) struct Runbook {
    /// How reports name it: its path, or `embedded:default`.
    pub display: String,
    /// Where it lives, canonical: links and `..` resolved (or
    /// `embedded:default`): keys its history and locks.
    pub location: String,
    /// The folder relative paths resolve against (the file's folder, or the
    /// working directory for the embedded default).
    pub dir: PathBuf,
    pub model: Model,
    pub plan: Plan,
    /// Built once: the built-in rules plus the runbook's `redact:` patterns.
    redactor: Redactor,
    /// The fleet host this runbook is run for (`$OPSBOOK_FLEET_HOST` in a
    /// fleet's run, or set by `serve` over a fleet): its backups, their
    /// copies and its incidents are in a folder of that host's.
    pub fleet_host: Option<String>,
}

impl Runbook {
    /// The checks `startup.verify` names: what must pass after a startup,
    /// a restore or a rotation.
    pub(crate) fn verify_names(&self) -> Vec<String> {
        self.model
            .startup
            .as_ref()
            .map(|s| s.verify.iter().map(|v| v.value.clone()).collect())
            .unwrap_or_default()
    }

    /// The runbook's name, else its project, else `opsbook`.
    pub(crate) fn name(&self) -> &str {
        self.model
            .name
            .as_deref()
            .or(self.model.project.as_deref())
            .unwrap_or("opsbook")
    }

    /// A path from the runbook, resolved against the runbook's folder.
    pub(crate) fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        // `./backups` reads better without its `.` in every message.
        self.dir
            .join(path)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect()
    }

    /// The key of this runbook's history and lock in the state folder.
    pub(crate) fn state_key(&self) -> String {
        crate::state::runbook_key(self.name(), &self.location)
    }

    /// For a message about what the runbook lacks: how to name another one,
    /// when none was found and the embedded default is in use.
    pub(crate) fn found_how(&self) -> &'static str {
        if self.display == load::EMBEDDED_DISPLAY {
            " (no runbook was found, so the embedded default is used: pass --runbook FILE, set $OPSBOOK_RUNBOOK, or run where ./opsbook.yaml is; /etc/opsbook/opsbook.yaml comes last)"
        } else {
            ""
        }
    }

    /// The key of the lock `backup`, `restore` and `backup prune` hold: the
    /// compose project's, so no two runbooks (or two names of one) touch
    /// its data at once; the runbook's own without a project.
    pub(crate) fn data_lock_key(&self) -> String {
        match &self.plan.project {
            Some(project) => crate::state::runbook_key(&format!("project-{project}"), project),
            None => format!("{}-data", self.state_key()),
        }
    }

    /// The compose project a command that changes containers works on:
    /// without one it would touch every project on the host.
    pub(crate) fn require_project(&self, command: &str) -> Result<String, Error> {
        self.plan.project.clone().ok_or_else(|| {
            Error::Usage(format!(
                "{command} needs `project` in the runbook (`{}`): it acts on the containers of one compose project{}",
                self.display,
                self.found_how()
            ))
        })
    }

    /// The runbook's redactor: built-in rules plus its `redact:` patterns.
    pub(crate) fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Where `backup` keeps its backups: `backup.dir`, and in a fleet's run
    /// (`$OPSBOOK_FLEET_HOST`) that host's folder in it, each exactly the
    /// single-host layout.
    pub(crate) fn backup_dir(&self, backup: &Backup) -> PathBuf {
        self.host_folder(self.resolve(&backup.dir))
    }

    /// Where incidents are kept: `incident.dir`, per host as `backup_dir`.
    pub(crate) fn incident_dir(&self) -> PathBuf {
        self.host_folder(self.resolve(&self.plan.incident_dir))
    }

    fn host_folder(&self, dir: PathBuf) -> PathBuf {
        match &self.fleet_host {
            Some(host) => dir.join(host),
            None => dir,
        }
    }

    /// The folders the deployment writes to: the runbook's own, backups, incidents.
    pub(crate) fn data_folders(&self) -> Vec<PathBuf> {
        let mut folders = vec![self.dir.clone()];
        if let Some(backup) = &self.model.backup {
            folders.push(self.backup_dir(backup));
        }
        if self.model.incident.is_some() {
            folders.push(self.incident_dir());
        }
        folders.dedup();
        folders
    }

    /// Whether a service is marked `critical: true`.
    pub(crate) fn is_critical(&self, service: &str) -> bool {
        self.model.services.get(service).is_some_and(|s| s.critical)
    }
}

/// Set for each host's run of a fleet run: that host's name.
pub(crate) const FLEET_HOST_VARIABLE: &str = "OPSBOOK_FLEET_HOST";

/// The fleet host this run is for, when it is one (a plain name only:
/// it becomes a folder's name).
fn fleet_host() -> Option<String> {
    let host = std::env::var(FLEET_HOST_VARIABLE).ok()?;
    let plain = !host.is_empty()
        && host != "."
        && host != ".."
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    plain.then_some(host)
}
