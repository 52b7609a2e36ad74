//! The resolved plan of a runbook: what `validate` prints and what the
//! commands work from. Defaults are filled in here, once, so no command has
//! to know what an absent key means.

use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;

use crate::grade::Limits;

use super::model::{ContainerLimits, HostPercentLimits, Model, PercentLimits, RateLimits};
use super::order;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Plan {
    /// `None`: every compose project on the host.
    pub project: Option<String>,
    /// `compose`, `swarm`, or `auto` (decided against the engine).
    pub mode: super::model::Mode,
    /// Services in startup tiers; a tier's services start together.
    pub startup: Vec<Vec<String>>,
    pub shutdown: Vec<Vec<String>>,
    /// What each listed service depends on.
    #[serde(skip)]
    pub depends_on: IndexMap<String, Vec<String>>,
    pub thresholds: HostThresholds,
    /// Resource limits of every container (`thresholds.containers`).
    pub containers: ContainerThresholds,
    /// Services whose own `thresholds` differ, resolved over `containers`.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub service_thresholds: IndexMap<String, ContainerThresholds>,
    /// How long startup (and restart) waits for services to be ready.
    #[serde(serialize_with = "seconds")]
    pub startup_timeout: Duration,
    /// How long a stopping service may take before Docker kills it.
    #[serde(serialize_with = "seconds")]
    pub grace: Duration,
    pub checks: Vec<PlannedCheck>,
    pub backup: Vec<PlannedItem>,
    /// How far back the log scan reads (`logs.since`).
    #[serde(skip)]
    pub log_window: Duration,
    /// How old the newest backup may be (`backup.max_age`).
    #[serde(skip)]
    pub backup_max_age: Duration,
    /// Where incidents are kept (`incident.dir`), as written.
    #[serde(skip)]
    pub incident_dir: String,
    /// The severities and how soon each must be answered, as written (`15m`).
    #[serde(skip)]
    pub severities: Vec<(String, String)>,
    /// Log lines of each service in an incident's evidence.
    #[serde(skip)]
    pub evidence_log_lines: u32,
}

/// Host thresholds, with the operators' defaults for whatever the runbook leaves out.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HostThresholds {
    /// Percent of memory in use.
    pub memory: Limits,
    /// Percent of swap in use.
    pub swap: Limits,
    /// 1-minute load average per core.
    pub load: Limits,
    /// Percent of each disk path's filesystem in use.
    pub disk: Limits,
    pub disk_paths: Vec<String>,
    /// 5- and 15-minute load per core, when the runbook grades them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load5: Option<Limits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load15: Option<Limits>,
    /// Percent of each disk path's inodes in use, when the runbook grades them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inodes: Option<Limits>,
    /// Percent of the host's CPU busy over the sample, when graded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Limits>,
    /// Percent of CPU time waiting on I/O over the sample, when graded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iowait: Option<Limits>,
    /// Free bytes of each disk path: below these is warn, crit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_free: Option<Floor>,
    /// The host's bytes a second received and sent, when graded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Limits>,
    /// The load figures (`load`, `load5`, `load15`) graded as the load
    /// average itself (`per_core: false`), not per core.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub raw_loads: Vec<&'static str>,
    /// How long each figure (`memory`, `disk`, …) may stay above crit
    /// before it is crit (`for:`).
    #[serde(skip)]
    pub windows: Vec<(&'static str, Duration)>,
}

/// Least amounts: below `warn` is warn, below `crit` crit.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Floor {
    pub warn: u64,
    pub crit: u64,
}

impl HostThresholds {
    /// Whether a pass samples the host over a gap (CPU, iowait, network).
    pub(crate) fn sampled(&self) -> bool {
        self.cpu.is_some() || self.iowait.is_some() || self.network.is_some()
    }

    /// The `for:` of a host result, by its name's first word (`disk /`
    /// is `disk`'s).
    pub(crate) fn window(&self, result: &str) -> Option<Duration> {
        let figure = result.split(' ').next().unwrap_or(result);
        self.windows
            .iter()
            .find(|(name, _)| *name == figure)
            .map(|(_, window)| *window)
    }

    /// Whether this load figure is graded per core.
    pub(crate) fn per_core(&self, load: &str) -> bool {
        !self.raw_loads.contains(&load)
    }
}

impl Default for HostThresholds {
    /// The numbers of the operators' runbook pages (DESIGN.md, "The embedded default runbook").
    fn default() -> Self {
        HostThresholds {
            memory: Limits {
                warn: 80.0,
                crit: 85.0,
            },
            swap: Limits {
                warn: 25.0,
                crit: 50.0,
            },
            load: Limits {
                warn: 2.0,
                crit: 2.5,
            },
            disk: Limits {
                warn: 85.0,
                crit: 90.0,
            },
            disk_paths: vec!["/".to_string()],
            load5: None,
            load15: None,
            inodes: None,
            cpu: None,
            iowait: None,
            disk_free: None,
            network: None,
            raw_loads: Vec::new(),
            windows: Vec::new(),
        }
    }
}

/// Resource limits of a container, as percents (see `model::ContainerLimits`).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct ContainerThresholds {
    /// Percent of its memory limit (of the host's memory without one).
    pub memory: Limits,
    /// Percent of its CPU limit (of one core without one).
    pub cpu: Limits,
    /// Bytes a second received and sent, when graded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Limits>,
}

impl Default for ContainerThresholds {
    /// Memory warns at 80% and is crit at 90% of the limit: past that the
    /// kernel's OOM killer is near. CPU warns at 80% and is crit at 95%:
    /// a container pinned at its limit is throttled.
    fn default() -> Self {
        ContainerThresholds {
            memory: Limits {
                warn: 80.0,
                crit: 90.0,
            },
            cpu: Limits {
                warn: 80.0,
                crit: 95.0,
            },
            network: None,
        }
    }
}

/// Startup waits this long when `startup.timeout` is not given.
const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// Docker's own default grace before it kills a stopping container.
const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// The log window when `logs.since` is not given.
const DEFAULT_LOG_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How old the newest backup may be when `backup.max_age` is not given: a
/// daily backup, with two hours to spare.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(26 * 3600);
/// Where incidents go when the runbook has no `incident:` section.
const DEFAULT_INCIDENT_DIR: &str = "./incidents";
/// The operators' severities, when the runbook lists none.
const DEFAULT_SEVERITIES: [(&str, &str); 4] =
    [("P1", "15m"), ("P2", "1h"), ("P3", "4h"), ("P4", "24h")];
/// Log lines of each service in the evidence, when the runbook does not say.
const DEFAULT_LOG_LINES: u32 = 200;

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PlannedCheck {
    pub name: String,
    pub kind: &'static str,
    /// The URL of an http check, `service: command` of an exec check.
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PlannedItem {
    pub kind: &'static str,
    pub source: String,
}

impl Plan {
    pub(super) fn new(model: &Model, startup: Vec<Vec<String>>) -> Plan {
        let shutdown = order::shutdown_tiers(&startup);
        let depends_on = model
            .services
            .iter()
            .map(|(name, service)| {
                (
                    name.clone(),
                    service.depends_on.iter().map(|d| d.value.clone()).collect(),
                )
            })
            .collect();
        Plan {
            project: model.project.clone(),
            mode: model.mode,
            startup,
            shutdown,
            depends_on,
            thresholds: thresholds(model),
            containers: container_thresholds(model),
            service_thresholds: service_thresholds(model),
            startup_timeout: model
                .startup
                .as_ref()
                .and_then(|s| s.timeout)
                .map_or(DEFAULT_STARTUP_TIMEOUT, |t| t.std()),
            grace: model
                .shutdown
                .as_ref()
                .and_then(|s| s.grace)
                .map_or(DEFAULT_GRACE, |g| g.std()),
            checks: checks(model),
            backup: backup_items(model),
            log_window: model
                .logs
                .as_ref()
                .and_then(|l| l.since)
                .map_or(DEFAULT_LOG_WINDOW, |d| d.std()),
            backup_max_age: model
                .backup
                .as_ref()
                .and_then(|b| b.max_age)
                .map_or(DEFAULT_MAX_AGE, |d| d.std()),
            incident_dir: model
                .incident
                .as_ref()
                .map_or(DEFAULT_INCIDENT_DIR.to_string(), |i| i.dir.clone()),
            severities: severities(model),
            evidence_log_lines: model
                .incident
                .as_ref()
                .and_then(|i| i.evidence.as_ref())
                .and_then(|e| e.log_lines)
                .unwrap_or(DEFAULT_LOG_LINES),
        }
    }
}

impl Plan {
    /// The resource limits `service`'s containers are held to.
    pub(crate) fn resource_limits(&self, service: &str) -> ContainerThresholds {
        self.service_thresholds
            .get(service)
            .copied()
            .unwrap_or(self.containers)
    }

    /// Where a service comes in startup order; services the runbook does not
    /// list come after all that it does. Views list services in this order,
    /// as an operator reads the deployment.
    pub(crate) fn startup_position(&self, service: &str) -> usize {
        self.startup
            .iter()
            .flatten()
            .position(|s| s == service)
            .unwrap_or(usize::MAX)
    }
}

impl Plan {
    /// Startup tiers for the services actually deployed: the runbook's tiers,
    /// then one last tier of the project's services the runbook does not list.
    pub(crate) fn tiers_with(&self, deployed: &[String]) -> Vec<Vec<String>> {
        let mut tiers = self.startup.clone();
        let mut unlisted: Vec<String> = deployed
            .iter()
            .filter(|s| !s.is_empty() && !self.depends_on.contains_key(*s))
            .cloned()
            .collect();
        unlisted.sort();
        unlisted.dedup();
        if !unlisted.is_empty() {
            tiers.push(unlisted);
        }
        tiers
    }

    /// The startup tiers narrowed to `services`, in the order they start.
    pub(crate) fn start_order(&self, services: &[String]) -> Vec<Vec<String>> {
        self.tiers_with(services)
            .into_iter()
            .map(|tier| {
                tier.into_iter()
                    .filter(|s| services.contains(s))
                    .collect::<Vec<_>>()
            })
            .filter(|tier| !tier.is_empty())
            .collect()
    }

    /// The same tiers reversed: the order they stop in.
    pub(crate) fn stop_order(&self, services: &[String]) -> Vec<Vec<String>> {
        let mut tiers = self.start_order(services);
        tiers.reverse();
        tiers
    }

    /// The services that depend on `service`, directly or through others.
    pub(crate) fn dependents_of(&self, service: &str) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        let mut frontier = vec![service.to_string()];
        while let Some(current) = frontier.pop() {
            for (name, needs) in &self.depends_on {
                if needs.contains(&current) && !found.contains(name) {
                    found.push(name.clone());
                    frontier.push(name.clone());
                }
            }
        }
        found
    }
}

/// The severities and their response times, as written (`15m`).
fn severities(model: &Model) -> Vec<(String, String)> {
    match &model.incident {
        Some(incident) if !incident.severities.is_empty() => incident
            .severities
            .iter()
            .map(|(name, s)| (name.clone(), s.respond_within.to_string()))
            .collect(),
        _ => DEFAULT_SEVERITIES
            .iter()
            .map(|(name, within)| (name.to_string(), within.to_string()))
            .collect(),
    }
}

fn percent_limits(limits: &PercentLimits) -> Limits {
    Limits {
        warn: limits.warn.value.0,
        crit: limits.crit.value.0,
    }
}

fn host_limits(limits: &HostPercentLimits) -> Limits {
    Limits {
        warn: limits.warn.value.0,
        crit: limits.crit.value.0,
    }
}

fn rate_limits(warn: u64, crit: u64) -> Limits {
    Limits {
        warn: warn as f64,
        crit: crit as f64,
    }
}

fn thresholds(model: &Model) -> HostThresholds {
    let given = &model.thresholds;
    let mut resolved = HostThresholds::default();
    let percents = [
        ("memory", &given.memory),
        ("swap", &given.swap),
        ("cpu", &given.cpu),
        ("iowait", &given.iowait),
        ("inodes", &given.inodes),
    ];
    for (name, limits) in percents {
        let Some(limits) = limits else { continue };
        let resolved_limits = host_limits(limits);
        match name {
            "memory" => resolved.memory = resolved_limits,
            "swap" => resolved.swap = resolved_limits,
            "cpu" => resolved.cpu = Some(resolved_limits),
            "iowait" => resolved.iowait = Some(resolved_limits),
            _ => resolved.inodes = Some(resolved_limits),
        }
        if let Some(window) = limits.lasting {
            resolved.windows.push((name, window.std()));
        }
    }
    let loads = [
        ("load", &given.load),
        ("load5", &given.load5),
        ("load15", &given.load15),
    ];
    for (name, load) in loads {
        let Some(load) = load else { continue };
        let limits = Limits {
            warn: load.warn.value,
            crit: load.crit.value,
        };
        match name {
            "load" => resolved.load = limits,
            "load5" => resolved.load5 = Some(limits),
            _ => resolved.load15 = Some(limits),
        }
        if load.per_core == Some(false) {
            resolved.raw_loads.push(name);
        }
        if let Some(window) = load.lasting {
            resolved.windows.push((name, window.std()));
        }
    }
    if let Some(disk) = &given.disk {
        resolved.disk = Limits {
            warn: disk.warn.value.0,
            crit: disk.crit.value.0,
        };
        resolved.disk_free = disk.free.as_ref().map(|free| Floor {
            warn: free.warn.value.0,
            crit: free.crit.value.0,
        });
        if !disk.paths.is_empty() {
            resolved.disk_paths = disk.paths.clone();
        }
        if let Some(window) = disk.lasting {
            resolved.windows.push(("disk", window.std()));
        }
    }
    if let Some(network) = &given.network {
        resolved.network = Some(rate_limits(network.warn.value.0, network.crit.value.0));
        if let Some(window) = network.lasting {
            resolved.windows.push(("network", window.std()));
        }
    }
    resolved
}

/// `given` over `base`: what it leaves out stays as it was.
fn over(base: ContainerThresholds, given: &ContainerLimits) -> ContainerThresholds {
    ContainerThresholds {
        memory: given.memory.as_ref().map_or(base.memory, percent_limits),
        cpu: given.cpu.as_ref().map_or(base.cpu, percent_limits),
        network: given
            .network
            .as_ref()
            .map(|n: &RateLimits| rate_limits(n.warn.value.0, n.crit.value.0))
            .or(base.network),
    }
}

fn container_thresholds(model: &Model) -> ContainerThresholds {
    let base = ContainerThresholds::default();
    match &model.thresholds.containers {
        Some(given) => over(base, given),
        None => base,
    }
}

fn service_thresholds(model: &Model) -> IndexMap<String, ContainerThresholds> {
    let base = container_thresholds(model);
    model
        .services
        .iter()
        .filter_map(|(name, service)| {
            let given = service.thresholds.as_ref()?;
            Some((name.clone(), over(base, given)))
        })
        .collect()
}

fn checks(model: &Model) -> Vec<PlannedCheck> {
    model
        .checks
        .iter()
        .filter_map(|(name, check)| {
            let (kind, target) = if let Some(http) = &check.http {
                ("http", http.url.value.clone())
            } else if let Some(exec) = &check.exec {
                ("exec", format!("{}: {}", exec.service.value, exec.command))
            } else if let Some(command) = &check.command {
                ("command", command.run.to_string())
            } else if let Some(file) = &check.file {
                ("file", file.path.clone())
            } else if let Some(tcp) = &check.tcp {
                ("tcp", format!("{}:{}", tcp.host, tcp.port.value))
            } else if let Some(unit) = &check.unit {
                ("unit", unit.value.clone())
            } else if let Some(port) = &check.port {
                let ports: Vec<String> = port
                    .expect
                    .value
                    .iter()
                    .map(|p| p.value.to_string())
                    .collect();
                let place = port
                    .service
                    .as_ref()
                    .map_or("host".to_string(), |s| s.value.clone());
                ("port", format!("{place}: {}", ports.join(", ")))
            } else if let Some(process) = &check.process {
                let place = process
                    .service
                    .as_ref()
                    .map_or("host".to_string(), |s| s.value.clone());
                ("process", format!("{place}: {}", process.name.value))
            } else if let Some(ws) = &check.websocket {
                ("websocket", ws.url.value.clone())
            } else if let Some(prometheus) = &check.prometheus {
                (
                    "prometheus",
                    format!("{}: {}", prometheus.url.value, prometheus.query.value),
                )
            } else {
                return None;
            };
            Some(PlannedCheck {
                name: name.clone(),
                kind,
                target,
            })
        })
        .collect()
}

fn backup_items(model: &Model) -> Vec<PlannedItem> {
    let Some(backup) = &model.backup else {
        return Vec::new();
    };
    let volumes = backup.volumes.iter().map(|v| PlannedItem {
        kind: "volume",
        source: v.value.clone(),
    });
    let files = backup.files.iter().map(|f| PlannedItem {
        kind: "file",
        source: f.clone(),
    });
    let dumps = backup.dumps.iter().map(|(name, dump)| PlannedItem {
        kind: "dump",
        source: format!("{name} ({}: {})", dump.service.value, dump.command),
    });
    volumes.chain(files).chain(dumps).collect()
}
