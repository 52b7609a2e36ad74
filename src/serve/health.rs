//! `/healthz` and `/healthz/CHECK`: 200 while the last daily-check is ok or
//! warn and fresh, 503 when it is crit or unknown, when there is none yet,
//! or when it is older than twice its schedule's period. Its heartbeats are
//! graded now, from the pings the agent has. The body says why, and the
//! code and the body always come from the same verdict.

use jiff::Timestamp;

use super::cache::Cache;
use super::schedule::{Job, Timetable};
use crate::grade::Status;

/// What `/healthz` answers.
pub(super) struct Verdict {
    pub(super) healthy: bool,
    pub(super) body: String,
}

impl Verdict {
    fn new(healthy: bool, body: String) -> Verdict {
        Verdict { healthy, body }
    }

    pub(super) fn code(&self) -> u16 {
        if self.healthy { 200 } else { 503 }
    }
}

pub(super) fn overall(cache: &Cache, timetable: &Timetable, now: Timestamp) -> Verdict {
    let (Some(daily), Some((status, results))) = (&cache.daily, cache.current(now)) else {
        return Verdict::new(false, "unhealthy: no daily-check has run yet\n".into());
    };
    if let Some(stale) = stale(daily.at, timetable, now) {
        return Verdict::new(false, format!("unhealthy: {stale}\n"));
    }
    let failing: Vec<String> = results
        .iter()
        .filter(|r| matches!(r.status, Status::Crit | Status::Unknown))
        .map(|r| {
            format!(
                "{} {}/{}: {}",
                r.status.as_str(),
                r.section,
                r.name,
                r.message
            )
        })
        .collect();
    let when = daily.at.strftime("%Y-%m-%d %H:%M:%SZ");
    match status {
        Status::Ok | Status::Warn => Verdict::new(
            true,
            format!(
                "healthy: the daily-check of {when} is {}\n",
                status.as_str()
            ),
        ),
        status => Verdict::new(
            false,
            format!(
                "unhealthy: the daily-check of {when} is {}\n{}\n",
                status.as_str(),
                failing.join("\n")
            ),
        ),
    }
}

/// `/healthz/NAME`: the last daily-check's result of that name (any section).
pub(super) fn one(
    cache: &Cache,
    timetable: &Timetable,
    name: &str,
    now: Timestamp,
) -> Option<Verdict> {
    let (Some(daily), Some((_, results))) = (&cache.daily, cache.current(now)) else {
        return Some(Verdict::new(
            false,
            "unhealthy: no daily-check has run yet\n".into(),
        ));
    };
    let result = results.into_iter().find(|r| r.name == name)?;
    if let Some(stale) = stale(daily.at, timetable, now) {
        return Some(Verdict::new(false, format!("unhealthy: {stale}\n")));
    }
    let healthy = matches!(result.status, Status::Ok | Status::Warn);
    Some(Verdict::new(
        healthy,
        format!(
            "{}: {}/{} is {}: {}\n",
            if healthy { "healthy" } else { "unhealthy" },
            result.section,
            result.name,
            result.status.as_str(),
            result.message
        ),
    ))
}

/// Why a daily-check from `at` is too old: older than twice the period of
/// the daily-check schedule (none without one).
fn stale(at: Timestamp, timetable: &Timetable, now: Timestamp) -> Option<String> {
    let entry = timetable.entry(&Job::DailyCheck)?;
    let period = timetable.period(entry, at)?;
    let age: std::time::Duration = now.duration_since(at).try_into().ok()?;
    (age > period * 2).then(|| {
        format!(
            "the last daily-check is {} old, more than twice its schedule (`{}`, every {})",
            crate::ui::human::seconds(age.as_secs()),
            entry.expression,
            crate::ui::human::seconds(period.as_secs())
        )
    })
}
