//! Confirmation before anything disruptive: asked on a terminal, answered by
//! `--yes` everywhere else. Without a terminal and without `--yes` nothing
//! happens and the command exits 3, so cron never stops a deployment by accident.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::Error;

/// Whether to go ahead with `action` (a sentence like "stop 4 services of `shop`").
pub fn confirm(action: &str, yes: bool) -> Result<bool, Error> {
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::NeedsYes {
            action: action.to_string(),
        });
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{action}? [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    let _ = stdin.lock().read_line(&mut answer);
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Like `confirm`, for a plan of several parts (a restore's items): on a
/// terminal one part a line under the question; in the refusal without one,
/// the parts joined on one line.
pub fn confirm_plan(question: &str, parts: &[String], yes: bool) -> Result<bool, Error> {
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::NeedsYes {
            action: format!("{question}: {}", parts.join("; ")),
        });
    }
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{question}:");
    for part in parts {
        let _ = writeln!(stderr, "  {part}");
    }
    let _ = write!(stderr, "go ahead? [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    let _ = stdin.lock().read_line(&mut answer);
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Asks the operator to confirm they did `instruction` (a `note` step):
/// `None` without a terminal (it stays pending), else their answer.
pub fn acknowledge(instruction: &str) -> Option<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return None;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{instruction}\n  done? [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    let _ = stdin.lock().read_line(&mut answer);
    Some(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
