//! A command over the fleet (`--fleet FILE`, `$OPSBOOK_FLEET`): a
//! read-only one on every selected host at once (`fanout`), one that
//! changes things host by host after one confirmation of every host's plan
//! (`rollout`); then one report with a line per host, each host's envelope
//! under `hosts`, the exit code the worst host's.

use std::path::PathBuf;

use serde_json::json;

use crate::error::Error;
use crate::grade::CheckResult;
use crate::render::{Block, Report};

/// How a command runs over the fleet.
pub(crate) struct Over<'a> {
    pub fleet_file: PathBuf,
    pub limit: Option<&'a str>,
    pub forks: Option<u16>,
    /// The whole command line, for each host's run.
    pub argv: &'a [std::ffi::OsString],
    /// The command as typed (`backup list`).
    pub command: &'a str,
    /// A dry run or a listing: run everywhere at once, as a look.
    pub changes_nothing: bool,
    pub pace: super::rollout::Pace,
    pub yes: bool,
    pub quiet: bool,
    pub state_dir: PathBuf,
}

/// A read-only command on every selected host at once: one report, a
/// summary line per host, each host's envelope under `hosts`, the exit
/// code the worst host's.
pub(crate) async fn over(over: &Over<'_>, report: &mut Report) -> Result<(), Error> {
    let looks = super::fanout::READ_ONLY.contains(&over.command) || over.changes_nothing;
    if !looks && !super::rollout::is_changing(over.command) {
        return Err(Error::Usage(format!(
            "`{}` does not run over a fleet: the commands that do are {}, {} and `run NAME`; run `{}` per host with --runbook",
            over.command,
            super::fanout::READ_ONLY.join(", "),
            super::rollout::CHANGING.join(", "),
            over.command
        )));
    }
    let fleet = super::load(&over.fleet_file)?;
    let hosts = super::select(&fleet, over.limit)?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::Usage(format!("cannot find the opsbook binary: {e}")))?;
    let forks = super::fanout::forks(over.forks, &hosts);
    let args = super::fanout::command_args(over.argv);
    let runs = if looks {
        super::fanout::run_all(&exe, &hosts, &args, &over.state_dir, forks).await
    } else {
        roll_out(over, &exe, &hosts, &args, forks).await?
    };
    report.runbook = fleet.display.clone();
    let mut summary_rows = Vec::new();
    let mut problem_rows = Vec::new();
    for run in &runs {
        let results = run.envelope["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let summary = summarize(&results);
        summary_rows.push(vec![
            run.host.clone(),
            run.status.as_str().to_string(),
            summary.clone(),
        ]);
        for r in results.iter().filter(|r| r["status"] != "ok") {
            problem_rows.push(vec![
                run.host.clone(),
                format!("{}/{}", text(&r["section"]), text(&r["name"])),
                text(&r["status"]),
                text(&r["message"]),
            ]);
        }
        report.results.push(CheckResult::new(
            "fleet",
            run.host.clone(),
            run.status,
            summary,
        ));
    }
    report.blocks.push(Block::Table {
        header: vec!["host", "status", "summary"],
        rows: summary_rows,
    });
    if !problem_rows.is_empty() {
        report.blocks.push(Block::Table {
            header: vec!["host", "check", "status", "message"],
            rows: problem_rows,
        });
    }
    report.hosts = runs
        .iter()
        .map(|run| {
            let mut own = Report::from_envelope(&run.envelope);
            // A host whose run gave no report: this run's command and time.
            if own.command.is_empty() {
                own.command = over.command.to_string();
                own.started_at = report.started_at;
            }
            (run.host.clone(), own)
        })
        .collect();
    report.extra.insert(
        "hosts".into(),
        json!(runs.into_iter().map(|r| r.envelope).collect::<Vec<_>>()),
    );
    Ok(())
}

/// Every host's plan in one confirmation, then the batches.
async fn roll_out(
    over: &Over<'_>,
    exe: &std::path::Path,
    hosts: &[&super::Host],
    args: &[std::ffi::OsString],
    forks: usize,
) -> Result<Vec<super::fanout::HostRun>, Error> {
    let typed: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let typed = typed.join(" ");
    let plans = super::rollout::plans(exe, hosts, args, &over.state_dir, forks).await;
    let parts: Vec<String> = plans
        .iter()
        .zip(hosts)
        .map(|(plan, host)| {
            format!(
                "{} ({}): {}",
                host.name,
                host.reached(),
                super::rollout::plan_line(plan)
            )
        })
        .collect();
    let question = over.pace.describe(&typed, hosts.len());
    if !crate::ui::confirm::confirm_plan(&question, &parts, over.yes)? {
        return Err(Error::Usage(format!(
            "{typed} over the fleet cancelled: nothing was changed"
        )));
    }
    let redactor = crate::redact::Redactor::builtin();
    let progress = crate::ui::progress::Progress::new(over.quiet, &redactor);
    let interrupt = crate::interrupt::Interrupt::listen();
    Ok(super::rollout::run(
        exe,
        hosts,
        args,
        &over.state_dir,
        over.pace,
        &interrupt,
        progress,
    )
    .await)
}

fn text(value: &serde_json::Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// `5 ok, 1 crit`, or the reason of a run that could not be made.
fn summarize(results: &[serde_json::Value]) -> String {
    if let [only] = results
        && only["section"] == "opsbook"
    {
        return text(&only["message"]);
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for status in ["ok", "warn", "crit", "unknown"] {
        let n = results.iter().filter(|r| r["status"] == status).count();
        if n > 0 {
            counts.push((status.to_string(), n));
        }
    }
    if counts.is_empty() {
        return "no results".to_string();
    }
    counts
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}
