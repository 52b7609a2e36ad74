//! The host's figures that are rates, read twice a short gap apart: CPU
//! (busy, user, system, iowait) from the first line of `/proc/stat`, as
//! `top` and `vmstat` work it out, and the network's bytes a second from
//! `/proc/net/dev`.
//!
//! The network counts every interface but loopback and the virtual ones
//! containers and bridges use (`lo`, `docker*`, `br-*`, `veth*`, `virbr*`,
//! `cni*`, `cali*`, `flannel*`, `vxlan*`, `ifb*`): a container's traffic
//! to the world crosses a physical interface and is counted there once,
//! and traffic between containers never leaves the machine.

use std::time::Duration;

use serde::Serialize;

/// The interface name prefixes that are not the host's own network.
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
        Counters {
            cpu: cpu_line(&stat),
            net: net.as_deref().map(interfaces),
        }
    }

    /// The counters in a text holding a `cpu ` line and `/proc/net/dev`'s
    /// lines (what the helper on a remote engine prints).
    pub(super) fn parse(text: &str) -> Counters {
        let net = interfaces(text);
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

/// `/proc/net/dev`'s counted interfaces: name, received and sent bytes.
fn interfaces(text: &str) -> Vec<(String, u64, u64)> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let name = name.trim();
            if name.is_empty() || name.contains(' ') || VIRTUAL.iter().any(|v| name.starts_with(v))
            {
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
}
