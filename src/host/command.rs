//! Running an argv on the host (`startup.up`, `run` and `sh` steps): in a
//! given folder, without a shell, under a timeout, with its output captured
//! up to a cap. A command that outlives its timeout is killed. `Outcome`
//! grades any command opsbook runs, on the host or in a container, with one
//! wording.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::grade::Status;
use crate::redact::{Redactor, quote};
use crate::ui::human;

/// How much of each stream is kept.
const OUTPUT_CAP: usize = 64 * 1024;
/// How much of a command's output a message quotes.
const QUOTE_CHARS: usize = 300;

#[derive(Debug)]
pub(crate) enum Outcome {
    /// It ended: its exit code (None when killed by a signal) and output.
    Exited { code: Option<i32>, output: String },
    /// It outlived its timeout; what then became of it (`killed`).
    TimedOut(String),
    /// It could not be started at all (not found, not executable).
    Failed(String),
}

impl Outcome {
    /// The status and message of a command's outcome: `` `cmd` succeeded:
    /// "its last lines" ``, `` `cmd` exited 1: "…" ``,
    /// `` `cmd` did not finish within 5m: killed ``. The output is masked
    /// whole, before it is cut: a cut could part a secret from its key.
    pub(crate) fn graded(
        &self,
        shown: &str,
        timeout: Duration,
        redactor: &Redactor,
    ) -> (Status, String) {
        match self {
            Outcome::Exited {
                code: Some(0),
                output,
            } => (
                Status::Ok,
                format!("`{shown}` succeeded{}", tail(&redactor.redact(output))),
            ),
            Outcome::Exited { code, output } => (
                Status::Crit,
                format!(
                    "`{shown}` exited {}{}",
                    code.map_or("on a signal".to_string(), |c| c.to_string()),
                    tail(&redactor.redact(output))
                ),
            ),
            Outcome::TimedOut(then) => (
                Status::Crit,
                format!(
                    "`{shown}` did not finish within {}: {then}",
                    human::duration(timeout)
                ),
            ),
            Outcome::Failed(reason) => (Status::Crit, reason.clone()),
        }
    }
}

/// `: "the last lines / of the output"` (three at most, 300 characters at
/// most), or nothing when it printed nothing.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let last = lines[lines.len().saturating_sub(3)..].join(" / ");
    let chars: Vec<char> = last.chars().collect();
    let kept: String = chars[chars.len().saturating_sub(QUOTE_CHARS)..]
        .iter()
        .collect();
    format!(": {}", quote(&kept))
}

/// How a command ended, its two streams apart (a check reads stdout alone).
#[derive(Debug)]
pub(crate) enum Split {
    Exited {
        code: Option<i32>,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
    TimedOut,
    Failed(String),
}

/// Runs `argv` in `dir` under `timeout`: its output in one text.
pub(crate) async fn run(argv: &[String], dir: &Path, timeout: Duration) -> Outcome {
    match run_split(argv, dir, timeout).await {
        Split::Exited {
            code,
            stdout,
            stderr,
        } => {
            let mut output = String::from_utf8_lossy(&stdout).into_owned();
            output.push_str(&String::from_utf8_lossy(&stderr));
            Outcome::Exited { code, output }
        }
        Split::TimedOut => Outcome::TimedOut("killed".into()),
        Split::Failed(reason) => Outcome::Failed(reason),
    }
}

/// Runs `argv` in `dir` under `timeout`, without a shell, each stream kept
/// up to OUTPUT_CAP; a command that outlives the timeout is killed.
pub(crate) async fn run_split(argv: &[String], dir: &Path, timeout: Duration) -> Split {
    let Some((program, args)) = argv.split_first() else {
        return Split::Failed("empty command".into());
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return Split::Failed(format!("cannot run `{program}`: {e}")),
    };
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Split::Failed("no output pipes".into());
    };
    let collect = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let _ = tokio::join!(
            read_capped(&mut stdout, &mut out),
            read_capped(&mut stderr, &mut err)
        );
        let status = child.wait().await;
        (status, out, err)
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok((status, stdout, stderr)) => Split::Exited {
            code: status.ok().and_then(|s| s.code()),
            stdout,
            stderr,
        },
        // Dropping the future drops the child, which kill_on_drop kills.
        Err(_) => Split::TimedOut,
    }
}

/// Reads a stream to its end, keeping the first OUTPUT_CAP bytes.
async fn read_capped(stream: &mut (impl AsyncReadExt + Unpin), keep: &mut Vec<u8>) {
    let mut buffer = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        let room = OUTPUT_CAP.saturating_sub(keep.len());
        keep.extend_from_slice(&buffer[..n.min(room)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_masked_before_it_is_cut() {
        let long = format!("PASSWORD=hunter2{}\n", "x".repeat(QUOTE_CHARS));
        let failed = Outcome::Exited {
            code: Some(1),
            output: long,
        };
        let (_, message) = failed.graded("up", Duration::from_secs(1), &Redactor::builtin());
        assert_eq!(message, "`up` exited 1: \"PASSWORD=****\"");
    }

    #[test]
    fn outcomes_are_graded_with_one_wording() {
        let ten = Duration::from_secs(600);
        let ok = Outcome::Exited {
            code: Some(0),
            output: "one\n\ntwo\nthree\nfour\n".into(),
        };
        assert_eq!(
            ok.graded("up", ten, &Redactor::builtin()),
            (Status::Ok, "`up` succeeded: \"two / three / four\"".into())
        );
        let failed = Outcome::Exited {
            code: Some(2),
            output: String::new(),
        };
        assert_eq!(
            failed.graded("up", ten, &Redactor::builtin()),
            (Status::Crit, "`up` exited 2".into())
        );
        assert_eq!(
            Outcome::TimedOut("killed".into()).graded("up", ten, &Redactor::builtin()),
            (
                Status::Crit,
                "`up` did not finish within 10m: killed".into()
            )
        );
    }
}
