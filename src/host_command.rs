//! Running an argv on the host (`startup.up`, later `run` steps): in a given
//! folder, without a shell, under a timeout, with its output captured up to a
//! cap. A command that outlives its timeout is killed.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// How much of each stream is kept.
const OUTPUT_CAP: usize = 64 * 1024;

#[derive(Debug)]
pub enum Outcome {
    /// It ended: its exit code (None when killed by a signal) and output.
    Exited {
        code: Option<i32>,
        output: String,
    },
    TimedOut,
    /// It could not be started at all (not found, not executable).
    Failed(String),
}

pub async fn run(argv: &[String], dir: &Path, timeout: Duration) -> Outcome {
    let Some((program, args)) = argv.split_first() else {
        return Outcome::Failed("empty command".into());
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
        Err(e) => return Outcome::Failed(format!("cannot run `{program}`: {e}")),
    };
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Outcome::Failed("no output pipes".into());
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
        Ok((status, out, err)) => {
            let mut output = String::from_utf8_lossy(&out).into_owned();
            output.push_str(&String::from_utf8_lossy(&err));
            Outcome::Exited {
                code: status.ok().and_then(|s| s.code()),
                output,
            }
        }
        // Dropping the future drops the child, which kill_on_drop kills.
        Err(_) => Outcome::TimedOut,
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
