//! Trends from the history daily-check keeps (`opsbook report`): per day, the
//! runs, average and peak memory and load, peak disk, and failing results,
//! with a sparkline of memory and load across the days; then per service,
//! the average and peak memory and CPU of its containers over the window.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::state::{Record, StateDir};

#[derive(Debug, Serialize)]
struct Day {
    day: String,
    runs: usize,
    memory_avg: Option<f64>,
    memory_peak: Option<f64>,
    load_avg: Option<f64>,
    load_peak: Option<f64>,
    disk_peak: Option<f64>,
    /// Results that were not OK, over all of the day's runs.
    failing: usize,
    worst: Status,
}

/// One service's resource use over the window, from every run that sampled it.
#[derive(Debug, Serialize)]
struct ServiceUse {
    service: String,
    /// Samples (one a container a run).
    samples: usize,
    cpu_avg: Option<f64>,
    cpu_peak: Option<f64>,
    memory_avg_bytes: u64,
    memory_peak_bytes: u64,
    memory_avg_percent: Option<f64>,
    memory_peak_percent: Option<f64>,
}

/// The runs of the last `since` from the history, day by day and per service.
pub(crate) fn run(
    runbook: &Runbook,
    state_dir: &Path,
    since: Duration,
    report: &mut Report,
) -> Result<(), Error> {
    let state = StateDir::open(state_dir)?;
    let from = report
        .started_at
        .checked_sub(jiff::SignedDuration::try_from(since).unwrap_or(jiff::SignedDuration::ZERO))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let read = state.history(&runbook.state_key()).since(from);
    let records = read.records;
    let window = crate::runbook::units::Duration(since);
    // Told, not failed: a crash mid-write leaves a torn line by design.
    report
        .extra
        .insert("skipped_lines".into(), json!(read.skipped));
    if read.skipped > 0 {
        report.results.push(CheckResult::new(
            "report",
            "unreadable",
            Status::Ok,
            format!(
                "{} unreadable history line(s) skipped (torn, or not UTF-8); the records around them are counted",
                read.skipped
            ),
        ));
    }
    if records.is_empty() {
        report.results.push(CheckResult::new(
            "report",
            "history",
            Status::Unknown,
            format!(
                "no daily-check recorded for this runbook in the last {window} (in `{}`)",
                state_dir.display()
            ),
        ));
        return Ok(());
    }
    let days = by_day(&records);
    // The days are history: each is told with its worst, graded ok. The run's
    // status (and exit code) is the newest run's: how the deployment stands now.
    for day in &days {
        report.results.push(
            CheckResult::new(
                "report",
                &day.day,
                Status::Ok,
                format!("{} · worst {}", describe(day), day.worst),
            )
            .with_value(day.memory_peak.unwrap_or_default(), "percent"),
        );
    }
    if let Some(newest) = records.last() {
        let failing = newest
            .results
            .iter()
            .filter(|r| r.status != Status::Ok)
            .count();
        report.results.push(CheckResult::new(
            "report",
            "newest",
            newest.status,
            format!(
                "the newest run, {}, was {} ({})",
                newest.at.strftime("%Y-%m-%d %H:%M UTC"),
                newest.status,
                crate::ui::human::count(failing, "failing result")
            ),
        ));
    }
    show_days(&days, &records, window, report);
    report.extra.insert("days".into(), json!(days));
    let services = by_service(&records);
    show_services(&services, report);
    report.extra.insert("services".into(), json!(services));
    value_trends(runbook, &records, report);
    Ok(())
}

/// The days as a table, the sparklines of peak memory and load, and the count.
fn show_days(
    days: &[Day],
    records: &[Record],
    window: crate::runbook::units::Duration,
    report: &mut Report,
) {
    let rows = days
        .iter()
        .map(|d| {
            vec![
                d.day.clone(),
                d.runs.to_string(),
                pair(d.memory_avg, d.memory_peak, "%"),
                pair(d.load_avg, d.load_peak, ""),
                one(d.disk_peak, "%"),
                d.failing.to_string(),
                d.worst.to_string(),
            ]
        })
        .collect();
    report.blocks.push(Block::Table {
        header: vec![
            "day",
            "runs",
            "memory avg/peak",
            "load avg/peak",
            "disk peak",
            "failing",
            "status",
        ],
        rows,
    });
    let memory: Vec<f64> = days
        .iter()
        .map(|d| d.memory_peak.unwrap_or_default())
        .collect();
    let load: Vec<f64> = days
        .iter()
        .map(|d| d.load_peak.unwrap_or_default())
        .collect();
    report
        .blocks
        .push(Block::Line(format!("memory peak {}", sparkline(&memory))));
    report
        .blocks
        .push(Block::Line(format!("load peak   {}", sparkline(&load))));
    report.blocks.push(Block::Line(format!(
        "{} in the last {window}",
        crate::ui::human::count(records.len(), "run")
    )));
}

/// Each service's figures over all the records (services in name order).
fn by_service(records: &[Record]) -> Vec<ServiceUse> {
    let mut grouped: BTreeMap<&str, Vec<&crate::state::ResourceFigures>> = BTreeMap::new();
    for figures in records.iter().flat_map(|r| r.resources.values()) {
        grouped.entry(&figures.service).or_default().push(figures);
    }
    grouped
        .into_iter()
        .map(|(service, samples)| {
            let cpu: Vec<f64> = samples.iter().filter_map(|s| s.cpu_percent).collect();
            let percent: Vec<f64> = samples.iter().map(|s| s.memory_percent).collect();
            let bytes: Vec<u64> = samples.iter().map(|s| s.memory_bytes).collect();
            ServiceUse {
                service: service.to_string(),
                samples: samples.len(),
                cpu_avg: average(&cpu),
                cpu_peak: peak(&cpu),
                memory_avg_bytes: mean(&bytes),
                memory_peak_bytes: bytes.iter().copied().max().unwrap_or(0),
                memory_avg_percent: average(&percent),
                memory_peak_percent: peak(&percent),
            }
        })
        .collect()
}

/// The services' table, when any run sampled their resources.
fn show_services(services: &[ServiceUse], report: &mut Report) {
    if services.is_empty() {
        return;
    }
    let rows = services
        .iter()
        .map(|s| {
            vec![
                s.service.clone(),
                s.samples.to_string(),
                pair(s.cpu_avg, s.cpu_peak, "%"),
                format!(
                    "{}/{}",
                    crate::ui::human::bytes(s.memory_avg_bytes),
                    crate::ui::human::bytes(s.memory_peak_bytes)
                ),
                pair(s.memory_avg_percent, s.memory_peak_percent, "%"),
            ]
        })
        .collect();
    report.blocks.push(Block::Table {
        header: vec![
            "service",
            "samples",
            "cpu avg/peak",
            "memory avg/peak",
            "memory % avg/peak",
        ],
        rows,
    });
}

/// The trend of every check that reads a number (`value:`): the pages'
/// "monitor database growth". Min, average and max over the window, and a
/// sparkline of the readings in order.
fn value_trends(runbook: &Runbook, records: &[Record], report: &mut Report) {
    let mut rows = Vec::new();
    let mut trends = Vec::new();
    for (name, check) in &runbook.model.checks {
        let Some(spec) = &check.value else { continue };
        let readings: Vec<f64> = records
            .iter()
            .filter_map(|record| {
                record
                    .results
                    .iter()
                    .find(|r| r.section == "checks" && r.name == *name)
                    .and_then(|r| r.value)
            })
            .collect();
        let kind = [&spec.above, &spec.below]
            .into_iter()
            .flatten()
            .flat_map(|b| [&b.crit, &b.warn])
            .flatten()
            .map(|q| q.value)
            .next();
        let (Some(kind), false) = (kind, readings.is_empty()) else {
            continue;
        };
        let min = readings.iter().copied().fold(f64::INFINITY, f64::min);
        let max = readings.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let avg = readings.iter().sum::<f64>() / readings.len() as f64;
        let round = |v: f64| (v * 100.0).round() / 100.0;
        rows.push(vec![
            name.clone(),
            readings.len().to_string(),
            kind.with(round(min)).to_string(),
            kind.with(round(avg)).to_string(),
            kind.with(round(max)).to_string(),
            sparkline(&readings),
        ]);
        trends.push(json!({
            "check": name, "unit": kind.unit(), "readings": readings.len(),
            "min": min, "avg": avg, "max": max,
        }));
    }
    if rows.is_empty() {
        return;
    }
    report.blocks.push(Block::Table {
        header: vec!["check", "readings", "min", "avg", "max", "trend"],
        rows,
    });
    report.extra.insert("values".into(), json!(trends));
}

fn by_day(records: &[Record]) -> Vec<Day> {
    let mut grouped: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for record in records {
        let day = record
            .at
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .to_string();
        grouped.entry(day).or_default().push(record);
    }
    grouped
        .into_iter()
        .map(|(day, runs)| {
            let memory: Vec<f64> = runs.iter().filter_map(|r| r.host.memory_percent).collect();
            let load: Vec<f64> = runs.iter().filter_map(|r| r.host.load_per_core).collect();
            let disk: Vec<f64> = runs
                .iter()
                .flat_map(|r| r.host.disks.values().copied())
                .collect();
            Day {
                day,
                runs: runs.len(),
                memory_avg: average(&memory),
                memory_peak: peak(&memory),
                load_avg: average(&load),
                load_peak: peak(&load),
                disk_peak: peak(&disk),
                failing: runs
                    .iter()
                    .map(|r| r.results.iter().filter(|x| x.status != Status::Ok).count())
                    .sum(),
                worst: Status::worst(runs.iter().map(|r| r.status)),
            }
        })
        .collect()
}

fn average(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| round1(values.iter().sum::<f64>() / values.len() as f64))
}

/// The mean of byte counts read from the history, exact: summed as u128
/// (which 2^64 of them cannot overflow), so a record with an absurd figure
/// skews the mean but cannot wrap it; 0 for none.
fn mean(values: &[u64]) -> u64 {
    let sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
    let count = u128::try_from(values.len()).unwrap_or(u128::MAX).max(1);
    // A mean is never above the largest value: it fits.
    u64::try_from(sum / count).unwrap_or(u64::MAX)
}

fn peak(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max).map(round1)
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn describe(day: &Day) -> String {
    format!(
        "{} · memory {} · load {} · disk peak {} · {}",
        crate::ui::human::count(day.runs, "run"),
        pair(day.memory_avg, day.memory_peak, "%"),
        pair(day.load_avg, day.load_peak, ""),
        one(day.disk_peak, "%"),
        crate::ui::human::count(day.failing, "failing result")
    )
}

fn pair(avg: Option<f64>, peak: Option<f64>, unit: &str) -> String {
    format!("{}/{}", one(avg, unit), one(peak, unit))
}

fn one(value: Option<f64>, unit: &str) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v}{unit}"))
}

/// `▁▃▅█`: each value as one of eight heights between the lowest and highest.
pub(crate) fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    values
        .iter()
        .map(|v| {
            if (high - low).abs() < f64::EPSILON {
                BARS[3]
            } else {
                BARS[(((v - low) / (high - low)) * 7.0).round() as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{HostFigures, RecordedResult};

    #[test]
    fn the_mean_of_history_figures_is_exact_and_cannot_wrap() {
        assert_eq!(mean(&[]), 0);
        assert_eq!(mean(&[10, 20, 31]), 20);
        // Summed in u64 these wrap to 0 (and panic in a debug build).
        assert_eq!(mean(&[u64::MAX, u64::MAX]), u64::MAX);
        assert_eq!(mean(&[u64::MAX, 1]), 1u64 << 63);
    }

    fn record(at: &str, memory: f64, status: Status) -> Record {
        Record {
            at: at.parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            command: "daily-check".into(),
            status,
            duration_ms: 3,
            host: HostFigures {
                memory_percent: Some(memory),
                swap_percent: Some(0.0),
                load_per_core: Some(memory / 100.0),
                disks: BTreeMap::from([("/".to_string(), 40.0)]),
            },
            restarts: BTreeMap::new(),
            resources: BTreeMap::new(),
            results: vec![RecordedResult {
                section: "host".into(),
                name: "memory".into(),
                status,
                value: Some(memory),
                held: false,
            }],
        }
    }

    #[test]
    fn runs_are_grouped_by_utc_day() {
        let records = [
            record("2026-11-21T06:00:00Z", 40.0, Status::Ok),
            record("2026-11-21T18:00:00Z", 60.0, Status::Warn),
            record("2026-11-22T06:00:00Z", 50.0, Status::Ok),
        ];
        let days = by_day(&records);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].day, "2026-11-21");
        assert_eq!(days[0].runs, 2);
        assert_eq!(days[0].memory_avg, Some(50.0));
        assert_eq!(days[0].memory_peak, Some(60.0));
        assert_eq!(days[0].failing, 1);
        assert_eq!(days[0].worst, Status::Warn);
        assert_eq!(days[1].disk_peak, Some(40.0));
    }

    #[test]
    fn each_service_has_its_average_and_peak_over_every_run() {
        let mut records = [
            record("2026-11-21T06:00:00Z", 40.0, Status::Ok),
            record("2026-11-22T06:00:00Z", 50.0, Status::Ok),
        ];
        for (record, (cpu, bytes, percent)) in records
            .iter_mut()
            .zip([(10.0, 100, 20.0), (30.0, 300, 60.0)])
        {
            record.resources.insert(
                "shop-db-1".into(),
                crate::state::ResourceFigures {
                    service: "db".into(),
                    cpu_percent: Some(cpu),
                    memory_bytes: bytes,
                    memory_percent: percent,
                },
            );
        }
        let services = by_service(&records);
        assert_eq!(services.len(), 1);
        let db = &services[0];
        assert_eq!((db.service.as_str(), db.samples), ("db", 2));
        assert_eq!((db.cpu_avg, db.cpu_peak), (Some(20.0), Some(30.0)));
        assert_eq!((db.memory_avg_bytes, db.memory_peak_bytes), (200, 300));
        assert_eq!(
            (db.memory_avg_percent, db.memory_peak_percent),
            (Some(40.0), Some(60.0))
        );
    }

    #[test]
    fn sparklines_span_lowest_to_highest() {
        assert_eq!(sparkline(&[0.0, 50.0, 100.0]), "▁▅█");
        assert_eq!(sparkline(&[7.0, 7.0]), "▄▄");
        assert_eq!(sparkline(&[]), "");
    }
}
