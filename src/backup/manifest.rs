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
}
