//! What a restore killed before it ended leaves beside a volume's data:
//! its staging folders and the data it set aside, found, and what to say
//! about them.

use std::path::Path;

use super::{OLD_PREFIX, STAGING_PREFIX};

/// The folders beside `mountpoint` that a restore killed before it ended
/// left: its staging folders, then the data it set aside.
pub(crate) fn leftover_folders(
    mountpoint: &Path,
) -> (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let (mut staging, mut old) = (Vec::new(), Vec::new());
    let Some(parent) = mountpoint.parent() else {
        return (staging, old);
    };
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(STAGING_PREFIX) {
            staging.push(entry.path());
        } else if name.starts_with(OLD_PREFIX) {
            old.push(entry.path());
        }
    }
    staging.sort();
    old.sort();
    (staging, old)
}

/// What to say about the data a restore set aside and never finished with.
pub(crate) fn old_note(old: &Path, mountpoint: &Path) -> String {
    format!(
        "{} holds the data a restore set aside when it swapped the restored data in, and it was killed before it finished: the volume holds the restored data and opsbook never uses that folder; once the volume's data is right remove it (rm -rf), or to go back to it stop the services and rename it to {}",
        old.display(),
        mountpoint.display()
    )
}

/// Warnings for a backup of the volume at `mountpoint`: leftovers of a
/// killed restore, which are not part of it.
pub(crate) fn leftovers(mountpoint: &Path) -> Vec<String> {
    let (staging, old) = leftover_folders(mountpoint);
    let mut said: Vec<String> = old.iter().map(|o| old_note(o, mountpoint)).collect();
    said.extend(staging.iter().map(|s| {
        format!(
            "{} is the staging folder of a restore that was killed: not live data, the next restore of this volume removes it",
            s.display()
        )
    }));
    said
}
