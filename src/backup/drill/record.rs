//! The outcome of a restore drill, kept in the drilled backup's folder as
//! `drill.json` (beside the manifest, not part of it: a backup is the same
//! backup after a drill, and its copies carry only what the manifest
//! lists). `backup list`, daily-check and prune read it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backup::catalog::BackupEntry;
use crate::grade::Status;

/// The file in the backup's folder.
pub(crate) const FILE: &str = "drill.json";

/// One drill of one backup: the newest is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DrillRecord {
    /// The drill's own id (its scratch resources carried it).
    pub drill: String,
    pub at: jiff::Timestamp,
    /// Every step and check ok (a warn passes too).
    pub passed: bool,
    pub status: Status,
    pub duration_ms: u64,
    /// The checks run against the restored twins.
    pub checks: Vec<DrilledCheck>,
    /// The first thing that failed, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DrilledCheck {
    pub name: String,
    pub status: Status,
    pub message: String,
}

impl DrillRecord {
    /// The drill recorded for the backup in `folder`, if any reads.
    pub(crate) fn read(folder: &Path) -> Option<DrillRecord> {
        let bytes = std::fs::read(folder.join(FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Written beside the manifest, whole or not at all.
    pub(crate) fn write(&self, folder: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::state::files::write_private(&folder.join(FILE), &bytes)
    }
}

/// The drill history of the runbook: every drill's outcome, one line each
/// (a repository's drills are kept only there).
pub(crate) fn history(
    state: &crate::state::StateDir,
    runbook: &crate::runbook::Runbook,
) -> crate::state::History {
    state.history(&format!("{}-drills", runbook.data_lock_key()))
}

/// Whether a drill's line in the history says it passed (a warn passes).
pub(crate) fn passed(line: &crate::state::Record) -> bool {
    line.status.severity() <= Status::Warn.severity()
}

/// The newest backup (of `backups`) whose drill passed, with that drill.
pub(crate) fn newest_passed(backups: &[BackupEntry]) -> Option<(&BackupEntry, DrillRecord)> {
    backups
        .iter()
        .filter_map(|b| DrillRecord::read(&b.path).map(|d| (b, d)))
        .filter(|(_, d)| d.passed)
        .max_by_key(|(_, d)| d.at)
}
