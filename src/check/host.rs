//! How the host's figures grade (the pages' `free -h`, `uptime`, `df -h`
//! and `df -i` against the runbook's thresholds): memory, swap, the load
//! per core (1, 5 and 15 minutes), each disk path and its inodes. host/
//! reads the figures; this grades them.

use crate::grade::{CheckResult, Limits, Status};
use crate::host::{DiskUsage, HostSnapshot, Usage};
use crate::runbook::HostThresholds;

/// One graded result per figure: memory, swap, load, each disk path.
pub(crate) fn host(snapshot: &HostSnapshot, thresholds: &HostThresholds) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let usage = |name: &str, usage: Option<Usage>, limits: crate::grade::Limits| match usage {
        Some(u) if name == "swap" && u.total == 0 => {
            CheckResult::new("host", name, Status::Ok, "no swap configured")
                .with_value(0.0, "percent")
        }
        Some(u) => {
            let percent = u.percent();
            let status = limits.grade(percent);
            CheckResult::new(
                "host",
                name,
                status,
                format!(
                    "{name} {percent:.1}% used ({} of {}){}",
                    crate::ui::human::bytes(u.used),
                    crate::ui::human::bytes(u.total),
                    limit_note(status, limits, "%")
                ),
            )
            .with_value(round2(percent), "percent")
        }
        None => CheckResult::new(
            "host",
            name,
            Status::Unknown,
            format!("cannot read {name} figures{}", snapshot.why()),
        ),
    };
    results.push(usage("memory", snapshot.memory, thresholds.memory));
    results.push(usage("swap", snapshot.swap, thresholds.swap));
    results.push(match snapshot.load_per_core() {
        Some(per_core) => {
            let status = thresholds.load.grade(per_core);
            CheckResult::new(
                "host",
                "load",
                status,
                format!(
                    "load {per_core:.2} per core ({:.2} over {} cores){}",
                    snapshot.load1.unwrap_or_default(),
                    snapshot.cores,
                    limit_note(status, thresholds.load, "")
                ),
            )
            .with_value(round2(per_core), "ratio")
        }
        None => CheckResult::new(
            "host",
            "load",
            Status::Unknown,
            format!("cannot read the load average{}", snapshot.why()),
        ),
    });
    for (name, load, limits) in [
        ("load5", snapshot.load5, thresholds.load5),
        ("load15", snapshot.load15, thresholds.load15),
    ] {
        let Some(limits) = limits else { continue };
        let minutes = name.trim_start_matches("load");
        results.push(match load {
            Some(load) => {
                let per_core = load / snapshot.cores.max(1) as f64;
                let status = limits.grade(per_core);
                CheckResult::new(
                    "host",
                    name,
                    status,
                    format!(
                        "{minutes}-minute load {per_core:.2} per core{}",
                        limit_note(status, limits, "")
                    ),
                )
                .with_value(round2(per_core), "ratio")
            }
            None => CheckResult::new(
                "host",
                name,
                Status::Unknown,
                format!("cannot read the load average{}", snapshot.why()),
            ),
        });
    }
    for disk in &snapshot.disks {
        let name = format!("disk {}", disk.path.display());
        results.push(disk_usage(disk, "host", &name, thresholds.disk));
        if let Some(limits) = thresholds.inodes {
            results.push(inodes(disk, limits));
        }
    }
    results
}

/// The inodes of this disk graded against `limits` (`df -i`).
pub(crate) fn inodes(disk: &DiskUsage, limits: Limits) -> CheckResult {
    let name = format!("inodes {}", disk.path.display());
    match disk.inodes {
        Some(u) => {
            let percent = u.percent();
            let status = limits.grade(percent);
            CheckResult::new(
                "host",
                name,
                status,
                format!(
                    "{} {percent:.1}% of inodes used ({} free){}",
                    disk.path.display(),
                    u.free(),
                    limit_note(status, limits, "%")
                ),
            )
            .with_value(round2(percent), "percent")
        }
        None => CheckResult::new(
            "host",
            name,
            Status::Ok,
            format!(
                "{}: this filesystem has no fixed inode count",
                disk.path.display()
            ),
        ),
    }
}

/// A result for this disk graded against `limits`.
pub(crate) fn disk_usage(
    disk: &DiskUsage,
    section: &str,
    name: &str,
    limits: Limits,
) -> CheckResult {
    match (disk.usage, &disk.error) {
        (Some(u), _) => {
            let percent = u.percent();
            let status = limits.grade(percent);
            CheckResult::new(
                section,
                name,
                status,
                format!(
                    "{} {percent:.1}% used ({} free){}",
                    disk.path.display(),
                    crate::ui::human::bytes(u.free()),
                    limit_note(status, limits, "%")
                ),
            )
            .with_value(round2(percent), "percent")
        }
        (None, error) => CheckResult::new(
            section,
            name,
            Status::Unknown,
            format!(
                "cannot read disk usage of `{}`: {}",
                disk.path.display(),
                error.as_deref().unwrap_or("unknown error")
            ),
        ),
    }
}

/// ` (above warn 80%)` when a limit is crossed, else nothing.
fn limit_note(status: Status, limits: Limits, unit: &str) -> String {
    match status {
        Status::Crit => format!(" (above crit {}{unit})", limits.crit),
        Status::Warn => format!(" (above warn {}{unit})", limits.warn),
        _ => String::new(),
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{DiskUsage, HostSnapshot, Usage};

    fn snapshot(memory_used: u64, swap_total: u64, load: f64, cores: usize) -> HostSnapshot {
        HostSnapshot {
            hostname: None,
            memory: Some(Usage {
                used: memory_used,
                total: 100,
            }),
            swap: Some(Usage {
                used: 0,
                total: swap_total,
            }),
            load1: Some(load),
            load5: None,
            load15: None,
            cores,
            disks: vec![DiskUsage {
                path: "/data".into(),
                usage: None,
                inodes: None,
                error: Some("No such file or directory".into()),
            }],
            measured_through: None,
            unread: None,
        }
    }

    #[test]
    fn figures_are_graded_against_thresholds() {
        let thresholds = HostThresholds {
            memory: Limits {
                warn: 80.0,
                crit: 90.0,
            },
            ..HostThresholds::default()
        };
        let results = host(&snapshot(85, 0, 5.2, 2), &thresholds);
        let by_name = |n: &str| results.iter().find(|r| r.name == n).map(|r| r.status);
        assert_eq!(by_name("memory"), Some(Status::Warn));
        assert_eq!(by_name("swap"), Some(Status::Ok));
        // 5.2 over 2 cores is 2.6 per core: above crit 2.5.
        assert_eq!(by_name("load"), Some(Status::Crit));
        assert_eq!(by_name("disk /data"), Some(Status::Unknown));
    }

    #[test]
    fn load_is_per_core() {
        assert_eq!(snapshot(0, 0, 4.0, 4).load_per_core(), Some(1.0));
    }
}
