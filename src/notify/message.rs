//! What every target says about one run, in words: a title (command,
//! runbook, host, status) and the failing results, a few lines of them.
//! Built once per run, masked once; each kind lays it out its own way.

use std::time::Duration;

use crate::grade::{CheckResult, Status};
use crate::redact::Redactor;

/// How many failing results a message lists.
pub(super) const LISTED: usize = 10;

/// One run as the targets see it, masked.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    /// As typed: `daily-check`, `backup prune`, `run deploy`.
    pub command: String,
    pub runbook: String,
    pub host: String,
    pub status: Status,
    pub exit_code: u8,
    pub started_at: jiff::Timestamp,
    pub duration: Duration,
    /// Every result that is not ok, in report order.
    pub problems: Vec<Problem>,
    /// The whole report as the terminal shows it (for mail), masked.
    pub report_text: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub section: String,
    pub name: String,
    pub status: Status,
    pub message: String,
}

/// Which message this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    /// Failing (or a digest of whatever the run was).
    Alert,
    Resolved,
}

impl Summary {
    pub(crate) fn new(
        command: &str,
        runbook: &str,
        host: String,
        results: &[CheckResult],
        redactor: &Redactor,
    ) -> Summary {
        let status = Status::worst(results.iter().map(|r| r.status));
        Summary {
            command: command.to_string(),
            runbook: runbook.to_string(),
            host,
            status,
            exit_code: status.exit_code(),
            started_at: jiff::Timestamp::now(),
            duration: Duration::ZERO,
            problems: results
                .iter()
                .filter(|r| r.status != Status::Ok)
                .map(|r| Problem {
                    section: r.section.clone(),
                    name: r.name.clone(),
                    status: r.status,
                    message: redactor.redact(&r.message).into_owned(),
                })
                .collect(),
            report_text: None,
        }
    }

    /// `opsbook daily-check of shop on web-1: CRIT`, or `: resolved`.
    pub(crate) fn title(&self, tone: Tone) -> String {
        let on = if self.host.is_empty() {
            String::new()
        } else {
            format!(" on {}", self.host)
        };
        let verdict = match tone {
            Tone::Alert => self.status.as_str().to_uppercase(),
            Tone::Resolved => format!("resolved ({})", self.status.as_str().to_uppercase()),
        };
        format!(
            "opsbook {} of {}{on}: {verdict}",
            self.command, self.runbook
        )
    }

    /// `crit services/api: down`, one per problem, at most `LISTED`, then
    /// `… and N more`.
    pub(crate) fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .problems
            .iter()
            .take(LISTED)
            .map(Problem::line)
            .collect();
        let more = self.problems.len().saturating_sub(LISTED);
        if more > 0 {
            lines.push(format!("… and {more} more"));
        }
        lines
    }

    /// The title and the lines as plain text.
    pub(crate) fn text(&self, tone: Tone) -> String {
        let mut text = self.title(tone);
        if tone == Tone::Alert {
            for line in self.lines() {
                text.push('\n');
                text.push_str(&line);
            }
        }
        text
    }
}

impl Problem {
    pub(crate) fn line(&self) -> String {
        format!(
            "{} {}/{}: {}",
            self.status.as_str(),
            self.section,
            self.name,
            self.message
        )
    }
}

/// `text` cut to at most `limit` characters, `…` marking the cut.
pub(super) fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut out: String = text.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(problems: usize) -> Summary {
        let results: Vec<CheckResult> = (0..problems)
            .map(|i| CheckResult::new("checks", format!("c{i}"), Status::Crit, "down"))
            .chain([CheckResult::new("services", "web", Status::Ok, "running")])
            .collect();
        Summary::new(
            "daily-check",
            "shop",
            "web-1".into(),
            &results,
            &Redactor::builtin(),
        )
    }

    #[test]
    fn the_text_names_the_run_and_lists_a_few_problems() {
        let s = summary(12);
        let text = s.text(Tone::Alert);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "opsbook daily-check of shop on web-1: CRIT");
        assert_eq!(lines[1], "crit checks/c0: down");
        assert_eq!(lines.len(), 1 + LISTED + 1);
        assert_eq!(lines[LISTED + 1], "… and 2 more");
        assert_eq!(
            summary(0).text(Tone::Resolved),
            "opsbook daily-check of shop on web-1: resolved (OK)"
        );
    }

    #[test]
    fn cut_keeps_short_text_and_marks_a_cut() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcdef", 4), "abc…");
    }
}
