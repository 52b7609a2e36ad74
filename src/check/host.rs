//! How the host's figures grade (the pages' `free -h`, `top`, `uptime`,
//! `df -h` and `df -i` against the runbook's thresholds): memory, swap,
//! CPU busy and iowait, the load per core or raw (1, 5 and 15 minutes),
//! each disk path (used and free) and its inodes, the network's rate.
//! host/ reads the figures; this grades them.

use crate::grade::{CheckResult, Limits, Status};
use crate::host::{DiskUsage, HostSnapshot, Usage};
use crate::runbook::Floor;
use crate::runbook::HostThresholds;
use crate::runbook::units::per_second;

/// One graded result per figure: memory, swap, CPU and iowait (when
/// graded), load, each disk path, the network (when graded).
pub(crate) fn host(snapshot: &HostSnapshot, thresholds: &HostThresholds) -> Vec<CheckResult> {
    let mut results = vec![
        usage(snapshot, "memory", snapshot.memory, thresholds.memory),
        usage(snapshot, "swap", snapshot.swap, thresholds.swap),
    ];
    if let Some(limits) = thresholds.cpu {
        results.push(cpu(snapshot, limits));
    }
    if let Some(limits) = thresholds.iowait {
        results.push(iowait(snapshot, limits));
    }
    let loads = [
        ("load", snapshot.load1, Some(thresholds.load)),
        ("load5", snapshot.load5, thresholds.load5),
        ("load15", snapshot.load15, thresholds.load15),
    ];
    for (name, figure, limits) in loads {
        let Some(limits) = limits else { continue };
        results.push(load(
            snapshot,
            name,
            figure,
            limits,
            thresholds.per_core(name),
        ));
    }
    for disk in &snapshot.disks {
        let name = format!("disk {}", disk.path.display());
        let mut result = disk_usage(disk, "host", &name, thresholds.disk);
        if let (Some(floor), Some(u)) = (thresholds.disk_free, disk.usage) {
            free_space(&mut result, u.free(), floor);
        }
        results.push(result);
        if let Some(limits) = thresholds.inodes {
            results.push(inodes(disk, limits));
        }
    }
    if let Some(limits) = thresholds.network {
        results.push(network(snapshot, limits));
    }
    results
}

/// Memory or swap in use against `limits` (`free -h`).
fn usage(snapshot: &HostSnapshot, name: &str, usage: Option<Usage>, limits: Limits) -> CheckResult {
    match usage {
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
    }
}

/// The host's CPU busy over the sample (`top`'s 100 less idle and iowait),
/// with its user and system parts.
fn cpu(snapshot: &HostSnapshot, limits: Limits) -> CheckResult {
    let Some(share) = snapshot.cpu else {
        return not_sampled(snapshot, "cpu", "CPU");
    };
    let status = limits.grade(share.busy);
    CheckResult::new(
        "host",
        "cpu",
        status,
        format!(
            "cpu {:.1}% busy (user {:.1}%, system {:.1}%) over {} cores{}",
            share.busy,
            share.user,
            share.system,
            snapshot.cores,
            limit_note(status, limits, "%")
        ),
    )
    .with_value(round2(share.busy), "percent")
}

/// The share of CPU time spent waiting on I/O over the sample.
fn iowait(snapshot: &HostSnapshot, limits: Limits) -> CheckResult {
    let Some(share) = snapshot.cpu else {
        return not_sampled(snapshot, "iowait", "CPU");
    };
    let status = limits.grade(share.iowait);
    CheckResult::new(
        "host",
        "iowait",
        status,
        format!(
            "iowait {:.1}% of CPU time{}",
            share.iowait,
            limit_note(status, limits, "%")
        ),
    )
    .with_value(round2(share.iowait), "percent")
}

/// The host's bytes a second received and sent over the sample.
fn network(snapshot: &HostSnapshot, limits: Limits) -> CheckResult {
    let Some(rate) = &snapshot.network else {
        return not_sampled(snapshot, "network", "network");
    };
    let total = rate.total();
    let status = limits.grade(total);
    let note = match status {
        Status::Crit => format!(" (above crit {})", per_second(limits.crit)),
        Status::Warn => format!(" (above warn {})", per_second(limits.warn)),
        _ => String::new(),
    };
    let on = if rate.interfaces.is_empty() {
        "no interface but loopback and bridges".to_string()
    } else {
        rate.interfaces.join(", ")
    };
    CheckResult::new(
        "host",
        "network",
        status,
        format!(
            "network {} (received {}, sent {}) on {on}{note}",
            per_second(total),
            per_second(rate.rx),
            per_second(rate.tx)
        ),
    )
    .with_value(total.round(), "bytes")
}

/// A sampled figure that has no sample: why.
fn not_sampled(snapshot: &HostSnapshot, name: &str, what: &str) -> CheckResult {
    let why = match &snapshot.unread {
        Some(_) => snapshot.why(),
        None => ": its counters could not be read".to_string(),
    };
    CheckResult::new(
        "host",
        name,
        Status::Unknown,
        format!("cannot sample the {what} figures{why}"),
    )
}

/// A load average (`load` is the 1-minute one), per core unless the
/// runbook grades it as `uptime` prints it (`per_core: false`).
fn load(
    snapshot: &HostSnapshot,
    name: &str,
    figure: Option<f64>,
    limits: Limits,
    per_core: bool,
) -> CheckResult {
    let Some(load) = figure else {
        return CheckResult::new(
            "host",
            name,
            Status::Unknown,
            format!("cannot read the load average{}", snapshot.why()),
        );
    };
    let cores = snapshot.cores.max(1);
    let each = load / cores as f64;
    let graded = if per_core { each } else { load };
    let status = limits.grade(graded);
    let note = limit_note(status, limits, "");
    let message = match (name, per_core) {
        ("load", true) => format!("load {each:.2} per core ({load:.2} over {cores} cores){note}"),
        ("load", false) => format!("load {load:.2} ({each:.2} per core over {cores} cores){note}"),
        (_, true) => format!(
            "{}-minute load {each:.2} per core{note}",
            name.trim_start_matches("load")
        ),
        (_, false) => format!(
            "{}-minute load {load:.2} ({each:.2} per core){note}",
            name.trim_start_matches("load")
        ),
    };
    CheckResult::new("host", name, status, message).with_value(round2(graded), "ratio")
}

/// Free space below `floor` makes a disk's result warn or crit, whatever
/// its percentage says.
fn free_space(result: &mut CheckResult, free: u64, floor: Floor) {
    let (status, limit) = if free < floor.crit {
        (Status::Crit, ("crit", floor.crit))
    } else if free < floor.warn {
        (Status::Warn, ("warn", floor.warn))
    } else {
        return;
    };
    result.status = result.status.max(status);
    result.message.push_str(&format!(
        " (free below {} {})",
        limit.0,
        crate::runbook::units::size_as_written(limit.1)
    ));
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
            cpu: None,
            network: None,
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

    #[test]
    fn cpu_load_raw_and_free_space_read_like_the_pages() {
        let mut snap = snapshot(10, 0, 3.0, 2);
        snap.cpu = Some(crate::host::CpuShare {
            busy: 85.04,
            user: 70.0,
            system: 15.04,
            iowait: 1.0,
        });
        snap.disks[0] = DiskUsage {
            path: "/".into(),
            usage: Some(Usage {
                used: 40_000_000_000,
                total: 100_000_000_000,
            }),
            inodes: None,
            error: None,
        };
        let thresholds = HostThresholds {
            cpu: Some(Limits {
                warn: 80.0,
                crit: 95.0,
            }),
            load: Limits {
                warn: 2.5,
                crit: 3.2,
            },
            raw_loads: vec!["load"],
            disk_free: Some(Floor {
                warn: 100_000_000_000,
                crit: 50_000_000_000,
            }),
            ..HostThresholds::default()
        };
        let results = host(&snap, &thresholds);
        let said = |n: &str| {
            let r = results.iter().find(|r| r.name == n).expect(n);
            (r.status, r.message.clone())
        };
        assert_eq!(
            said("cpu"),
            (
                Status::Warn,
                "cpu 85.0% busy (user 70.0%, system 15.0%) over 2 cores (above warn 80%)".into()
            )
        );
        assert_eq!(
            said("load"),
            (
                Status::Warn,
                "load 3.00 (1.50 per core over 2 cores) (above warn 2.5)".into()
            )
        );
        assert_eq!(
            said("disk /"),
            (
                Status::Warn,
                "/ 40.0% used (55.9G free) (free below warn 100GB)".into()
            )
        );
        assert!(
            results
                .iter()
                .all(|r| r.name != "iowait" && r.name != "network")
        );
    }
}
