//! Recreating a container on another image with everything else of its
//! configuration kept (env, mounts, networks and aliases, ports, labels,
//! restart policy, healthcheck): what `update` and `rollback` do to a
//! service, and what a compose container needs to stay one service.
//!
//! What the old container got from its old image (env, command, entrypoint,
//! labels, exposed ports, healthcheck, working dir, user) is left out, so the
//! new image's own defaults apply: a new image that changes its `PATH` or its
//! `CMD` gets it. Only what was set on the container itself is carried over.
//! Anonymous volumes of the old container are mounted into the new one by
//! name, as compose does, so their data stays.

use std::collections::{HashMap, HashSet};

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, ImageConfig,
    NetworkConnectRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::Deployment;
use crate::error::Error;

/// Compose v2 records the image a container was made from; kept true.
const COMPOSE_IMAGE_LABEL: &str = "com.docker.compose.image";

/// A network and how to join it.
type Endpoint = (String, EndpointSettings);

/// An image on the engine's host: the name it was asked by, and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    /// As the operator or the compose file wrote it (`nutri:latest`).
    pub name: String,
    /// `sha256:…`
    pub id: String,
    /// Registry digests (`repo@sha256:…`), when the image came from one.
    pub digests: Vec<String>,
}

impl ImageRef {
    /// `nutri:2 (sha256:1a2b3c4d5e6f)`
    pub(crate) fn shown(&self) -> String {
        format!("{} ({})", self.name, short_id(&self.id))
    }
}

/// The first 12 hex digits of an id, as `docker ps` shows it.
pub(crate) fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

/// One container as it was created: enough to make its twin on another
/// image, and to say what it ran.
pub(crate) struct Snapshot {
    pub id: String,
    pub name: String,
    pub image: ImageRef,
    inspect: ContainerInspectResponse,
    image_config: ImageConfig,
}

impl Deployment {
    /// The image `name` names on this host now, or `None` when it is not here.
    pub(crate) async fn image(&self, name: &str) -> Result<Option<ImageRef>, Error> {
        match self.docker.inspect_image(name).await {
            Ok(image) => Ok(Some(ImageRef {
                name: name.to_string(),
                id: image.id.unwrap_or_default(),
                digests: image.repo_digests.unwrap_or_default(),
            })),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.failed("inspecting an image", e)),
        }
    }

    /// Pulls `name` from its registry, streaming the engine's progress to
    /// nothing; the engine's last error is the error.
    pub(crate) async fn pull(&self, name: &str) -> Result<(), Error> {
        let options = CreateImageOptionsBuilder::new().from_image(name).build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                return Err(self.failed(&format!("pulling `{name}`"), e));
            }
        }
        Ok(())
    }

    /// What `id` runs and how it was created.
    pub(crate) async fn snapshot(&self, id: &str) -> Result<Snapshot, Error> {
        let inspect = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| self.failed("inspecting a container", e))?;
        let image_id = inspect.image.clone().unwrap_or_default();
        let name = inspect
            .name
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string();
        let asked = inspect
            .config
            .as_ref()
            .and_then(|c| c.image.clone())
            .unwrap_or_else(|| image_id.clone());
        // The old image may be gone (pruned): then nothing counts as its
        // default, and everything the container has is carried over.
        let (image_config, digests) = match self.docker.inspect_image(&image_id).await {
            Ok(image) => (
                image.config.unwrap_or_default(),
                image.repo_digests.unwrap_or_default(),
            ),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => (ImageConfig::default(), Vec::new()),
            Err(e) => return Err(self.failed("inspecting an image", e)),
        };
        Ok(Snapshot {
            id: inspect.id.clone().unwrap_or_else(|| id.to_string()),
            name,
            image: ImageRef {
                name: asked,
                id: image_id,
                digests,
            },
            inspect,
            image_config,
        })
    }

    /// Creates (does not start) a container named `name` like `old` but on
    /// `image`, joined to every network `old` was on with the same aliases.
    /// A half-made container is removed again.
    pub(crate) async fn create_like(
        &self,
        old: &Snapshot,
        image: &ImageRef,
        name: &str,
    ) -> Result<String, Error> {
        let (body, more_networks) = old.body_for(image);
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| self.failed("creating a container", e))?;
        for (network, endpoint) in more_networks {
            let request = NetworkConnectRequest {
                container: created.id.clone(),
                endpoint_config: Some(endpoint),
            };
            if let Err(e) = self.docker.connect_network(&network, request).await {
                let _ = self.remove_container(&created.id).await;
                return Err(self.failed(&format!("joining network `{network}`"), e));
            }
        }
        Ok(created.id)
    }

    /// Renames a container (`docker rename`).
    pub(crate) async fn rename(&self, id: &str, name: &str) -> Result<(), Error> {
        let options = RenameContainerOptionsBuilder::new().name(name).build();
        self.docker
            .rename_container(id, options)
            .await
            .map_err(|e| self.failed("renaming a container", e))
    }

    /// Removes a container, running or not, keeping its volumes (an
    /// anonymous volume may now be the new container's).
    pub(crate) async fn remove_container(&self, id: &str) -> Result<(), Error> {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(self.failed("removing a container", e)),
        }
    }
}

impl Snapshot {
    /// Whether the container mounts the volume named `volume`.
    pub(crate) fn mounts_volume(&self, volume: &str) -> bool {
        self.inspect
            .mounts
            .iter()
            .flatten()
            .any(|m| m.name.as_deref() == Some(volume))
    }

    /// The create body for the twin on `image`, and the networks to join
    /// after creating it (an engine before API 1.44 takes one at create).
    pub(super) fn body_for(&self, image: &ImageRef) -> (ContainerCreateBody, Vec<Endpoint>) {
        let config = self.inspect.config.clone().unwrap_or_default();
        let defaults = &self.image_config;
        let mut host_config = self.inspect.host_config.clone().unwrap_or_default();
        let anonymous = self.anonymous_volumes(&host_config);
        if !anonymous.is_empty() {
            host_config
                .binds
                .get_or_insert_with(Vec::new)
                .extend(anonymous);
        }

        let mut labels = without_defaults_map(config.labels, defaults.labels.as_ref());
        if let Some(labels) = labels.as_mut()
            && labels.contains_key(COMPOSE_IMAGE_LABEL)
        {
            labels.insert(COMPOSE_IMAGE_LABEL.to_string(), image.id.clone());
        }
        // Docker names a container's host after its short id unless told.
        let hostname = config
            .hostname
            .filter(|h| !self.id.starts_with(h.as_str()) || h.len() < 12);

        let (first, more) = self.networks(host_config.network_mode.as_deref());
        let body = ContainerCreateBody {
            hostname,
            domainname: config.domainname.filter(|d| !d.is_empty()),
            user: unless_default(config.user, defaults.user.as_ref()),
            attach_stdin: config.attach_stdin,
            attach_stdout: config.attach_stdout,
            attach_stderr: config.attach_stderr,
            exposed_ports: without_defaults(config.exposed_ports, defaults.exposed_ports.as_ref()),
            tty: config.tty,
            open_stdin: config.open_stdin,
            stdin_once: config.stdin_once,
            env: without_defaults(config.env, defaults.env.as_ref()),
            cmd: unless_default(config.cmd, defaults.cmd.as_ref()),
            healthcheck: unless_default(config.healthcheck, defaults.healthcheck.as_ref()),
            image: Some(image.name.clone()),
            volumes: without_defaults(config.volumes, defaults.volumes.as_ref()),
            working_dir: unless_default(config.working_dir, defaults.working_dir.as_ref()),
            entrypoint: unless_default(config.entrypoint, defaults.entrypoint.as_ref()),
            network_disabled: config.network_disabled,
            labels,
            stop_signal: unless_default(config.stop_signal, defaults.stop_signal.as_ref()),
            stop_timeout: config.stop_timeout,
            shell: unless_default(config.shell, defaults.shell.as_ref()),
            host_config: Some(host_config),
            networking_config: first.map(|(network, endpoint)| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(network, endpoint)])),
            }),
            ..Default::default()
        };
        (body, more)
    }

    /// `name:destination` binds for the old container's anonymous volumes
    /// (an image's `VOLUME` nobody named), so the twin keeps their data.
    fn anonymous_volumes(&self, host_config: &bollard::models::HostConfig) -> Vec<String> {
        let mut taken: HashSet<String> = HashSet::new();
        for bind in host_config.binds.iter().flatten() {
            if let Some(target) = bind.split(':').nth(1) {
                taken.insert(target.to_string());
            }
        }
        for mount in host_config.mounts.iter().flatten() {
            if let Some(target) = &mount.target {
                taken.insert(target.clone());
            }
        }
        self.inspect
            .mounts
            .iter()
            .flatten()
            .filter(|m| m.typ.as_deref() == Some("volume"))
            .filter_map(|m| Some((m.name.clone()?, m.destination.clone()?)))
            .filter(|(_, destination)| !taken.contains(destination))
            .map(|(name, destination)| format!("{name}:{destination}"))
            .collect()
    }

    /// The network to create the twin on (its network mode's, else any)
    /// and the others to join after, each with the old endpoint's aliases,
    /// links and fixed addresses, without what the engine assigned.
    fn networks(&self, mode: Option<&str>) -> (Option<Endpoint>, Vec<Endpoint>) {
        let networks = self
            .inspect
            .network_settings
            .as_ref()
            .and_then(|s| s.networks.clone())
            .unwrap_or_default();
        let mut endpoints: Vec<Endpoint> = networks
            .into_iter()
            .map(|(network, old)| {
                let aliases: Vec<String> = old
                    .aliases
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|a| !self.id.starts_with(a.as_str()))
                    .collect();
                let endpoint = EndpointSettings {
                    ipam_config: old.ipam_config,
                    links: old.links,
                    aliases: (!aliases.is_empty()).then_some(aliases),
                    driver_opts: old.driver_opts,
                    ..Default::default()
                };
                (network, endpoint)
            })
            .collect();
        endpoints.sort_by(|a, b| a.0.cmp(&b.0));
        let position = endpoints
            .iter()
            .position(|(network, _)| Some(network.as_str()) == mode)
            .or(if endpoints.is_empty() { None } else { Some(0) });
        match position {
            Some(i) => {
                let first = endpoints.remove(i);
                (Some(first), endpoints)
            }
            None => (None, endpoints),
        }
    }
}

/// `value`, unless it is what the old image gave (then the new image's applies).
fn unless_default<T: PartialEq>(value: Option<T>, default: Option<&T>) -> Option<T> {
    match (value, default) {
        (Some(value), Some(default)) if value == *default => None,
        (value, _) => value,
    }
}

/// The entries of `values` the old image did not give.
fn without_defaults(
    values: Option<Vec<String>>,
    defaults: Option<&Vec<String>>,
) -> Option<Vec<String>> {
    let defaults: HashSet<&String> = defaults.into_iter().flatten().collect();
    let kept: Vec<String> = values
        .into_iter()
        .flatten()
        .filter(|v| !defaults.contains(v))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// The labels the old image did not give (or gave with another value).
fn without_defaults_map(
    values: Option<HashMap<String, String>>,
    defaults: Option<&HashMap<String, String>>,
) -> Option<HashMap<String, String>> {
    let kept: HashMap<String, String> = values
        .into_iter()
        .flatten()
        .filter(|(k, v)| defaults.and_then(|d| d.get(k)) != Some(v))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn the_old_images_env_is_left_to_the_new_image() {
        let container = strings(&["PATH=/usr/bin", "DB_URL=postgres://db", "MODE=prod"]);
        let image = strings(&["PATH=/usr/bin", "MODE=dev"]).unwrap_or_default();
        assert_eq!(
            without_defaults(container, Some(&image)),
            strings(&["DB_URL=postgres://db", "MODE=prod"])
        );
        assert_eq!(
            without_defaults(strings(&["PATH=/usr/bin"]), Some(&image)),
            None
        );
    }

    #[test]
    fn a_command_set_on_the_container_is_kept_and_the_images_own_is_not() {
        let image_cmd = vec!["serve".to_string()];
        assert_eq!(unless_default(strings(&["serve"]), Some(&image_cmd)), None);
        assert_eq!(
            unless_default(strings(&["serve", "--debug"]), Some(&image_cmd)),
            strings(&["serve", "--debug"])
        );
        assert_eq!(unless_default(strings(&["x"]), None), strings(&["x"]));
    }

    #[test]
    fn labels_the_image_gave_are_dropped_and_changed_ones_kept() {
        let container = HashMap::from([
            ("maintainer".to_string(), "image".to_string()),
            ("version".to_string(), "overridden".to_string()),
            ("com.docker.compose.service".to_string(), "api".to_string()),
        ]);
        let image = HashMap::from([
            ("maintainer".to_string(), "image".to_string()),
            ("version".to_string(), "1".to_string()),
        ]);
        let kept = without_defaults_map(Some(container), Some(&image)).unwrap_or_default();
        let mut keys: Vec<&String> = kept.keys().collect();
        keys.sort();
        assert_eq!(keys, ["com.docker.compose.service", "version"]);
    }

    #[test]
    fn short_ids_are_twelve_hex_digits() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }
}
