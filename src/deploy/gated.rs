//! Putting services on another image behind a health gate, and putting
//! them back when it fails: the machinery of `update`, `rollback` and
//! their steps.
//!
//! Each running container of a service, in dependency order, is stopped,
//! set aside under another name and replaced by a twin on the new image
//! (`docker::recreate`), which must become ready (running, and healthy
//! where it has a healthcheck; an unhealthy verdict fails at once). Then the
//! runbook's verify checks run. When a container is not ready, a verify
//! check fails or a signal comes, every container this run touched is put
//! back, newest first: its twin removed, the set-aside container (the very
//! one, so exactly its old image and configuration) renamed back and
//! started, and the verify checks run again. Only after success are the
//! set-aside containers removed and the new images written to the
//! service's image history.

use std::time::{Duration, Instant};

use crate::deploy::lifecycle::Lifecycle;
use crate::docker::{self, Deployment, ImageRef, Snapshot};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;

use super::image_history::ImageHistory;

/// What a set-aside container is called while its twin is on trial.
const ASIDE_SUFFIX: &str = "-opsbook-previous";

/// A service to put on an image: `image` as the operator named it, or
/// `None` for the name its container runs now (the tag may have moved on).
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    pub service: String,
    pub image: Option<String>,
}

/// A service and the image it would go to, resolved before anything changes.
pub(crate) struct Planned {
    pub service: String,
    pub from: ImageRef,
    pub to: ImageRef,
    containers: Vec<Snapshot>,
}

/// What `plan` found for one wanted service.
pub(crate) enum Target {
    /// Its running containers are to go onto another image.
    Change(Planned),
    /// Every running container already runs the wanted image.
    Current { service: String, image: ImageRef },
    /// Nothing of it runs: left alone.
    Idle { service: String },
    /// A dry run with `update.pull`: the image would be pulled first.
    WouldPull {
        service: String,
        from: ImageRef,
        image: String,
    },
}

/// A container this run changed, for putting it back.
struct Touched<'p> {
    service: &'p str,
    old: &'p Snapshot,
    /// The twin, once created.
    new: Option<String>,
    set_aside: bool,
}

/// How an apply ended.
/// Steps run once every service is ready and verified, inside the
/// put-back guarantee (`update.after`): one that fails puts everything back.
#[derive(Clone, Copy)]
pub(crate) struct After<'a> {
    pub hooks: &'a dyn super::Hooks,
    pub stage: &'a str,
    pub steps: &'a [crate::runbook::model::Step],
}

pub(crate) struct Applied {
    /// One result per planned service.
    pub results: Vec<CheckResult>,
    /// The verify checks after the change (and, when put back, after that).
    pub verify: Vec<CheckResult>,
    /// Whether the change was put back.
    pub put_back: bool,
}

pub(crate) struct Updater<'a> {
    pub lifecycle: Lifecycle<'a>,
    pub runbook: &'a Runbook,
    /// Pull each image first (`update.pull`, or `update --pull`).
    pub pull: bool,
}

/// Whether the runbook pulls images before an update (`update.pull`).
pub(crate) fn pulls(runbook: &Runbook) -> bool {
    runbook.model.update.as_ref().is_some_and(|u| u.pull)
}

/// The lock `update`, `rollback` and their steps hold, so no two change a
/// project's images at once.
pub(crate) fn lock_key(runbook: &Runbook) -> String {
    format!("{}-update", runbook.data_lock_key())
}

impl Updater<'_> {
    /// How long each service may take to become ready: `update.timeout`,
    /// else `startup.timeout`.
    fn timeout(&self) -> Duration {
        self.runbook
            .model
            .update
            .as_ref()
            .and_then(|u| u.timeout)
            .map_or(self.runbook.plan.startup_timeout, |t| t.std())
    }

    fn deployment(&self) -> &Deployment {
        self.lifecycle.deployment
    }

    fn section(&self) -> &'static str {
        self.lifecycle.section
    }

    /// Resolves every wanted service to its running containers and the
    /// image it would go to, pulling first with `update.pull` (a failed
    /// pull changes nothing; a dry run pulls nothing). A service without
    /// containers, or an image not on the host, is refused before anything
    /// changes.
    pub(crate) async fn plan(
        &self,
        wanted: &[Wanted],
        dry_run: bool,
    ) -> Result<Vec<Target>, Error> {
        let pull = self.pull;
        let containers = self.deployment().list().await?;
        let order: Vec<String> = wanted.iter().map(|w| w.service.clone()).collect();
        let mut targets = Vec::new();
        for service in self.runbook.plan.start_order(&order).into_iter().flatten() {
            let Some(want) = wanted.iter().find(|w| w.service == service) else {
                continue;
            };
            if !containers.iter().any(|c| c.service == service) {
                return Err(Error::Usage(format!(
                    "`{service}` has no container to {} (`opsbook startup` creates and starts it)",
                    self.section()
                )));
            }
            // Left by an update that was killed outright (SIGKILL, a crash).
            if let Some(aside) = containers
                .iter()
                .find(|c| c.service == service && c.name.ends_with(ASIDE_SUFFIX))
            {
                return Err(Error::Usage(format!(
                    "`{}` was set aside by an earlier {} that did not finish: check which container of `{service}` should run, then remove the other (`docker rm`) and rename this one back if it is the one: nothing was changed",
                    aside.name,
                    self.section()
                )));
            }
            let mut snapshots = Vec::new();
            for container in containers
                .iter()
                .filter(|c| c.service == service && c.state == docker::State::Running)
            {
                snapshots.push(self.deployment().snapshot(&container.id).await?);
            }
            let Some(first) = snapshots.first() else {
                targets.push(Target::Idle { service });
                continue;
            };
            let name = want
                .image
                .clone()
                .unwrap_or_else(|| first.image.name.clone());
            // A rollback pulls only an image the host lacks (and one named
            // by its digest, that exact image, even without `update.pull`);
            // nothing pulls by a bare image id, which no registry serves.
            let pulls = !is_image_id(&name)
                && match self.section() {
                    "rollback" => {
                        (pull || is_digest(&name))
                            && self.deployment().image(&name).await?.is_none()
                    }
                    _ => pull,
                };
            if pulls && dry_run {
                targets.push(Target::WouldPull {
                    service,
                    from: first.image.clone(),
                    image: name,
                });
                continue;
            }
            if pulls {
                self.lifecycle
                    .progress
                    .say(format!("{service}: pulling {name}"));
                let pulled = self.deployment().pull(&name).await;
                if let Err(e) = pulled {
                    if self.section() == "rollback" && is_digest(&name) {
                        return Err(Error::Usage(format!(
                            "the image `{service}` ran before is no longer on this host and could not be pulled back by its digest: {}: nothing was changed (name one with --to IMAGE)",
                            e.lines().join("; ")
                        )));
                    }
                    return Err(e);
                }
            }
            let Some(to) = self.deployment().image(&name).await? else {
                return Err(Error::Usage(format!(
                    "image `{name}` for `{service}` is not on this host (build or pull it first, or set `update.pull: true`): nothing was changed"
                )));
            };
            if snapshots.iter().all(|s| s.image.id == to.id) {
                targets.push(Target::Current { service, image: to });
            } else {
                let from = first.image.clone();
                targets.push(Target::Change(Planned {
                    service,
                    from,
                    to,
                    containers: snapshots,
                }));
            }
        }
        Ok(targets)
    }

    /// Puts each planned service on its new image, in order, then runs the
    /// verify checks; on a failure or a signal puts everything back. The
    /// image history gets the new images only when all went well.
    pub(crate) async fn apply(
        &self,
        planned: &[Planned],
        history: &mut ImageHistory,
        after: Option<After<'_>>,
    ) -> Applied {
        for p in planned {
            history.record(&p.service, &p.from, "seen");
        }
        let mut touched: Vec<Touched> = Vec::new();
        let mut results = Vec::new();
        let mut failed: Option<String> = None;
        for p in planned {
            if self.lifecycle.interrupt.is_raised() {
                failed = Some("interrupted".to_string());
                break;
            }
            let started = Instant::now();
            let deadline = started + self.timeout();
            let mut problem = None;
            for old in &p.containers {
                if let Err(e) = self
                    .replace(&p.service, old, &p.to, deadline, &mut touched)
                    .await
                {
                    problem = Some(e);
                    break;
                }
            }
            let change = format!("{} → {}", p.from.shown(), p.to.shown());
            match problem {
                None => {
                    let took = crate::ui::human::took(started.elapsed());
                    let message = format!("{change}: ready in {took}");
                    self.lifecycle
                        .progress
                        .say(format!("{}: {message}", p.service));
                    results.push(self.result(&p.service, Status::Ok, message));
                }
                Some(e) => {
                    let message = format!("{change}: {e}");
                    self.lifecycle
                        .progress
                        .say(format!("{}: {message}", p.service));
                    results.push(self.result(&p.service, Status::Crit, message));
                    failed = Some(format!("`{}` failed", p.service));
                    break;
                }
            }
        }
        let mut verify = Vec::new();
        if failed.is_none() {
            let (checked, why) = self.verified(after).await;
            verify = checked;
            failed = why;
        }
        let Some(why) = failed else {
            self.finish(planned, &touched, history, &mut results).await;
            return Applied {
                results,
                verify,
                put_back: false,
            };
        };
        let put_back = self.put_back(&touched, &why).await;
        for result in put_back {
            // The put-back's word on a service joins its result.
            match results.iter_mut().find(|r| r.name == result.name) {
                Some(r) => {
                    r.message = format!("{}; {}", r.message, result.message);
                    r.status = Status::worst([r.status, result.status, Status::Warn]);
                }
                None => results.push(result),
            }
        }
        verify.extend(self.verify().await.into_iter().map(|mut r| {
            r.name = format!("{} (after putting back)", r.name);
            r
        }));
        results.push(self.result(
            "put back",
            Status::Crit,
            format!(
                "{why}: every service this {} touched is back on its previous image and configuration",
                self.section()
            ),
        ));
        Applied {
            results,
            verify,
            put_back: true,
        }
    }

    /// The verify checks once every service is ready, then the `after`
    /// steps: their results, and what failed when one did (or a signal).
    async fn verified(&self, after: Option<After<'_>>) -> (Vec<CheckResult>, Option<String>) {
        let mut verify = self.verify().await;
        if self.lifecycle.interrupt.is_raised() {
            return (verify, Some("interrupted".to_string()));
        }
        if verify
            .iter()
            .any(|r| matches!(r.status, Status::Crit | Status::Unknown))
        {
            return (verify, Some("a verify check failed".to_string()));
        }
        let Some(after) = after else {
            return (verify, None);
        };
        let mut ran = Report::new(
            self.section(),
            &self.runbook.display,
            jiff::Timestamp::now(),
        );
        let passed = after.hooks.run(after.stage, after.steps, &mut ran).await;
        verify.extend(ran.results);
        let failed = (!passed).then(|| format!("an {} step failed", after.stage));
        (verify, failed)
    }

    /// Replaces one running container by its twin on `image` and waits for
    /// the twin to be ready; every change is noted in `touched` first.
    async fn replace<'p>(
        &self,
        service: &'p str,
        old: &'p Snapshot,
        image: &ImageRef,
        deadline: Instant,
        touched: &mut Vec<Touched<'p>>,
    ) -> Result<(), String> {
        let deployment = self.deployment();
        touched.push(Touched {
            service,
            old,
            new: None,
            set_aside: false,
        });
        let index = touched.len() - 1;
        deployment
            .stop(&old.id, self.runbook.plan.grace)
            .await
            .map_err(|e| e.to_string())?;
        let aside = format!("{}{ASIDE_SUFFIX}", old.name);
        deployment
            .rename(&old.id, &aside)
            .await
            .map_err(|e| e.to_string())?;
        touched[index].set_aside = true;
        let new = deployment
            .create_like(old, image, &old.name)
            .await
            .map_err(|e| e.to_string())?;
        touched[index].new = Some(new.clone());
        deployment.start(&new).await.map_err(|e| e.to_string())?;
        self.lifecycle
            .gate(&new, deadline)
            .await
            .map_err(|state| format!("not ready: {state}"))
    }

    /// Undoes `touched`, newest first: the twin removed, the old container
    /// named and started again. Every step is tried, signal or not.
    async fn put_back(&self, touched: &[Touched<'_>], why: &str) -> Vec<CheckResult> {
        let deployment = self.deployment();
        let mut results: Vec<CheckResult> = Vec::new();
        for t in touched.iter().rev() {
            let mut problems = Vec::new();
            if let Some(new) = &t.new
                && let Err(e) = deployment.remove_container(new).await
            {
                problems.push(e.to_string());
            }
            if t.set_aside
                && let Err(e) = deployment.rename(&t.old.id, &t.old.name).await
            {
                problems.push(e.to_string());
            }
            if let Err(e) = deployment.start(&t.old.id).await {
                problems.push(e.to_string());
            }
            let deadline = Instant::now() + self.timeout();
            let ready = match self.lifecycle.gate(&t.old.id, deadline).await {
                Ok(()) => "ready".to_string(),
                Err(state) => {
                    problems.push(format!("not ready: {state}"));
                    String::new()
                }
            };
            let back = format!("put back on {} after {why}", t.old.image.shown());
            let result = if problems.is_empty() {
                self.result(t.service, Status::Warn, format!("{back}: {ready}"))
            } else {
                self.result(
                    t.service,
                    Status::Crit,
                    format!("{back}: {}", problems.join("; ")),
                )
            };
            self.lifecycle
                .progress
                .say(format!("{}: {}", t.service, result.message));
            // One word per service, however many of its containers.
            match results.iter_mut().find(|r| r.name == t.service) {
                Some(r) if r.status.severity() < result.status.severity() => *r = result,
                Some(_) => {}
                None => results.push(result),
            }
        }
        results
    }

    /// After success: the set-aside containers go, the new images are history.
    async fn finish(
        &self,
        planned: &[Planned],
        touched: &[Touched<'_>],
        history: &mut ImageHistory,
        results: &mut Vec<CheckResult>,
    ) {
        for t in touched {
            if let Err(e) = self.deployment().remove_container(&t.old.id).await {
                results.push(self.result(
                    t.service,
                    Status::Warn,
                    format!(
                        "the previous container `{}{ASIDE_SUFFIX}` stays: {e}",
                        t.old.name
                    ),
                ));
            }
        }
        for p in planned {
            history.record(&p.service, &p.to, self.section());
        }
    }

    /// The runbook's verify checks, now.
    async fn verify(&self) -> Vec<CheckResult> {
        match crate::check::verify_checks(self.runbook, self.deployment()).await {
            Ok(results) => results,
            Err(e) => vec![CheckResult::new(
                "verify",
                "checks",
                Status::Unknown,
                e.to_string(),
            )],
        }
    }

    fn result(&self, name: &str, status: Status, message: impl Into<String>) -> CheckResult {
        CheckResult::new(self.section(), name, status, message)
    }
}

/// The image `service` runs now (its first running container's).
async fn running_image(deployment: &Deployment, service: &str) -> Result<ImageRef, Error> {
    let containers = deployment.list().await?;
    let Some(container) = docker::running_of(&containers, service) else {
        return Err(Error::Usage(format!(
            "`{service}` is not running: there is nothing to roll back (`opsbook startup` starts it)"
        )));
    };
    Ok(deployment.snapshot(&container.id).await?.image)
}

/// How to name the image `service` ran before the one it runs now (from
/// the image history): its name while that names the same image, else its
/// id, since the tag may have moved on; refused when it is gone.
pub(crate) async fn previous(
    deployment: &Deployment,
    history: &ImageHistory,
    service: &str,
) -> Result<String, Error> {
    let current = running_image(deployment, service).await?;
    let Some(ran) = history.previous(service, &current.id) else {
        return Err(Error::Usage(format!(
            "`{service}` has no earlier image in opsbook's image history (it runs {}; `opsbook update` records each image it replaces): name one with --to IMAGE",
            current.shown()
        )));
    };
    if let Some(image) = deployment.image(&ran.image).await?
        && image.id == ran.id
    {
        return Ok(ran.image.clone());
    }
    if deployment.image(&ran.id).await?.is_some() {
        return Ok(ran.id.clone());
    }
    // Gone (an `image prune -a`): its registry digest names exactly that
    // image, and the plan pulls it back.
    if let Some(digest) = digest_of(ran) {
        return Ok(digest);
    }
    Err(Error::Usage(format!(
        "the image `{service}` ran before, {} ({}), is no longer on this host and was never pulled from a registry (no digest to pull it back by): name one with --to IMAGE",
        ran.image,
        docker::short_id(&ran.id)
    )))
}

/// The registry digest (`repo@sha256:…`) an image ran was pulled or pushed
/// by: the one of its own repository when it has several.
fn digest_of(ran: &super::image_history::Ran) -> Option<String> {
    let repository = ran
        .image
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or(ran.image.as_str(), |(repository, _)| repository);
    ran.digests
        .iter()
        .find(|d| d.split('@').next() == Some(repository))
        .or(ran.digests.first())
        .cloned()
}

/// Whether `name` names an image by its registry digest (`repo@sha256:…`).
fn is_digest(name: &str) -> bool {
    name.contains("@sha256:")
}

/// Whether `name` is an image id (`sha256:…`, or its hex, whole or short)
/// rather than a name a registry knows.
fn is_image_id(name: &str) -> bool {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    (12..=64).contains(&hex.len())
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The image of every service planned and the one each would go to, as
/// the report's JSON shows them.
pub(crate) fn describe(targets: &[Target]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = targets
        .iter()
        .map(|t| match t {
            Target::Change(p) => serde_json::json!({
                "service": p.service,
                "from": {"image": p.from.name, "id": p.from.id},
                "to": {"image": p.to.name, "id": p.to.id},
                "containers": p.containers.len(),
            }),
            Target::Current { service, image } => serde_json::json!({
                "service": service,
                "current": {"image": image.name, "id": image.id},
            }),
            Target::Idle { service } => serde_json::json!({"service": service, "idle": true}),
            Target::WouldPull {
                service,
                from,
                image,
            } => serde_json::json!({
                "service": service,
                "from": {"image": from.name, "id": from.id},
                "pull": image,
            }),
        })
        .collect();
    serde_json::Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_are_told_from_names() {
        assert!(is_image_id(
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        ));
        assert!(is_image_id("0123456789ab"));
        assert!(!is_image_id("nginx:1.27"));
        assert!(!is_image_id(
            "registry.example.com/app@sha256:0123456789abcdef"
        ));
        assert!(!is_image_id("deadbeef"));
    }

    #[test]
    fn the_digest_of_an_images_own_repository_is_taken() {
        let ran = |image: &str, digests: &[&str]| super::super::image_history::Ran {
            image: image.to_string(),
            id: "sha256:1".to_string(),
            digests: digests.iter().map(|d| d.to_string()).collect(),
            since: jiff::Timestamp::UNIX_EPOCH,
            by: "update".to_string(),
        };
        let digests = ["mirror:5000/app@sha256:aa", "127.0.0.1:5000/app@sha256:bb"];
        assert_eq!(
            digest_of(&ran("127.0.0.1:5000/app:latest", &digests)).as_deref(),
            Some("127.0.0.1:5000/app@sha256:bb")
        );
        assert_eq!(
            digest_of(&ran("other/app", &digests)).as_deref(),
            Some("mirror:5000/app@sha256:aa")
        );
        assert_eq!(digest_of(&ran("app:1", &[])), None);
    }
}
