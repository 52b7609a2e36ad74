//! Before and after a startup, as the operators' startup page checks by
//! hand: the pre-flight (Docker answers, enough free memory and disk where
//! the data lives, the listed files present and readable; all must pass
//! before anything starts) and the success criteria (host memory below its
//! crit threshold, no service restarting).

use crate::docker::{ContainerRef, State};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::host::{DiskUsage, HostSnapshot};
use crate::runbook::Runbook;

/// Free memory and disk, the listed files, and Docker: all must pass before anything starts.
pub(crate) async fn preflight(runbook: &Runbook, docker_error: Option<&Error>) -> Vec<CheckResult> {
    let preflight = runbook
        .model
        .startup
        .as_ref()
        .and_then(|s| s.preflight.as_ref());
    let mut results = Vec::new();
    results.push(match docker_error {
        None => CheckResult::new("preflight", "docker", Status::Ok, "Docker answers"),
        Some(e) => CheckResult::new("preflight", "docker", Status::Crit, e.to_string()),
    });
    let Some(preflight) = preflight else {
        return results;
    };
    let folders = runbook.data_folders();
    let (min_memory, min_disk) = (preflight.min_free_memory, preflight.min_free_disk);
    let measured = tokio::task::spawn_blocking(move || {
        let host = HostSnapshot::read(&[]);
        let disks: Vec<DiskUsage> = folders
            .iter()
            .map(|f| DiskUsage::read(&crate::state::files::nearest_existing(f)))
            .collect();
        (host, folders, disks)
    })
    .await;
    if let Ok((host, folders, disks)) = measured {
        if let Some(min) = min_memory {
            let free = host.memory.map(|m| m.free());
            results.push(enough("memory", free, min.0, "cannot read free memory"));
        }
        if let Some(min) = min_disk {
            for (folder, disk) in folders.iter().zip(disks) {
                let free = disk.usage.map(|u| u.free());
                let unreadable = disk.error.unwrap_or_default();
                results.push(enough(
                    &format!("disk {}", folder.display()),
                    free,
                    min.0,
                    &unreadable,
                ));
            }
        }
    }
    for file in &preflight.files {
        let path = runbook.resolve(&file.value);
        let name = format!("file {}", file.value);
        results.push(match std::fs::File::open(&path) {
            Ok(_) if path.is_file() => {
                CheckResult::new("preflight", name, Status::Ok, "present and readable")
            }
            Ok(_) => CheckResult::new(
                "preflight",
                name,
                Status::Crit,
                format!("`{}` is not a file", path.display()),
            ),
            Err(e) => CheckResult::new(
                "preflight",
                name,
                Status::Crit,
                format!("`{}`: {e}", path.display()),
            ),
        });
    }
    results
}

/// Crit unless `free` bytes reach `min`.
fn enough(name: &str, free: Option<u64>, min: u64, unreadable: &str) -> CheckResult {
    match free {
        Some(free) => {
            let status = if free >= min {
                Status::Ok
            } else {
                Status::Crit
            };
            let message = format!(
                "{} free, {} needed",
                crate::ui::human::bytes(free),
                crate::ui::human::bytes(min)
            );
            CheckResult::new("preflight", name, status, message)
        }
        None => CheckResult::new("preflight", name, Status::Crit, unreadable),
    }
}

/// Host memory below its crit threshold; no service restarting.
pub(crate) async fn success_criteria(
    runbook: &Runbook,
    containers: &[ContainerRef],
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let limits = runbook.plan.thresholds.memory;
    if let Ok(host) = tokio::task::spawn_blocking(|| HostSnapshot::read(&[])).await {
        results.push(match host.memory {
            Some(memory) if memory.percent() > limits.crit => CheckResult::new(
                "criteria",
                "memory",
                Status::Crit,
                format!(
                    "memory {:.1}% used, above crit {}%",
                    memory.percent(),
                    limits.crit
                ),
            ),
            Some(memory) => CheckResult::new(
                "criteria",
                "memory",
                Status::Ok,
                format!(
                    "memory {:.1}% used, below crit {}%",
                    memory.percent(),
                    limits.crit
                ),
            ),
            None => CheckResult::new(
                "criteria",
                "memory",
                Status::Unknown,
                "cannot read memory figures",
            ),
        });
    }
    let restarting: Vec<&str> = containers
        .iter()
        .filter(|c| c.state == State::Restarting)
        .map(|c| c.service.as_str())
        .collect();
    results.push(if restarting.is_empty() {
        CheckResult::new(
            "criteria",
            "restarting",
            Status::Ok,
            "no service is restarting",
        )
    } else {
        CheckResult::new(
            "criteria",
            "restarting",
            Status::Crit,
            format!("restarting: {}", restarting.join(", ")),
        )
    });
    results
}
