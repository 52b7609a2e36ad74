//! How the containers' log lines of the window grade, per service: the
//! count of lines `match` finds (warn / crit), their share of all lines
//! (`rate`: "error rate above 10%"), and the JSON lines whose field is above
//! a number (`json_field`: "requests slower than 1000 ms"). A service's own
//! `services.NAME.logs` replaces the global `logs` for it; every container
//! is streamed at once, never read whole. Host log files and systemd
//! units' journals grade the same way.

pub(crate) mod files;
pub(crate) mod scan;

use futures_util::future::join_all;
use indexmap::IndexMap;
use regex::bytes::RegexSet;

use crate::docker::{ContainerRef, Deployment, StackService};
use crate::grade::{CheckResult, Limits, Status};
use crate::host::journal;
use crate::redact::Redactor;
use crate::runbook::Runbook;
use crate::runbook::model::Logs;
use crate::runbook::units;

use files::Offsets;
use scan::{LineScanner, SAMPLES, Tally};

/// How much of a matching log line a result quotes.
const SAMPLE_CHARS: usize = 200;

/// Whether any container log is to be read: global settings that grade
/// something, or a service's own.
pub(crate) fn wanted(runbook: &Runbook) -> bool {
    global(runbook).is_some() || runbook.model.services.values().any(|s| s.logs.is_some())
}

/// The global `logs`, when it grades container logs (not files alone).
fn global(runbook: &Runbook) -> Option<&Logs> {
    runbook
        .model
        .logs
        .as_ref()
        .filter(|l| !l.patterns.is_empty() || l.json_field.is_some())
}

/// The settings a service's logs are graded by.
fn settings_of<'a>(runbook: &'a Runbook, service: &str) -> Option<&'a Logs> {
    runbook
        .model
        .services
        .get(service)
        .and_then(|s| s.logs.as_ref())
        .or(global(runbook))
}

/// Where one service's log lines are read from: a container, or (for a
/// Swarm stack) the service, whose log endpoint gathers every task's on
/// every node through the manager.
pub(crate) enum LogSource<'a> {
    Container(&'a ContainerRef),
    Service(&'a StackService),
}

impl LogSource<'_> {
    fn service(&self) -> &str {
        match self {
            LogSource::Container(c) => &c.service,
            LogSource::Service(s) => &s.service,
        }
    }

    fn project<'p>(&'p self, stack: &'p str) -> &'p str {
        match self {
            LogSource::Container(c) => &c.project,
            LogSource::Service(_) => stack,
        }
    }
}

/// One result per service with logs to grade.
pub(crate) async fn containers(
    runbook: &Runbook,
    deployment: &Deployment,
    containers: &[ContainerRef],
    redactor: &Redactor,
) -> Vec<CheckResult> {
    let sources: Vec<LogSource<'_>> = containers.iter().map(LogSource::Container).collect();
    sources_graded(runbook, deployment, &sources, redactor).await
}

/// One result per service of a Swarm stack with logs to grade, read
/// through each service's log endpoint.
pub(crate) async fn services(
    runbook: &Runbook,
    deployment: &Deployment,
    services: &[StackService],
    redactor: &Redactor,
) -> Vec<CheckResult> {
    let sources: Vec<LogSource<'_>> = services.iter().map(LogSource::Service).collect();
    sources_graded(runbook, deployment, &sources, redactor).await
}

async fn sources_graded(
    runbook: &Runbook,
    deployment: &Deployment,
    containers: &[LogSource<'_>],
    redactor: &Redactor,
) -> Vec<CheckResult> {
    // A service's own `since` narrows (or widens) the window for it.
    let window_of = |settings: &Logs| settings.since.map_or(runbook.plan.log_window, |d| d.std());
    // One compiled set per distinct settings (most services share the global one).
    let mut sets: Vec<(&Logs, RegexSet)> = Vec::new();
    let mut jobs = Vec::new();
    for container in containers {
        let Some(settings) = settings_of(runbook, container.service()) else {
            continue;
        };
        let index = match sets.iter().position(|(s, _)| std::ptr::eq(*s, settings)) {
            Some(index) => index,
            None => {
                let patterns: Vec<&str> =
                    settings.patterns.iter().map(|p| p.value.as_str()).collect();
                let Ok(set) = RegexSet::new(&patterns) else {
                    return vec![CheckResult::new(
                        "logs",
                        "patterns",
                        Status::Unknown,
                        "`logs.match` does not compile",
                    )];
                };
                sets.push((settings, set));
                sets.len() - 1
            }
        };
        jobs.push((container, settings, index));
    }
    let sets = &sets;
    let tallies = join_all(
        jobs.into_iter()
            .map(|(container, settings, index)| async move {
                let mut scanner = LineScanner::new(&sets[index].1);
                if let Some(json) = &settings.json_field {
                    scanner = scanner.with_field(&json.field, json.above);
                }
                let since = window_start(window_of(settings));
                let feed = |chunk: &[u8]| scanner.feed(chunk);
                let outcome = match container {
                    LogSource::Container(c) => deployment.scan_logs(&c.id, since, feed).await,
                    LogSource::Service(s) => deployment.scan_service_logs(&s.id, since, feed).await,
                };
                (container, settings, outcome, scanner.tally())
            }),
    )
    .await;
    tracing::debug!(containers = containers.len(), "logs read");

    // Per service: the containers of one service add up.
    let all_projects = runbook.plan.project.is_none();
    let mut per_service: IndexMap<String, (&Logs, Tally, Vec<String>)> = IndexMap::new();
    for (container, settings, outcome, tally) in tallies {
        let stack = runbook.plan.project.as_deref().unwrap_or_default();
        let name = if all_projects {
            format!("{}/{}", container.project(stack), container.service())
        } else {
            container.service().to_string()
        };
        let entry = per_service
            .entry(name)
            .or_insert_with(|| (settings, Tally::default(), Vec::new()));
        entry.1.matches += tally.matches;
        entry.1.lines += tally.lines;
        entry.1.over += tally.over;
        entry.1.samples.extend(tally.samples);
        if let Err(e) = outcome {
            entry.2.push(e.to_string());
        }
    }
    per_service
        .into_iter()
        .map(|(service, (settings, tally, errors))| {
            let span = format!("in the last {}", units::Duration(window_of(settings)));
            grade(&service, settings, &tally, &errors, &span, redactor)
        })
        .collect()
}

/// One tally (a service's, a file's) against its settings; `span` says
/// which lines were read (`in the last 1d`, `since the last check`).
pub(crate) fn grade(
    name: &str,
    settings: &Logs,
    tally: &Tally,
    errors: &[String],
    span: &str,
    redactor: &Redactor,
) -> CheckResult {
    let mut status = Status::Ok;
    let mut parts = Vec::new();
    if !settings.patterns.is_empty() {
        let count = tally.matches;
        let warn = settings.warn.as_ref().map_or(1, |w| w.value);
        let crit = settings.crit.as_ref().map(|c| c.value);
        if crit.is_some_and(|c| count >= c) {
            status = Status::Crit;
        } else if count >= warn {
            status = Status::Warn;
        }
        parts.push(if count == 0 {
            format!("no matching lines {span}")
        } else {
            let quoted: Vec<String> = tally
                .samples
                .iter()
                .take(SAMPLES)
                .map(|s| quote_sample(redactor, s))
                .collect();
            format!("{count} matching lines {span}: {}", quoted.join(", "))
        });
        if let Some(rate) = &settings.rate {
            let share = if tally.lines == 0 {
                0.0
            } else {
                tally.matches as f64 * 100.0 / tally.lines as f64
            };
            let limits = Limits {
                warn: rate.warn.value.0,
                crit: rate.crit.value.0,
            };
            let graded = limits.grade(share);
            status = status.max(graded);
            let crossed = match graded {
                Status::Crit => format!(", above crit {}%", limits.crit),
                Status::Warn => format!(", above warn {}%", limits.warn),
                _ => String::new(),
            };
            parts.push(format!("{:.1}% of {} lines{crossed}", share, tally.lines));
        }
    }
    if let Some(json) = &settings.json_field {
        let over = tally.over;
        let warn = json.warn.as_ref().map_or(1, |w| w.value);
        let crit = json.crit.as_ref().map(|c| c.value);
        if crit.is_some_and(|c| over >= c) {
            status = Status::Crit;
        } else if over >= warn {
            status = status.max(Status::Warn);
        }
        parts.push(format!(
            "{over} lines with `{}` above {} {span}",
            json.field, json.above
        ));
    }
    if status == Status::Ok && !errors.is_empty() {
        status = Status::Unknown;
    }
    let mut message = parts.join("; ");
    if let Some(error) = errors.first() {
        message.push_str(&format!(" (logs not fully read: {error})"));
    }
    CheckResult::new("logs", name, status, message).with_value(tally.matches as f64, "count")
}

/// The runbook's host log files, each read from where `offsets` (the last
/// check's) say, on a blocking thread; the results, and the offsets to keep
/// once the run is over (a daily check keeps them; the one inside an
/// incident's evidence does not).
pub(crate) async fn files(
    runbook: &Runbook,
    offsets: Offsets,
    redactor: &Redactor,
) -> (Vec<CheckResult>, Offsets) {
    let Some(logs) = &runbook.model.logs else {
        return (Vec::new(), offsets);
    };
    if logs.files.is_empty() {
        return (Vec::new(), offsets);
    }
    let dir = runbook.dir.clone();
    let files = logs.files.clone();
    let kept = offsets.clone();
    let read = tokio::task::spawn_blocking(move || {
        let mut offsets = offsets;
        let mut tallies = Vec::new();
        for (path, settings) in &files {
            let full = dir.join(path);
            let patterns: Vec<&str> = settings.patterns.iter().map(|p| p.value.as_str()).collect();
            let Ok(set) = RegexSet::new(&patterns) else {
                tallies.push((path.clone(), Err("`match` does not compile".to_string())));
                continue;
            };
            let mut scanner = LineScanner::new(&set);
            if let Some(json) = &settings.json_field {
                scanner = scanner.with_field(&json.field, json.above);
            }
            let last = offsets.0.get(path).copied();
            let outcome = match files::read_new(&full, last, &mut scanner) {
                Ok(read) => {
                    offsets.0.insert(path.clone(), read.next);
                    Ok((scanner.tally(), read.first, read.rotated))
                }
                Err(e) => Err(format!("cannot read `{}`: {e}", full.display())),
            };
            tallies.push((path.clone(), outcome));
        }
        (tallies, offsets)
    })
    .await;
    let Ok((tallies, offsets)) = read else {
        let unread = CheckResult::new(
            "logs",
            "files",
            Status::Unknown,
            "the log files were not read",
        );
        return (vec![unread], kept);
    };
    let results = tallies
        .into_iter()
        .map(|(path, outcome)| {
            let name = format!("file {path}");
            let settings = &logs.files[&path];
            match outcome {
                Err(reason) => CheckResult::new("logs", name, Status::Unknown, reason),
                Ok((_, true, _)) => CheckResult::new(
                    "logs",
                    name,
                    Status::Ok,
                    "first look at this file: its lines from now on are read at the next check",
                ),
                Ok((tally, false, rotated)) => {
                    let span = if rotated {
                        "since the last check (across a rotation)"
                    } else {
                        "since the last check"
                    };
                    grade(&name, settings, &tally, &[], span, redactor)
                }
            }
        })
        .collect();
    (results, offsets)
}

/// The runbook's systemd units, each unit's journal over the window read
/// through journalctl, all at once; `timeout` bounds each read.
pub(crate) async fn units(
    runbook: &Runbook,
    timeout: std::time::Duration,
    redactor: &Redactor,
) -> Vec<CheckResult> {
    let Some(logs) = &runbook.model.logs else {
        return Vec::new();
    };
    let window = runbook.plan.log_window;
    let since = window_start(window);
    let dir = logs.journal_dir.as_ref().map(|d| runbook.dir.join(d));
    let span = format!("in the last {}", units::Duration(window));
    join_all(logs.units.iter().map(|(unit, settings)| {
        let (dir, span) = (dir.as_deref(), &span);
        async move {
            let name = format!("unit {unit}");
            let patterns: Vec<&str> = settings.patterns.iter().map(|p| p.value.as_str()).collect();
            let Ok(set) = RegexSet::new(&patterns) else {
                return CheckResult::new("logs", name, Status::Unknown, "`match` does not compile");
            };
            let mut scanner = LineScanner::new(&set);
            if let Some(json) = &settings.json_field {
                scanner = scanner.with_field(&json.field, json.above);
            }
            let read = journal::scan(unit, since, dir, timeout, |chunk| scanner.feed(chunk)).await;
            match read {
                Ok(()) => grade(&name, settings, &scanner.tally(), &[], span, redactor),
                Err(reason) => CheckResult::new("logs", name, Status::Unknown, reason),
            }
        }
    }))
    .await
}

/// The start of a window ending now.
fn window_start(window: std::time::Duration) -> jiff::Timestamp {
    jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::ZERO))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// A log line masked while whole, then cut short and quoted.
fn quote_sample(redactor: &Redactor, line: &str) -> String {
    let masked = redactor.redact(line);
    let mut short: String = masked.chars().take(SAMPLE_CHARS).collect();
    if masked.chars().count() > SAMPLE_CHARS {
        short.push('…');
    }
    crate::redact::quote(&short)
}
