//! Which backups exist in a backup folder. A backup is complete once its
//! folder has its final name (written under a name starting with `.` and
//! renamed at the end) and holds a `manifest.json`; anything else is a
//! leftover and is never counted, listed or restored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone)]
pub(crate) struct BackupEntry {
    pub id: String,
    pub path: PathBuf,
    pub created_at: jiff::Timestamp,
    /// Made by restore just before it replaced data.
    pub safety: bool,
}

/// The part of `manifest.json` the catalog needs.
#[derive(Deserialize)]
struct ManifestHead {
    created_at: jiff::Timestamp,
    #[serde(default)]
    safety: bool,
}

/// Complete backups in `dir`, oldest first. A missing folder has none.
pub(crate) fn list(dir: &Path) -> std::io::Result<Vec<BackupEntry>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut backups = Vec::new();
    for entry in entries {
        let entry = entry?;
        let id = entry.file_name().to_string_lossy().into_owned();
        if id.starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        let manifest = entry.path().join("manifest.json");
        let Ok(text) = std::fs::read(&manifest) else {
            continue;
        };
        let Ok(head) = serde_json::from_slice::<ManifestHead>(&text) else {
            continue;
        };
        backups.push(BackupEntry {
            id,
            path: entry.path(),
            created_at: head.created_at,
            safety: head.safety,
        });
    }
    backups.sort_by_key(|b| b.created_at);
    Ok(backups)
}

/// A backup whose folder has its final name and a `manifest.json` that
/// does not read: damaged (a flipped bit, a cut write), never listed.
#[derive(Debug, Clone)]
pub(crate) struct Damaged {
    pub id: String,
    pub manifest: PathBuf,
    pub why: String,
}

/// The backups in `dir` whose manifest is damaged, by id.
pub(crate) fn damaged(dir: &Path) -> Vec<Damaged> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<Damaged> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let id = e.file_name().to_string_lossy().into_owned();
            let manifest = e.path().join("manifest.json");
            if id.starts_with('.') || !manifest.exists() {
                return None;
            }
            let why = match std::fs::read(&manifest) {
                Err(e) => e.to_string(),
                Ok(text) => serde_json::from_slice::<ManifestHead>(&text)
                    .err()?
                    .to_string(),
            };
            Some(Damaged { id, manifest, why })
        })
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

/// The file that marks a partial folder as a restore's safety backup,
/// removed when it is finished: a restore killed after its swap leaves the
/// state from before it only there, so it is never taken for a leftover.
pub(crate) const SAFETY_MARK: &str = ".safety";

/// Folders left by backups that never finished (`.<id>.partial`), not
/// those of a restore's safety backup (`unfinished_safety`).
pub(crate) fn leftovers(dir: &Path) -> Vec<PathBuf> {
    partials(dir)
        .into_iter()
        .filter(|p| !p.join(SAFETY_MARK).exists())
        .collect()
}

/// The safety backups of restores that were killed before they finished:
/// what they hold of the state before those restores is kept until an
/// operator removes it.
pub(crate) fn unfinished_safety(dir: &Path) -> Vec<PathBuf> {
    partials(dir)
        .into_iter()
        .filter(|p| p.join(SAFETY_MARK).exists())
        .collect()
}

/// What to say of an unfinished safety backup, wherever it is named.
pub(crate) fn unfinished_safety_note(folder: &Path) -> String {
    format!(
        "{} is the safety backup of a restore that was killed before it finished: it holds copies of what that restore replaced (files and dumps, in the backup format, without a manifest), perhaps the only ones left. opsbook never deletes it (prune keeps it): once the deployment is right, remove it (rm -rf)",
        folder.display()
    )
}

/// Every `.<id>.partial` folder in `dir`, sorted.
fn partials(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with('.') && name.ends_with(".partial")
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_backups_count() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let write = |name: &str, manifest: Option<&str>| {
            let folder = dir.path().join(name);
            std::fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("{e}"));
            if let Some(text) = manifest {
                std::fs::write(folder.join("manifest.json"), text)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        };
        write(
            "shop-20261120T060000Z",
            Some(r#"{"created_at": "2026-11-20T06:00:00Z", "items": []}"#),
        );
        write(
            "shop-20261121T060000Z",
            Some(r#"{"created_at": "2026-11-21T06:00:00Z"}"#),
        );
        write(
            ".shop-20261122T060000Z.partial",
            Some(r#"{"created_at": "2026-11-22T06:00:00Z"}"#),
        );
        write("shop-20261123T060000Z", None);
        write("shop-broken", Some("{"));
        let backups = list(dir.path()).unwrap_or_default();
        let ids: Vec<&str> = backups.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["shop-20261120T060000Z", "shop-20261121T060000Z"]);
        let damaged = damaged(dir.path());
        let ids: Vec<&str> = damaged.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["shop-broken"]);
        assert!(list(&dir.path().join("missing")).is_ok_and(|b| b.is_empty()));
    }
}
