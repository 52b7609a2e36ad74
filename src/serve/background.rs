//! The work the scheduler hands off so that it never waits on it: heal's
//! looks at the engine, escalation passes and heal's announcements. Each
//! runs as a task of its own with its own deadline, while the scheduler
//! goes on starting due runs and taking signals. At a stop a look is
//! dropped at once (it changes nothing); what is being sent is given until
//! `SEND_GRACE` after the signal to finish, and is then dropped too: an
//! escalation dropped before it was recorded is sent again by the next
//! pass, which is better than a stop that waits on a peer that hangs.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long after the stop signal what is being sent may still finish.
pub(super) const SEND_GRACE: Duration = Duration::from_secs(5);

/// The agent's work in flight beside the scheduler.
#[derive(Default)]
pub(super) struct Background {
    /// heal's look at the engine.
    look: Option<JoinHandle<()>>,
    /// A pass over the overdue incidents.
    escalation: Option<JoinHandle<()>>,
    /// Announcements to the `heal` targets.
    announcements: Vec<JoinHandle<()>>,
}

impl Background {
    /// Whether a look of heal's is under way.
    pub(super) fn looking(&self) -> bool {
        self.look.as_ref().is_some_and(|look| !look.is_finished())
    }

    pub(super) fn look(&mut self, look: JoinHandle<()>) {
        self.look = Some(look);
    }

    /// The look under way, dropped: a reload changed what heal looks at,
    /// or the agent stops.
    pub(super) fn stop_looking(&mut self) {
        if let Some(look) = self.look.take() {
            look.abort();
        }
    }

    /// Whether an escalation pass is under way.
    pub(super) fn escalating(&self) -> bool {
        self.escalation
            .as_ref()
            .is_some_and(|pass| !pass.is_finished())
    }

    pub(super) fn escalate(&mut self, pass: JoinHandle<()>) {
        self.escalation = Some(pass);
    }

    pub(super) fn announce(&mut self, announcement: JoinHandle<()>) {
        self.announcements.retain(|a| !a.is_finished());
        self.announcements.push(announcement);
    }

    /// At a stop: the look dropped, what is being sent waited for until
    /// `until`, then dropped; returns what was dropped unfinished.
    pub(super) async fn settle(mut self, until: Instant) -> Vec<&'static str> {
        self.stop_looking();
        let mut sending: Vec<(&'static str, JoinHandle<()>)> = self
            .escalation
            .take()
            .map(|pass| ("escalation", pass))
            .into_iter()
            .chain(
                self.announcements
                    .drain(..)
                    .map(|a| ("heal announcement", a)),
            )
            .collect();
        let mut dropped = Vec::new();
        for (what, task) in &mut sending {
            if tokio::time::timeout_at(until, &mut *task).await.is_err() {
                task.abort();
                dropped.push(*what);
            }
        }
        dropped
    }
}
