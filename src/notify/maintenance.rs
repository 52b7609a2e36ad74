//! Maintenance windows: while one lasts, notification targets hold their
//! alerts (the streaks still count, so what is still failing afterwards is
//! alerted then) and `heal` restarts nothing. A window is open when any
//! of these says so:
//! - `notify.maintenance.cron` + `for`: from each time the expression fires,
//!   for that long (in `schedule.timezone`, else the host's zone);
//! - `notify.maintenance.file`: while the file exists; an RFC 3339 time in
//!   it closes the window then, even if the file stays behind;
//! - a `maintenance` step: `<state>/maintenance/<key>.json`, written with
//!   the step's end time and removed by `maintenance: end`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::runbook::Runbook;

/// An open window: until when, and who opened it, for messages and the page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Window {
    /// None: until the file is removed.
    pub until: Option<Timestamp>,
    pub why: String,
}

/// What a `maintenance` step leaves in the state folder.
#[derive(Debug, Serialize, Deserialize)]
struct Opened {
    until: Timestamp,
    by: String,
}

/// The window open at `now`, if any (the one that lasts longest when
/// several are).
pub(crate) fn active(runbook: &Runbook, state_dir: &Path, now: Timestamp) -> Option<Window> {
    let mut open = Vec::new();
    if let Some(window) = opened_by_step(&step_file(state_dir, &runbook.state_key()), now) {
        open.push(window);
    }
    let written = runbook
        .model
        .notify
        .as_ref()
        .and_then(|n| n.maintenance.as_ref());
    if let Some(written) = written {
        if let (Some(cron), Some(lasts)) = (&written.cron, &written.lasts)
            && let Some(window) = from_cron(&cron.value, lasts.value.std(), zone(runbook), now)
        {
            open.push(window);
        }
        if let Some(file) = &written.file
            && let Some(window) = from_file(&runbook.resolve(&file.value), now)
        {
            open.push(window);
        }
    }
    open.into_iter()
        .max_by_key(|w| w.until.unwrap_or(Timestamp::MAX))
}

/// Opens a window until `until` on behalf of `by` (a `maintenance` step).
pub(crate) fn open(state_dir: &Path, key: &str, until: Timestamp, by: &str) -> std::io::Result<()> {
    let opened = Opened {
        until,
        by: by.to_string(),
    };
    let bytes = serde_json::to_vec(&opened).map_err(std::io::Error::other)?;
    crate::state::files::write_private(&step_file(state_dir, key), &bytes)
}

/// Closes the window a `maintenance` step opened (none is fine).
pub(crate) fn close(state_dir: &Path, key: &str) -> std::io::Result<()> {
    crate::state::files::remove_if_present(&step_file(state_dir, key))
}

fn step_file(state_dir: &Path, key: &str) -> PathBuf {
    state_dir.join("maintenance").join(format!("{key}.json"))
}

fn opened_by_step(path: &Path, now: Timestamp) -> Option<Window> {
    let text = std::fs::read(path).ok()?;
    let opened: Opened = serde_json::from_slice(&text).ok()?;
    (opened.until > now).then(|| Window {
        until: Some(opened.until),
        why: format!("opened by {}", opened.by),
    })
}

fn zone(runbook: &Runbook) -> TimeZone {
    runbook
        .model
        .schedule
        .as_ref()
        .and_then(|s| s.timezone.as_ref())
        .and_then(|name| crate::runbook::cron::zone(&name.value).ok())
        .unwrap_or_else(TimeZone::system)
}

/// The window of the latest firing of `expression` within `lasts` of `now`.
fn from_cron(expression: &str, lasts: Duration, zone: TimeZone, now: Timestamp) -> Option<Window> {
    let cron = crate::runbook::cron::parse(expression).ok()?;
    let span = jiff::SignedDuration::try_from(lasts).ok()?;
    let since = now.checked_sub(span).ok()?;
    // A firing at exactly `now - lasts` has just ended; one after it is open.
    let start = cron
        .after(jiff::Zoned::new(since, zone))
        .next()?
        .timestamp();
    (start <= now).then(|| Window {
        until: start.checked_add(span).ok(),
        why: format!(
            "notify.maintenance `{expression}` for {}",
            humantime::format_duration(lasts)
        ),
    })
}

fn from_file(path: &Path, now: Timestamp) -> Option<Window> {
    let text = std::fs::read_to_string(path).ok()?;
    let until = text.trim().parse::<Timestamp>().ok();
    if until.is_some_and(|until| until <= now) {
        return None;
    }
    Some(Window {
        until,
        why: format!("{} is present", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn a_cron_window_is_open_from_its_firing_for_its_length() {
        let two_hours = Duration::from_secs(7200);
        let sunday_2am = "0 2 * * 0";
        // 2026-11-29 is a Sunday.
        let inside = from_cron(
            sunday_2am,
            two_hours,
            TimeZone::UTC,
            at("2026-11-29T03:59:00Z"),
        );
        assert_eq!(
            inside.and_then(|w| w.until),
            Some(at("2026-11-29T04:00:00Z"))
        );
        for outside in [
            "2026-11-29T01:59:00Z",
            "2026-11-29T04:00:00Z",
            "2026-11-30T03:00:00Z",
        ] {
            assert_eq!(
                from_cron(sunday_2am, two_hours, TimeZone::UTC, at(outside)),
                None,
                "{outside}"
            );
        }
    }

    #[test]
    fn a_file_window_lasts_while_the_file_is_there_or_until_its_time() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let flag = dir.path().join("maintenance");
        let now = at("2026-12-02T10:00:00Z");
        assert_eq!(from_file(&flag, now), None);
        std::fs::write(&flag, "").expect("written");
        assert_eq!(from_file(&flag, now).map(|w| w.until), Some(None));
        std::fs::write(&flag, "2026-12-02T11:00:00Z\n").expect("written");
        assert_eq!(
            from_file(&flag, now).and_then(|w| w.until),
            Some(at("2026-12-02T11:00:00Z"))
        );
        std::fs::write(&flag, "2026-12-02T09:00:00Z").expect("written");
        assert_eq!(from_file(&flag, now), None, "its time has passed");
    }

    #[test]
    fn a_step_window_ends_at_its_time_and_when_closed() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let now = at("2026-12-02T10:00:00Z");
        open(
            dir.path(),
            "k",
            at("2026-12-02T10:30:00Z"),
            "procedure `deploy`",
        )
        .expect("opened");
        let path = step_file(dir.path(), "k");
        assert_eq!(
            opened_by_step(&path, now).map(|w| w.why),
            Some("opened by procedure `deploy`".to_string())
        );
        assert_eq!(opened_by_step(&path, at("2026-12-02T10:30:00Z")), None);
        close(dir.path(), "k").expect("closed");
        assert_eq!(opened_by_step(&path, now), None);
    }
}
