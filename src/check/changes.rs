//! Files watched for a change of content across runs (`file: { changed:
//! warn }`, monit's `checksum`): each one's sha256 is kept in the state
//! folder by check name, with when that content was first seen and when it
//! was last looked at. A change since the last run grades as the check
//! says; the run after, the new content is the known one and it is ok.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::grade::Status;
use crate::runbook::model::Changed;

/// Every watched file's last content, by check name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Checksums(pub BTreeMap<String, Seen>);

/// One file's content as last seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Seen {
    pub path: String,
    pub sha256: String,
    /// When this content was first seen.
    pub since: jiff::Timestamp,
    /// The run that last looked.
    pub checked: jiff::Timestamp,
}

impl Checksums {
    /// The checksums kept at `path`; none when there is no (readable) file.
    pub(crate) fn load(path: &Path) -> Checksums {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Keeps them (0600, written beside and renamed, never through a link).
    pub(crate) fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::state::files::write_private(path, &bytes)
    }
}

/// The sha256 of a file's content, read in pieces (never whole).
pub(super) fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// This run's look at `path` (content `sha256`) against the last one:
/// the grade and what to say, and what to keep for the next run.
pub(super) fn compare(
    last: Option<&Seen>,
    path: &str,
    sha256: String,
    grade: Changed,
    now: jiff::Timestamp,
) -> (Status, String, Seen) {
    match last.filter(|seen| seen.path == path) {
        None => (
            Status::Ok,
            "first look: its checksum is kept to tell a change".into(),
            Seen {
                path: path.to_string(),
                sha256,
                since: now,
                checked: now,
            },
        ),
        Some(seen) if seen.sha256 == sha256 => (
            Status::Ok,
            format!("unchanged since {}", local(seen.since)),
            Seen {
                checked: now,
                ..seen.clone()
            },
        ),
        Some(seen) => (
            grade.status(),
            format!("changed since {}", local(seen.checked)),
            Seen {
                path: path.to_string(),
                sha256,
                since: now,
                checked: now,
            },
        ),
    }
}

/// `2026-12-06 06:00`, in the host's time zone.
fn local(at: jiff::Timestamp) -> String {
    at.to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_grades_once_then_the_new_content_is_the_known_one() {
        let t = |s: i64| jiff::Timestamp::from_second(s).unwrap_or_default();
        let (status, message, seen) = compare(None, "/a", "1".into(), Changed::Warn, t(0));
        assert_eq!(status, Status::Ok);
        assert!(message.starts_with("first look"), "{message}");
        let (status, message, seen) = compare(Some(&seen), "/a", "1".into(), Changed::Warn, t(60));
        assert_eq!(status, Status::Ok);
        assert!(message.starts_with("unchanged since "), "{message}");
        let (status, message, seen) = compare(Some(&seen), "/a", "2".into(), Changed::Crit, t(120));
        assert_eq!(status, Status::Crit);
        assert!(message.starts_with("changed since "), "{message}");
        let (status, _, _) = compare(Some(&seen), "/a", "2".into(), Changed::Crit, t(180));
        assert_eq!(status, Status::Ok);
        let (status, message, _) = compare(Some(&seen), "/b", "3".into(), Changed::Crit, t(240));
        assert_eq!(
            (status, message.starts_with("first look")),
            (Status::Ok, true)
        );
    }
}
