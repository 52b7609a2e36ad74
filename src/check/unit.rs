//! `unit` checks: a systemd unit on the host must be active, as the pages'
//! `systemctl is-active nginx` asks.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::grade::{CheckResult, Status};
use crate::host::command::{self, Split};

use super::value::Graded;
use super::{DEFAULT_TIMEOUT, Probe};

impl Probe<'_> {
    pub(crate) async fn unit(&self, name: &str, unit: &str, hint: Option<&str>) -> CheckResult {
        let started = Instant::now();
        let (status, message) = unit_state(unit, DEFAULT_TIMEOUT).await;
        let graded = Graded {
            status,
            message,
            figure: None,
        };
        self.finish(name, graded, hint, started)
    }
}

/// A unit's state as `systemctl is-active` gives it, graded: `active` is
/// ok, a unit on its way up or reloading is warn, anything else is crit.
/// Unknown when systemd cannot be asked (no systemd as init, no bus).
async fn unit_state(unit: &str, timeout: Duration) -> (Status, String) {
    let argv = ["systemctl", "is-active", "--", unit].map(String::from);
    let split = command::run_split(&argv, Path::new("/"), timeout).await;
    let (stdout, stderr) = match split {
        Split::Exited { stdout, stderr, .. } => (stdout, stderr),
        Split::TimedOut => {
            return (
                Status::Unknown,
                format!(
                    "`systemctl is-active` did not answer within {}s",
                    timeout.as_secs()
                ),
            );
        }
        Split::Failed(reason) => return (Status::Unknown, reason),
    };
    let state = String::from_utf8_lossy(&stdout).trim().to_string();
    let complaint = String::from_utf8_lossy(&stderr);
    let complaint = complaint.lines().map(str::trim).find(|l| !l.is_empty());
    match state.as_str() {
        "active" => (Status::Ok, format!("{unit} is active")),
        "activating" | "reloading" | "refreshing" => {
            (Status::Warn, format!("{unit} is {state}, not yet active"))
        }
        // systemctl prints a state for any unit it can ask about, even one
        // that does not exist ("inactive"); no state means it asked nobody.
        "" => (
            Status::Unknown,
            format!(
                "cannot ask systemd about {unit}{}",
                complaint.map(|l| format!(": {l}")).unwrap_or_default()
            ),
        ),
        _ => (Status::Crit, format!("{unit} is {state}, not active")),
    }
}
