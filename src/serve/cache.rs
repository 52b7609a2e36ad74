//! What the agent knows between runs: each job's last run and counts, the
//! last daily-check's results, the backups' figures, recent host figures
//! and the heartbeats' last pings. Every endpoint reads only this (a
//! scrape never starts work); the scheduler writes it when a run ends, and
//! a ping when it comes. The heartbeats are graded when read: their grade
//! turns with the clock, not with a run.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::backup::catalog;
use crate::backup::drill::DrillRecord;
use crate::backup::manifest::Manifest;
use crate::check::heartbeats::{self, Beat};
use crate::grade::Status;
use crate::incident::Incident;
use crate::runbook::Runbook;
use crate::state::pings::{self, Last, Ping};
use crate::state::{HostFigures, Record};

/// How many daily-check runs the page's charts go back.
pub(crate) const CHART_POINTS: usize = 288;

/// How one run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Outcome {
    Ok,
    Warn,
    Crit,
    Unknown,
    /// The lock was held by another run: not run, counted.
    Skipped,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Warn => "warn",
            Outcome::Crit => "crit",
            Outcome::Unknown => "unknown",
            Outcome::Skipped => "skipped",
        }
    }

    pub(crate) fn of(status: Status) -> Outcome {
        match status {
            Status::Ok => Outcome::Ok,
            Status::Warn => Outcome::Warn,
            Status::Crit => Outcome::Crit,
            Status::Unknown => Outcome::Unknown,
        }
    }

    pub(crate) const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Warn,
        Outcome::Crit,
        Outcome::Unknown,
        Outcome::Skipped,
    ];
}

/// One job's last run.
#[derive(Debug, Clone)]
pub(crate) struct LastRun {
    pub at: Timestamp,
    pub took: Duration,
    pub exit_code: i32,
    pub outcome: Outcome,
    /// `ok: 12 ok in 1834 ms`, or why it did not run.
    pub summary: String,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct JobState {
    pub runs: BTreeMap<Outcome, u64>,
    pub last: Option<LastRun>,
    pub running: bool,
}

/// One result of the last daily-check, as its JSON gave it.
#[derive(Debug, Clone)]
pub(crate) struct Graded {
    pub section: String,
    pub name: String,
    pub status: Status,
    pub message: String,
    pub value: Option<f64>,
    pub unit: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct DailyCheck {
    pub at: Timestamp,
    pub status: Status,
    pub results: Vec<Graded>,
}

/// The local backups, as the folder says.
#[derive(Debug, Clone, Default)]
pub(crate) struct Backups {
    pub count: usize,
    /// The newest complete backup: id, when, stored bytes.
    pub newest: Option<(String, Timestamp, u64)>,
    /// The newest drill of any backup, and that backup's id.
    pub drill: Option<(String, DrillRecord)>,
}

/// One point of the charts: a daily-check's host figures and failures.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub host: HostFigures,
    pub failing: usize,
}

/// One service under `heal`.
#[derive(Debug, Clone, Default)]
pub(crate) struct HealState {
    pub restarts: u64,
    pub gave_up: u64,
    pub restarts_in_window: usize,
    pub giving_up: bool,
}

#[derive(Debug)]
pub(crate) struct Cache {
    pub runbook: String,
    pub started_at: Timestamp,
    pub jobs: BTreeMap<String, JobState>,
    pub daily: Option<DailyCheck>,
    pub backups: Backups,
    pub points: VecDeque<Point>,
    /// The open incidents, newest first.
    pub incidents: Vec<Incident>,
    /// The maintenance window open now, if any.
    pub maintenance: Option<crate::notify::maintenance::Window>,
    /// What heal did to each service since the agent started, and what it
    /// remembers of it (restarts in the window, given up).
    pub heal: BTreeMap<String, HealState>,
    /// Each heartbeat of the runbook and its last pings: those the agent
    /// took, and those the state folder holds (`opsbook ping`), read again
    /// with the incidents.
    pub beats: Vec<(Beat, Last)>,
    /// The runbook's key in the state folder, where the pings go.
    pub state_key: String,
    pub reloads: u64,
    pub reload_failures: u64,
    /// Counts every change, so what is rendered from it can be kept.
    pub generation: u64,
}

impl Cache {
    pub(crate) fn new(
        runbook: &Runbook,
        state_dir: &std::path::Path,
        commands: &[String],
        history: Vec<Record>,
    ) -> Cache {
        let mut cache = Cache {
            runbook: runbook.display.clone(),
            started_at: Timestamp::now(),
            jobs: commands
                .iter()
                .map(|c| (c.clone(), JobState::default()))
                .collect(),
            daily: None,
            backups: backups(runbook),
            points: VecDeque::new(),
            incidents: open_incidents(runbook),
            maintenance: None,
            heal: BTreeMap::new(),
            beats: Vec::new(),
            state_key: runbook.state_key(),
            reloads: 0,
            reload_failures: 0,
            generation: 0,
        };
        // The last daily-check before this agent started, from the history
        // (its figures, without the messages the history does not keep).
        if let Some(last) = history.iter().rev().find(|r| r.command == "daily-check") {
            cache.daily = Some(DailyCheck {
                at: last.at,
                status: last.status,
                results: last
                    .results
                    .iter()
                    .map(|r| Graded {
                        section: r.section.clone(),
                        name: r.name.clone(),
                        status: r.status,
                        message: "(from the history: before this agent started)".into(),
                        value: r.value,
                        unit: None,
                    })
                    .collect(),
            });
        }
        for record in history {
            cache.push_point(Point {
                failing: record
                    .results
                    .iter()
                    .filter(|r| r.status != Status::Ok)
                    .count(),
                host: record.host,
            });
        }
        cache.read_pings(runbook, state_dir);
        cache
    }

    fn push_point(&mut self, point: Point) {
        self.points.push_back(point);
        while self.points.len() > CHART_POINTS {
            self.points.pop_front();
        }
    }

    /// A run ended: its counts, its last run, and what its report says.
    pub(crate) fn finished(&mut self, command: &str, run: LastRun, report: Option<&Value>) {
        if command == "daily-check"
            && run.outcome != Outcome::Skipped
            && let Some(report) = report
        {
            let daily = daily_check(report, run.at);
            self.push_point(Point {
                host: host_figures(report),
                failing: daily
                    .results
                    .iter()
                    .filter(|r| r.status != Status::Ok)
                    .count(),
            });
            self.daily = Some(daily);
        }
        let state = self.jobs.entry(command.to_string()).or_default();
        *state.runs.entry(run.outcome).or_default() += 1;
        state.running = false;
        state.last = Some(run);
    }
}

/// The results of a daily-check's JSON report.
fn daily_check(report: &Value, at: Timestamp) -> DailyCheck {
    let status = |v: &Value| serde_json::from_value::<Status>(v.clone()).unwrap_or(Status::Unknown);
    let results = report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Graded {
            section: r["section"].as_str().unwrap_or_default().to_string(),
            name: r["name"].as_str().unwrap_or_default().to_string(),
            status: status(&r["status"]),
            message: r["message"].as_str().unwrap_or_default().to_string(),
            value: r["value"].as_f64(),
            unit: r["unit"].as_str().map(str::to_string),
        })
        .collect();
    DailyCheck {
        at,
        status: status(&report["status"]),
        results,
    }
}

/// The host figures of a daily-check's JSON report (`host`), as the
/// history keeps them.
fn host_figures(report: &Value) -> HostFigures {
    let host = &report["host"];
    let percent = |v: &Value| {
        let (used, total) = (v["used"].as_f64()?, v["total"].as_f64()?);
        (total > 0.0).then(|| 100.0 * used / total)
    };
    let cores = host["cores"].as_f64().filter(|c| *c > 0.0);
    HostFigures {
        memory_percent: percent(&host["memory"]),
        swap_percent: percent(&host["swap"]),
        load_per_core: host["load1"].as_f64().zip(cores).map(|(l, c)| l / c),
        disks: host["disks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| Some((d["path"].as_str()?.to_string(), percent(&d["usage"])?)))
            .collect(),
    }
}

impl Cache {
    /// What the folders say now: after a run, never at a scrape.
    pub(crate) fn refresh(&mut self, runbook: &Runbook, state_dir: &std::path::Path) {
        self.backups = backups(runbook);
        self.watch(runbook, state_dir);
    }

    /// Counts one heal action (`restart`, `gave-up`).
    pub(crate) fn healed(&mut self, service: &str, action: &str) {
        let state = self.heal.entry(service.to_string()).or_default();
        match action {
            "restart" => state.restarts += 1,
            _ => state.gave_up += 1,
        }
        self.generation += 1;
    }

    /// What heal remembers, for the page and `/metrics`.
    pub(crate) fn heal_memory(&mut self, memory: &BTreeMap<String, crate::serve::heal::Memory>) {
        for (service, remembered) in memory {
            let state = self.heal.entry(service.clone()).or_default();
            let (in_window, giving_up) = (remembered.restarts.len(), remembered.gave_up);
            if (state.restarts_in_window, state.giving_up) != (in_window, giving_up) {
                state.restarts_in_window = in_window;
                state.giving_up = giving_up;
                self.generation += 1;
            }
        }
    }

    /// The incidents and the maintenance window, looked at every half
    /// minute as well (an incident turns overdue without any run).
    pub(crate) fn watch(&mut self, runbook: &Runbook, state_dir: &std::path::Path) {
        let incidents = open_incidents(runbook);
        let now = Timestamp::now();
        let maintenance = crate::notify::maintenance::active(runbook, state_dir, now);
        let overdue = |list: &[Incident]| list.iter().filter(|i| i.is_overdue(now)).count();
        let changed = maintenance != self.maintenance
            || overdue(&incidents) != overdue(&self.incidents)
            || incidents.len() != self.incidents.len()
            || incidents
                .iter()
                .zip(&self.incidents)
                .any(|(a, b)| a.id != b.id || a.acknowledged_at != b.acknowledged_at);
        self.incidents = incidents;
        self.maintenance = maintenance;
        if changed {
            self.generation += 1;
        }
        self.read_pings(runbook, state_dir);
    }

    /// The runbook's heartbeats with their last pings, from the state
    /// folder (where `opsbook ping` leaves them) and what this agent took.
    fn read_pings(&mut self, runbook: &Runbook, state_dir: &std::path::Path) {
        self.state_key = runbook.state_key();
        let beats: Vec<(Beat, Last)> = heartbeats::of(runbook)
            .into_iter()
            .map(|beat| {
                let mut last = pings::read(state_dir, &self.state_key, &beat.name);
                if let Some((_, taken)) = self.beats.iter().find(|(b, _)| b.name == beat.name) {
                    for ping in Ping::ALL {
                        if let Some(at) = taken.of(ping) {
                            last.took(ping, at);
                        }
                    }
                }
                (beat, last)
            })
            .collect();
        let same = beats.len() == self.beats.len()
            && beats
                .iter()
                .zip(&self.beats)
                .all(|((a, x), (b, y))| a.name == b.name && a.due() == b.due() && x == y);
        if !same {
            self.beats = beats;
            self.generation += 1;
        }
    }

    /// A ping the agent took (and recorded): false for a name that is no
    /// heartbeat of the runbook.
    pub(crate) fn pinged(&mut self, name: &str, ping: Ping, at: Timestamp) -> bool {
        let Some((_, last)) = self.beats.iter_mut().find(|(b, _)| b.name == name) else {
            return false;
        };
        last.took(ping, at);
        self.generation += 1;
        true
    }

    /// Each heartbeat graded at `now`.
    pub(crate) fn heartbeats(&self, now: Timestamp) -> Vec<Graded> {
        self.beats
            .iter()
            .map(|(beat, last)| {
                let result = beat.grade(last, now);
                Graded {
                    section: result.section,
                    name: result.name,
                    status: result.status,
                    message: result.message,
                    value: result.value,
                    unit: result.unit.map(str::to_string),
                }
            })
            .collect()
    }

    /// The last daily-check's results with its heartbeats graded now
    /// instead, and their worst status: what the page, `/healthz` and
    /// `/metrics` show. None before the first daily-check.
    pub(crate) fn current(&self, now: Timestamp) -> Option<(Status, Vec<Graded>)> {
        let daily = self.daily.as_ref()?;
        let mut results: Vec<Graded> = daily
            .results
            .iter()
            .filter(|r| r.section != heartbeats::SECTION)
            .cloned()
            .collect();
        results.extend(self.heartbeats(now));
        let status = Status::worst(results.iter().map(|r| r.status));
        Some((status, results))
    }
}

/// The open incidents, newest first.
fn open_incidents(runbook: &Runbook) -> Vec<Incident> {
    let store = crate::incident::Store::new(runbook.incident_dir(), runbook.redactor().clone());
    let mut open: Vec<Incident> = store
        .list()
        .map(|all| all.into_iter().filter(Incident::is_open).collect())
        .unwrap_or_default();
    open.sort_by_key(|b| std::cmp::Reverse(b.opened_at));
    open
}

/// The backup folder's figures (a few small files read: after a run, not
/// at a scrape).
pub(crate) fn backups(runbook: &Runbook) -> Backups {
    let Some(backup) = &runbook.model.backup else {
        return Backups::default();
    };
    let Ok(listed) = catalog::list(&runbook.backup_dir(backup)) else {
        return Backups::default();
    };
    let newest = listed.iter().rev().find(|b| !b.safety).map(|b| {
        let size = Manifest::read(&b.path)
            .map(|m| m.stored_size())
            .unwrap_or(0);
        (b.id.clone(), b.created_at, size)
    });
    let drill = listed
        .iter()
        .filter_map(|b| DrillRecord::read(&b.path).map(|d| (b.id.clone(), d)))
        .max_by_key(|(_, d)| d.at);
    Backups {
        count: listed.len(),
        newest,
        drill,
    }
}

impl Cache {
    /// `/status.json`: what the page shows, as JSON, every text masked.
    pub(crate) fn to_json(&self, redactor: &crate::redact::Redactor) -> Value {
        let text = |t: &str| redactor.redact(t).into_owned();
        let daily = self.daily.as_ref().map(|d| {
            serde_json::json!({
                "at": d.at,
                "status": d.status,
                "results": d.results.iter().map(|r| serde_json::json!({
                    "section": r.section,
                    "name": text(&r.name),
                    "status": r.status,
                    "message": text(&r.message),
                    "value": r.value,
                    "unit": r.unit,
                })).collect::<Vec<_>>(),
            })
        });
        let jobs: serde_json::Map<String, Value> = self
            .jobs
            .iter()
            .map(|(command, state)| {
                let runs: serde_json::Map<String, Value> = state
                    .runs
                    .iter()
                    .map(|(o, n)| (o.as_str().to_string(), Value::from(*n)))
                    .collect();
                let last = state.last.as_ref().map(|l| {
                    serde_json::json!({
                        "at": l.at,
                        "outcome": l.outcome.as_str(),
                        "exit_code": l.exit_code,
                        "duration_ms": u64::try_from(l.took.as_millis()).unwrap_or(u64::MAX),
                        "summary": text(&l.summary),
                    })
                });
                (
                    command.clone(),
                    serde_json::json!({"runs": runs, "last": last, "running": state.running}),
                )
            })
            .collect();
        serde_json::json!({
            "runbook": text(&self.runbook),
            "started_at": self.started_at,
            "daily_check": daily,
            "backups": {
                "count": self.backups.count,
                "newest": self.backups.newest.as_ref().map(|(id, at, size)| serde_json::json!({"id": id, "created_at": at, "stored_size": size})),
                "drill": self.backups.drill.as_ref().map(|(id, d)| serde_json::json!({"backup": id, "passed": d.passed, "at": d.at})),
            },
            "incidents": self.incidents.iter().map(|i| serde_json::json!({
                "id": i.id, "severity": i.severity, "title": text(&i.title), "opened_at": i.opened_at,
                "respond_by": i.respond_by(), "acknowledged_at": i.acknowledged_at,
                "escalated_at": i.escalated_at, "overdue": i.is_overdue(Timestamp::now()),
            })).collect::<Vec<_>>(),
            "heal": self.heal.iter().map(|(service, h)| (service.clone(), serde_json::json!({
                "restarts": h.restarts, "gave_up": h.gave_up,
                "restarts_in_window": h.restarts_in_window, "giving_up": h.giving_up,
            }))).collect::<serde_json::Map<_, _>>(),
            "heartbeats": self.beats.iter().map(|(beat, last)| {
                let graded = beat.grade(last, Timestamp::now());
                serde_json::json!({
                    "name": beat.name, "status": graded.status, "message": text(&graded.message),
                    "due": beat.due(), "last_success": last.success, "last_start": last.start,
                    "last_fail": last.fail,
                })
            }).collect::<Vec<_>>(),
            "maintenance": self.maintenance.as_ref().map(|w| serde_json::json!({"until": w.until, "why": text(&w.why)})),
            "jobs": jobs,
        })
    }
}
