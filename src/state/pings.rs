//! The heartbeats' pings in the state folder: for each runbook and
//! heartbeat, the time of its last ping of each kind (`success`, `start`,
//! `fail`), one small private file each
//! (`heartbeats/RUNBOOK/NAME/success.json`), written beside and renamed.
//! A ping is one write of one file and never a read-modify-write, so the
//! agent and `opsbook ping` may record at the same moment without losing
//! either.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::state::files::write_private;

/// What a ping says about the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ping {
    /// It finished well (`/ping/NAME`).
    Success,
    /// It started (`/ping/NAME/start`).
    Start,
    /// It finished and failed (`/ping/NAME/fail`).
    Fail,
}

impl Ping {
    pub(crate) const ALL: [Ping; 3] = [Ping::Success, Ping::Start, Ping::Fail];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Ping::Success => "success",
            Ping::Start => "start",
            Ping::Fail => "fail",
        }
    }
}

/// The last ping of each kind a heartbeat got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Last {
    pub success: Option<Timestamp>,
    pub start: Option<Timestamp>,
    pub fail: Option<Timestamp>,
}

impl Last {
    pub(crate) fn of(&self, ping: Ping) -> Option<Timestamp> {
        match ping {
            Ping::Success => self.success,
            Ping::Start => self.start,
            Ping::Fail => self.fail,
        }
    }

    fn set(&mut self, ping: Ping, at: Timestamp) {
        let slot = match ping {
            Ping::Success => &mut self.success,
            Ping::Start => &mut self.start,
            Ping::Fail => &mut self.fail,
        };
        *slot = Some(at);
    }

    /// Takes a ping made now (never moving a time backwards).
    pub(crate) fn took(&mut self, ping: Ping, at: Timestamp) {
        if self.of(ping).is_none_or(|before| before < at) {
            self.set(ping, at);
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Stamp {
    at: Timestamp,
}

/// The folder of one heartbeat's pings.
fn folder(state_dir: &Path, key: &str, name: &str) -> PathBuf {
    state_dir.join("heartbeats").join(key).join(name)
}

/// Records a ping of `name` (a validated heartbeat name) at `at`.
pub(crate) fn record(
    state_dir: &Path,
    key: &str,
    name: &str,
    ping: Ping,
    at: Timestamp,
) -> Result<(), Error> {
    let path = folder(state_dir, key, name).join(format!("{}.json", ping.as_str()));
    let mut bytes = serde_json::to_vec(&Stamp { at }).unwrap_or_default();
    bytes.push(b'\n');
    write_private(&path, &bytes).map_err(|source| Error::State {
        path,
        action: "write",
        source,
    })
}

/// The last pings of `name`; a kind never pinged (or whose file cannot be
/// read) is none.
pub(crate) fn read(state_dir: &Path, key: &str, name: &str) -> Last {
    let folder = folder(state_dir, key, name);
    let mut last = Last::default();
    for ping in Ping::ALL {
        let stamp = std::fs::read(folder.join(format!("{}.json", ping.as_str())))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Stamp>(&bytes).ok());
        if let Some(stamp) = stamp {
            last.set(ping, stamp.at);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_kept_apart_and_read_back() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let state = dir.path().join("state");
        let (a, b): (Timestamp, Timestamp) = (
            "2026-05-01T03:00:00.25Z".parse().expect("a time"),
            "2026-05-01T03:10:00Z".parse().expect("a time"),
        );
        assert_eq!(read(&state, "k", "job"), Last::default());
        record(&state, "k", "job", Ping::Start, a).expect("recorded");
        record(&state, "k", "job", Ping::Success, b).expect("recorded");
        let last = read(&state, "k", "job");
        assert_eq!(
            (last.start, last.success, last.fail),
            (Some(a), Some(b), None)
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(state.join("heartbeats/k/job/success.json"))
                .expect("a file")
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }
}
