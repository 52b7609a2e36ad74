//! One read-only command over the selected hosts: each host's run is this
//! very command, run as a child (as `opsbook serve` runs its jobs) with
//! that host's runbook, `DOCKER_HOST` set to its engine, its own state
//! folder (`<state>/hosts/<name>`, so histories and locks stay apart) and
//! `--format json`; at most `forks` at once, all under one deadline. Each
//! host's JSON envelope is kept as it is (its host figures under
//! `host_figures`, as `host` names the host); a host whose run could not be
//! made, or that the deadline cut off, is one `unknown` result of its own
//! and the others still report.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::{Endpoint, Host};
use crate::grade::{CheckResult, Status};
use crate::interrupt::Interrupt;

/// The commands that run over a fleet: those that change nothing.
pub(crate) const READ_ONLY: &[&str] = &[
    "validate",
    "status",
    "daily-check",
    "report",
    "backup list",
    "backup verify",
    "incident list",
];

/// Hosts at once when `--forks` is not given and an engine is reached over
/// ssh: under sshd's default MaxSessions (10).
pub(crate) const SSH_FORKS: usize = 8;
/// Hosts at once otherwise: each run mostly waits on its engine.
pub(crate) const LOCAL_FORKS: usize = 32;

/// `--forks`, else the default for these hosts.
pub(crate) fn forks(given: Option<u16>, hosts: &[&Host]) -> usize {
    match given {
        Some(n) => usize::from(n),
        None if hosts.iter().any(|h| matches!(h.docker, Endpoint::Ssh(_))) => SSH_FORKS,
        None => LOCAL_FORKS,
    }
}

/// How long the whole fleet run may take.
pub(crate) const DEADLINE: Duration = Duration::from_secs(600);

/// What one host's run gave.
#[derive(Debug)]
pub(crate) struct HostRun {
    pub host: String,
    pub status: Status,
    /// Its JSON envelope, `host` added; one made here when it gave none.
    pub envelope: Value,
}

/// Runs `args` (the command and its own flags) on every host.
pub(crate) async fn run_all(
    exe: &Path,
    hosts: &[&Host],
    args: &[OsString],
    state_dir: &Path,
    forks: usize,
) -> Vec<HostRun> {
    let gate = Arc::new(Semaphore::new(forks.max(1)));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let runs = hosts.iter().map(|host| {
        let gate = gate.clone();
        async move {
            let state = state_dir.join("hosts").join(&host.name);
            // Each host under the one deadline: a host that hangs is cut off
            // alone (its child killed on drop), the others keep their reports.
            let run = async {
                let _turn = gate.acquire().await;
                one(exe, host, args, &state).await
            };
            match tokio::time::timeout_at(deadline, run).await {
                Ok(run) => run,
                Err(_) => made_up(
                    host,
                    format!(
                        "no answer within the fleet deadline of {} s",
                        DEADLINE.as_secs()
                    ),
                ),
            }
        }
    });
    let all = futures_util::future::join_all(runs);
    match tokio::time::timeout(DEADLINE, all).await {
        Ok(runs) => runs,
        // The children are killed on drop (`kill_on_drop`).
        Err(_) => hosts
            .iter()
            .map(|h| {
                made_up(
                    h,
                    format!(
                        "no answer within the fleet deadline of {} s",
                        DEADLINE.as_secs()
                    ),
                )
            })
            .collect(),
    }
}

/// One host's run of a read-only command: killed when dropped (the
/// deadline), as it changes nothing.
async fn one(exe: &Path, host: &Host, args: &[OsString], state_dir: &Path) -> HostRun {
    let mut command = host_command(exe, host, args, state_dir);
    command.kill_on_drop(true);
    let output = match command.output().await {
        Ok(output) => output,
        Err(e) => return made_up(host, format!("cannot run opsbook for it: {e}")),
    };
    read_run(host, &output)
}

/// One host's run of a command that changes things: never killed. On
/// Ctrl-C or SIGTERM it is asked to stop (SIGTERM), and waited for while it
/// puts back what it stopped, as a run of its own would.
pub(super) async fn one_changing(
    exe: &Path,
    host: &Host,
    args: &[OsString],
    state_dir: &Path,
    interrupt: &Interrupt,
) -> HostRun {
    let child = match host_command(exe, host, args, state_dir).spawn() {
        Ok(child) => child,
        Err(e) => return made_up(host, format!("cannot run opsbook for it: {e}")),
    };
    let pid = child.id();
    let output = child.wait_with_output();
    tokio::pin!(output);
    let output = tokio::select! {
        output = &mut output => output,
        () = interrupt.raised() => {
            if let Some(pid) = pid
                .and_then(|p| i32::try_from(p).ok())
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            output.await
        }
    };
    match output {
        Ok(output) => read_run(host, &output),
        Err(e) => made_up(host, format!("its run could not be waited for: {e}")),
    }
}

/// The child that is one host's run: this binary, that host's engine,
/// runbook and state folder, JSON on stdout.
fn host_command(
    exe: &Path,
    host: &Host,
    args: &[OsString],
    state_dir: &Path,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(exe);
    // The engine as the docker CLI's variables name it; nothing of this
    // process's own engine is inherited.
    for (name, value) in host.engine().env() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    command
        .arg("--runbook")
        .arg(&host.runbook)
        .arg("--state-dir")
        .arg(state_dir)
        .args(["--format", "json"])
        .args(args)
        // The child is one host's run, not a fleet run of its own (it has
        // `--runbook`), which still knows the fleet: a swarm manager's run
        // reaches the other nodes' engines through it. And a look from
        // here, not the host's own run: it notifies nobody.
        .env("OPSBOOK_FLEET", &host.fleet_file)
        // Its backups (and their copies) in that host's own folder.
        .env(crate::runbook::FLEET_HOST_VARIABLE, &host.name)
        .env(crate::notify::OFF_VARIABLE, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A host's run as its exit code and JSON envelope tell it.
fn read_run(host: &Host, output: &std::process::Output) -> HostRun {
    let status = match output.status.code() {
        Some(0) => Status::Ok,
        Some(1) => Status::Warn,
        Some(2) => Status::Crit,
        _ => Status::Unknown,
    };
    match serde_json::from_slice::<Value>(&output.stdout) {
        Ok(Value::Object(mut envelope)) => {
            // `host` names the host in a fleet's envelope; the figures a
            // single-host envelope keeps under it move to `host_figures`.
            if let Some(figures) = envelope.shift_remove("host") {
                envelope.insert("host_figures".into(), figures);
            }
            envelope.insert("host".into(), json!(host.name));
            HostRun {
                host: host.name.clone(),
                status,
                envelope: Value::Object(envelope),
            }
        }
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let said = stderr.lines().last().unwrap_or("no output").trim();
            made_up(host, format!("its run gave no report ({said})"))
        }
    }
}

/// A host's envelope when its run gave none: one unknown result saying why.
pub(super) fn made_up(host: &Host, why: String) -> HostRun {
    let result = CheckResult::new("opsbook", "error", Status::Unknown, why);
    HostRun {
        host: host.name.clone(),
        status: Status::Unknown,
        envelope: json!({
            "host": host.name,
            "status": Status::Unknown,
            "results": [result],
        }),
    }
}

/// The command's own arguments out of the whole command line: the flags
/// this process applies itself (fleet, runbook, state, format) left out.
pub(crate) fn command_args(argv: &[OsString]) -> Vec<OsString> {
    const VALUED: &[&str] = &[
        "--fleet",
        "--limit",
        "--forks",
        "--runbook",
        "--runbook-text",
        "--state-dir",
        "--format",
        "--serial",
        "--max-fail-percent",
    ];
    let mut out = Vec::new();
    let mut skip_next = false;
    for arg in argv.iter().skip(1) {
        if skip_next {
            skip_next = false;
            continue;
        }
        let text = arg.to_string_lossy();
        if VALUED.contains(&text.as_ref()) {
            skip_next = true;
            continue;
        }
        if VALUED
            .iter()
            .any(|flag| text.starts_with(&format!("{flag}=")))
            || ["--quiet", "-q", "--yes", "-y"].contains(&text.as_ref())
        {
            continue;
        }
        out.push(arg.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_this_process_applies_are_left_out() {
        let argv: Vec<OsString> = [
            "opsbook",
            "--fleet",
            "f.yaml",
            "daily-check",
            "--limit=prod",
            "--only",
            "host",
            "--format",
            "json",
            "--state-dir",
            "s",
            "-q",
        ]
        .map(OsString::from)
        .to_vec();
        let kept: Vec<String> = command_args(&argv)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(kept, ["daily-check", "--only", "host"]);
    }
}
