//! The host's figures that are rates, read twice a short gap apart: CPU
//! (busy, user, system, iowait) from the first line of `/proc/stat`, as
//! `top` and `vmstat` work it out, and the network's bytes a second from
//! `/proc/net/dev`.
//!
//! The network counts the host's physical interfaces: those the kernel
//! does not list under `/sys/devices/virtual/net` (loopback, bridges,
//! veths, VLANs, bonds, tunnels are there). A container's traffic to the
//! world crosses a physical interface and is counted there once; traffic
//! between containers never leaves the machine; a VPN's is counted as the
//! encrypted bytes on the wire. Where sysfs cannot tell (not readable, or
//! every interface virtual, as inside a container), names tell instead:
//! all but `lo`, `docker*`, `br-*`, `veth*`, `virbr*`, `cni*`, `cali*`,
//! `flannel*`, `vxlan*` and `ifb*`.

use std::time::Duration;

use serde::Serialize;

/// The interface name prefixes that are not the host's own network, where
/// sysfs cannot tell.
const VIRTUAL: &[&str] = &[
    "lo", "docker", "br-", "veth", "virbr", "cni", "cali", "flannel", "vxlan", "ifb",
];

/// Shares of CPU time over the sample, in percent of all cores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct CpuShare {
    /// Everything but idle and iowait.
    pub busy: f64,
    /// User and nice.
    pub user: f64,
    /// System, irq and softirq.
    pub system: f64,
    pub iowait: f64,
}

/// Bytes a second over the sample, all counted interfaces together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct NetworkRate {
    pub rx: f64,
    pub tx: f64,
    /// The interfaces counted.
    pub interfaces: Vec<String>,
}

impl NetworkRate {
    /// Received and sent together.
    pub(crate) fn total(&self) -> f64 {
        self.rx + self.tx
    }
}

/// One reading of the counters.
#[derive(Debug, Clone, Default)]
pub(super) struct Counters {
    /// `/proc/stat`'s `cpu` line: user, nice, system, idle, iowait, irq,
    /// softirq, steal (clock ticks).
    cpu: Option<[u64; 8]>,
    /// Received and sent bytes by interface.
    net: Option<Vec<(String, u64, u64)>>,
}

impl Counters {
    /// This machine's counters.
    pub(super) fn read() -> Counters {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let net = std::fs::read_to_string("/proc/net/dev").ok();
        let virtual_names: Option<Vec<String>> = std::fs::read_dir("/sys/devices/virtual/net")
            .ok()
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            });
        Counters {
            cpu: cpu_line(&stat),
            net: net
                .as_deref()
                .map(|text| counted(interfaces(text), virtual_names.as_deref())),
        }
    }

    /// The counters in a text holding a `cpu ` line, `/proc/net/dev`'s
    /// lines and a `virtual NAME…` line listing the virtual interfaces
    /// (what the helper on a remote engine prints).
    pub(super) fn parse(text: &str) -> Counters {
        let virtual_names: Option<Vec<String>> = text
            .lines()
            .find_map(|line| line.strip_prefix("virtual "))
            .map(|names| names.split_whitespace().map(str::to_string).collect())
            .filter(|names: &Vec<String>| !names.is_empty());
        let net = counted(interfaces(text), virtual_names.as_deref());
        Counters {
            cpu: cpu_line(text),
            net: (!net.is_empty()).then_some(net),
        }
    }

    /// The CPU shares from `self` to `later`.
    pub(super) fn cpu_share(&self, later: &Counters) -> Option<CpuShare> {
        let (first, second) = (self.cpu?, later.cpu?);
        let delta: Vec<f64> = first
            .iter()
            .zip(second)
            .map(|(a, b)| b.saturating_sub(*a) as f64)
            .collect();
        let total: f64 = delta.iter().sum();
        if total <= 0.0 {
            return None;
        }
        let share = |ticks: f64| ticks * 100.0 / total;
        Some(CpuShare {
            busy: share(total - delta[3] - delta[4]),
            user: share(delta[0] + delta[1]),
            system: share(delta[2] + delta[5] + delta[6]),
            iowait: share(delta[4]),
        })
    }

    /// The network's bytes a second from `self` to `later`, `took` apart.
    pub(super) fn network_rate(&self, later: &Counters, took: Duration) -> Option<NetworkRate> {
        let (first, second) = (self.net.as_ref()?, later.net.as_ref()?);
        let seconds = took.as_secs_f64();
        if seconds <= 0.0 {
            return None;
        }
        let (mut rx, mut tx, mut names) = (0u64, 0u64, Vec::new());
        for (name, rx2, tx2) in second {
            let Some((_, rx1, tx1)) = first.iter().find(|(n, _, _)| n == name) else {
                continue;
            };
            rx = rx.saturating_add(rx2.saturating_sub(*rx1));
            tx = tx.saturating_add(tx2.saturating_sub(*tx1));
            names.push(name.clone());
        }
        Some(NetworkRate {
            rx: rx as f64 / seconds,
            tx: tx as f64 / seconds,
            interfaces: names,
        })
    }
}

/// The eight counters of the aggregate `cpu ` line.
fn cpu_line(text: &str) -> Option<[u64; 8]> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let mut ticks = [0u64; 8];
    let mut numbers = line.split_whitespace().skip(1);
    for slot in ticks.iter_mut().take(4) {
        *slot = numbers.next()?.parse().ok()?;
    }
    // Older kernels stop after idle.
    for slot in ticks.iter_mut().skip(4) {
        *slot = numbers.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    }
    Some(ticks)
}

/// The interfaces counted: the physical ones (not among `virtual_names`),
/// else those whose names are not of virtual ones.
fn counted(
    all: Vec<(String, u64, u64)>,
    virtual_names: Option<&[String]>,
) -> Vec<(String, u64, u64)> {
    if let Some(virtual_names) = virtual_names {
        let physical: Vec<_> = all
            .iter()
            .filter(|(name, _, _)| !virtual_names.contains(name))
            .cloned()
            .collect();
        if !physical.is_empty() {
            return physical;
        }
    }
    all.into_iter()
        .filter(|(name, _, _)| !VIRTUAL.iter().any(|v| name.starts_with(v)))
        .collect()
}

/// `/proc/net/dev`'s interfaces: name, received and sent bytes.
fn interfaces(text: &str) -> Vec<(String, u64, u64)> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let name = name.trim();
            if name.is_empty() || name.contains(' ') {
                return None;
            }
            let numbers: Vec<u64> = rest
                .split_whitespace()
                .map_while(|n| n.parse().ok())
                .collect();
            let (rx, tx) = (*numbers.first()?, *numbers.get(8)?);
            Some((name.to_string(), rx, tx))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n    lo: 900 1 0 0 0 0 0 0 900 1 0 0 0 0 0 0\n  eth0: 1000 2 0 0 0 0 0 0 500 3 0 0 0 0 0 0\ndocker0: 70 1 0 0 0 0 0 0 70 1 0 0 0 0 0 0\nveth1a: 70 1 0 0 0 0 0 0 70 1 0 0 0 0 0 0\n";

    #[test]
    fn cpu_shares_are_of_the_ticks_between_readings() {
        let first = Counters::parse("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n");
        let second = Counters::parse("cpu  160 20 70 840 90 0 10 10 0 0\n");
        // 200 ticks: 40 idle, 40 iowait, 80 user, 30 system, 10 steal: 120 busy.
        let share = first.cpu_share(&second).expect("a share");
        assert_eq!(
            (share.busy, share.user, share.system, share.iowait),
            (60.0, 40.0, 15.0, 20.0)
        );
        assert_eq!(first.cpu_share(&first), None);
    }

    #[test]
    fn the_network_leaves_out_loopback_bridges_and_veths() {
        let first = Counters::parse(NET);
        let later = NET
            .replace("eth0: 1000 2", "eth0: 3000 2")
            .replace("0 0 500 3", "0 0 1500 3");
        let rate = first
            .network_rate(&Counters::parse(&later), Duration::from_millis(500))
            .expect("a rate");
        assert_eq!((rate.rx, rate.tx), (4000.0, 2000.0));
        assert_eq!(rate.interfaces, ["eth0"]);
        assert_eq!(rate.total(), 6000.0);
    }

    #[test]
    fn sysfs_tells_the_physical_interfaces_and_names_tell_where_it_cannot() {
        let all = interfaces(&format!("{NET}  tap-x: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n"));
        let names = |kept: Vec<(String, u64, u64)>| -> Vec<String> {
            kept.into_iter().map(|(name, _, _)| name).collect()
        };
        let virtual_names: Vec<String> = ["lo", "docker0", "veth1a", "tap-x"]
            .map(String::from)
            .to_vec();
        assert_eq!(names(counted(all.clone(), Some(&virtual_names))), ["eth0"]);
        // Everything virtual (inside a container): by name.
        let everything: Vec<String> = ["lo", "eth0", "docker0", "veth1a", "tap-x"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            names(counted(all.clone(), Some(&everything))),
            ["eth0", "tap-x"]
        );
        assert_eq!(names(counted(all, None)), ["eth0", "tap-x"]);
    }
}
