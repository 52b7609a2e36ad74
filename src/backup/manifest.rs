//! `manifest.json`: what a backup holds and how to check it. Never
//! encrypted, never holding a secret: it names items, sizes and checksums.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::runbook::model::Compression;

pub(crate) const FORMAT: u32 = 1;
pub(crate) const FILE: &str = "manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub format: u32,
    pub runbook: String,
    pub opsbook_version: String,
    pub created_at: jiff::Timestamp,
    pub host: String,
    /// Made by `restore` just before it replaced these items.
    #[serde(default)]
    pub safety: bool,
    /// The image of each service's container when the backup was made.
    #[serde(default)]
    pub images: BTreeMap<String, String>,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Volume,
    File,
    Dump,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Item {
    /// Unique within the backup: the volume's, file's or dump's runbook name.
    pub name: String,
    pub kind: Kind,
    /// The full volume name, the host path, or `service: command`.
    pub source: String,
    /// For volumes: the top folder of the archive (the mount path's last part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_root: Option<String>,
    pub file: String,
    pub compression: Compression,
    #[serde(default)]
    pub encrypted: bool,
    /// Bytes before compression.
    pub size: u64,
    /// Bytes of the stored file.
    pub stored_size: u64,
    /// sha256 of the stored file, hex.
    pub sha256: String,
    /// For volumes: how it was read (absent in backups made before this was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Read>,
}

/// The path a volume's data took into the backup; both store the same archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Read {
    /// Walked from its mountpoint on this host.
    Direct,
    /// Streamed from Docker's archive endpoint.
    Archive,
}

impl Read {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Read::Direct => "direct",
            Read::Archive => "archive",
        }
    }
}

impl Manifest {
    pub(crate) fn read(folder: &Path) -> std::io::Result<Manifest> {
        let bytes = std::fs::read(folder.join(FILE))?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }

    /// The bytes its stored files take. A manifest is a file anyone may
    /// have edited: sizes past what a u64 holds stay at its largest rather
    /// than wrap to a small number.
    pub(crate) fn stored_size(&self) -> u64 {
        self.items
            .iter()
            .fold(0, |total, item| total.saturating_add(item.stored_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifests_stored_size_does_not_wrap() {
        let item = |stored_size: u64| {
            serde_json::json!({"name": "a", "kind": "file", "source": "/a", "file": "a",
                "compression": "zstd", "size": 1, "stored_size": stored_size, "sha256": ""})
        };
        let manifest = |sizes: &[u64]| -> Manifest {
            serde_json::from_value(serde_json::json!({
                "format": 1, "runbook": "shop", "opsbook_version": "0", "created_at": "2026-12-01T00:00:00Z",
                "host": "h", "items": sizes.iter().map(|s| item(*s)).collect::<Vec<_>>()
            }))
            .expect("a manifest")
        };
        assert_eq!(manifest(&[3, 4]).stored_size(), 7);
        assert_eq!(manifest(&[u64::MAX, 2]).stored_size(), u64::MAX);
        assert_eq!(manifest(&[]).stored_size(), 0);
    }
}
