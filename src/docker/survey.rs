//! What `opsbook init` reads of a running deployment: which compose
//! projects and Swarm stacks run on the engine, and of each service's
//! container its image, command, processes, healthcheck, published ports,
//! mounts, labels and the names of its environment variables (never their
//! values).

use std::collections::{BTreeMap, HashMap};

use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::ListContainersOptionsBuilder;
use futures_util::future::join_all;

use super::labels::{PROJECT_LABEL, STACK_LABEL, VOLUME_LABEL};
use super::{ContainerRef, Deployment, State};
use crate::error::Error;

/// A compose project or Swarm stack with running containers on the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Running {
    pub name: String,
    /// A Swarm stack's (`com.docker.stack.namespace`), not compose's.
    pub stack: bool,
    /// Its running containers.
    pub containers: usize,
}

/// One service, as its first running container shows it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Surveyed {
    pub service: String,
    pub image: String,
    /// The entrypoint and the command, as one argv.
    pub command: Vec<String>,
    /// The command lines of the processes running in it (`docker top`).
    pub processes: Vec<String>,
    /// The names of its environment variables, in order.
    pub env_names: Vec<String>,
    /// Its healthcheck's test (`["CMD-SHELL", "pg_isready"]`), when it has one.
    pub healthcheck: Option<Vec<String>>,
    pub ports: Vec<Published>,
    pub mounts: Vec<Mounted>,
    pub labels: HashMap<String, String>,
}

/// A container port published on the engine's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Published {
    /// The address it is bound to (`0.0.0.0`, `127.0.0.1`, `::`).
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

/// A volume or a bind mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mounted {
    Volume {
        /// The engine's name for it (`shop_pgdata`).
        name: String,
        /// Its compose name within the project (`pgdata`), when it has one.
        compose_name: Option<String>,
        destination: String,
    },
    Bind {
        source: String,
        destination: String,
    },
}

impl Deployment {
    /// The compose projects and Swarm stacks with running containers, by name.
    pub(crate) async fn running_projects(&self) -> Result<Vec<Running>, Error> {
        let mut found: BTreeMap<(bool, String), usize> = BTreeMap::new();
        for (label, stack) in [(PROJECT_LABEL, false), (STACK_LABEL, true)] {
            let filters = HashMap::from([
                ("label".to_string(), vec![label.to_string()]),
                ("status".to_string(), vec!["running".to_string()]),
            ]);
            let options = ListContainersOptionsBuilder::new()
                .filters(&filters)
                .build();
            let summaries = self
                .docker
                .list_containers(Some(options))
                .await
                .map_err(|e| self.failed("listing containers", e))?;
            for summary in summaries {
                if let Some(name) = summary.labels.as_ref().and_then(|l| l.get(label)) {
                    *found.entry((stack, name.clone())).or_default() += 1;
                }
            }
        }
        Ok(found
            .into_iter()
            .map(|((stack, name), containers)| Running {
                name,
                stack,
                containers,
            })
            .collect())
    }

    /// Each service of the project, as its first running container (else
    /// its first container) shows it, in service order.
    pub(crate) async fn survey(&self) -> Result<Vec<Surveyed>, Error> {
        let refs = self.list().await?;
        let mut chosen: BTreeMap<&str, &ContainerRef> = BTreeMap::new();
        for r in &refs {
            let better = chosen
                .get(r.service.as_str())
                .is_none_or(|c| c.state != State::Running && r.state == State::Running);
            if better && !r.service.is_empty() && r.node.is_none() {
                chosen.insert(&r.service, r);
            }
        }
        let surveys = join_all(chosen.values().map(|r| self.survey_one(r))).await;
        surveys.into_iter().collect()
    }

    async fn survey_one(&self, container: &ContainerRef) -> Result<Surveyed, Error> {
        let inspect = self
            .docker
            .inspect_container(&container.id, None)
            .await
            .map_err(|e| self.failed("inspecting a container", e))?;
        let processes = if container.state == State::Running {
            self.processes(&container.id).await
        } else {
            Vec::new()
        };
        let mut surveyed = surveyed_from(inspect);
        surveyed.service = container.service.clone();
        surveyed.processes = processes;
        for mount in &mut surveyed.mounts {
            if let Mounted::Volume {
                name, compose_name, ..
            } = mount
            {
                *compose_name = self.compose_volume_name(name).await;
            }
        }
        Ok(surveyed)
    }

    /// The command lines `docker top` shows (none when it cannot say).
    async fn processes(&self, id: &str) -> Vec<String> {
        let Ok(top) = self.docker.top_processes(id, None).await else {
            return Vec::new();
        };
        let titles = top.titles.unwrap_or_default();
        let Some(column) = titles.iter().position(|t| t == "CMD" || t == "COMMAND") else {
            return Vec::new();
        };
        top.processes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut row| (column < row.len()).then(|| row.swap_remove(column)))
            .collect()
    }

    /// A volume's compose name, when it is one of this project's.
    async fn compose_volume_name(&self, name: &str) -> Option<String> {
        let volume = self.docker.inspect_volume(name).await.ok()?;
        let labels = volume.labels;
        let project = self.project.as_deref()?;
        let of_project = labels.get(PROJECT_LABEL).map(String::as_str) == Some(project)
            || labels.get(STACK_LABEL).map(String::as_str) == Some(project);
        if of_project {
            labels.get(VOLUME_LABEL).cloned()
        } else {
            None
        }
    }
}

fn surveyed_from(inspect: ContainerInspectResponse) -> Surveyed {
    let config = inspect.config.unwrap_or_default();
    let mut command = config.entrypoint.unwrap_or_default();
    command.extend(config.cmd.unwrap_or_default());
    let env_names = config
        .env
        .unwrap_or_default()
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map_or(pair.as_str(), |(n, _)| n)
                .to_string()
        })
        .collect();
    let healthcheck = config
        .healthcheck
        .and_then(|h| h.test)
        .filter(|test| !test.is_empty() && test[0] != "NONE");
    let mut ports: Vec<Published> = inspect
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(port, bindings)| {
            let (number, protocol) = port.split_once('/').unwrap_or((&port, "tcp"));
            let container_port: u16 = number.parse().ok()?;
            (protocol == "tcp").then_some((container_port, bindings?))
        })
        .flat_map(|(container_port, bindings)| {
            bindings.into_iter().filter_map(move |b| {
                Some(Published {
                    host_ip: b.host_ip.unwrap_or_default(),
                    host_port: b.host_port?.parse().ok()?,
                    container_port,
                })
            })
        })
        .collect();
    ports.sort_by_key(|p| (p.host_port, p.host_ip.clone()));
    // Docker publishes a port on 0.0.0.0 and on :: alike: one is enough.
    ports.dedup_by_key(|p| p.host_port);
    let mut mounts: Vec<Mounted> = inspect
        .mounts
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| {
            let destination = m.destination?;
            match m.typ?.as_str() {
                "volume" => Some(Mounted::Volume {
                    name: m.name?,
                    compose_name: None,
                    destination,
                }),
                "bind" => Some(Mounted::Bind {
                    source: m.source?,
                    destination,
                }),
                _ => None,
            }
        })
        .collect();
    mounts.sort_by(|a, b| destination(a).cmp(destination(b)));
    Surveyed {
        image: config.image.unwrap_or_default(),
        command,
        env_names,
        healthcheck,
        ports,
        mounts,
        labels: config.labels.unwrap_or_default(),
        ..Surveyed::default()
    }
}

fn destination(mount: &Mounted) -> &str {
    match mount {
        Mounted::Volume { destination, .. } | Mounted::Bind { destination, .. } => destination,
    }
}
