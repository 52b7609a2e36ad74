//! A command that changes things, over the fleet: first every host's plan
//! (the command with `--dry-run`, all hosts at once, changing nothing),
//! shown in one confirmation that lists every host and what will happen
//! on it; then the hosts in batches of `--serial` (default 1), each batch
//! at once, the next only once it is done. A host whose run fails (crit or
//! could not run) stops the rollout after its batch unless the failed
//! hosts stay within `--max-fail-percent` of all; the hosts not reached
//! are reported as not run. A run is never killed: Ctrl-C or SIGTERM is
//! passed on to the runs under way, which put back what they stopped, and
//! no further batch starts.

use std::ffi::OsString;
use std::path::Path;

use super::Host;
use super::fanout::{self, HostRun};
use crate::grade::Status;
use crate::interrupt::Interrupt;
use crate::ui::progress::Progress;

/// The commands that change things and run over a fleet in batches.
pub(crate) const CHANGING: &[&str] = &[
    "startup", "shutdown", "restart", "backup", "restore", "update", "rollback",
];

/// Whether `command` (as typed: `run deploy`) is one that changes things.
pub(crate) fn is_changing(command: &str) -> bool {
    CHANGING.contains(&command) || command.starts_with("run ")
}

/// How the batches go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// Hosts at once.
    pub serial: usize,
    /// Failed hosts, in percent of all, that still let the rollout go on.
    pub max_fail_percent: u8,
}

impl Pace {
    /// `restart web on 3 hosts, 1 at a time, stopping at the first failure`
    pub(crate) fn describe(&self, what: &str, hosts: usize) -> String {
        let stop = match self.max_fail_percent {
            0 => "stopping at the first failure".to_string(),
            100 => "going on whatever fails".to_string(),
            p => format!("stopping once more than {p}% of hosts failed"),
        };
        format!(
            "{what} on {}, {} at a time, {stop}",
            crate::ui::human::count(hosts, "host"),
            self.serial
        )
    }
}

/// Each host's plan: its command with `--dry-run`, at once.
pub(crate) async fn plans(
    exe: &Path,
    hosts: &[&Host],
    args: &[OsString],
    state_dir: &Path,
    forks: usize,
) -> Vec<HostRun> {
    let mut dry = args.to_vec();
    dry.push("--dry-run".into());
    fanout::run_all(exe, hosts, &dry, state_dir, forks).await
}

/// What a host's dry run says will happen, on one line.
pub(crate) fn plan_line(run: &HostRun) -> String {
    let results = run.envelope["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let [only] = &results[..]
        && only["section"] == "opsbook"
    {
        return format!(
            "cannot tell: {}",
            only["message"].as_str().unwrap_or_default()
        );
    }
    let plan = &run.envelope["plan"];
    let mut parts: Vec<String> = ["stop", "start"]
        .iter()
        .filter_map(|step| {
            let names: Vec<&str> = plan[step]
                .as_array()?
                .iter()
                .flat_map(|tier| match tier.as_array() {
                    Some(tier) => tier.iter().filter_map(|s| s.as_str()).collect(),
                    None => tier.as_str().into_iter().collect::<Vec<_>>(),
                })
                .collect();
            (!names.is_empty()).then(|| format!("{step} {}", names.join(", ")))
        })
        .collect();
    if parts.is_empty() {
        parts = results
            .iter()
            .filter(|r| r["name"] != "dry-run")
            .map(|r| {
                format!(
                    "{}: {}",
                    r["name"].as_str().unwrap_or_default(),
                    r["message"].as_str().unwrap_or_default()
                )
            })
            .collect();
    }
    let line = parts.join("; ");
    match line.char_indices().nth(240) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.is_empty() => "nothing to do".into(),
        None => line,
    }
}

/// The batches, one after the other; every selected host has a run in
/// the result, in the fleet's order.
pub(crate) async fn run(
    exe: &Path,
    hosts: &[&Host],
    args: &[OsString],
    state_dir: &Path,
    pace: Pace,
    interrupt: &Interrupt,
    progress: Progress<'_>,
) -> Vec<HostRun> {
    let mut changing = args.to_vec();
    // Confirmed once, for every host, before the first batch.
    changing.push("--yes".into());
    let total = hosts.len();
    let batches = total.div_ceil(pace.serial.max(1));
    let mut runs = Vec::with_capacity(total);
    let mut failed = 0;
    let mut stopped: Option<String> = None;
    for (number, batch) in hosts.chunks(pace.serial.max(1)).enumerate() {
        if let Some(why) = &stopped {
            runs.extend(batch.iter().map(|h| fanout::made_up(h, why.clone())));
            continue;
        }
        let names: Vec<&str> = batch.iter().map(|h| h.name.as_str()).collect();
        progress.say(format!(
            "batch {} of {batches}: {}",
            number + 1,
            names.join(", ")
        ));
        let done = futures_util::future::join_all(batch.iter().map(|host| {
            let state = state_dir.join("hosts").join(&host.name);
            let changing = &changing;
            async move { fanout::one_changing(exe, host, changing, &state, interrupt).await }
        }))
        .await;
        for run in &done {
            progress.say(format!("  {}: {}", run.host, run.status));
        }
        failed += done
            .iter()
            .filter(|r| matches!(r.status, Status::Crit | Status::Unknown))
            .count();
        runs.extend(done);
        if interrupt.is_raised() {
            stopped = Some("not run: interrupted (Ctrl-C or SIGTERM) before its batch".into());
        } else if failed * 100 > usize::from(pace.max_fail_percent) * total {
            stopped = Some(format!(
                "not run: the rollout stopped after batch {} of {batches}, as {failed} of {total} hosts failed (--max-fail-percent {})",
                number + 1,
                pace.max_fail_percent
            ));
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_reads_as_a_sentence() {
        let pace = |serial, max_fail_percent| Pace {
            serial,
            max_fail_percent,
        };
        assert_eq!(
            pace(1, 0).describe("restart", 3),
            "restart on 3 hosts, 1 at a time, stopping at the first failure"
        );
        assert_eq!(
            pace(2, 34).describe("backup", 6),
            "backup on 6 hosts, 2 at a time, stopping once more than 34% of hosts failed"
        );
    }
}
