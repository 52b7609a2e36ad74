//! `for:` on a check ("> 10% error rate for 5 minutes"): a failing check is
//! crit only once every run over that long has failed it, and warn ("failing
//! for 2m") until then. The earlier runs come from the history, so it works
//! under cron as under an always-on agent.

use std::time::Duration;

use crate::grade::{CheckResult, Status};
use crate::runbook::Runbook;
use crate::state::Record;
use crate::ui::human;

/// Grades the failing results of checks with `for:` against `history`
/// (oldest first, this run not in it), at `now`.
pub(crate) fn apply(
    results: &mut [CheckResult],
    runbook: &Runbook,
    history: &[Record],
    now: jiff::Timestamp,
) {
    for result in results.iter_mut().filter(|r| r.section == "checks") {
        let Some(window) = runbook
            .model
            .checks
            .get(&result.name)
            .and_then(|c| c.failing_for)
            .map(|d| d.std())
        else {
            continue;
        };
        if !matches!(result.status, Status::Crit | Status::Unknown) {
            continue;
        }
        let (status, said) = sustained(&result.name, history, now, window);
        result.status = status;
        result.message = format!("{} ({said})", result.message);
    }
}

/// The grade of a check failing now, and what to add to its message.
fn sustained(
    name: &str,
    history: &[Record],
    now: jiff::Timestamp,
    window: Duration,
) -> (Status, String) {
    let with_check: Vec<(&Record, bool)> = history
        .iter()
        .filter_map(|record| {
            let result = record
                .results
                .iter()
                .find(|r| r.section == "checks" && r.name == name)?;
            Some((record, result.status != Status::Ok))
        })
        .collect();
    let written = human::duration(window);
    if with_check.is_empty() {
        return (
            Status::Warn,
            format!("for: {written}: no earlier run of this check to tell how long"),
        );
    }
    // Back from the newest run while it failed: the failing streak's start.
    let mut since = now;
    for (record, failed) in with_check.iter().rev() {
        if !failed {
            break;
        }
        since = record.at;
    }
    let failing = Duration::from_secs(human::seconds_between(since, now));
    if failing >= window {
        (
            Status::Crit,
            format!("failing for {}", human::duration(failing)),
        )
    } else {
        (
            Status::Warn,
            format!(
                "failing for {} of the {written} it may",
                human::duration(failing)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{HostFigures, RecordedResult};

    fn run(at: &str, failed: bool) -> Record {
        Record {
            at: at.parse().expect("a timestamp"),
            command: "daily-check".into(),
            status: Status::Ok,
            duration_ms: 1,
            host: HostFigures::default(),
            restarts: Default::default(),
            resources: Default::default(),
            results: vec![RecordedResult {
                section: "checks".into(),
                name: "errors".into(),
                status: if failed { Status::Crit } else { Status::Ok },
                value: None,
            }],
        }
    }

    #[test]
    fn crit_only_once_the_whole_window_failed() {
        let now: jiff::Timestamp = "2026-12-01T10:10:00Z".parse().expect("now");
        let five = Duration::from_secs(300);
        assert_eq!(sustained("errors", &[], now, five).0, Status::Warn);
        let short = [
            run("2026-12-01T10:05:00Z", false),
            run("2026-12-01T10:08:00Z", true),
        ];
        assert_eq!(
            sustained("errors", &short, now, five),
            (Status::Warn, "failing for 2m of the 5m it may".into())
        );
        let long = [
            run("2026-12-01T10:04:00Z", true),
            run("2026-12-01T10:08:00Z", true),
        ];
        assert_eq!(
            sustained("errors", &long, now, five),
            (Status::Crit, "failing for 6m".into())
        );
    }
}
