//! Scratch resources for a restore drill: an internal network, volumes, and
//! twins of the services' containers that touch nothing live. A twin is made
//! from its service's container as `update` makes one (same image, env,
//! command, healthcheck), then cut loose: no published ports, no restart
//! policy, no compose labels (neither compose nor opsbook counts it as the
//! project's), only the drill's network (the service's name as its alias),
//! and every mount remapped: a backed-up volume to its scratch copy, a
//! backed-up host file to its scratch copy, any other named or anonymous
//! volume left out (the twin starts it empty), any other host path mounted
//! read-only. Everything carries the drill's labels (its id, project, and
//! the pid, start time and boot of the process running it), so what a
//! killed drill left is told from a drill under way and cleaned up by the
//! next one.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::models::{
    EndpointSettings, MountType, NetworkCreateRequest, NetworkingConfig, RestartPolicy,
    RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};

use super::Deployment;
use super::recreate::{ImageRef, Snapshot};
use crate::error::Error;

/// The label on every scratch resource: the drill's id.
pub(crate) const DRILL_LABEL: &str = "opsbook.drill";

/// Where a twin's mounts go instead.
#[derive(Debug, Default)]
pub(crate) struct Remap {
    /// Live volume name → scratch volume name.
    pub volumes: HashMap<String, String>,
    /// Live host path → scratch path.
    pub paths: HashMap<PathBuf, PathBuf>,
}

/// What was removed, and what could not be.
#[derive(Debug, Default)]
pub(crate) struct Removed {
    pub containers: usize,
    pub volumes: usize,
    pub networks: usize,
    pub problems: Vec<String>,
}

/// Whose drill a scratch resource is: its project and the process running
/// it (pid, start time in clock ticks since boot, boot id), so leftovers
/// are told from a drill under way even when a pid was reused.
const PROJECT_LABEL: &str = "opsbook.drill.project";
const PID_LABEL: &str = "opsbook.drill.pid";
const STARTED_LABEL: &str = "opsbook.drill.started";
const BOOT_LABEL: &str = "opsbook.drill.boot";

/// A drill as its scratch resources' labels name it: its id, project and
/// the process that ran it. Written on every resource a drill makes, read
/// back from what is on the engine. A resource an older opsbook made has
/// no start time and no boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScratchDrill {
    pub drill: String,
    pub project: String,
    pub pid: Option<i32>,
    /// `/proc/<pid>/stat` field 22: clock ticks since boot.
    pub started: Option<u64>,
    pub boot: Option<String>,
}

impl ScratchDrill {
    fn labels(&self) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (DRILL_LABEL.to_string(), self.drill.clone()),
            (PROJECT_LABEL.to_string(), self.project.clone()),
        ]);
        let optional = [
            (PID_LABEL, self.pid.map(|p| p.to_string())),
            (STARTED_LABEL, self.started.map(|s| s.to_string())),
            (BOOT_LABEL, self.boot.clone()),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                labels.insert(key.to_string(), value);
            }
        }
        labels
    }

    fn from_labels(labels: &HashMap<String, String>) -> Option<ScratchDrill> {
        Some(ScratchDrill {
            drill: labels.get(DRILL_LABEL)?.clone(),
            project: labels.get(PROJECT_LABEL).cloned().unwrap_or_default(),
            pid: labels.get(PID_LABEL).and_then(|p| p.parse().ok()),
            started: labels.get(STARTED_LABEL).and_then(|s| s.parse().ok()),
            boot: labels.get(BOOT_LABEL).cloned(),
        })
    }
}

impl Deployment {
    /// An internal network (no way out) for drill `drill`.
    pub(crate) async fn create_scratch_network(
        &self,
        name: &str,
        drill: &ScratchDrill,
    ) -> Result<String, Error> {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            internal: Some(true),
            labels: Some(drill.labels()),
            ..Default::default()
        };
        self.docker
            .create_network(request)
            .await
            .map(|created| created.id)
            .map_err(|e| self.failed("creating the drill's network", e))
    }

    /// An empty local volume for drill `drill`.
    pub(crate) async fn create_scratch_volume(
        &self,
        name: &str,
        drill: &ScratchDrill,
    ) -> Result<(), Error> {
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(drill.labels()),
            ..Default::default()
        };
        self.docker
            .create_volume(request)
            .await
            .map(|_| ())
            .map_err(|e| self.failed("creating a drill volume", e))
    }

    /// A helper that fills scratch volume `volume` (as `volume_writer`),
    /// labelled as drill `drill`'s.
    pub(crate) async fn scratch_writer(
        &self,
        volume: &str,
        root: &str,
        image: &str,
        drill: &ScratchDrill,
    ) -> Result<String, Error> {
        self.volume_writer_labelled(volume, root, image, drill.labels())
            .await
    }

    /// Creates (does not start) the twin of `old` for `service` on
    /// `image`, on `network` only, its mounts remapped.
    pub(crate) async fn create_twin(
        &self,
        old: &Snapshot,
        image: &ImageRef,
        (name, service): (&str, &str),
        (network, drill): (&str, &ScratchDrill),
        remap: &Remap,
    ) -> Result<String, Error> {
        let (mut body, _) = old.body_for(image);
        let mut host_config = body.host_config.take().unwrap_or_default();
        host_config.port_bindings = None;
        host_config.publish_all_ports = Some(false);
        host_config.restart_policy = Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        });
        host_config.auto_remove = Some(false);
        host_config.network_mode = Some(network.to_string());
        host_config.links = None;
        host_config.volumes_from = None;
        host_config.binds = host_config.binds.map(|binds| {
            binds
                .into_iter()
                .filter_map(|bind| remap_bind(&bind, remap))
                .collect()
        });
        host_config.mounts = host_config.mounts.map(|mounts| {
            mounts
                .into_iter()
                .filter_map(|mut mount| {
                    let source = mount.source.clone().unwrap_or_default();
                    match mount.typ {
                        Some(MountType::VOLUME) => {
                            mount.source = Some(remap.volumes.get(&source)?.clone());
                        }
                        Some(MountType::BIND) => match remap.paths.get(&PathBuf::from(&source)) {
                            Some(scratch) => mount.source = Some(scratch.display().to_string()),
                            None => mount.read_only = Some(true),
                        },
                        _ => {}
                    }
                    Some(mount)
                })
                .collect()
        });
        body.host_config = Some(host_config);
        let mut labels: HashMap<String, String> = body
            .labels
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|(key, _)| !key.starts_with("com.docker.compose."))
            .collect();
        labels.extend(drill.labels());
        labels.insert(format!("{DRILL_LABEL}.service"), service.to_string());
        body.labels = Some(labels);
        body.exposed_ports = None;
        body.networking_config = Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.to_string(),
                EndpointSettings {
                    aliases: Some(vec![service.to_string(), old.name.clone()]),
                    ..Default::default()
                },
            )])),
        });
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map(|created| created.id)
            .map_err(|e| self.failed("creating a drill container", e))
    }

    /// The address of container `id` on `network`.
    pub(crate) async fn address_on(
        &self,
        id: &str,
        network: &str,
    ) -> Result<Option<String>, Error> {
        let inspect = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| self.failed("inspecting a drill container", e))?;
        Ok(inspect
            .network_settings
            .and_then(|s| s.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty()))
    }

    /// The drills whose resources are on the engine.
    pub(crate) async fn scratch_drills(&self) -> Result<Vec<ScratchDrill>, Error> {
        let found = self.find_scratch(DRILL_LABEL.to_string()).await;
        let mut labels: Vec<HashMap<String, String>> = Vec::new();
        labels.extend(found.containers?.into_iter().filter_map(|c| c.labels));
        labels.extend(found.volumes?.into_iter().map(|v| v.labels));
        labels.extend(found.networks?.into_iter().filter_map(|n| n.labels));
        let mut drills: Vec<ScratchDrill> = labels
            .iter()
            .filter_map(ScratchDrill::from_labels)
            .collect();
        drills.sort_by(|a, b| a.drill.cmp(&b.drill));
        drills.dedup_by(|a, b| a.drill == b.drill);
        Ok(drills)
    }

    /// Removes every resource of drill `drill`: containers (with their
    /// anonymous volumes), then volumes, then networks. Goes on past a
    /// failure, and says what it could not remove.
    pub(crate) async fn remove_scratch(&self, drill: &str) -> Removed {
        let found = self.find_scratch(format!("{DRILL_LABEL}={drill}")).await;
        let mut removed = Removed::default();
        let problem = |what: &str, e: &dyn std::fmt::Display| format!("cannot remove {what}: {e}");
        match found.containers {
            Ok(containers) => {
                for id in containers.into_iter().filter_map(|c| c.id) {
                    let options = RemoveContainerOptionsBuilder::new()
                        .force(true)
                        .v(true)
                        .build();
                    match self.docker.remove_container(&id, Some(options)).await {
                        Ok(()) => removed.containers += 1,
                        Err(e) => removed
                            .problems
                            .push(problem("a drill container", &crate::error::one_line(&e))),
                    }
                }
            }
            Err(e) => removed.problems.push(problem("the drill containers", &e)),
        }
        match found.volumes {
            Ok(volumes) => {
                for volume in volumes {
                    let options = RemoveVolumeOptionsBuilder::new().force(true).build();
                    match self.docker.remove_volume(&volume.name, Some(options)).await {
                        Ok(()) => removed.volumes += 1,
                        Err(e) => removed
                            .problems
                            .push(problem(&volume.name, &crate::error::one_line(&e))),
                    }
                }
            }
            Err(e) => removed.problems.push(problem("the drill volumes", &e)),
        }
        match found.networks {
            Ok(networks) => {
                for network in networks.into_iter().filter_map(|n| n.id) {
                    match self.docker.remove_network(&network).await {
                        Ok(()) => removed.networks += 1,
                        Err(e) => removed
                            .problems
                            .push(problem("the drill network", &crate::error::one_line(&e))),
                    }
                }
            }
            Err(e) => removed.problems.push(problem("the drill networks", &e)),
        }
        removed
    }

    /// The containers (running or not), volumes and networks whose labels
    /// match `label` (`key` or `key=value`), each kind listed on its own.
    async fn find_scratch(&self, label: String) -> Found {
        let filters = HashMap::from([("label".to_string(), vec![label])]);
        let containers = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| self.failed("listing drill containers", e));
        let volumes = self
            .docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map(|v| v.volumes.unwrap_or_default())
            .map_err(|e| self.failed("listing drill volumes", e));
        let networks = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| self.failed("listing drill networks", e));
        Found {
            containers,
            volumes,
            networks,
        }
    }
}

/// What `find_scratch` listed.
struct Found {
    containers: Result<Vec<bollard::models::ContainerSummary>, Error>,
    volumes: Result<Vec<bollard::models::Volume>, Error>,
    networks: Result<Vec<bollard::models::Network>, Error>,
}

/// A `source:target[:options]` bind for the twin: a volume remapped or left
/// out, a host path remapped or made read-only.
fn remap_bind(bind: &str, remap: &Remap) -> Option<String> {
    let mut parts: Vec<String> = bind.split(':').map(str::to_string).collect();
    if parts.len() < 2 {
        return None;
    }
    let source = parts[0].clone();
    if !source.starts_with('/') {
        parts[0] = remap.volumes.get(&source)?.clone();
        return Some(parts.join(":"));
    }
    match remap.paths.get(&PathBuf::from(&source)) {
        Some(scratch) => parts[0] = scratch.display().to_string(),
        None => {
            let mut options: Vec<String> = parts
                .get(2)
                .map(|o| {
                    o.split(',')
                        .filter(|o| *o != "rw" && *o != "ro")
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            options.push("ro".to_string());
            parts.truncate(2);
            parts.push(options.join(","));
        }
    }
    Some(parts.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remap() -> Remap {
        Remap {
            volumes: HashMap::from([("shop_db".to_string(), "drill-db".to_string())]),
            paths: HashMap::from([(PathBuf::from("/srv/app.conf"), PathBuf::from("/tmp/d/app"))]),
        }
    }

    #[test]
    fn backed_up_mounts_go_to_scratch_and_nothing_live_is_writable() {
        let remap = remap();
        assert_eq!(
            remap_bind("shop_db:/var/lib/db", &remap).as_deref(),
            Some("drill-db:/var/lib/db")
        );
        // A volume that is not in the backup is left out: the twin starts it empty.
        assert_eq!(remap_bind("shop_cache:/cache:rw", &remap), None);
        assert_eq!(
            remap_bind("/srv/app.conf:/etc/app.conf:ro", &remap).as_deref(),
            Some("/tmp/d/app:/etc/app.conf:ro")
        );
        assert_eq!(
            remap_bind("/srv/uploads:/uploads", &remap).as_deref(),
            Some("/srv/uploads:/uploads:ro")
        );
        assert_eq!(
            remap_bind("/srv/uploads:/uploads:rw,z", &remap).as_deref(),
            Some("/srv/uploads:/uploads:z,ro")
        );
    }
}
