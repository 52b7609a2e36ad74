//! Heartbeats: the jobs opsbook does not run (an app's cron, a host
//! backup, certbot) ping it when they start and end (`/ping/NAME` of the
//! agent, or `opsbook ping NAME`), and each is graded by its last pings:
//! ok while on time; crit when late (no ping within `period` + `grace` of
//! the last, or, for `cron`, none since the last time it was due, `grace`
//! after that time) or when its last end was a fail; warn while a started
//! run goes on longer than `grace`, and before its first ping ever. The
//! pings are kept in the state folder (`state::pings`), so daily-check
//! and the agent grade alike.

use std::path::Path;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::runbook::Runbook;
use crate::state::pings::{self, Last, Ping};
use crate::ui::human;

/// The section of their results.
pub(crate) const SECTION: &str = "heartbeats";

/// When a heartbeat is due.
#[derive(Debug, Clone)]
enum Due {
    /// Within this long of its last ping.
    Every(Duration),
    /// At each time of the expression, in `zone`.
    Cron {
        expression: String,
        cron: Box<jiff_cron::Schedule>,
        zone: TimeZone,
    },
}

/// One heartbeat of the runbook, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Beat {
    pub name: String,
    due: Due,
    grace: Duration,
}

/// The runbook's heartbeats (a cron expression that does not parse, which
/// validation refuses, leaves its heartbeat out).
pub(crate) fn of(runbook: &Runbook) -> Vec<Beat> {
    let zone = runbook
        .model
        .schedule
        .as_ref()
        .and_then(|s| s.timezone.as_ref())
        .and_then(|name| crate::runbook::cron::zone(&name.value).ok())
        .unwrap_or_else(TimeZone::system);
    runbook
        .model
        .heartbeats
        .iter()
        .filter_map(|(name, heartbeat)| {
            let due = match (&heartbeat.period, &heartbeat.cron) {
                (Some(period), _) => Due::Every(period.std()),
                (None, Some(expression)) => Due::Cron {
                    expression: expression.value.clone(),
                    cron: Box::new(crate::runbook::cron::parse(&expression.value).ok()?),
                    zone: zone.clone(),
                },
                (None, None) => return None,
            };
            Some(Beat {
                name: name.clone(),
                due,
                grace: heartbeat.grace(),
            })
        })
        .collect()
}

/// Records a ping of `name` now, as `opsbook ping` does; a name the
/// runbook has not is refused, naming those it has.
pub(crate) fn ping(
    runbook: &Runbook,
    state_dir: &Path,
    name: &str,
    ping: Ping,
) -> Result<CheckResult, Error> {
    if !runbook.model.heartbeats.contains_key(name) {
        return Err(Error::Usage(unknown(runbook, name)));
    }
    let now = Timestamp::now();
    pings::record(state_dir, &runbook.state_key(), name, ping, now)?;
    let said = match ping {
        Ping::Success => "recorded: it finished",
        Ping::Start => "recorded: it started",
        Ping::Fail => "recorded: it failed",
    };
    Ok(CheckResult::new(SECTION, name, Status::Ok, said))
}

/// Why `name` is no heartbeat of the runbook, naming those it has.
pub(crate) fn unknown(runbook: &Runbook, name: &str) -> String {
    let known: Vec<&str> = runbook
        .model
        .heartbeats
        .keys()
        .map(String::as_str)
        .collect();
    if known.is_empty() {
        format!(
            "unknown heartbeat `{name}`: the runbook `{}` has no `heartbeats`",
            runbook.display
        )
    } else {
        format!(
            "unknown heartbeat `{name}` (heartbeats are: {})",
            known.join(", ")
        )
    }
}

/// Every heartbeat graded now from the state folder (daily-check).
pub(crate) fn results(runbook: &Runbook, state_dir: &Path, now: Timestamp) -> Vec<CheckResult> {
    let key = runbook.state_key();
    of(runbook)
        .iter()
        .map(|beat| beat.grade(&pings::read(state_dir, &key, &beat.name), now))
        .collect()
}

fn ago(at: Timestamp, now: Timestamp) -> String {
    human::seconds(human::seconds_between(at, now))
}

impl Beat {
    /// `every 1d + 1h grace`, `at 0 3 * * * + 30m grace`.
    pub(crate) fn due(&self) -> String {
        let grace = human::seconds(self.grace.as_secs());
        match &self.due {
            Due::Every(period) => {
                format!("every {} + {grace} grace", human::seconds(period.as_secs()))
            }
            Due::Cron { expression, .. } => format!("at `{expression}` + {grace} grace"),
        }
    }

    /// The heartbeat graded at `now` by its last pings.
    pub(crate) fn grade(&self, last: &Last, now: Timestamp) -> CheckResult {
        let (status, message) = self.verdict(last, now);
        let result = CheckResult::new(SECTION, &self.name, status, message);
        match last.success {
            Some(at) => result.with_value(human::seconds_between(at, now) as f64, "seconds"),
            None => result,
        }
    }

    fn verdict(&self, last: &Last, now: Timestamp) -> (Status, String) {
        let grace = human::seconds(self.grace.as_secs());
        let ended = last.success.max(last.fail);
        if let Some(start) = last.start
            && ended.is_none_or(|ended| start > ended)
        {
            let running = now.duration_since(start);
            let over = running > jiff::SignedDuration::try_from(self.grace).unwrap_or_default();
            return if over {
                (
                    Status::Warn,
                    format!(
                        "started {} ago and not finished within its {grace} grace",
                        ago(start, now)
                    ),
                )
            } else {
                (
                    Status::Ok,
                    format!("running: started {} ago", ago(start, now)),
                )
            };
        }
        if let Some(fail) = last.fail
            && last.success.is_none_or(|success| fail > success)
        {
            return (
                Status::Crit,
                format!("its last run failed (a fail ping {} ago)", ago(fail, now)),
            );
        }
        let Some(success) = last.success else {
            return (
                Status::Warn,
                format!(
                    "no ping yet: due {}; the job ends with a request to /ping/{} or `opsbook ping {}`",
                    self.due(),
                    self.name,
                    self.name
                ),
            );
        };
        match self.missed(success, now) {
            Some(late) => (Status::Crit, late),
            None => (
                Status::Ok,
                format!("pinged {} ago; due {}", ago(success, now), self.due()),
            ),
        }
    }

    /// Why a job last pinged at `success` is late at `now`, if it is.
    fn missed(&self, success: Timestamp, now: Timestamp) -> Option<String> {
        let grace = jiff::SignedDuration::try_from(self.grace).unwrap_or_default();
        match &self.due {
            Due::Every(period) => {
                let period = jiff::SignedDuration::try_from(*period).unwrap_or_default();
                let deadline = success.checked_add(period + grace).ok()?;
                (now > deadline)
                    .then(|| format!("late: pinged {} ago, due {}", ago(success, now), self.due()))
            }
            Due::Cron { cron, zone, .. } => {
                // The last time it was due whose grace is over.
                let before = Zoned::new(now.checked_sub(grace).ok()?, zone.clone());
                let due_at = cron.after(before).next_back()?;
                (success < due_at.timestamp()).then(|| {
                    format!(
                        "late: no ping since it was due at {}, {} ago; pinged {} ago; due {}",
                        due_at.strftime("%Y-%m-%d %H:%M %Z"),
                        ago(due_at.timestamp(), now),
                        ago(success, now),
                        self.due()
                    )
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    fn every(seconds: u64, grace: u64) -> Beat {
        Beat {
            name: "job".into(),
            due: Due::Every(Duration::from_secs(seconds)),
            grace: Duration::from_secs(grace),
        }
    }

    fn cron(expression: &str, grace: u64) -> Beat {
        Beat {
            name: "job".into(),
            due: Due::Cron {
                expression: expression.into(),
                cron: Box::new(crate::runbook::cron::parse(expression).expect("a cron expression")),
                zone: TimeZone::UTC,
            },
            grace: Duration::from_secs(grace),
        }
    }

    fn graded(beat: &Beat, last: Last, now: &str) -> (Status, String) {
        beat.verdict(&last, at(now))
    }

    #[test]
    fn a_period_is_counted_from_the_last_ping_plus_grace() {
        let beat = every(86_400, 3_600);
        let last = Last {
            success: Some(at("2026-05-01T03:00:00Z")),
            ..Last::default()
        };
        assert_eq!(
            graded(&beat, last, "2026-05-02T03:59:59Z"),
            (Status::Ok, "pinged 1d ago; due every 1d + 1h grace".into())
        );
        assert_eq!(
            graded(&beat, last, "2026-05-02T04:00:01Z"),
            (
                Status::Crit,
                "late: pinged 1d 1h ago, due every 1d + 1h grace".into()
            )
        );
        assert_eq!(
            graded(&beat, Last::default(), "2026-05-02T04:00:01Z").0,
            Status::Warn
        );
    }

    #[test]
    fn a_cron_is_due_at_its_last_time_plus_grace() {
        let beat = cron("0 3 * * *", 1_800);
        let last = Last {
            success: Some(at("2026-05-01T03:20:00Z")),
            ..Last::default()
        };
        // Today's run is due at 03:00; by 03:29 it may still come.
        assert_eq!(graded(&beat, last, "2026-05-02T03:29:00Z").0, Status::Ok);
        let (status, message) = graded(&beat, last, "2026-05-02T03:31:00Z");
        assert_eq!(status, Status::Crit);
        assert_eq!(
            message,
            "late: no ping since it was due at 2026-05-02 03:00 UTC, 31m ago; pinged 1d ago; due at `0 3 * * *` + 30m grace"
        );
        let on_time = Last {
            success: Some(at("2026-05-02T03:02:00Z")),
            ..Last::default()
        };
        assert_eq!(graded(&beat, on_time, "2026-05-02T23:00:00Z").0, Status::Ok);
    }

    #[test]
    fn a_fail_is_crit_and_a_long_start_warns() {
        let beat = every(60, 10);
        let failed = Last {
            success: Some(at("2026-05-01T03:00:00Z")),
            fail: Some(at("2026-05-01T03:00:30Z")),
            start: Some(at("2026-05-01T03:00:20Z")),
        };
        assert_eq!(
            graded(&beat, failed, "2026-05-01T03:00:35Z"),
            (
                Status::Crit,
                "its last run failed (a fail ping 5s ago)".into()
            )
        );
        let started = Last {
            start: Some(at("2026-05-01T03:00:40Z")),
            ..failed
        };
        assert_eq!(graded(&beat, started, "2026-05-01T03:00:45Z").0, Status::Ok);
        assert_eq!(
            graded(&beat, started, "2026-05-01T03:00:51Z"),
            (
                Status::Warn,
                "started 11s ago and not finished within its 10s grace".into()
            )
        );
    }
}
