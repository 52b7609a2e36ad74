//! The changes opsbook makes to a service's spec: its replicas, a forced
//! redeploy, its image, Swarm's rollback. A spec is changed the way the
//! docker CLI changes it: inspected, edited, sent back with the version it
//! was read at; a spec changed by someone else in between is read again and
//! the change made once more. The healthcheck the engine's spec holds is put
//! back before any spec is sent (bollard's model drops it).

use std::collections::HashMap;

use bollard::models::{HealthConfig, ServiceSpec, ServiceSpecModeReplicated};
use bollard::query_parameters::{InspectServiceOptions, UpdateServiceOptionsBuilder};

use super::{REPLICAS_LABEL, StackService};
use crate::docker::Deployment;
use crate::error::Error;

/// Where opsbook keeps a copy of a service's healthcheck (see
/// `keep_healthcheck`).
const HEALTHCHECK_LABEL: &str = "opsbook.healthcheck";

/// How many tries a spec change gets when others change the spec too.
const SPEC_TRIES: usize = 3;

impl Deployment {
    /// Sets a replicated service's replicas; `remember` keeps a count in
    /// its labels (`REPLICAS_LABEL`) for a later startup, `None` clears it.
    pub(crate) async fn scale(
        &self,
        service: &StackService,
        replicas: u64,
        remember: Option<u64>,
    ) -> Result<(), Error> {
        self.change_spec(service, "scaling a service", |spec| {
            let replicas = i64::try_from(replicas).unwrap_or(i64::MAX);
            let mode = spec.mode.get_or_insert_with(Default::default);
            mode.replicated = Some(ServiceSpecModeReplicated {
                replicas: Some(replicas),
            });
            let labels = spec.labels.get_or_insert_with(HashMap::new);
            match remember {
                Some(n) => labels.insert(REPLICAS_LABEL.to_string(), n.to_string()),
                None => labels.remove(REPLICAS_LABEL),
            };
        })
        .await
    }

    /// Makes Swarm redeploy every task of `service` with its own update
    /// settings (order, parallelism, health gate), as
    /// `docker service update --force` does.
    pub(crate) async fn force_update(&self, service: &StackService) -> Result<(), Error> {
        self.change_spec(service, "redeploying a service", |spec| {
            let template = spec.task_template.get_or_insert_with(Default::default);
            template.force_update = Some(template.force_update.unwrap_or(0).wrapping_add(1));
        })
        .await
    }

    /// Puts `service` on `image` with Swarm's rolling update (its own
    /// `update_config`); without an image, on whatever its image name
    /// points to on each node now (a forced update, so every task is made
    /// again and the name resolved again).
    pub(crate) async fn set_image(
        &self,
        service: &StackService,
        image: Option<&str>,
    ) -> Result<(), Error> {
        self.change_spec(service, "updating a service", |spec| {
            let template = spec.task_template.get_or_insert_with(Default::default);
            match image {
                Some(image) => {
                    let container = template.container_spec.get_or_insert_with(Default::default);
                    container.image = Some(image.to_string());
                }
                None => {
                    template.force_update =
                        Some(template.force_update.unwrap_or(0).wrapping_add(1));
                }
            }
        })
        .await
    }

    /// Swarm's own rollback to the spec the service had before its last
    /// update (`docker service rollback`), rolled with its
    /// `rollback_config`.
    pub(crate) async fn roll_back(&self, service: &StackService) -> Result<(), Error> {
        self.send_spec(service, "rolling a service back", |_| {}, Some("previous"))
            .await
    }

    /// Reads the service's spec, edits it and sends it back at the version
    /// it was read at, reading again if it changed in between.
    pub(in crate::docker) async fn change_spec(
        &self,
        service: &StackService,
        action: &str,
        edit: impl Fn(&mut ServiceSpec),
    ) -> Result<(), Error> {
        self.send_spec(service, action, edit, None).await
    }

    /// Puts back the healthcheck a read spec lost. bollard's model names
    /// the field `HealthCheck` where the engine writes `Healthcheck`, so a
    /// spec read through it has none, and sent back as read it would drop
    /// the service's healthcheck (the engine reads either spelling). It is
    /// read instead from the container of the service's latest task (here
    /// or on its node: the spec's healthcheck, or the image's, which runs
    /// the same), else from the copy opsbook keeps in the service's label
    /// `HEALTHCHECK_LABEL` for when no task is left (scaled to zero), and
    /// that copy is kept up to date.
    async fn keep_healthcheck(&self, service: &StackService, spec: &mut ServiceSpec) {
        let kept = spec
            .labels
            .as_ref()
            .and_then(|l| l.get(HEALTHCHECK_LABEL))
            .and_then(|json| serde_json::from_str::<HealthConfig>(json).ok());
        let Some(container_spec) = spec
            .task_template
            .as_mut()
            .and_then(|t| t.container_spec.as_mut())
        else {
            return;
        };
        if container_spec.health_check.is_none() {
            container_spec.health_check = match self.task_healthcheck(service).await {
                Some(found) => Some(found),
                None => kept,
            };
        }
        let Some(json) = container_spec
            .health_check
            .as_ref()
            .and_then(|h| serde_json::to_string(h).ok())
        else {
            return;
        };
        spec.labels
            .get_or_insert_with(HashMap::new)
            .insert(HEALTHCHECK_LABEL.to_string(), json);
    }

    /// The healthcheck of the container of the service's latest task that
    /// is still there, here or on its node.
    async fn task_healthcheck(&self, service: &StackService) -> Option<HealthConfig> {
        let mut tasks = self.stack_tasks(std::slice::from_ref(service)).await.ok()?;
        tasks.sort_by_key(|t| std::cmp::Reverse(t.at));
        for task in tasks {
            let Some(id) = &task.container_id else {
                continue;
            };
            let inspected = match self.docker.inspect_container(id, None).await {
                Ok(inspected) => Some(inspected),
                Err(_) => match self.on_node(&task.node).await {
                    Ok(node) => node.docker.inspect_container(id, None).await.ok(),
                    Err(_) => None,
                },
            };
            if let Some(inspected) = inspected {
                return inspected.config.and_then(|c| c.healthcheck);
            }
        }
        None
    }

    async fn send_spec(
        &self,
        service: &StackService,
        action: &str,
        edit: impl Fn(&mut ServiceSpec),
        rollback: Option<&str>,
    ) -> Result<(), Error> {
        let mut tries = 0;
        loop {
            tries += 1;
            let current = self
                .docker
                .inspect_service(&service.id, None::<InspectServiceOptions>)
                .await
                .map_err(|e| self.failed(action, e))?;
            let version = current.version.and_then(|v| v.index).unwrap_or(0);
            let mut spec = current.spec.unwrap_or_default();
            if rollback.is_none() {
                self.keep_healthcheck(service, &mut spec).await;
            }
            edit(&mut spec);
            let mut options = UpdateServiceOptionsBuilder::new()
                .version(i32::try_from(version).unwrap_or(i32::MAX));
            if let Some(rollback) = rollback {
                options = options.rollback(rollback);
            }
            let options = options.build();
            match self
                .docker
                .update_service(&service.id, spec, options, None)
                .await
            {
                Ok(_) => return Ok(()),
                // "update out of sequence": someone else changed it first.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 500,
                    message,
                }) if message.contains("out of sequence") && tries < SPEC_TRIES => {}
                Err(e) => return Err(self.failed(action, e)),
            }
        }
    }
}
