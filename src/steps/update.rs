//! `update` and `rollback` steps: the services put on the image their
//! container names now (or back on the one they ran before their last
//! update), with the health gate, verify checks and put-back of
//! `opsbook update` (`crate::deploy::gated`), under the same lock and image history.

use crate::deploy::gated::{Planned, Target, Updater, Wanted};
use crate::deploy::image_history::ImageHistory;
use crate::deploy::lifecycle::Lifecycle;
use crate::grade::Status;
use crate::state::StateDir;

use super::engine::Engine;

impl Engine<'_> {
    /// Updates `targets` (`all`: every service of the runbook), or rolls
    /// them back; ok when every one went and passed, crit when put back.
    pub(super) async fn update(&self, targets: &[String], rollback: bool) -> (Status, String) {
        let runbook = self.setup.runbook;
        let deployment = match self.deployment() {
            Ok(d) => d,
            Err(e) => return e,
        };
        let section = if rollback { "rollback" } else { "update" };
        let services: Vec<String> = if targets.iter().any(|t| t == "all") {
            runbook.model.services.keys().cloned().collect()
        } else {
            targets.to_vec()
        };
        let state = match StateDir::open(self.setup.state_dir) {
            Ok(state) => state,
            Err(e) => return (Status::Unknown, e.to_string()),
        };
        let _lock = match state.lock(&crate::deploy::gated::lock_key(runbook), section) {
            Ok(lock) => lock,
            Err(e) => return (Status::Unknown, e.to_string()),
        };
        let mut history = match ImageHistory::open(self.setup.state_dir, &runbook.data_lock_key()) {
            Ok(history) => history,
            Err(e) => return (Status::Unknown, e.to_string()),
        };
        let mut wanted = Vec::new();
        for service in services {
            let image = if rollback {
                match crate::deploy::gated::previous(deployment, &history, &service).await {
                    Ok(image) => Some(image),
                    Err(e) => return (Status::Crit, e.to_string()),
                }
            } else {
                None
            };
            wanted.push(Wanted { service, image });
        }
        let updater = Updater {
            lifecycle: Lifecycle {
                deployment,
                progress: self.setup.progress,
                interrupt: self.interrupt.clone(),
                section,
            },
            runbook,
            pull: crate::deploy::gated::pulls(runbook),
        };
        let targets = match updater.plan(&wanted, false).await {
            Ok(targets) => targets,
            Err(e) => return (Status::Crit, e.to_string()),
        };
        let mut words = Vec::new();
        let mut planned: Vec<Planned> = Vec::new();
        for target in targets {
            match target {
                Target::Change(p) => planned.push(p),
                Target::Current { service, image } => {
                    words.push(format!("{service}: already on {}", image.shown()));
                }
                Target::Idle { service } | Target::WouldPull { service, .. } => {
                    words.push(format!("{service}: not running, left alone"));
                }
            }
        }
        if planned.is_empty() {
            return (Status::Ok, words.join("; "));
        }
        let applied = updater.apply(&planned, &mut history, None).await;
        let saved = history.save();
        let mut status = Status::worst(applied.results.iter().map(|r| r.status));
        words.extend(
            applied
                .results
                .iter()
                .filter(|r| r.name != "put back")
                .map(|r| format!("{}: {}", r.name, r.message)),
        );
        let failing: Vec<String> = applied
            .verify
            .iter()
            .filter(|r| r.status != Status::Ok)
            .map(|r| format!("check {} {}: {}", r.name, r.status.as_str(), r.message))
            .collect();
        words.extend(failing);
        if let Err(e) = saved {
            status = status.max(Status::Warn);
            words.push(format!("image history not written: {e}"));
        }
        if applied.put_back {
            status = Status::Crit;
        }
        (status, words.join("; "))
    }
}
