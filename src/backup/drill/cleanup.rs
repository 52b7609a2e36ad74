//! The end of every drill, passed, failed or interrupted: its scratch
//! containers, volumes and network removed from the engine and its scratch
//! folder from the state folder, within a deadline of its own. What a
//! cleanup cut short leaves carries the drill's labels, and the next drill
//! removes it.

use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use crate::docker::Removed;
use crate::grade::{CheckResult, Status};
use crate::runbook::units;

use super::{Drill, SECTION};

/// How many times cleanup looks for what is left, and the pause between.
const CLEANUP_PASSES: usize = 4;
const CLEANUP_PAUSE: Duration = Duration::from_millis(500);
/// How long the cleanup may take, its passes and pauses included: a forced
/// removal takes seconds, so an engine that has not removed a drill's
/// resources by then is not going to soon.
pub(super) const CLEANUP_TIMEOUT: Duration = Duration::from_secs(120);

impl Drill<'_> {
    pub(super) async fn clean_up(&self) -> CheckResult {
        let deadline = Instant::now() + CLEANUP_TIMEOUT;
        // A request cut short by a signal may still be creating something
        // (a helper, a twin) on the engine: pass again until a pass finds
        // nothing, so that too is removed.
        let mut removed = Removed::default();
        let mut timed_out = false;
        for pass in 0..CLEANUP_PASSES {
            let this = timeout_at(deadline, async {
                if pass > 0 {
                    tokio::time::sleep(CLEANUP_PAUSE).await;
                }
                self.deployment.remove_scratch(&self.name).await
            })
            .await;
            let Ok(this) = this else {
                timed_out = true;
                break;
            };
            let found = this
                .containers
                .saturating_add(this.volumes)
                .saturating_add(this.networks);
            removed.containers = removed.containers.saturating_add(this.containers);
            removed.volumes = removed.volumes.saturating_add(this.volumes);
            removed.networks = removed.networks.saturating_add(this.networks);
            removed.problems = this.problems;
            if found == 0 && removed.problems.is_empty() {
                break;
            }
        }
        let mut problems_left = removed.problems.clone();
        if timed_out {
            problems_left.push(format!(
                "the engine did not finish removing the drill's resources within {}; the next drill removes what is left",
                units::Duration(CLEANUP_TIMEOUT)
            ));
        }
        if let Err(e) = std::fs::remove_dir_all(&self.scratch)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            problems_left.push(format!("cannot remove `{}`: {e}", self.scratch.display()));
        }
        let status = if problems_left.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        };
        CheckResult::new(
            SECTION,
            "cleanup",
            status,
            format!(
                "removed {}{}",
                removed_counts(&removed),
                problems(&problems_left)
            ),
        )
    }
}

pub(super) fn removed_counts(removed: &Removed) -> String {
    format!(
        "{}, {}, {}",
        crate::ui::human::count(removed.containers, "container"),
        crate::ui::human::count(removed.volumes, "volume"),
        crate::ui::human::count(removed.networks, "network")
    )
}

pub(super) fn problems(problems: &[String]) -> String {
    if problems.is_empty() {
        String::new()
    } else {
        format!("; {}", problems.join("; "))
    }
}
