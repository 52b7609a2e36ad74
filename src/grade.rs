//! The grading vocabulary every command shares: a `Status` (ok, warn, crit,
//! unknown), the `CheckResult` each check produces, and the threshold maths
//! that turns a measured figure into a status.
//!
//! The exit code is decided here and nowhere else (DESIGN.md, "Exit codes").

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The grade of one result, or of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Warn,
    Crit,
    Unknown,
}

impl Status {
    /// How bad a status is, for `worst`: crit outranks unknown (a failed check
    /// is the firmer news), unknown outranks warn (we could not tell).
    pub(crate) fn severity(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warn => 1,
            Status::Unknown => 2,
            Status::Crit => 3,
        }
    }

    /// The worse of two statuses.
    pub(crate) fn max(self, other: Status) -> Status {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// The worst status of a set; an empty set is OK.
    pub(crate) fn worst<I: IntoIterator<Item = Status>>(statuses: I) -> Status {
        statuses.into_iter().fold(Status::Ok, Status::max)
    }

    /// The process exit code of the contract: 0 ok, 1 warn, 2 crit, 3 unknown.
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warn => 1,
            Status::Crit => 2,
            Status::Unknown => 3,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Crit => "crit",
            Status::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One graded observation: a container's state, a host figure, a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CheckResult {
    pub section: String,
    pub name: String,
    pub status: Status,
    pub message: String,
    /// The measured figure, when there is one (a percentage, a count, seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The unit of `value`: `percent`, `count`, `seconds`, `ratio`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// The units a result's figure is given in.
const UNITS: &[&str] = &["percent", "count", "seconds", "ratio", "bytes"];

impl CheckResult {
    /// A result as its JSON gives it (a fleet host's envelope); None when
    /// it is not one.
    pub(crate) fn from_json(value: &serde_json::Value) -> Option<CheckResult> {
        let text = |key: &str| value[key].as_str().map(str::to_string);
        Some(CheckResult {
            section: text("section")?,
            name: text("name")?,
            status: serde_json::from_value(value["status"].clone()).ok()?,
            message: text("message").unwrap_or_default(),
            value: value["value"].as_f64(),
            unit: value["unit"]
                .as_str()
                .and_then(|u| UNITS.iter().find(|known| **known == u).copied()),
            duration_ms: value["duration_ms"].as_u64(),
        })
    }

    pub(crate) fn new(
        section: impl Into<String>,
        name: impl Into<String>,
        status: Status,
        message: impl Into<String>,
    ) -> Self {
        CheckResult {
            section: section.into(),
            name: name.into(),
            status,
            message: message.into(),
            value: None,
            unit: None,
            duration_ms: None,
        }
    }

    /// The result that says a dry run changed nothing.
    pub(crate) fn dry_run(section: &str) -> Self {
        CheckResult::new(
            section,
            "dry-run",
            Status::Ok,
            "dry run: nothing was changed",
        )
    }

    /// The result that says a signal stopped the work (a failed run: exit 2).
    pub(crate) fn interrupted(section: &str) -> Self {
        CheckResult::new(
            section,
            "interrupted",
            Status::Crit,
            "interrupted by a signal: the step in hand was finished, nothing new was started",
        )
    }

    pub(crate) fn with_value(mut self, value: f64, unit: &'static str) -> Self {
        self.value = Some(value);
        self.unit = Some(unit);
        self
    }

    pub(crate) fn with_duration(mut self, took: Duration) -> Self {
        self.duration_ms = Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
        self
    }
}

/// A warn/crit pair. A figure strictly above `crit` is crit, strictly above
/// `warn` is warn: the operators' pages say "alert above 85 %".
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Limits {
    pub warn: f64,
    pub crit: f64,
}

impl Limits {
    pub(crate) fn grade(self, value: f64) -> Status {
        if value > self.crit {
            Status::Crit
        } else if value > self.warn {
            Status::Warn
        } else {
            Status::Ok
        }
    }
}

/// `used` as a percentage of `total`; an empty total (no swap) is 0 %.
pub(crate) fn percent_of(used: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        used as f64 * 100.0 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(Status::Ok.exit_code(), 0);
        assert_eq!(Status::Warn.exit_code(), 1);
        assert_eq!(Status::Crit.exit_code(), 2);
        assert_eq!(Status::Unknown.exit_code(), 3);
    }

    #[test]
    fn worst_is_crit_then_unknown_then_warn() {
        use Status::*;
        assert_eq!(Status::worst([]), Ok);
        assert_eq!(Status::worst([Ok, Warn, Ok]), Warn);
        assert_eq!(Status::worst([Warn, Unknown]), Unknown);
        assert_eq!(Status::worst([Unknown, Crit, Warn]), Crit);
        assert_eq!(Status::worst([Crit, Unknown]), Crit);
    }

    #[test]
    fn limits_grade_strictly_above() {
        let limits = Limits {
            warn: 80.0,
            crit: 90.0,
        };
        assert_eq!(limits.grade(12.0), Status::Ok);
        assert_eq!(limits.grade(80.0), Status::Ok);
        assert_eq!(limits.grade(80.1), Status::Warn);
        assert_eq!(limits.grade(90.0), Status::Warn);
        assert_eq!(limits.grade(90.5), Status::Crit);
        let zero = Limits {
            warn: 0.0,
            crit: 0.0,
        };
        assert_eq!(zero.grade(0.01), Status::Crit);
    }

    #[test]
    fn percent_of_handles_an_empty_total() {
        assert_eq!(percent_of(0, 0), 0.0);
        assert_eq!(percent_of(1, 4), 25.0);
    }
}
