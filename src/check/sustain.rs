//! `for:` on a check ("> 10% error rate for 5 minutes") and on a host
//! threshold ("CPU above 95% for 5 minutes"): a failing check is crit
//! only once every run over that long has failed it, and warn ("failing
//! for 2m") until then; a host figure above crit is warn ("above crit for
//! 2m of the 5m it may") until every run over the window was above crit.
//! The earlier runs come from the history, so it works under cron as under
//! an always-on agent. A result held at warn is recorded as held, so the
//! next run sees the streak.

use std::time::Duration;

use crate::grade::{CheckResult, Status};
use crate::runbook::Runbook;
use crate::state::{Record, RecordedResult};
use crate::ui::human;

/// What `for:` holds: a check's failure, or a host figure above crit.
#[derive(Clone, Copy)]
enum Held {
    Check,
    Figure,
}

impl Held {
    /// Whether a recorded result was in the state this `for:` times.
    fn was(self, result: &RecordedResult) -> bool {
        match self {
            Held::Check => result.status != Status::Ok,
            Held::Figure => result.status == Status::Crit || result.held,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Held::Check => "failing",
            Held::Figure => "above crit",
        }
    }
}

/// Grades the failing results of checks with `for:`, and the host figures
/// above crit with `for:`, against `history` (oldest first, this run not
/// in it), at `now`. Gives the results held at warn (section, name).
pub(crate) fn apply(
    results: &mut [CheckResult],
    runbook: &Runbook,
    history: &[Record],
    now: jiff::Timestamp,
) -> Vec<(String, String)> {
    let mut held = Vec::new();
    for result in results.iter_mut() {
        let (window, kind) = match result.section.as_str() {
            "checks" => (
                runbook
                    .model
                    .checks
                    .get(&result.name)
                    .and_then(|c| c.failing_for)
                    .map(|d| d.std()),
                Held::Check,
            ),
            "host" => (runbook.plan.thresholds.window(&result.name), Held::Figure),
            _ => continue,
        };
        let Some(window) = window else { continue };
        let failing = match kind {
            Held::Check => matches!(result.status, Status::Crit | Status::Unknown),
            Held::Figure => result.status == Status::Crit,
        };
        if !failing {
            continue;
        }
        let (status, said) = sustained(&result.section, &result.name, history, now, window, kind);
        if status != result.status && matches!(kind, Held::Figure) {
            held.push((result.section.clone(), result.name.clone()));
        }
        result.status = status;
        result.message = format!("{} ({said})", result.message);
    }
    held
}

/// The longest `for:` of the runbook's checks and host thresholds.
pub(crate) fn longest(runbook: &Runbook) -> Option<Duration> {
    let checks = runbook
        .model
        .checks
        .values()
        .filter_map(|c| c.failing_for.map(|d| d.std()));
    let host = runbook.plan.thresholds.windows.iter().map(|(_, w)| *w);
    checks.chain(host).max()
}

/// The grade of a result in its state now, and what to add to its message.
fn sustained(
    section: &str,
    name: &str,
    history: &[Record],
    now: jiff::Timestamp,
    window: Duration,
    kind: Held,
) -> (Status, String) {
    let with_result: Vec<(&Record, bool)> = history
        .iter()
        .filter_map(|record| {
            let result = record
                .results
                .iter()
                .find(|r| r.section == section && r.name == name)?;
            Some((record, kind.was(result)))
        })
        .collect();
    let written = human::duration(window);
    if with_result.is_empty() {
        let what = match kind {
            Held::Check => "check",
            Held::Figure => "figure",
        };
        return (
            Status::Warn,
            format!("for: {written}: no earlier run of this {what} to tell how long"),
        );
    }
    // Back from the newest run while it was so: the streak's start.
    let mut since = now;
    for (record, was) in with_result.iter().rev() {
        if !was {
            break;
        }
        since = record.at;
    }
    let lasting = Duration::from_secs(human::seconds_between(since, now));
    let words = kind.words();
    if lasting >= window {
        (
            Status::Crit,
            format!("{words} for {}", human::duration(lasting)),
        )
    } else {
        (
            Status::Warn,
            format!(
                "{words} for {} of the {written} it may",
                human::duration(lasting)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::HostFigures;

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
                held: false,
            }],
        }
    }

    #[test]
    fn crit_only_once_the_whole_window_failed() {
        let now: jiff::Timestamp = "2026-12-01T10:10:00Z".parse().expect("now");
        let five = Duration::from_secs(300);
        assert_eq!(
            sustained("checks", "errors", &[], now, five, Held::Check).0,
            Status::Warn
        );
        let short = [
            run("2026-12-01T10:05:00Z", false),
            run("2026-12-01T10:08:00Z", true),
        ];
        assert_eq!(
            sustained("checks", "errors", &short, now, five, Held::Check),
            (Status::Warn, "failing for 2m of the 5m it may".into())
        );
        let long = [
            run("2026-12-01T10:04:00Z", true),
            run("2026-12-01T10:08:00Z", true),
        ];
        assert_eq!(
            sustained("checks", "errors", &long, now, five, Held::Check),
            (Status::Crit, "failing for 6m".into())
        );
    }
}
