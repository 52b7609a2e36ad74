//! `opsbook daily-check`: the operators' morning checklist in one concurrent
//! run. Host figures, every service's container, error lines in the logs,
//! the runbook's checks, the age of the newest backup and the heartbeats'
//! pings, each graded; then the run is recorded in the history and, when it
//! is bad enough, notified.
//!
//! Everything runs at once under one deadline (`--timeout`): whatever has not
//! answered by then is reported unknown, so nothing holds the run.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::check::changes::Checksums;
use crate::check::logs::files::Offsets;
use crate::check::resources::Resources;
use crate::docker::{Container, Deployment};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::host::HostSnapshot;
use crate::notify;
use crate::render::Report;
use crate::runbook::Runbook;
use crate::state::{HostFigures, Record, RecordedResult, ResourceFigures, StateDir};

mod pass;

/// The pause between runs under `--wait`.
const WAIT_PAUSE: Duration = Duration::from_secs(2);

/// The parts of a daily check `--only` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Host,
    Containers,
    Logs,
    Checks,
    Backups,
    Heartbeats,
    Images,
}

pub(crate) struct Options {
    pub only: Vec<Part>,
    pub timeout: Duration,
    pub wait: Option<Duration>,
    pub state_dir: PathBuf,
    /// Take the lock, record the run in the history and notify (a daily
    /// check); off for the one inside an incident's evidence, which must
    /// neither wait for a lock nor count as a run.
    pub record: bool,
}

impl Options {
    fn wants(&self, part: Part) -> bool {
        self.only.is_empty() || self.only.contains(&part)
    }
}

/// One run's results and the figures the history keeps.
struct Pass {
    results: Vec<CheckResult>,
    host: Option<HostSnapshot>,
    containers: Vec<Container>,
    resources: Vec<Resources>,
    /// Where the host log files were read up to.
    read_up_to: Option<Offsets>,
    /// The watched files' content as this run saw it.
    checksums: Option<Checksums>,
    /// The containers' secret-named variables' values, masked in the report.
    secrets: Vec<String>,
}

/// Runs the daily check into `report` (again and again under `--wait`
/// until it passes), records it in the history and sends the webhook's
/// notification.
pub(crate) async fn run<'a>(
    runbook: &'a Runbook,
    options: &Options,
    above: Above<'a>,
    report: &mut Report,
) -> Result<(), Error> {
    let state = StateDir::open(&options.state_dir)?;
    let key = runbook.state_key();
    let _lock = if options.record {
        Some(state.lock(&key, "daily-check")?)
    } else {
        None
    };
    let history = state.history(&key);
    let previous = history.last();
    tracing::debug!(previous = previous.is_some(), "locked, history read");
    let redactor = runbook.redactor();

    // Every pass of `--wait` reads the log files from where the last run
    // stopped: a later pass must not lose the lines an earlier one saw.
    let offsets_path = crate::state::log_offsets(&options.state_dir, &key);
    let offsets = Offsets::load(&offsets_path);
    // So do the watched files: each pass compares with the last run's look.
    let checksums_path = crate::state::file_checksums(&options.state_dir, &key);
    let last = Looked {
        offsets: &offsets,
        checksums: &Checksums::load(&checksums_path),
    };
    let first = Instant::now();
    let pass = loop {
        let started_at = jiff::Timestamp::now();
        let clock = Instant::now();
        let pass = pass::one_pass(runbook, options, previous.as_ref(), last, above).await;
        let status = Status::worst(pass.results.iter().map(|r| r.status));
        let Some(wait) = options.wait else {
            break (pass, started_at, clock);
        };
        if status == Status::Ok || first.elapsed() + WAIT_PAUSE >= wait {
            break (pass, started_at, clock);
        }
        tracing::info!(%status, "not passing yet; running again");
        tokio::time::sleep(WAIT_PAUSE).await;
    };
    let (mut pass, started_at, clock) = pass;
    report.started_at = started_at;
    report.results = std::mem::take(&mut pass.results);
    report.secrets.extend(std::mem::take(&mut pass.secrets));
    let held = sustained(runbook, &history, started_at, &mut report.results);
    if let Some(host) = &pass.host {
        report.extra.insert("host".into(), serde_json::json!(host));
    }
    if options.wants(Part::Containers) {
        report
            .extra
            .insert("resources".into(), serde_json::json!(pass.resources));
    }

    if !options.record {
        return Ok(());
    }
    keep_looks(&pass, &offsets_path, &checksums_path);
    let record = record(report, &pass, clock.elapsed(), &held);
    if let Err(e) = history.append(&record) {
        tracing::warn!("the run was not recorded: {e}");
    }
    if let Some(webhook) = runbook
        .model
        .notify
        .as_ref()
        .and_then(|n| n.webhook.as_ref())
    {
        let on: Option<Vec<String>> = webhook
            .on
            .as_ref()
            .map(|levels| levels.iter().map(|l| l.value.clone()).collect());
        let window =
            notify::maintenance::active(runbook, &options.state_dir, jiff::Timestamp::now());
        if notify::wanted(report.status(), on.as_deref()) && window.is_none() && notify::enabled() {
            let host = pass.host.as_ref().and_then(|h| h.hostname.as_deref());
            let met = redactor.clone().with_values(report.secrets.iter().cloned());
            let sent = match notify::webhook_url(runbook) {
                Some(Ok(url)) => notify::send(&url, report, host, &met).await,
                Some(Err(e)) => Err(e),
                None => Ok(()),
            };
            if let Err(e) = sent {
                tracing::warn!("{}", redactor.redact(&e));
            }
        }
    }
    Ok(())
}

/// Keeps where the log files were read up to and the watched files'
/// content, for the next run.
fn keep_looks(pass: &Pass, offsets_path: &std::path::Path, checksums_path: &std::path::Path) {
    if let Some(read_up_to) = &pass.read_up_to
        && let Err(e) = read_up_to.save(offsets_path)
    {
        tracing::warn!("where the log files were read up to was not kept: {e}");
    }
    if let Some(checksums) = &pass.checksums
        && !checksums.0.is_empty()
        && let Err(e) = checksums.save(checksums_path)
    {
        tracing::warn!("the watched files' checksums were not kept: {e}");
    }
}

/// What the last run left for this one: where the host log files were
/// read up to, and the watched files' content.
#[derive(Clone, Copy)]
pub(super) struct Looked<'a> {
    pub offsets: &'a Offsets,
    pub checksums: &'a Checksums,
}

/// Checks and host thresholds with `for:` graded against the runs before
/// this one (twice the longest window of history is read: enough to see
/// where a streak began). The results held at warn.
fn sustained(
    runbook: &Runbook,
    history: &crate::state::History,
    now: jiff::Timestamp,
    results: &mut [CheckResult],
) -> Vec<(String, String)> {
    let Some(longest) = crate::check::sustain::longest(runbook) else {
        return Vec::new();
    };
    let back = jiff::SignedDuration::try_from(longest * 2).unwrap_or(jiff::SignedDuration::ZERO);
    let from = now.checked_sub(back).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    crate::check::sustain::apply(results, runbook, &history.since(from).records, now)
}

/// A part of a pass: its results.
pub(crate) type Work<'a> = Pin<Box<dyn Future<Output = Vec<CheckResult>> + Send + 'a>>;

/// What a daily check is handed by the layers above check/, which run
/// checks themselves: the way to the deployment, compose or stack
/// (`deploy::look`), and the backups part of each pass, here and on the
/// copy targets (`copies::freshness::backups`): jobs labelled `section
/// name`, each under the run's deadline on its own.
#[derive(Clone, Copy)]
pub(crate) struct Above<'a> {
    pub connect: &'a (dyn Fn() -> Connected<'a> + Sync),
    pub backups: &'a (dyn Fn() -> Vec<(String, Work<'a>)> + Sync),
}

/// The deployment, connected to and seen as deployed.
pub(crate) type Connected<'a> =
    Pin<Box<dyn Future<Output = Result<Deployment, Error>> + Send + 'a>>;

/// The history's record of this run; `held`: the results `for:` held at warn.
fn record(report: &Report, pass: &Pass, took: Duration, held: &[(String, String)]) -> Record {
    let (host, containers) = (&pass.host, &pass.containers);
    let figures = host
        .as_ref()
        .map_or_else(HostFigures::default, |h| HostFigures {
            memory_percent: h.memory.map(|m| m.percent()),
            swap_percent: h.swap.map(|s| s.percent()),
            load_per_core: h.load_per_core(),
            disks: h
                .disks
                .iter()
                .filter_map(|d| d.usage.map(|u| (d.path.display().to_string(), u.percent())))
                .collect(),
        });
    Record {
        at: report.started_at,
        command: report.command.clone(),
        status: report.status(),
        duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        host: figures,
        restarts: containers
            .iter()
            .map(|c| (c.name.clone(), c.restart_count))
            .collect(),
        resources: pass
            .resources
            .iter()
            .map(|r| {
                (
                    r.container.clone(),
                    ResourceFigures {
                        service: r.name.clone(),
                        cpu_percent: r.usage.cpu_percent,
                        memory_bytes: r.usage.memory_used,
                        memory_percent: r.memory_percent,
                    },
                )
            })
            .collect(),
        results: report
            .results
            .iter()
            .map(|r| RecordedResult {
                section: r.section.clone(),
                name: r.name.clone(),
                status: r.status,
                value: r.value,
                held: held
                    .iter()
                    .any(|(section, name)| *section == r.section && *name == r.name),
            })
            .collect(),
    }
}
