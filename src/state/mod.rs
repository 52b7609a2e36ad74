//! The state folder: one history file per runbook (JSON lines, one record a
//! run, capped and rotated) and one lock per runbook, so two cron runs never
//! overlap. Created 0700: records name hosts, services and figures. The
//! heartbeats' last pings are kept here too (`pings`).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub(crate) mod files;
pub(crate) mod pings;

use crate::error::Error;
use crate::grade::Status;
use crate::state::files::{append_private, create_private_dir, open_private};

/// A history file larger than this is rotated to `.1` (one generation kept).
pub(crate) const HISTORY_CAP: u64 = 8 * 1024 * 1024;
/// How much of the end of a history file is read to find the last record.
const TAIL: u64 = 1024 * 1024;

/// `--state-dir`, else `/var/lib/opsbook` as root, else the XDG state folder.
pub(crate) fn default_state_dir() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/opsbook");
    }
    match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(state) => PathBuf::from(state).join("opsbook"),
        None => std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".local/state/opsbook"))
            .unwrap_or_else(|| PathBuf::from(".opsbook-state")),
    }
}

/// Where a runbook's host log files were read up to, in the state folder.
pub(crate) fn log_offsets(state_dir: &Path, key: &str) -> PathBuf {
    state_dir.join("offsets").join(format!("{key}.json"))
}

/// The content of a runbook's watched files (`file: { changed: … }`) as
/// the last run saw it, in the state folder.
pub(crate) fn file_checksums(state_dir: &Path, key: &str) -> PathBuf {
    state_dir.join("checksums").join(format!("{key}.json"))
}

pub(crate) struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// Opens the folder, creating it (0700) and its `history` and `locks`
    /// folders; each must be one no other user can write to.
    pub(crate) fn open(path: &Path) -> Result<StateDir, Error> {
        for dir in [path.to_path_buf(), path.join("history"), path.join("locks")] {
            create_private_dir(&dir).map_err(|source| Error::State {
                path: dir.clone(),
                action: "create",
                source,
            })?;
        }
        Ok(StateDir {
            path: path.to_path_buf(),
        })
    }

    /// Takes the lock of `key` for `command`, or fails at once naming the holder.
    pub(crate) fn lock(&self, key: &str, command: &str) -> Result<Lock, Error> {
        let path = self.path.join("locks").join(format!("{key}.lock"));
        let state_error = |action: &'static str| {
            let path = path.clone();
            move |source| Error::State {
                path,
                action,
                source,
            }
        };
        let mut file = open_private(
            &path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
        )
        .map_err(state_error("open"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Error::Locked {
                    path,
                    holder: holder.trim().to_string(),
                });
            }
            Err(fs::TryLockError::Error(source)) => return Err(state_error("lock")(source)),
        }
        // The holder's pid and command, for the message of whoever comes second.
        file.set_len(0).map_err(state_error("write"))?;
        let _ = write!(file, "pid {} ({command})", std::process::id());
        Ok(Lock { _file: file })
    }

    pub(crate) fn history(&self, key: &str) -> History {
        History {
            path: self.path.join("history").join(format!("{key}.jsonl")),
        }
    }
}

/// Held while a command runs; the lock goes with the file when dropped
/// (or when the process dies, so a killed run never leaves a stale lock).
pub(crate) struct Lock {
    _file: File,
}

/// One run, as the history keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub at: jiff::Timestamp,
    pub command: String,
    pub status: Status,
    pub duration_ms: u64,
    pub host: HostFigures,
    /// Restart count of each container, by container name.
    #[serde(default)]
    pub restarts: BTreeMap<String, u64>,
    /// Resource use of each running container, by container name (absent
    /// from records written before opsbook sampled it).
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceFigures>,
    pub results: Vec<RecordedResult>,
}

/// One container's resource use in one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ResourceFigures {
    /// The name of its results (the service).
    pub service: String,
    /// Percent of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    pub memory_bytes: u64,
    /// Percent of its memory limit (of the host's memory without one).
    pub memory_percent: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct HostFigures {
    pub memory_percent: Option<f64>,
    pub swap_percent: Option<f64>,
    pub load_per_core: Option<f64>,
    /// Used percent of each disk path.
    #[serde(default)]
    pub disks: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RecordedResult {
    pub section: String,
    pub name: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<f64>,
    /// Above crit, but held at warn by its `for:` (the window not yet over).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub held: bool,
}

pub(crate) struct History {
    path: PathBuf,
}

impl History {
    fn rotated(&self) -> PathBuf {
        self.path.with_extension("jsonl.1")
    }

    /// Appends one record, rotating first when the file would pass the cap.
    pub(crate) fn append(&self, record: &Record) -> Result<(), Error> {
        self.append_capped(record, HISTORY_CAP)
    }

    fn append_capped(&self, record: &Record, cap: u64) -> Result<(), Error> {
        let state_error = |action: &'static str| {
            let path = self.path.clone();
            move |source| Error::State {
                path,
                action,
                source,
            }
        };
        let mut line = serde_json::to_string(record)
            .map_err(|e| state_error("encode")(std::io::Error::other(e)))?;
        line.push('\n');
        // The link itself, not what it points to: a planted link is refused below.
        let size = fs::symlink_metadata(&self.path)
            .map(|m| m.len())
            .unwrap_or(0);
        if size > 0 && size.saturating_add(line.len() as u64) > cap {
            fs::rename(&self.path, self.rotated()).map_err(state_error("rotate"))?;
        }
        // One write of a whole line: a crash leaves at worst a torn last line,
        // which readers skip.
        append_private(&self.path, line.as_bytes()).map_err(state_error("write"))
    }

    /// The newest record, read from the end of the file.
    pub(crate) fn last(&self) -> Option<Record> {
        [self.path.clone(), self.rotated()]
            .iter()
            .find_map(|path| last_record(path))
    }

    /// Every readable record at or after `since`, oldest first, and how
    /// many lines could not be read (torn, not UTF-8, not a record): those
    /// are skipped and counted, and reading goes on past them.
    pub(crate) fn since(&self, since: jiff::Timestamp) -> Since {
        let mut found = Since::default();
        for path in [self.rotated(), self.path.clone()] {
            let Ok(file) = File::open(&path) else {
                continue;
            };
            for line in BufReader::new(file).split(b'\n') {
                let Ok(line) = line else {
                    found.skipped += 1;
                    break;
                };
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Record>(&line) {
                    Ok(record) if record.at >= since => found.records.push(record),
                    Ok(_) => {}
                    Err(_) => found.skipped += 1,
                }
            }
        }
        found
    }
}

/// What `History::since` read.
#[derive(Debug, Default)]
pub(crate) struct Since {
    pub records: Vec<Record>,
    /// Lines that were not a readable record.
    pub skipped: usize,
}

fn last_record(path: &Path) -> Option<Record> {
    let mut file = File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(size.saturating_sub(TAIL))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    tail.split(|b| *b == b'\n')
        .rev()
        .find_map(|line| serde_json::from_slice::<Record>(line).ok())
}

/// A file-name-safe key for a runbook: its name and a stable hash of where it
/// lives, so two runbooks with the same name keep separate histories.
pub(crate) fn runbook_key(name: &str, location: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}-{:08x}", fnv1a(location.as_bytes()) as u32)
}

/// FNV-1a: tiny, and stable across Rust versions (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn record(at: i64, memory: f64) -> Record {
        Record {
            at: jiff::Timestamp::from_second(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            command: "daily-check".into(),
            status: Status::Ok,
            duration_ms: 5,
            host: HostFigures {
                memory_percent: Some(memory),
                ..HostFigures::default()
            },
            restarts: BTreeMap::from([("shop-db-1".to_string(), 2)]),
            resources: BTreeMap::new(),
            results: Vec::new(),
        }
    }

    #[test]
    fn a_record_from_before_resources_were_sampled_still_reads() {
        let old = r#"{"at":"2026-11-21T06:00:00Z","command":"daily-check","status":"ok","duration_ms":5,"host":{"memory_percent":10.0,"swap_percent":null,"load_per_core":null},"restarts":{},"results":[]}"#;
        let record: Result<Record, _> = serde_json::from_str(old);
        assert!(record.is_ok_and(|r| r.resources.is_empty()));
    }

    #[test]
    fn keys_are_safe_and_stable() {
        assert_eq!(
            runbook_key("shop", "/srv/shop/opsbook.yaml"),
            runbook_key("shop", "/srv/shop/opsbook.yaml")
        );
        assert_ne!(
            runbook_key("shop", "/a/opsbook.yaml"),
            runbook_key("shop", "/b/opsbook.yaml")
        );
        assert!(runbook_key("my shop/1", "x").starts_with("my_shop_1-"));
    }

    #[test]
    fn records_round_trip_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let state = StateDir::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let history = state.history("shop-1");
        assert!(history.last().is_none());
        for (at, memory) in [(100, 10.0), (200, 20.0), (300, 30.0)] {
            assert!(history.append(&record(at, memory)).is_ok());
        }
        // A crash mid-write leaves half a line.
        let mut file = OpenOptions::new()
            .append(true)
            .open(&history.path)
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = file.write_all(b"{\"at\":\"2026-");
        assert_eq!(
            history.last().map(|r| r.host.memory_percent),
            Some(Some(30.0))
        );
        let since = jiff::Timestamp::from_second(200).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(history.since(since).records.len(), 2);
        let mode = fs::metadata(dir.path().join("history")).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o700));
    }

    #[test]
    fn a_line_that_is_not_utf8_is_skipped_and_counted_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let state = StateDir::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let history = state.history("shop-1");
        assert!(history.append(&record(100, 10.0)).is_ok());
        let mut file = OpenOptions::new()
            .append(true)
            .open(&history.path)
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = file.write_all(b"{\"at\": \"\xff\xfe\"}\nnot json\n");
        for (at, memory) in [(200, 20.0), (300, 30.0)] {
            assert!(history.append(&record(at, memory)).is_ok());
        }
        let read = history.since(jiff::Timestamp::UNIX_EPOCH);
        let seconds: Vec<i64> = read.records.iter().map(|r| r.at.as_second()).collect();
        assert_eq!(seconds, [100, 200, 300]);
        assert_eq!(read.skipped, 2);
    }

    #[test]
    fn a_planted_history_or_lock_link_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let state = StateDir::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap_or_else(|e| panic!("{e}"));
        let link = |name: &str| {
            std::os::unix::fs::symlink(&victim, dir.path().join(name))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        link("history/shop-1.jsonl");
        link("locks/shop-1.lock");
        assert!(state.history("shop-1").append(&record(1, 1.0)).is_err());
        assert!(state.lock("shop-1", "daily-check").is_err());
        assert_eq!(
            fs::read_to_string(&victim).ok().as_deref(),
            Some("precious")
        );
    }

    #[test]
    fn a_state_folder_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777))
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = StateDir::open(dir.path()).err().map(|e| e.to_string());
        assert!(
            refused.as_deref().is_some_and(
                |m| m.contains("writable by other users") && !m.contains("--state-dir")
            ),
            "{refused:?}"
        );
        assert!(!dir.path().join("history").exists());
    }

    #[test]
    fn a_full_history_rotates_and_keeps_one_generation() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let state = StateDir::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let history = state.history("shop-1");
        let one = serde_json::to_string(&record(0, 1.0)).map_or(0, |l| l.len() as u64 + 1);
        for at in 1..=10 {
            assert!(
                history
                    .append_capped(&record(at, at as f64), one * 3)
                    .is_ok()
            );
        }
        let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(
            size(&history.path) <= one * 3,
            "the live file stays under the cap"
        );
        assert!(
            size(&history.rotated()) > 0,
            "the previous generation is kept"
        );
        let kept: Vec<i64> = history
            .since(jiff::Timestamp::UNIX_EPOCH)
            .records
            .iter()
            .map(|r| r.at.as_second())
            .collect();
        assert_eq!(
            kept,
            [7, 8, 9, 10],
            "older generations are gone, order is kept"
        );
        assert_eq!(history.last().map(|r| r.at.as_second()), Some(10));
    }

    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let state = StateDir::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let held = state.lock("shop-1", "daily-check");
        assert!(held.is_ok());
        match state.lock("shop-1", "daily-check") {
            Err(Error::Locked { holder, .. }) => {
                assert_eq!(holder, format!("pid {} (daily-check)", std::process::id()))
            }
            other => panic!("expected a held lock, got {:?}", other.map(|_| ())),
        }
        drop(held);
        assert!(
            state.lock("shop-1", "daily-check").is_ok(),
            "released on drop"
        );
    }
}
