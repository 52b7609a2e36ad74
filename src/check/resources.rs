//! A container's resource use (`docker stats`) against its limits: the
//! figures each command shows, and how they grade against the runbook's
//! `thresholds.containers` (or the service's own `thresholds`). Memory is
//! held to the container's limit, or to the host's memory without one; CPU
//! to its CPU limit, or to one core without one.

use std::time::Duration;

use serde::Serialize;

use crate::check::containers::result_name;
use crate::docker::{Container, Deployment, Usage};
use crate::grade::{CheckResult, Limits, Status, percent_of};
use crate::runbook::units::per_second;
use crate::runbook::{ContainerThresholds, Runbook};
use crate::ui::human;

/// How far apart the two CPU samples are: long enough for a steady rate,
/// short beside a run (and taken while the rest of the run goes on).
pub(crate) const CPU_SAMPLE_GAP: Duration = Duration::from_millis(250);

/// One container's figures and the limits they are measured against.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Resources {
    /// The service (the result's name).
    pub name: String,
    pub container: String,
    #[serde(flatten)]
    pub usage: Usage,
    /// Whether `memory_limit` is the container's own (else it is the host's).
    pub memory_limited: bool,
    pub memory_percent: f64,
    /// Its CPU limit in cores, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<f64>,
    /// CPU as a percent of its limit (of one core without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_of_limit: Option<f64>,
}

impl Resources {
    pub(crate) fn new(name: String, container: &Container, usage: Usage) -> Resources {
        let cpu_limit = container.cpu_limit;
        Resources {
            name,
            container: container.name.clone(),
            memory_limited: container.memory_limit.is_some(),
            memory_percent: percent_of(usage.memory_used, usage.memory_limit),
            cpu_of_limit: usage.cpu_percent.map(|cpu| cpu / cpu_limit.unwrap_or(1.0)),
            cpu_limit,
            usage,
        }
    }

    /// Memory and CPU against `limits`: the worse of the two, and each figure
    /// with its limit (and the threshold it is above, if any).
    pub(crate) fn grade(&self, limits: ContainerThresholds) -> CheckResult {
        let memory_status = limits.memory.grade(self.memory_percent);
        let of = if self.memory_limited { "limit" } else { "host" };
        let mut memory = format!(
            "memory {} of {} {of} ({:.1}%)",
            human::bytes(self.usage.memory_used),
            human::bytes(self.usage.memory_limit),
            self.memory_percent
        );
        memory.push_str(&above(memory_status, limits.memory));
        let (cpu_status, cpu) = match (self.usage.cpu_percent, self.cpu_of_limit) {
            (Some(cpu), Some(of_limit)) => {
                let status = limits.cpu.grade(of_limit);
                let mut text = match self.cpu_limit {
                    Some(cores) => format!(
                        "cpu {cpu:.1}% of one core, {of_limit:.1}% of its {} CPU limit",
                        round2(cores)
                    ),
                    None => format!("cpu {cpu:.1}% of one core (no CPU limit)"),
                };
                text.push_str(&above(status, limits.cpu));
                (status, text)
            }
            _ => (Status::Ok, "cpu not sampled".to_string()),
        };
        let mut parts = vec![(memory_status, memory), (cpu_status, cpu)];
        if let Some(limits) = limits.network {
            parts.push(self.network(limits));
        }
        let status = Status::worst(parts.iter().map(|(status, _)| *status));
        // The figure over its threshold comes first.
        parts.sort_by_key(|(status, _)| std::cmp::Reverse(status.severity()));
        let mut texts: Vec<String> = parts.into_iter().map(|(_, text)| text).collect();
        texts.push(human::count(
            usize::try_from(self.usage.pids).unwrap_or(usize::MAX),
            "pid",
        ));
        let message = texts.join("; ");
        CheckResult::new("resources", &self.name, status, message)
            .with_value(round1(self.memory_percent), "percent")
    }

    /// The bytes a second received and sent over the sample against `limits`.
    fn network(&self, limits: Limits) -> (Status, String) {
        let Some(rate) = self.usage.net_rate else {
            return (Status::Ok, "network not sampled".into());
        };
        let status = limits.grade(rate);
        let note = match status {
            Status::Crit => format!(", above crit {}", per_second(limits.crit)),
            Status::Warn => format!(", above warn {}", per_second(limits.warn)),
            _ => String::new(),
        };
        (status, format!("network {}{note}", per_second(rate)))
    }

    /// The `status` table's cells: CPU %, MEM, MEM %, PIDS.
    pub(crate) fn cells(&self) -> [String; 4] {
        [
            self.usage
                .cpu_percent
                .map_or_else(|| "-".into(), |c| format!("{c:.1}%")),
            match self.memory_limited {
                true => format!(
                    "{} / {}",
                    human::bytes(self.usage.memory_used),
                    human::bytes(self.usage.memory_limit)
                ),
                false => human::bytes(self.usage.memory_used),
            },
            format!("{:.1}%", self.memory_percent),
            self.usage.pids.to_string(),
        ]
    }
}

/// `, above warn 80%` when a figure is over a threshold.
fn above(status: Status, limits: Limits) -> String {
    match status {
        Status::Crit => format!(", above crit {}%", limits.crit),
        Status::Warn => format!(", above warn {}%", limits.warn),
        _ => String::new(),
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Samples every running container's use: (container id, usage or none).
pub(crate) async fn sample(
    deployment: &Deployment,
    containers: &[Container],
) -> Vec<(String, Option<crate::docker::Usage>)> {
    let running: Vec<(&str, Option<u32>)> = containers
        .iter()
        .filter(|c| c.state == crate::docker::State::Running)
        .map(|c| (c.id.as_str(), c.pid))
        .collect();
    let usage = deployment.usage(&running, CPU_SAMPLE_GAP).await;
    running
        .into_iter()
        .map(|(id, _)| id.to_string())
        .zip(usage)
        .collect()
}

/// The sampled containers' figures, named as their container results are.
fn measure(
    runbook: &Runbook,
    containers: &[Container],
    sampled: &[(String, Option<crate::docker::Usage>)],
) -> Vec<Resources> {
    let all_projects = runbook.plan.project.is_none();
    containers
        .iter()
        .filter_map(|container| {
            let usage = sampled
                .iter()
                .find(|(id, _)| *id == container.id)
                .and_then(|(_, usage)| *usage)?;
            Some(Resources::new(
                result_name(container, all_projects),
                container,
                usage,
            ))
        })
        .collect()
}

/// The service of the container a figure is of.
fn service_of(resources: &Resources, containers: &[Container]) -> String {
    containers
        .iter()
        .find(|c| c.name == resources.container)
        .map(|c| c.service.clone())
        .unwrap_or_default()
}

/// Each container's resource use graded against its limits; the figures,
/// for the history. Not sampled before the deadline: one unknown result.
pub(crate) fn grade_all(
    runbook: &Runbook,
    containers: &[Container],
    sampled: Option<Vec<(String, Option<crate::docker::Usage>)>>,
    seconds: u64,
    results: &mut Vec<CheckResult>,
) -> Vec<Resources> {
    let Some(sampled) = sampled else {
        results.push(CheckResult::new(
            "resources",
            "containers",
            Status::Unknown,
            format!(
                "resource use was not sampled within the run's {seconds}s deadline (--timeout)"
            ),
        ));
        return Vec::new();
    };
    let measured = measure(runbook, containers, &sampled);
    results.extend(
        measured
            .iter()
            .map(|r| r.grade(runbook.plan.resource_limits(&service_of(r, containers)))),
    );
    measured
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::{Health, State};

    const MIB: u64 = 1024 * 1024;

    fn container(memory_limit: Option<u64>, cpu_limit: Option<f64>) -> Container {
        Container {
            secrets: Vec::new(),
            id: "id".into(),
            name: "shop-db-1".into(),
            project: "shop".into(),
            service: "db".into(),
            state: State::Running,
            health: Health::None,
            health_output: None,
            failing_streak: 0,
            restart_count: 0,
            exit_code: None,
            image: "postgres".into(),
            started_at: None,
            finished_at: None,
            memory_limit,
            cpu_limit,
            pid: None,
            task: None,
        }
    }

    fn usage(cpu: f64, used: u64, limit: u64) -> Usage {
        Usage {
            cpu_percent: Some(cpu),
            memory_used: used,
            memory_limit: limit,
            net_rx: 0,
            net_tx: 0,
            net_rate: Some(2_500_000.0),
            block_read: 0,
            block_write: 0,
            pids: 2,
        }
    }

    #[test]
    fn memory_over_warn_names_the_figure_and_the_limit() {
        let c = container(Some(512 * MIB), None);
        let r = Resources::new("db".into(), &c, usage(1.0, 412 * MIB, 512 * MIB));
        let result = r.grade(ContainerThresholds::default());
        assert_eq!(result.status, Status::Warn);
        assert_eq!(
            result.message,
            "memory 412.0M of 512.0M limit (80.5%), above warn 80%; cpu 1.0% of one core (no CPU limit); 2 pids"
        );
    }

    #[test]
    fn cpu_is_held_to_its_limit_or_to_one_core() {
        let half = container(None, Some(0.5));
        let r = Resources::new("db".into(), &half, usage(49.0, MIB, 1024 * MIB));
        let result = r.grade(ContainerThresholds::default());
        assert_eq!(result.status, Status::Crit);
        assert!(
            result
                .message
                .starts_with("cpu 49.0% of one core, 98.0% of its 0.5 CPU limit, above crit 95%; memory 1.0M of 1.0G host"),
            "{}",
            result.message
        );
        let free = container(None, None);
        let r = Resources::new("db".into(), &free, usage(49.0, MIB, 1024 * MIB));
        assert_eq!(r.grade(ContainerThresholds::default()).status, Status::Ok);
    }

    #[test]
    fn network_is_graded_only_when_given_and_comes_first_when_over() {
        let c = container(None, None);
        let r = Resources::new("db".into(), &c, usage(1.0, MIB, 1024 * MIB));
        let limits = ContainerThresholds {
            network: Some(Limits {
                warn: 1e6,
                crit: 1e7,
            }),
            ..ContainerThresholds::default()
        };
        let result = r.grade(limits);
        assert_eq!(result.status, Status::Warn);
        assert_eq!(
            result.message,
            "network 2.5MB/s, above warn 1MB/s; memory 1.0M of 1.0G host (0.1%); cpu 1.0% of one core (no CPU limit); 2 pids"
        );
    }
}
