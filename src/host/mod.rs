//! The host's figures (the `free -h`, `uptime`, `df -h`, `top` and network
//! rate of the runbooks), the only place that reads them. sysinfo refreshes
//! memory only, never the process list; disk usage comes from statvfs of
//! each path, which is what `df PATH` reports, wherever that path is
//! mounted; CPU and network are sampled over a short gap (`sample`) when a
//! runbook grades them. The listening ports and the process table are read
//! from /proc (`listeners`, `processes`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::grade::percent_of;

pub(crate) mod command;
pub(crate) mod journal;
pub(crate) mod listeners;
pub(crate) mod process;
pub(crate) mod processes;
mod remote;
mod sample;

pub(crate) use sample::{CpuShare, NetworkRate};

/// One reading of the host. Each figure is optional so that one failing
/// source does not sink the others.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HostSnapshot {
    pub hostname: Option<String>,
    pub memory: Option<Usage>,
    pub swap: Option<Usage>,
    pub load1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load5: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load15: Option<f64>,
    pub cores: usize,
    pub disks: Vec<DiskUsage>,
    /// CPU over the sample, when one was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuShare>,
    /// The network's rate over the sample, when one was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkRate>,
    /// How the figures of another machine were measured (the engine's host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_through: Option<String>,
    /// Why the figures could not be read at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
}

/// Bytes in use out of a total.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Usage {
    pub used: u64,
    pub total: u64,
}

impl Usage {
    pub(crate) fn percent(self) -> f64 {
        percent_of(self.used, self.total)
    }

    pub(crate) fn free(self) -> u64 {
        self.total.saturating_sub(self.used)
    }
}

/// A filesystem's counts, as statvfs gives them.
struct Counts {
    /// The fundamental block size, in bytes.
    block: u64,
    blocks: u64,
    free: u64,
    /// Free to users other than root.
    available: u64,
    files: u64,
    files_free: u64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DiskUsage {
    pub path: PathBuf,
    /// `None` when the path cannot be read (missing, no permission).
    pub usage: Option<Usage>,
    /// Inodes in use of all there are (`df -i`); `None` where the
    /// filesystem has no fixed count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inodes: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl HostSnapshot {
    /// Reads memory, swap, load and the given disk paths.
    pub(crate) fn read(disk_paths: &[PathBuf]) -> HostSnapshot {
        let (memory, swap) = match sysinfo::System::new() {
            Ok(mut system) => {
                system.refresh_memory();
                let total = system.total_memory();
                // "Used" as `free -h` means it: what is not available to new work.
                let memory = (total > 0).then(|| Usage {
                    used: total.saturating_sub(system.available_memory()),
                    total,
                });
                let swap = Some(Usage {
                    used: system.used_swap(),
                    total: system.total_swap(),
                });
                (memory, swap)
            }
            Err(_) => (None, None),
        };
        let load = sysinfo::System::load_average().ok();
        let load1 = load.as_ref().map(|load| load.one);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HostSnapshot {
            hostname: sysinfo::System::host_name().ok(),
            memory,
            swap,
            load1,
            load5: load.as_ref().map(|load| load.five),
            load15: load.as_ref().map(|load| load.fifteen),
            cores,
            disks: disk_paths
                .iter()
                .map(|path| DiskUsage::read(path))
                .collect(),
            cpu: None,
            network: None,
            measured_through: None,
            unread: None,
        }
    }

    /// The figures of the engine's host: read here when the engine is on
    /// this machine, else measured there through the engine (`remote`).
    /// With a `gap`, CPU and network are sampled over it too; the rest is
    /// read meanwhile.
    pub(crate) async fn measure(disk_paths: Vec<PathBuf>, gap: Option<Duration>) -> HostSnapshot {
        if crate::docker::engine_is_remote() {
            return remote::measure(&disk_paths, gap).await;
        }
        let first = gap.map(|_| (sample::Counters::read(), Instant::now()));
        let paths = disk_paths.clone();
        let mut snapshot =
            match tokio::task::spawn_blocking(move || HostSnapshot::read(&paths)).await {
                Ok(snapshot) => snapshot,
                Err(e) => return HostSnapshot::unread(&disk_paths, e.to_string()),
            };
        if let (Some(gap), Some((first, at))) = (gap, first) {
            tokio::time::sleep(gap.saturating_sub(at.elapsed())).await;
            let second = sample::Counters::read();
            snapshot.cpu = first.cpu_share(&second);
            snapshot.network = first.network_rate(&second, at.elapsed());
        }
        snapshot
    }

    /// No figure at all, and why.
    fn unread(disk_paths: &[PathBuf], why: String) -> HostSnapshot {
        HostSnapshot {
            hostname: None,
            memory: None,
            swap: None,
            load1: None,
            load5: None,
            load15: None,
            cores: 1,
            disks: disk_paths
                .iter()
                .map(|path| DiskUsage {
                    path: path.clone(),
                    usage: None,
                    inodes: None,
                    error: Some(why.clone()),
                })
                .collect(),
            cpu: None,
            network: None,
            measured_through: None,
            unread: Some(why),
        }
    }

    /// `: why` when the figures could not be read at all.
    pub(crate) fn why(&self) -> String {
        self.unread
            .as_ref()
            .map(|why| format!(": {why}"))
            .unwrap_or_default()
    }

    /// The 1-minute load average divided by the number of cores.
    pub(crate) fn load_per_core(&self) -> Option<f64> {
        self.load1.map(|load| load / self.cores.max(1) as f64)
    }

    /// `memory 42% · swap 0% · load 0.31/core (2 cores) · disk / 13%`
    pub(crate) fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(host) = &self.hostname {
            parts.push(host.clone());
        }
        if let Some(m) = self.memory {
            parts.push(format!(
                "memory {:.0}% of {}",
                m.percent(),
                crate::ui::human::bytes(m.total)
            ));
        }
        if let Some(s) = self.swap {
            parts.push(format!("swap {:.0}%", s.percent()));
        }
        if let Some(load) = self.load_per_core() {
            parts.push(format!("load {load:.2}/core ({} cores)", self.cores));
        }
        for disk in &self.disks {
            if let Some(u) = disk.usage {
                parts.push(format!("disk {} {:.0}%", disk.path.display(), u.percent()));
            }
        }
        format!("host: {}", parts.join(" · "))
    }
}

impl DiskUsage {
    /// `df PATH`: the filesystem holding `path`, with df's own arithmetic: used
    /// is what is not free, and the percentage is of what users can have (used
    /// plus available), so 100 % means users are out of space even where blocks
    /// are reserved for root.
    pub(crate) fn read(path: &Path) -> DiskUsage {
        match rustix::fs::statvfs(path) {
            Ok(stat) => DiskUsage::from_counts(
                path,
                Counts {
                    block: stat.f_frsize,
                    blocks: stat.f_blocks,
                    free: stat.f_bfree,
                    available: stat.f_bavail,
                    files: stat.f_files,
                    files_free: stat.f_ffree,
                },
            ),
            Err(e) => DiskUsage {
                path: path.to_path_buf(),
                usage: None,
                inodes: None,
                error: Some(std::io::Error::from(e).to_string()),
            },
        }
    }

    /// `df`'s arithmetic on a filesystem's counts (statvfs, or `stat -f` there).
    fn from_counts(path: &Path, counts: Counts) -> DiskUsage {
        let block = counts.block.max(1);
        let used = counts
            .blocks
            .saturating_sub(counts.free)
            .saturating_mul(block);
        let available = counts.available.saturating_mul(block);
        DiskUsage {
            path: path.to_path_buf(),
            usage: Some(Usage {
                used,
                total: used.saturating_add(available),
            }),
            inodes: (counts.files > 0).then(|| Usage {
                used: counts.files.saturating_sub(counts.files_free),
                total: counts.files,
            }),
            error: None,
        }
    }
}

/// This machine's host name (empty when it has none), for manifests and
/// incident records.
pub(crate) fn hostname() -> String {
    sysinfo::System::host_name().unwrap_or_default()
}
