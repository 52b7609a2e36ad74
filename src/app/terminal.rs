//! The terminal around a run: the report written to stdout (a closed pipe
//! is no panic), colour only where it is wanted, and logs on stderr,
//! masked by the built-in rules.

use std::io::{IsTerminal, Write};

use crate::redact::Redactor;

/// Writes the report to stdout. A closed pipe (`opsbook status | head`) is
/// not an error worth a panic: the reader has what it wanted.
pub(super) fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Colour only on a terminal, and never with `--no-color` or `NO_COLOR`.
pub(super) fn use_color(no_color_flag: bool) -> bool {
    color_allowed(no_color_flag) && std::io::stdout().is_terminal()
}

fn color_allowed(no_color_flag: bool) -> bool {
    let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color_flag && !no_color_env
}

/// Logs go to stderr, never stdout: `--format json | jq` always works.
pub(super) fn init_logging(verbose: u8, no_color_flag: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPSBOOK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("opsbook={level}")));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| MaskedLog(Vec::new()))
        .with_target(false)
        .with_ansi(color_allowed(no_color_flag) && std::io::stderr().is_terminal());
    // Timings matter when debugging (-vv); a warning to an operator needs none.
    let _ = if verbose >= 2 {
        logs.with_timer(tracing_subscriber::fmt::time::uptime())
            .try_init()
    } else {
        logs.without_time().try_init()
    };
}

/// One log event, masked by the built-in rules as it goes to stderr
/// (logging starts before the runbook, and its patterns, are read).
struct MaskedLog(Vec<u8>);

impl Write for MaskedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskedLog {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let masked = Redactor::builtin().redact(&text).into_owned();
        let _ = std::io::stderr().lock().write_all(masked.as_bytes());
    }
}
