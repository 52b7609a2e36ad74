//! Resource use read straight from the cgroup files of a container whose
//! engine runs on this host: what the engine's stats endpoint reads, without
//! waiting for its collector (Docker 20.10 answers even a one-shot request
//! only at the collector's next one-second tick).
//!
//! The container's cgroups are found from its init process
//! (`/proc/PID/cgroup`), so cgroup v1 and v2, cgroupfs and systemd drivers
//! all resolve the same way; only paths that name the container's id are
//! used, so a remote engine's pid that happens to exist here is not read.

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";
/// cgroup v1 writes this (`PAGE_COUNTER_MAX` in bytes) for "no limit".
const V1_UNLIMITED: u64 = 0x7FFF_FFFF_FFFF_F000;

/// One reading of a container's counters.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reading {
    /// CPU time used since it started, in nanoseconds.
    pub cpu_ns: u64,
    pub memory_used: u64,
    /// None: unlimited.
    pub memory_limit: Option<u64>,
    pub pids: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub net_rx: u64,
    pub net_tx: u64,
}

/// Where one container's cgroup files are.
#[derive(Debug, Clone)]
pub(super) enum Cgroup {
    /// v2: one folder.
    Unified(PathBuf),
    /// v1: a folder per controller.
    Split {
        cpu: PathBuf,
        memory: PathBuf,
        pids: PathBuf,
        blkio: PathBuf,
    },
}

impl Cgroup {
    /// The cgroup of container `id` whose init process is `pid`, if this
    /// host has its files.
    pub(super) fn find(pid: u32, id: &str) -> Option<Cgroup> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let mut v1 = std::collections::HashMap::new();
        let mut unified = None;
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            // Controllers it is not put in (`/` on a hybrid host) are not needed.
            if !path.contains(id) {
                continue;
            }
            let path = path.trim_start_matches('/');
            if controllers.is_empty() {
                unified = Some(Path::new(ROOT).join(path));
            }
            for controller in controllers.split(',') {
                v1.insert(controller.to_string(), path.to_string());
            }
        }
        let dir = |controller: &str| -> Option<PathBuf> {
            Some(Path::new(ROOT).join(controller).join(v1.get(controller)?))
        };
        if let (Some(cpu), Some(memory), Some(pids), Some(blkio)) =
            (dir("cpuacct"), dir("memory"), dir("pids"), dir("blkio"))
        {
            return Some(Cgroup::Split {
                cpu,
                memory,
                pids,
                blkio,
            })
            .filter(|c| c.read(pid).is_some());
        }
        unified
            .map(Cgroup::Unified)
            .filter(|c| c.read(pid).is_some())
    }

    /// The counters now; none if a file is gone (the container stopped).
    pub(super) fn read(&self, pid: u32) -> Option<Reading> {
        let (net_rx, net_tx) = network(&read(format!("/proc/{pid}/net/dev"))?);
        Some(match self {
            Cgroup::Unified(dir) => {
                let memory = number(&read(dir.join("memory.current"))?)?;
                let inactive = field(&read(dir.join("memory.stat"))?, "inactive_file");
                let (block_read, block_write) = io_stat(&read(dir.join("io.stat"))?);
                Reading {
                    cpu_ns: field(&read(dir.join("cpu.stat"))?, "usage_usec")?.saturating_mul(1000),
                    memory_used: without_inactive(memory, inactive),
                    memory_limit: number(&read(dir.join("memory.max"))?),
                    pids: number(&read(dir.join("pids.current"))?)?,
                    block_read,
                    block_write,
                    net_rx,
                    net_tx,
                }
            }
            Cgroup::Split {
                cpu,
                memory,
                pids,
                blkio,
            } => {
                let used = number(&read(memory.join("memory.usage_in_bytes"))?)?;
                let inactive = field(&read(memory.join("memory.stat"))?, "total_inactive_file");
                let (block_read, block_write) =
                    blkio_v1(&read(blkio.join("blkio.throttle.io_service_bytes"))?);
                Reading {
                    cpu_ns: number(&read(cpu.join("cpuacct.usage"))?)?,
                    memory_used: without_inactive(used, inactive),
                    memory_limit: number(&read(memory.join("memory.limit_in_bytes"))?)
                        .filter(|l| *l < V1_UNLIMITED),
                    pids: number(&read(pids.join("pids.current"))?)?,
                    block_read,
                    block_write,
                    net_rx,
                    net_tx,
                }
            }
        })
    }
}

fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// A file holding one number (`max` is none).
fn number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// `key N` in a flat-keyed file (`memory.stat`, `cpu.stat`).
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok())?
    })
}

/// As `docker stats`: inactive file pages are left out (the kernel drops
/// them first); shared memory and anonymous pages count.
fn without_inactive(used: u64, inactive: Option<u64>) -> u64 {
    match inactive {
        Some(inactive) if inactive < used => used - inactive,
        _ => used,
    }
}

/// Bytes read and written over every device, from v2's `io.stat`.
fn io_stat(text: &str) -> (u64, u64) {
    let mut totals = (0u64, 0u64);
    for word in text.split_whitespace() {
        if let Some(n) = word
            .strip_prefix("rbytes=")
            .and_then(|n| n.parse::<u64>().ok())
        {
            totals.0 = totals.0.saturating_add(n);
        } else if let Some(n) = word
            .strip_prefix("wbytes=")
            .and_then(|n| n.parse::<u64>().ok())
        {
            totals.1 = totals.1.saturating_add(n);
        }
    }
    totals
}

/// Bytes read and written over every device, from v1's `8:0 Read N` lines.
fn blkio_v1(text: &str) -> (u64, u64) {
    let mut totals = (0u64, 0u64);
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, n] = words[..] {
            let n = n.parse::<u64>().unwrap_or(0);
            match op {
                "Read" => totals.0 = totals.0.saturating_add(n),
                "Write" => totals.1 = totals.1.saturating_add(n),
                _ => {}
            }
        }
    }
    totals
}

/// Bytes received and sent on every interface but loopback (`/proc/PID/net/dev`).
fn network(text: &str) -> (u64, u64) {
    let mut totals = (0u64, 0u64);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let counters: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        if let (Some(rx), Some(tx)) = (counters.first(), counters.get(8)) {
            totals.0 = totals.0.saturating_add(*rx);
            totals.1 = totals.1.saturating_add(*tx);
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_parse_from_both_cgroup_versions() {
        assert_eq!(
            field("usage_usec 1500\nuser_usec 3\n", "usage_usec"),
            Some(1500)
        );
        assert_eq!(number("max\n"), None);
        assert_eq!(without_inactive(100, Some(30)), 70);
        assert_eq!(without_inactive(100, Some(300)), 100);
        assert_eq!(
            io_stat("8:0 rbytes=10 wbytes=20 rios=1\n8:16 rbytes=1 wbytes=2\n"),
            (11, 22)
        );
        assert_eq!(
            blkio_v1("8:0 Read 10\n8:0 Write 20\n8:0 Total 30\nTotal 30\n"),
            (10, 20)
        );
        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n    lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n  eth0: 836 10 0 0 0 0 0 0 42 1 0 0 0 0 0 0\n";
        assert_eq!(network(dev), (836, 42));
    }

    #[test]
    fn counters_past_what_a_u64_holds_stay_at_its_largest() {
        let max = u64::MAX;
        assert_eq!(
            io_stat(&format!(
                "8:0 rbytes={max} wbytes=1\n8:16 rbytes=5 wbytes={max}\n"
            )),
            (max, max)
        );
        assert_eq!(
            blkio_v1(&format!("8:0 Read {max}\n8:16 Read 7\n8:0 Write 1\n")),
            (max, 1)
        );
        let dev =
            format!("h\nh\n  eth0: {max} 1 0 0 0 0 0 0 {max} 1\n  eth1: 9 1 0 0 0 0 0 0 9 1\n");
        assert_eq!(network(&dev), (max, max));
    }
}
