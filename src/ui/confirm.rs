//! Confirmation before anything disruptive: asked on a terminal, answered by
//! `--yes` everywhere else. Without a terminal and without `--yes` nothing
//! happens and the command exits 3, so cron never stops a deployment by accident.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::Error;

/// Whether to go ahead with `action` (a sentence like "stop 4 services of `shop`").
pub(crate) fn confirm(action: &str, yes: bool) -> Result<bool, Error> {
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::NeedsYes {
            action: action.to_string(),
        });
    }
    Ok(ask(&format!("{action}? [y/N] ")))
}

/// Like `confirm`, for a plan of several parts (a restore's items): on a
/// terminal one part a line under the question; in the refusal without one,
/// the parts joined on one line.
pub(crate) fn confirm_plan(question: &str, parts: &[String], yes: bool) -> Result<bool, Error> {
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::NeedsYes {
            action: format!("{question}: {}", parts.join("; ")),
        });
    }
    let listed: String = parts.iter().map(|part| format!("  {part}\n")).collect();
    Ok(ask(&format!("{question}:\n{listed}go ahead? [y/N] ")))
}

/// Asks the operator to confirm they did `instruction` (a `note` step):
/// `None` without a terminal (it stays pending), else their answer.
pub(crate) fn acknowledge(instruction: &str) -> Option<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return None;
    }
    Some(ask(&format!("{instruction}\n  done? [y/N] ")))
}

/// Asks the operator to pick one of `options` (numbered from 1) on a
/// terminal: `None` without one, or for an answer that picks none.
pub(crate) fn choose(question: &str, options: &[String]) -> Option<usize> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let listed: String = options
        .iter()
        .enumerate()
        .map(|(n, option)| format!("  {}. {option}\n", n + 1))
        .collect();
    let answer = line(&format!(
        "{question}:\n{listed}which one? [1-{}] ",
        options.len()
    ));
    let picked: usize = answer.trim().parse().ok()?;
    (1..=options.len()).contains(&picked).then(|| picked - 1)
}

/// Writes `prompt` on stderr and reads one line of stdin: a yes or not.
fn ask(prompt: &str) -> bool {
    let answer = line(prompt);
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Writes `prompt` on stderr and reads one line of stdin.
fn line(prompt: &str) -> String {
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{}", crate::ui::human::printable(prompt));
    let _ = stderr.flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    answer
}
