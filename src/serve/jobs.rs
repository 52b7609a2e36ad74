//! A scheduled run is the command run by hand: opsbook runs itself, as a
//! child process with the same runbook and state folder and `--format
//! json`, so history, locks, notifications and exit codes are exactly the
//! one-shot command's, and a run that fails cannot take the agent down.
//! On SIGTERM the agent passes the signal on and waits: the child ends the
//! way the command ends on a signal (services started again, nothing
//! half-written listed). The agent's token is not passed on.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jiff::Timestamp;
use serde_json::Value;

use super::cache::{LastRun, Outcome};
use super::schedule::Job;
use crate::grade::Status;

/// How the agent starts its runs.
pub(crate) struct Runner {
    /// This binary.
    pub exe: PathBuf,
    /// `--runbook`, unless the runbook is the embedded default.
    pub runbook: Option<PathBuf>,
    /// `--runbook-text`: the text the agent loaded, kept in the state
    /// folder, so a runbook broken on disk since is not what runs.
    pub text: Option<PathBuf>,
    pub state_dir: PathBuf,
    /// The engine's variables (and the fleet host's name), set or removed
    /// for each run.
    pub env: Vec<(&'static str, Option<std::ffi::OsString>)>,
    /// The pids of the runs under way, for passing a SIGTERM on.
    pub running: Arc<Mutex<Vec<u32>>>,
}

/// A run's end: for the cache and the log line.
pub(crate) struct Ran {
    pub last: LastRun,
    pub report: Option<Value>,
}

impl Runner {
    pub(crate) async fn run(&self, job: &Job) -> Ran {
        let at = Timestamp::now();
        let clock = Instant::now();
        let mut command = tokio::process::Command::new(&self.exe);
        if let Some(runbook) = &self.runbook {
            command.arg("--runbook").arg(runbook);
        }
        if let Some(text) = &self.text {
            command.arg("--runbook-text").arg(text);
        }
        // The agent's token is for its HTTP side only: a run, its steps and
        // their commands never see it.
        for name in super::launch::TOKEN_VARIABLES {
            command.env_remove(name);
        }
        for (name, value) in &self.env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["--format", "json"])
            .args(job.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                return Ran {
                    last: LastRun {
                        at,
                        took: clock.elapsed(),
                        exit_code: -1,
                        outcome: Outcome::Unknown,
                        summary: format!("cannot start `{}`: {e}", self.exe.display()),
                    },
                    report: None,
                };
            }
        };
        let pid = child.id();
        if let (Some(pid), Ok(mut running)) = (pid, self.running.lock()) {
            running.push(pid);
        }
        let output = child.wait_with_output().await;
        if let (Some(pid), Ok(mut running)) = (pid, self.running.lock()) {
            running.retain(|p| *p != pid);
        }
        let took = clock.elapsed();
        let output = match output {
            Ok(output) => output,
            Err(e) => {
                return Ran {
                    last: LastRun {
                        at,
                        took,
                        exit_code: -1,
                        outcome: Outcome::Unknown,
                        summary: format!("lost the run: {e}"),
                    },
                    report: None,
                };
            }
        };
        let exit_code = output.status.code().unwrap_or(-1);
        let report: Option<Value> = serde_json::from_slice(&output.stdout).ok();
        let (outcome, summary) = judge(exit_code, report.as_ref(), &output.stderr);
        Ran {
            last: LastRun {
                at,
                took,
                exit_code,
                outcome,
                summary,
            },
            report,
        }
    }

    /// Passes SIGTERM on to every run under way.
    pub(crate) fn terminate_runs(&self) {
        let pids = self.running.lock().map(|p| p.clone()).unwrap_or_default();
        for pid in pids {
            if let Some(pid) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
    }
}

/// The outcome and a one-line summary: the report's status and counts; a
/// lock held by another run is a skip, not a failure.
fn judge(exit_code: i32, report: Option<&Value>, stderr: &[u8]) -> (Outcome, String) {
    let results = report
        .and_then(|r| r["results"].as_array())
        .cloned()
        .unwrap_or_default();
    let errors: Vec<&str> = results
        .iter()
        .filter(|r| r["section"] == "opsbook" && r["name"] == "error")
        .filter_map(|r| r["message"].as_str())
        .collect();
    if let Some(error) = errors.first() {
        let outcome = if error.contains("holds the lock") {
            Outcome::Skipped
        } else {
            Outcome::Unknown
        };
        return (outcome, error.to_string());
    }
    let status = report
        .and_then(|r| serde_json::from_value::<Status>(r["status"].clone()).ok())
        .unwrap_or(match exit_code {
            0 => Status::Ok,
            1 => Status::Warn,
            2 => Status::Crit,
            _ => Status::Unknown,
        });
    let mut counts: Vec<String> = Vec::new();
    for name in ["ok", "warn", "crit", "unknown"] {
        let n = results.iter().filter(|r| r["status"] == name).count();
        if n > 0 {
            counts.push(format!("{n} {name}"));
        }
    }
    let summary = if report.is_some() {
        format!("{}: {}", status.as_str(), counts.join(", "))
    } else {
        // No report: the last line the run wrote says why.
        let said = String::from_utf8_lossy(stderr);
        let last = said
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        format!("exit {exit_code}: {}", last.trim())
    };
    (Outcome::of(status), summary)
}

/// The state folder as the children get it: absolute, so a child's
/// working directory does not matter.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
