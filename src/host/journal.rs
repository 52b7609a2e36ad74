//! A systemd unit's journal on the host, as the pages read it: the lines of
//! a window (`journalctl -u UNIT --since …`), streamed line by line from
//! journalctl's output and never held whole. It goes through systemd's own
//! tool, which knows the journal's format and every way a unit's lines are
//! tagged. Whether a unit is active is the `unit` check (`check::unit`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// How much of journalctl's complaints is kept for a message.
const STDERR_CAP: usize = 4096;

/// Where journald keeps the system's journal: volatile, then persistent.
const SYSTEM_JOURNALS: [&str; 2] = ["/run/log/journal", "/var/log/journal"];

/// Streams the messages `unit` logged since `since` into `feed`, one per
/// line; `dir` reads a journal folder instead of the system's. Gives up
/// after `timeout`, killing journalctl.
pub(crate) async fn scan(
    unit: &str,
    since: jiff::Timestamp,
    dir: Option<&Path>,
    timeout: Duration,
    mut feed: impl FnMut(&[u8]),
) -> Result<(), String> {
    // journalctl reads an empty journal as "no entries": say there is none.
    let folders: Vec<&Path> = match dir {
        Some(dir) => vec![dir],
        None => SYSTEM_JOURNALS.iter().map(Path::new).collect(),
    };
    if !folders.iter().any(|f| holds_journal_files(f)) {
        let listed: Vec<String> = folders.iter().map(|f| f.display().to_string()).collect();
        return Err(format!(
            "no journal to read: no journal files in {} (is systemd-journald running?)",
            listed.join(" or ")
        ));
    }
    let mut command = tokio::process::Command::new("journalctl");
    if let Some(dir) = dir {
        command.arg("--directory").arg(dir);
    }
    let child = command
        .args(["--unit", unit, "--output", "cat", "--no-pager", "--quiet"])
        .arg(format!("--since=@{}", since.as_second()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = child.map_err(|e| format!("cannot run `journalctl`: {e}"))?;
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("journalctl gave no output pipes".into());
    };
    let read = async {
        let mut complaints = Vec::new();
        let complain = async {
            let mut buffer = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                let room = STDERR_CAP.saturating_sub(complaints.len());
                complaints.extend_from_slice(&buffer[..n.min(room)]);
            }
        };
        let stream = async {
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                match stdout.read(&mut buffer).await {
                    Ok(0) => return Ok(()),
                    Ok(n) => feed(&buffer[..n]),
                    Err(e) => return Err(format!("reading journalctl's output: {e}")),
                }
            }
        };
        let (streamed, ()) = tokio::join!(stream, complain);
        let status = child.wait().await;
        (streamed, status, complaints)
    };
    let (streamed, status, complaints) =
        tokio::time::timeout(timeout, read).await.map_err(|_| {
            format!(
                "journalctl did not finish within {}s: killed",
                timeout.as_secs()
            )
        })?;
    streamed?;
    let complaints = String::from_utf8_lossy(&complaints);
    let first = complaints.lines().map(str::trim).find(|l| !l.is_empty());
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!(
            "journalctl exited {}{}",
            status
                .code()
                .map_or("on a signal".into(), |c| c.to_string()),
            first.map(|l| format!(": {l}")).unwrap_or_default()
        )),
        Err(e) => Err(format!("waiting for journalctl: {e}")),
    }
}

/// Whether `folder` or a folder in it (journald's per-machine folder)
/// holds a `.journal` file.
fn holds_journal_files(folder: &Path) -> bool {
    let is_journal = |path: &Path| path.extension().is_some_and(|e| e == "journal");
    let Ok(entries) = std::fs::read_dir(folder) else {
        // Unreadable or missing: journalctl will say why.
        return folder.exists();
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        is_journal(&path)
            || (path.is_dir()
                && std::fs::read_dir(&path)
                    .map(|inner| inner.flatten().any(|e| is_journal(&e.path())))
                    .unwrap_or(false))
    })
}
