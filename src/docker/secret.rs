//! Swarm secrets as opsbook handles them: found by name (id and labels,
//! never the value, which Swarm does not give out), created with a value
//! that goes straight to the engine, removed, and swapped in a service's
//! spec so that Swarm's rolling update gives its tasks the new one.

use std::collections::HashMap;

use bollard::query_parameters::InspectServiceOptions;

use super::{Deployment, StackService};
use crate::error::Error;

/// A Swarm secret, without its value.
#[derive(Debug, Clone)]
pub(crate) struct SwarmSecret {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
}

impl Deployment {
    /// The Swarm secret named `name`: its id and labels. Its value is never
    /// read (Swarm does not give it out).
    pub(crate) async fn secret(&self, name: &str) -> Result<Option<SwarmSecret>, Error> {
        let filters = HashMap::from([("name", vec![name.to_string()])]);
        let options = bollard::query_parameters::ListSecretsOptionsBuilder::new()
            .filters(&filters)
            .build();
        let secrets = self
            .docker
            .list_secrets(Some(options))
            .await
            .map_err(|e| self.failed("listing secrets", e))?;
        // The filter matches by prefix: the exact name only.
        Ok(secrets.into_iter().find_map(|secret| {
            let spec = secret.spec?;
            (spec.name.as_deref() == Some(name)).then(|| SwarmSecret {
                id: secret.id.unwrap_or_default(),
                name: name.to_string(),
                labels: spec.labels.unwrap_or_default(),
            })
        }))
    }

    /// Creates a Swarm secret holding `value`; its id.
    pub(crate) async fn create_secret(
        &self,
        name: &str,
        value: &[u8],
        labels: HashMap<String, String>,
    ) -> Result<String, Error> {
        use base64::Engine as _;
        let spec = bollard::models::SecretSpec {
            name: Some(name.to_string()),
            labels: Some(labels),
            data: Some(base64::engine::general_purpose::STANDARD.encode(value)),
            ..Default::default()
        };
        let created = self
            .docker
            .create_secret(spec)
            .await
            .map_err(|e| self.failed("creating a secret", e))?;
        Ok(created.id)
    }

    pub(crate) async fn remove_secret(&self, id: &str) -> Result<(), Error> {
        self.docker
            .delete_secret(id)
            .await
            .map_err(|e| self.failed("removing a secret", e))
    }

    /// Whether `service`'s tasks are given secret `id`.
    pub(crate) async fn uses_secret(
        &self,
        service: &StackService,
        id: &str,
    ) -> Result<bool, Error> {
        let current = self
            .docker
            .inspect_service(&service.id, None::<InspectServiceOptions>)
            .await
            .map_err(|e| self.failed("inspecting a service", e))?;
        Ok(current
            .spec
            .and_then(|s| s.task_template)
            .and_then(|t| t.container_spec)
            .and_then(|c| c.secrets)
            .is_some_and(|secrets| secrets.iter().any(|r| r.secret_id.as_deref() == Some(id))))
    }

    /// Gives `service`'s tasks secret `to` where they had `from`, at the
    /// same file (name, owner, mode): Swarm's rolling update makes them.
    pub(crate) async fn swap_secret(
        &self,
        service: &StackService,
        from: &str,
        to: (&str, &str),
    ) -> Result<(), Error> {
        self.change_spec(service, "giving a service a new secret", |spec| {
            let secrets = spec
                .task_template
                .as_mut()
                .and_then(|t| t.container_spec.as_mut())
                .and_then(|c| c.secrets.as_mut());
            for reference in secrets.into_iter().flatten() {
                if reference.secret_id.as_deref() == Some(from) {
                    reference.secret_id = Some(to.0.to_string());
                    reference.secret_name = Some(to.1.to_string());
                }
            }
        })
        .await
    }
}
