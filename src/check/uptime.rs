//! Uptime from the history daily-check keeps (`opsbook report --uptime`,
//! serve's page and `/metrics`): per check and per service, the share of
//! runs that were ok, the time spent failing (from a failing run to the
//! next run, the newest up to now), and for checks graded on their time
//! (those without `value:`) the response-time percentiles.

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

/// One check's or service's uptime over a window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Uptime {
    /// `checks` or `containers`.
    pub section: String,
    pub name: String,
    pub runs: usize,
    pub ok: usize,
    /// `ok / runs`.
    pub ratio: f64,
    pub failing_seconds: u64,
    /// Response time percentiles in milliseconds (p50, p95, p99), for a
    /// check whose value is the time it took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<[f64; 3]>,
}

/// The uptime of every check and service in `records` (oldest first), up to
/// `now`; `timed(name)` says whether a check's value is the time it took.
pub(crate) fn uptimes(
    records: &[Record],
    now: jiff::Timestamp,
    timed: &dyn Fn(&str) -> bool,
) -> Vec<Uptime> {
    #[derive(Default)]
    struct Tally {
        runs: usize,
        ok: usize,
        failing_seconds: u64,
        latencies: Vec<f64>,
    }
    let mut tallies: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for (index, record) in records.iter().enumerate() {
        let next = records.get(index + 1).map_or(now, |r| r.at);
        let span =
            u64::try_from(next.as_second().saturating_sub(record.at.as_second())).unwrap_or(0);
        for result in &record.results {
            if result.section != "checks" && result.section != "containers" {
                continue;
            }
            let tally = tallies
                .entry((result.section.clone(), result.name.clone()))
                .or_default();
            tally.runs += 1;
            if result.status == Status::Ok {
                tally.ok += 1;
            } else {
                tally.failing_seconds = tally.failing_seconds.saturating_add(span);
            }
            if result.section == "checks" && timed(&result.name) {
                tally
                    .latencies
                    .extend(result.value.map(|seconds| seconds * 1000.0));
            }
        }
    }
    tallies
        .into_iter()
        .map(|((section, name), t)| Uptime {
            section,
            name,
            runs: t.runs,
            ok: t.ok,
            ratio: if t.runs == 0 {
                1.0
            } else {
                t.ok as f64 / t.runs as f64
            },
            failing_seconds: t.failing_seconds,
            latency_ms: percentiles(t.latencies),
        })
        .collect()
}

/// Whether `name`'s recorded value is the time it took: a check without
/// `value:` (its figure is then the response time).
pub(crate) fn timed(runbook: &Runbook) -> impl Fn(&str) -> bool + '_ {
    |name| {
        runbook
            .model
            .checks
            .get(name)
            .is_some_and(|c| c.value.is_none())
    }
}

/// `opsbook report --uptime`: each check's and service's uptime over the
/// last `since`, as a table and in the JSON.
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
    let records = state.history(&runbook.state_key()).since(from).records;
    let window = crate::runbook::units::Duration(since);
    if records.is_empty() {
        report.results.push(CheckResult::new(
            "uptime",
            "history",
            Status::Unknown,
            format!(
                "no daily-check recorded for this runbook in the last {window} (in `{}`)",
                state_dir.display()
            ),
        ));
        return Ok(());
    }
    let found = uptimes(&records, report.started_at, &timed(runbook));
    let ms = |v: f64| format!("{v:.0}ms");
    let rows = found
        .iter()
        .map(|u| {
            let [p50, p95, p99] = u
                .latency_ms
                .map_or([String::new(), String::new(), String::new()], |l| l.map(ms));
            vec![
                u.section.clone(),
                u.name.clone(),
                percent(u.ratio),
                format!("{}/{}", u.ok, u.runs),
                crate::ui::human::seconds(u.failing_seconds),
                p50,
                p95,
                p99,
            ]
        })
        .collect();
    report.blocks.push(Block::Table {
        header: vec![
            "section", "name", "uptime", "ok runs", "failing", "p50", "p95", "p99",
        ],
        rows,
    });
    report.blocks.push(Block::Line(format!(
        "{} in the last {window}",
        crate::ui::human::count(records.len(), "run")
    )));
    for u in &found {
        report.results.push(
            CheckResult::new(
                "uptime",
                format!("{}/{}", u.section, u.name),
                Status::Ok,
                format!("{} of {} runs ok", percent(u.ratio), u.runs),
            )
            .with_value(u.ratio * 100.0, "percent"),
        );
    }
    report.extra.insert("uptime".into(), json!(found));
    Ok(())
}

/// p50, p95 and p99 by the nearest rank.
fn percentiles(mut values: Vec<f64>) -> Option<[f64; 3]> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let at = ((p / 100.0) * values.len() as f64).ceil() as usize;
        values[at.clamp(1, values.len()) - 1]
    };
    Some([rank(50.0), rank(95.0), rank(99.0)])
}

/// `99.95%`: two decimals, and never 100% for a window with a failure.
pub(crate) fn percent(ratio: f64) -> String {
    let shown = (ratio * 10000.0).floor() / 100.0;
    format!("{shown:.2}%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::RecordedResult;

    fn record(at: i64, results: &[(&str, &str, Status, Option<f64>)]) -> Record {
        let mut record: Record = serde_json::from_value(serde_json::json!({
            "at": jiff::Timestamp::from_second(at).expect("a time"),
            "command": "daily-check", "status": "ok", "duration_ms": 1,
            "host": {}, "results": [],
        }))
        .expect("a record");
        record.results = results
            .iter()
            .map(|(section, name, status, value)| RecordedResult {
                section: section.to_string(),
                name: name.to_string(),
                status: *status,
                value: *value,
                held: false,
            })
            .collect();
        record
    }

    #[test]
    fn the_share_of_ok_runs_the_time_failing_and_the_percentiles() {
        let records = [
            record(
                0,
                &[
                    ("checks", "api", Status::Ok, Some(0.010)),
                    ("containers", "db", Status::Ok, None),
                ],
            ),
            record(
                60,
                &[
                    ("checks", "api", Status::Crit, Some(2.0)),
                    ("containers", "db", Status::Ok, None),
                ],
            ),
            record(
                360,
                &[
                    ("checks", "api", Status::Ok, Some(0.020)),
                    ("containers", "db", Status::Crit, None),
                ],
            ),
            record(
                420,
                &[
                    ("checks", "api", Status::Ok, Some(0.030)),
                    ("host", "load", Status::Crit, None),
                ],
            ),
        ];
        let now = jiff::Timestamp::from_second(600).expect("a time");
        let found = uptimes(&records, now, &|name| name == "api");
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].name.as_str(), found[0].runs, found[0].ok),
            ("api", 4, 3)
        );
        assert_eq!(found[0].failing_seconds, 300);
        assert_eq!(found[0].latency_ms, Some([20.0, 2000.0, 2000.0]));
        assert_eq!(percent(found[0].ratio), "75.00%");
        assert_eq!(
            (found[1].name.as_str(), found[1].failing_seconds),
            ("db", 60)
        );
        assert_eq!(found[1].latency_ms, None);
        assert_eq!(percent(0.99999), "99.99%");
    }
}
