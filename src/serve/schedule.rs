//! The runbook's `schedule:` as a timetable: each job (daily-check,
//! backup, backup prune, backup drill, a procedure) with its cron
//! expression, read in the schedule's time zone. Five fields as crontab
//! writes them (minute hour day-of-month month day-of-week, 0 or 7 for
//! Sunday), or six with seconds first.

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use crate::runbook::cron::{parse, zone};
use crate::runbook::model::{Name, Schedule};

/// One scheduled job: what `opsbook serve` runs, as the command by hand.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Job {
    DailyCheck,
    Backup,
    BackupPrune,
    BackupDrill,
    Procedure(String),
    /// `heal` restarting an unhealthy service.
    HealRestart(String),
    /// `heal` giving up: the incident it opens.
    HealIncident {
        service: String,
        severity: String,
        title: String,
    },
}

impl Job {
    /// As the operator types it (`backup prune`, `run weekly-vacuum`): the
    /// `command` label of its metrics.
    pub(crate) fn command(&self) -> String {
        match self {
            Job::DailyCheck => "daily-check".into(),
            Job::Backup => "backup".into(),
            Job::BackupPrune => "backup prune".into(),
            Job::BackupDrill => "backup drill".into(),
            Job::Procedure(name) => format!("run {name}"),
            Job::HealRestart(service) => format!("restart {service}"),
            Job::HealIncident { .. } => "incident open".into(),
        }
    }

    /// The command's arguments: unattended, so what asks asks no more (a
    /// schedule is the operator's consent, as `--yes` in a crontab is).
    pub(crate) fn args(&self) -> Vec<String> {
        let args: Vec<&str> = match self {
            Job::DailyCheck => vec!["daily-check"],
            Job::Backup => vec!["backup"],
            Job::BackupPrune => vec!["backup", "prune", "--yes"],
            Job::BackupDrill => vec!["backup", "drill"],
            Job::Procedure(name) => vec!["run", name, "--yes"],
            Job::HealRestart(service) => vec!["restart", service, "--yes"],
            Job::HealIncident {
                severity, title, ..
            } => vec!["incident", "open", "--severity", severity, "--title", title],
        };
        args.into_iter().map(str::to_string).collect()
    }
}

/// A job and when it runs.
pub(crate) struct Entry {
    pub job: Job,
    pub expression: String,
    cron: jiff_cron::Schedule,
}

/// Every scheduled job, and the zone their times are read in.
pub(crate) struct Timetable {
    pub zone: TimeZone,
    pub entries: Vec<Entry>,
}

impl Timetable {
    /// The runbook's schedule; a problem names the field (validation has
    /// located it already, so this only fails on a runbook changed since).
    pub(crate) fn new(schedule: Option<&Schedule>) -> Result<Timetable, String> {
        let Some(schedule) = schedule else {
            return Ok(Timetable {
                zone: TimeZone::system(),
                entries: Vec::new(),
            });
        };
        let zone = match &schedule.timezone {
            Some(name) => zone(&name.value)?,
            None => TimeZone::system(),
        };
        let mut entries = Vec::new();
        for (job, expression) in jobs(schedule) {
            let cron =
                parse(&expression.value).map_err(|e| format!("schedule.{}: {e}", field(&job)))?;
            entries.push(Entry {
                job,
                expression: expression.value.clone(),
                cron,
            });
        }
        Ok(Timetable { zone, entries })
    }

    /// When `entry` next runs after `after`.
    pub(crate) fn next(&self, entry: &Entry, after: Timestamp) -> Option<Timestamp> {
        let after = Zoned::new(after, self.zone.clone());
        entry.cron.after(after).next().map(|z| z.timestamp())
    }

    /// The time between two runs of `entry` around `at` (for "older than
    /// twice its schedule").
    pub(crate) fn period(&self, entry: &Entry, at: Timestamp) -> Option<std::time::Duration> {
        let first = self.next(entry, at)?;
        let second = self.next(entry, first)?;
        second.duration_since(first).try_into().ok()
    }

    pub(crate) fn entry(&self, job: &Job) -> Option<&Entry> {
        self.entries.iter().find(|e| &e.job == job)
    }
}

/// The schedule's jobs with their expressions, in a fixed order.
pub(crate) fn jobs(schedule: &Schedule) -> Vec<(Job, &Name)> {
    let mut jobs: Vec<(Job, &Name)> = [
        (Job::DailyCheck, schedule.daily_check.as_ref()),
        (Job::Backup, schedule.backup.as_ref()),
        (Job::BackupPrune, schedule.backup_prune.as_ref()),
        (Job::BackupDrill, schedule.backup_drill.as_ref()),
    ]
    .into_iter()
    .filter_map(|(job, expression)| Some((job, expression?)))
    .collect();
    jobs.extend(
        schedule
            .procedures
            .iter()
            .map(|(name, expression)| (Job::Procedure(name.clone()), expression)),
    );
    jobs
}

/// The runbook key of a job's expression.
pub(crate) fn field(job: &Job) -> String {
    match job {
        Job::DailyCheck => "daily-check".into(),
        Job::Backup => "backup".into(),
        Job::BackupPrune => "backup-prune".into(),
        Job::BackupDrill => "backup-drill".into(),
        Job::Procedure(name) => format!("procedures.{name}"),
        Job::HealRestart(_) | Job::HealIncident { .. } => "heal".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn five_fields_fire_on_the_minute_and_six_on_the_second() {
        let table = Timetable {
            zone: TimeZone::UTC,
            entries: vec![
                Entry {
                    job: Job::Backup,
                    expression: "30 2 * * *".into(),
                    cron: parse("30 2 * * *").expect("a cron expression"),
                },
                Entry {
                    job: Job::DailyCheck,
                    expression: "*/5 * * * * *".into(),
                    cron: parse("*/5 * * * * *").expect("a cron expression"),
                },
            ],
        };
        let now = at("2026-12-02T10:00:01Z");
        assert_eq!(
            table.next(&table.entries[0], now),
            Some(at("2026-12-03T02:30:00Z"))
        );
        assert_eq!(
            table.next(&table.entries[1], now),
            Some(at("2026-12-02T10:00:05Z"))
        );
        assert_eq!(
            table.period(&table.entries[1], now),
            Some(std::time::Duration::from_secs(5))
        );
        // Sunday, as crontab reads 0.
        let sunday = parse("0 4 * * 0").expect("a cron expression");
        let next = sunday
            .after(Zoned::new(now, TimeZone::UTC))
            .next()
            .expect("a next Sunday");
        assert_eq!(next.timestamp(), at("2026-12-06T04:00:00Z"));
    }
}
