//! Ending a command run in a container that outlived its time. Docker's
//! API has no kill for an exec, and the command goes on in the container
//! when opsbook stops reading it. So a timed exec carries a mark in its
//! environment (`OPSBOOK_EXEC=<random>`), inherited by what it starts, and
//! one that outlives its time is sent SIGTERM, then SIGKILL after a grace:
//!
//! - by a second exec in the same container that signals every process
//!   whose environment holds the mark (`sh`, `tr` and `grep`, which busybox
//!   and every distribution image have). It works the same over a local
//!   socket, TCP or ssh, and acts as the container's own user with the
//!   container's own rights, never more;
//! - else, in a container without those tools, on this machine: the exec's
//!   process (its pid on the engine's host, from inspecting the exec), once
//!   its `/proc` environment here shows the mark, which proves the engine
//!   runs here and the pid is still that process.
//!
//! Whether it ended is read from the engine (the exec's `Running`); every
//! call has a deadline.

use std::fmt;
use std::time::{Duration, Instant};

use super::Deployment;

/// How long a command has between SIGTERM and SIGKILL.
pub(crate) const GRACE: Duration = Duration::from_secs(5);
/// How long SIGKILL is given to show (the engine notices the end).
const KILL_WAIT: Duration = Duration::from_secs(5);
/// The deadline of each call to the engine made while ending.
const CALL_DEADLINE: Duration = Duration::from_secs(10);
/// How often the exec is looked at while it is waited for.
const POLL: Duration = Duration::from_millis(100);
/// The variable that marks the processes of a timed exec.
const MARK_NAME: &str = "OPSBOOK_EXEC";

/// Signals every process of the container whose environment holds `$2`
/// with signal `$1`; prints how many. Exits 127 without its tools.
const SIGNAL_MARKED: &str = r#"command -v tr >/dev/null && command -v grep >/dev/null || exit 127
n=0
for p in /proc/[0-9]*; do
  if tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qxF "$2"; then
    kill -s "$1" "${p#/proc/}" 2>/dev/null && n=$((n+1))
  fi
done
echo "$n""#;

/// The two signals an ending sends.
#[derive(Debug, Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

impl Signal {
    /// As `kill -s` takes it.
    fn name(self) -> &'static str {
        match self {
            Signal::Term => "TERM",
            Signal::Kill => "KILL",
        }
    }

    fn of_rustix(self) -> rustix::process::Signal {
        match self {
            Signal::Term => rustix::process::Signal::TERM,
            Signal::Kill => rustix::process::Signal::KILL,
        }
    }
}

/// The mark of one exec: `OPSBOOK_EXEC=` and 32 random hex digits.
pub(crate) struct Mark(String);

impl Mark {
    pub(crate) fn new() -> Mark {
        let mut bytes = [0u8; 16];
        // A mark that is not random still ends the right command: only
        // another exec of opsbook's running at the same moment shares it.
        let _ = getrandom::fill(&mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Mark(format!("{MARK_NAME}={hex}"))
    }

    /// `NAME=value`, as an exec's environment takes it.
    pub(crate) fn variable(&self) -> String {
        self.0.clone()
    }
}

/// How a command that outlived its time was ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The engine did not create it in time: nothing was started.
    NotStarted,
    /// It ended by itself before a signal was needed.
    Gone,
    /// SIGTERM ended it.
    Terminated,
    /// It outlived SIGTERM by the grace: SIGKILL ended it.
    Killed,
    /// It could not be ended: why. It may still run.
    NotEnded(String),
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::NotStarted => write!(f, "the engine did not start it in time"),
            Ending::Gone => write!(f, "it ended as it was being stopped"),
            Ending::Terminated => write!(f, "ended with SIGTERM"),
            Ending::Killed => write!(
                f,
                "ended with SIGKILL (SIGTERM did not end it within {}s)",
                GRACE.as_secs()
            ),
            Ending::NotEnded(why) => write!(
                f,
                "it could not be ended ({why}) and may still run in the container"
            ),
        }
    }
}

impl Deployment {
    /// Ends exec `exec_id` in `container`, marked with `mark`: SIGTERM,
    /// then SIGKILL after `GRACE`.
    pub(super) async fn end_exec(&self, container: &str, exec_id: &str, mark: &Mark) -> Ending {
        let pid = match self.exec_running(exec_id).await {
            Ok(Some(pid)) => pid,
            Ok(None) => return Ending::Gone,
            Err(why) => return Ending::NotEnded(why),
        };
        for (signal, wait, ending) in [
            (Signal::Term, GRACE, Ending::Terminated),
            (Signal::Kill, KILL_WAIT, Ending::Killed),
        ] {
            if let Err(why) = self.signal_marked(container, pid, mark, signal).await {
                return match self.exec_running(exec_id).await {
                    Ok(None) => Ending::Gone,
                    _ => Ending::NotEnded(why),
                };
            }
            if self.ended_within(exec_id, wait).await {
                return ending;
            }
        }
        Ending::NotEnded("it outlived SIGKILL".into())
    }

    /// Whether the exec still runs: its pid on the engine's host (0 when
    /// the engine does not say), or None once it has ended.
    async fn exec_running(&self, exec_id: &str) -> Result<Option<i64>, String> {
        let inspect = tokio::time::timeout(CALL_DEADLINE, self.docker.inspect_exec(exec_id)).await;
        match inspect {
            Ok(Ok(inspect)) => Ok(inspect
                .running
                .unwrap_or(false)
                .then(|| inspect.pid.unwrap_or(0))),
            Ok(Err(e)) => Err(format!("inspecting it: {}", crate::error::one_line(&e))),
            Err(_) => Err(no_answer()),
        }
    }

    /// Waits up to `wait` for the exec to end: whether it did.
    async fn ended_within(&self, exec_id: &str, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if let Ok(None) = self.exec_running(exec_id).await {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends `signal` to the marked processes: from inside the container,
    /// else on this machine to the exec's own process `pid`.
    async fn signal_marked(
        &self,
        container: &str,
        pid: i64,
        mark: &Mark,
        signal: Signal,
    ) -> Result<(), String> {
        let inside = match self.signal_inside(container, mark, signal).await {
            Ok(0) => "no process of it was found in the container".to_string(),
            Ok(count) => {
                tracing::info!(
                    "SIG{} sent to {count} process(es) in the container",
                    signal.name()
                );
                return Ok(());
            }
            Err(why) => why,
        };
        signal_here(pid, mark, signal)
            .map(|()| {
                tracing::info!(
                    "SIG{} sent on this machine to process {pid} ({inside})",
                    signal.name()
                );
            })
            .map_err(|here| format!("{inside}; {here}"))
    }

    /// A second exec in `container` that signals the marked processes: how
    /// many it signalled.
    async fn signal_inside(
        &self,
        container: &str,
        mark: &Mark,
        signal: Signal,
    ) -> Result<u32, String> {
        let argv: Vec<String> = [
            "sh",
            "-c",
            SIGNAL_MARKED,
            "sh",
            signal.name(),
            &mark.variable(),
        ]
        .into_iter()
        .map(str::to_string)
        .collect();
        let ran = match tokio::time::timeout(CALL_DEADLINE, self.exec(container, &argv)).await {
            Ok(Ok(ran)) => ran,
            Ok(Err(e)) => return Err(format!("no signal could be sent from the container: {e}")),
            Err(_) => return Err(no_answer()),
        };
        let said = String::from_utf8_lossy(&ran.stdout);
        match (ran.exit_code, said.trim().parse::<u32>()) {
            (Some(0), Ok(count)) => Ok(count),
            _ => Err("the container has no `sh`, `tr` and `grep` to send a signal from".into()),
        }
    }
}

/// The exec's process `pid` on this machine, signalled once its
/// environment shows `mark`: the engine runs here, and the pid is still it.
fn signal_here(pid: i64, mark: &Mark, signal: Signal) -> Result<(), String> {
    let not_here = || "its process is not on this machine".to_string();
    let raw = i32::try_from(pid).ok().filter(|raw| *raw > 0);
    let Some(process) = raw.and_then(rustix::process::Pid::from_raw) else {
        return Err(not_here());
    };
    let environ = std::fs::read(format!("/proc/{pid}/environ")).map_err(|_| not_here())?;
    let wanted = mark.variable();
    if !environ.split(|b| *b == 0).any(|v| v == wanted.as_bytes()) {
        return Err(not_here());
    }
    rustix::process::kill_process(process, signal.of_rustix())
        .map_err(|e| format!("its process here cannot be signalled: {e}"))
}

fn no_answer() -> String {
    format!(
        "the engine did not answer within {}s",
        CALL_DEADLINE.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_differ_and_name_the_variable() {
        let (a, b) = (Mark::new(), Mark::new());
        assert_ne!(a.variable(), b.variable());
        assert!(a.variable().starts_with("OPSBOOK_EXEC="));
        assert_eq!(a.variable().len(), "OPSBOOK_EXEC=".len() + 32);
    }

    #[test]
    fn endings_say_what_happened() {
        assert_eq!(Ending::Terminated.to_string(), "ended with SIGTERM");
        assert_eq!(
            Ending::Killed.to_string(),
            "ended with SIGKILL (SIGTERM did not end it within 5s)"
        );
        assert_eq!(
            Ending::NotEnded("why".into()).to_string(),
            "it could not be ended (why) and may still run in the container"
        );
    }
}
