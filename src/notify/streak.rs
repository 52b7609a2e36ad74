//! Against alert fatigue (as Gatus does for its endpoints): a target counts
//! failing and good runs in a row and speaks twice per trouble, once when
//! `after` failing runs in a row are reached (again only if it gets worse)
//! and once, "resolved", after `resolve_after` good ones. A run whose
//! status is not in `on` is good, except `unknown` (the command could not
//! run, a lock was held): that says nothing about health and counts for
//! neither. The counts live in the state folder, one file per command, so
//! cron runs and `opsbook serve` runs share them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::grade::Status;

/// When a target speaks.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub on: Vec<Status>,
    pub after: u32,
    pub resolve_after: u32,
}

impl Rule {
    /// `ok` among the statuses: every run is sent, no streaks.
    pub(crate) fn is_digest(&self) -> bool {
        self.on.contains(&Status::Ok)
    }
}

/// One target's counts for one command.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Streak {
    pub failing: u32,
    pub good: u32,
    /// The status last alerted, while the trouble lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerted: Option<Status>,
    /// Per-check alerts still open (PagerDuty's dedup keys), with their status.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub open: BTreeMap<String, Status>,
}

/// What this run asks of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    Quiet,
    /// Failing long enough (or worse than last alerted): alert.
    Alert,
    /// Good long enough after an alert: say it is over.
    Resolved,
    /// A digest target: send the run as it is.
    Every,
}

/// Counts this run and says what to send. The caller confirms a delivered
/// alert or resolution with [`delivered`], so one that failed to go out is
/// tried again on the next run.
pub(super) fn count(streak: &mut Streak, status: Status, rule: &Rule) -> Decision {
    if rule.is_digest() {
        return if rule.on.contains(&status) {
            Decision::Every
        } else {
            Decision::Quiet
        };
    }
    if rule.on.contains(&status) {
        streak.failing = streak.failing.saturating_add(1);
        streak.good = 0;
        let worse = streak
            .alerted
            .is_none_or(|was| status.severity() > was.severity());
        if streak.failing >= rule.after && worse {
            return Decision::Alert;
        }
    } else if status != Status::Unknown {
        streak.good = streak.good.saturating_add(1);
        streak.failing = 0;
        if streak.alerted.is_some() && streak.good >= rule.resolve_after {
            return Decision::Resolved;
        }
    }
    Decision::Quiet
}

/// Records that the decision for a run with `status` went out.
pub(super) fn delivered(streak: &mut Streak, decision: Decision, status: Status) {
    match decision {
        Decision::Alert => streak.alerted = Some(status),
        Decision::Resolved => {
            streak.alerted = None;
            streak.open.clear();
        }
        Decision::Quiet | Decision::Every => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(after: u32, resolve_after: u32) -> Rule {
        Rule {
            on: vec![Status::Warn, Status::Crit],
            after,
            resolve_after,
        }
    }

    /// The decisions for these statuses, each delivered.
    fn run(rule: &Rule, statuses: &[Status]) -> Vec<Decision> {
        let mut streak = Streak::default();
        statuses
            .iter()
            .map(|&status| {
                let decision = count(&mut streak, status, rule);
                delivered(&mut streak, decision, status);
                decision
            })
            .collect()
    }

    use Decision::{Alert, Quiet, Resolved};
    use Status::{Crit, Ok, Unknown, Warn};

    #[test]
    fn alerts_once_after_n_failing_runs_and_resolves_once_after_m_good() {
        assert_eq!(
            run(
                &rule(3, 2),
                &[Crit, Crit, Crit, Crit, Crit, Ok, Ok, Ok, Crit]
            ),
            [
                Quiet, Quiet, Alert, Quiet, Quiet, Quiet, Resolved, Quiet, Quiet
            ]
        );
    }

    #[test]
    fn a_good_run_breaks_the_streak_before_it_alerts() {
        assert_eq!(
            run(&rule(2, 1), &[Crit, Ok, Crit, Crit]),
            [Quiet, Quiet, Quiet, Alert]
        );
    }

    #[test]
    fn getting_worse_alerts_again_getting_better_does_not() {
        assert_eq!(
            run(&rule(1, 1), &[Warn, Warn, Crit, Warn, Crit, Ok]),
            [Alert, Quiet, Alert, Quiet, Quiet, Resolved]
        );
    }

    #[test]
    fn a_run_that_could_not_run_counts_for_neither() {
        assert_eq!(
            run(&rule(2, 1), &[Crit, Unknown, Crit, Unknown, Ok]),
            [Quiet, Quiet, Alert, Quiet, Resolved]
        );
    }

    #[test]
    fn an_alert_that_did_not_go_out_is_tried_on_the_next_run() {
        let rule = rule(1, 1);
        let mut streak = Streak::default();
        assert_eq!(count(&mut streak, Crit, &rule), Alert);
        // Not delivered: still not alerted.
        assert_eq!(count(&mut streak, Crit, &rule), Alert);
    }

    #[test]
    fn a_digest_sends_every_run_it_names() {
        let digest = Rule {
            on: vec![Ok, Warn, Crit],
            after: 1,
            resolve_after: 1,
        };
        assert_eq!(
            run(&digest, &[Ok, Ok, Unknown, Crit]),
            [Decision::Every, Decision::Every, Quiet, Decision::Every]
        );
    }
}
