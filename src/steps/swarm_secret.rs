//! A `rotate_secret` step: a new version of a Swarm secret (Swarm secrets
//! cannot change, so a new secret, named after the old one with the time),
//! holding a new random value that is never shown, read back or recorded;
//! then every service of the stack that is given the old one is given the
//! new one at the same file, by Swarm's rolling update, waited for. When a
//! service does not converge, Swarm rolls each changed service back to the
//! old secret and the new one is removed. The old secret is kept: a
//! `docker stack deploy` of the stack file still names it.

use std::collections::HashMap;
use std::time::Instant;

use crate::deploy;
use crate::deploy::converge::{self, Outcome};
use crate::deploy::rolling::SwarmUpdate;
use crate::docker::Deployment;
use crate::docker::{Stack, StackService, SwarmSecret};
use crate::grade::{CheckResult, Status};
use crate::runbook::model::{RotateEncoding, RotateSecret};

use super::engine::Engine;
use super::rotate;

/// The label a new version carries: the secret it replaces.
const ROTATED_FROM_LABEL: &str = "opsbook.rotated-from";

impl Engine<'_> {
    pub(super) async fn rotate_secret(&self, step: &RotateSecret) -> (Status, String) {
        let runbook = self.setup.runbook;
        let Some(project) = runbook.plan.project.clone() else {
            return (
                Status::Crit,
                "rotate_secret needs `project`: the stack's name".into(),
            );
        };
        let deployment = match Deployment::connect(Some(project.clone())).await {
            Ok(deployment) => deploy::into_stack(deployment),
            Err(e) => return (Status::Unknown, e.to_string()),
        };
        match rotated(self, &deployment, step, &project).await {
            Ok(message) => (Status::Ok, message),
            Err(message) => (Status::Crit, message),
        }
    }
}

async fn rotated(
    engine: &Engine<'_>,
    deployment: &Deployment,
    step: &RotateSecret,
    project: &str,
) -> Result<String, String> {
    let old = old_secret(deployment, &step.secret.value, project).await?;
    let users = users_of(deployment, &old.id).await?;
    let bytes = step
        .bytes
        .as_ref()
        .map_or(rotate::DEFAULT_BYTES, |b| b.value);
    let encoding = step.encoding.unwrap_or(RotateEncoding::Base64url);
    let (name, new_id) = new_version(deployment, &old, bytes, encoding).await?;
    let changed = give(engine, deployment, &users, &old, (&new_id, &name)).await?;
    let deadline = Instant::now() + engine.setup.runbook.plan.startup_timeout;
    let outcomes = converge::wait(deployment, &changed, deadline, &engine.interrupt).await;
    let failed = not_converged(&outcomes);
    if !failed.is_empty() {
        let back = undo(engine, deployment, &changed, &new_id).await;
        return Err(format!(
            "secret `{}`: {}; {back}",
            old.name,
            failed.join("; ")
        ));
    }
    let given = if changed.is_empty() {
        "no service of the stack uses it".to_string()
    } else {
        format!("given to {} by Swarm's rolling update", changed.join(", "))
    };
    Ok(format!(
        "secret `{}` → `{name}`: a new {bytes}-byte value (never shown), {given}; `{}` is kept (a `docker stack deploy` of the stack file names it: point the file at `{name}`, then `docker secret rm {}`)",
        old.name, old.name, old.name
    ))
}

/// The secret to rotate: `written` as the stack file names it
/// (`PROJECT_written`), else by its full name.
async fn old_secret(
    deployment: &Deployment,
    written: &str,
    project: &str,
) -> Result<SwarmSecret, String> {
    // As the stack file names it (`db_password`), or by its full name.
    let stacked = format!("{project}_{written}");
    let old = match deployment
        .secret(&stacked)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(secret) => secret,
        None => deployment
            .secret(written)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no Swarm secret `{stacked}` or `{written}`"))?,
    };
    Ok(old)
}

/// The services of the stack that are given the secret `id`.
async fn users_of(deployment: &Deployment, id: &str) -> Result<Vec<StackService>, String> {
    let stack = Stack::read(deployment).await.map_err(|e| e.to_string())?;
    let mut users = Vec::new();
    for service in &stack.services {
        if deployment
            .uses_secret(service, id)
            .await
            .map_err(|e| e.to_string())?
        {
            users.push(service.clone());
        }
    }
    Ok(users)
}

/// A new version of `old` holding a new random value of `bytes` bytes,
/// which goes straight to the engine and is dropped: its name and id.
async fn new_version(
    deployment: &Deployment,
    old: &SwarmSecret,
    bytes: u32,
    encoding: RotateEncoding,
) -> Result<(String, String), String> {
    let value =
        rotate::random_value(bytes, encoding).map_err(|e| format!("no random bytes: {e}"))?;
    // `shop_db_password` → `shop_db_password-20261203T135501`, the
    // stamp of an earlier rotation replaced.
    let base = old
        .labels
        .get(ROTATED_FROM_LABEL)
        .cloned()
        .unwrap_or_else(|| old.name.clone());
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S").to_string();
    let name = format!("{base}-{stamp}");
    let mut labels: HashMap<String, String> = old.labels.clone();
    labels.insert(ROTATED_FROM_LABEL.into(), base.clone());
    let new_id = deployment
        .create_secret(&name, value.as_bytes(), labels)
        .await
        .map_err(|e| e.to_string())?;
    drop(value);
    Ok((name, new_id))
}

/// Each of `users` given the new secret (`new`: its id and name) instead
/// of `old`: the services changed. When one fails, those changed are put
/// back and the new secret removed.
async fn give(
    engine: &Engine<'_>,
    deployment: &Deployment,
    users: &[StackService],
    old: &SwarmSecret,
    (new_id, name): (&str, &str),
) -> Result<Vec<String>, String> {
    let mut changed = Vec::new();
    for service in users {
        engine
            .setup
            .progress
            .say(format!("{}: secret {} → {name}", service.service, old.name));
        match deployment
            .swap_secret(service, &old.id, (new_id, name))
            .await
        {
            Ok(()) => changed.push(service.service.clone()),
            Err(e) => {
                let back = undo(engine, deployment, &changed, new_id).await;
                return Err(format!(
                    "secret `{}`: giving it to {} failed: {e}; {back}",
                    old.name, service.service
                ));
            }
        }
    }
    Ok(changed)
}

/// What did not converge of the services given the new secret.
fn not_converged(outcomes: &[(String, Outcome)]) -> Vec<String> {
    outcomes
        .iter()
        .filter_map(|(name, outcome)| match outcome {
            Outcome::Converged { .. } => None,
            Outcome::GivenUp { standing }
            | Outcome::TimedOut { standing }
            | Outcome::Interrupted { standing } => Some(format!(
                "{name} did not converge ({}{})",
                standing.summary(),
                standing
                    .given_up
                    .as_ref()
                    .map(|g| format!("; {g}"))
                    .unwrap_or_default()
            )),
            Outcome::Unseen { why } => Some(format!("{name}: {why}")),
        })
        .collect()
}

/// Swarm's rollback of the services given the new secret, then the new
/// secret removed; what came of it.
async fn undo(
    engine: &Engine<'_>,
    deployment: &Deployment,
    changed: &[String],
    new_id: &str,
) -> String {
    let updater = SwarmUpdate {
        deployment,
        progress: engine.setup.progress,
        interrupt: engine.interrupt.clone(),
        section: "rotate_secret",
    };
    let results: Vec<CheckResult> = if changed.is_empty() {
        Vec::new()
    } else {
        updater
            .roll_back_all(&engine.setup.runbook.plan, changed)
            .await
    };
    let back = results.iter().all(|r| r.status == Status::Ok);
    let removed = deployment.remove_secret(new_id).await;
    match (back, removed) {
        (true, Ok(())) => {
            "the services are back on the old secret and the new one is removed".into()
        }
        (true, Err(e)) => {
            format!("the services are back on the old secret; the new one was not removed: {e}")
        }
        (false, _) => {
            let why: Vec<String> = results
                .iter()
                .filter(|r| r.status != Status::Ok)
                .map(|r| format!("{}: {}", r.name, r.message))
                .collect();
            format!("putting the services back failed: {}", why.join("; "))
        }
    }
}
