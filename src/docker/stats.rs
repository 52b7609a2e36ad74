//! A running container's resource use, as `docker stats --no-stream` shows
//! it, without its two-second sampling: from the cgroup files when the
//! engine is on this host (`cgroup`), else from the engine's one-shot stats
//! (API 1.41), which 20.10 answers at its collector's next one-second tick.
//!
//! Either way CPU is the cumulative usage read twice, `gap` apart, for every
//! container at once: the rate over that gap is what the container does now
//! (a lifetime average since start would hide a process that began spinning
//! an hour ago in a month-old container).

use std::time::Duration;

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptionsBuilder;
use futures_util::StreamExt;
use futures_util::future::join_all;
use serde::Serialize;

use super::Deployment;
use super::cgroup::Cgroup;

/// One container's figures: CPU over the sampling gap, the rest as of the
/// second sample (I/O counters since the container started).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Usage {
    /// Percent of one core (200 is two cores busy); none when only one
    /// sample came back.
    pub cpu_percent: Option<f64>,
    /// Bytes in use, page cache that can be dropped left out (as `docker stats`).
    pub memory_used: u64,
    /// The container's memory limit, or the host's memory when it has none.
    pub memory_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    /// Bytes a second received and sent over the sampling gap; none when
    /// only one sample came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_rate: Option<f64>,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
}

impl Deployment {
    /// The usage of each running container of `targets` (id and init pid),
    /// in order, all sampled concurrently; none for one that could not be
    /// sampled (stopped or removed meanwhile).
    pub(crate) async fn usage(
        &self,
        targets: &[(&str, Option<u32>)],
        gap: Duration,
    ) -> Vec<Option<Usage>> {
        let local = self.endpoint.starts_with("unix://");
        let sampled = join_all(targets.iter().map(|(id, pid)| async move {
            let cgroup = pid
                .filter(|_| local)
                .and_then(|pid| Some((pid, Cgroup::find(pid, id)?)));
            match cgroup {
                Some((pid, cgroup)) => local_usage(&cgroup, pid, gap).await,
                None => {
                    let first = self.sample(id).await;
                    tracing::debug!(container = id, "stats: first sample");
                    tokio::time::sleep(gap).await;
                    let second = self.sample(id).await?;
                    tracing::debug!(container = id, "stats: second sample");
                    Some(usage_from(first.as_ref(), &second))
                }
            }
        }));
        let host_memory = async {
            let info = self.docker.info().await.ok()?;
            u64::try_from(info.mem_total?).ok()
        };
        let (sampled, host_memory) = tokio::join!(sampled, host_memory);
        sampled
            .into_iter()
            .map(|usage| {
                let mut usage = usage?;
                // Unlimited in the cgroup: held to the host's memory, as `docker stats`.
                if usage.memory_limit == 0 {
                    usage.memory_limit = host_memory.unwrap_or(0);
                }
                Some(usage)
            })
            .collect()
    }

    async fn sample(&self, id: &str) -> Option<ContainerStatsResponse> {
        let options = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(true)
            .build();
        match self.docker.stats(id, Some(options)).next().await? {
            Ok(sample) => Some(sample),
            Err(e) => {
                tracing::debug!(container = id, "no stats: {e}");
                None
            }
        }
    }
}

/// Two readings of the cgroup files, `gap` apart (the files are kernel
/// counters: reading them does not wait on a disk).
async fn local_usage(cgroup: &Cgroup, pid: u32, gap: Duration) -> Option<Usage> {
    let (first, at) = (cgroup.read(pid)?, std::time::Instant::now());
    tokio::time::sleep(gap).await;
    let (second, until) = (cgroup.read(pid)?, std::time::Instant::now());
    let wall = until.duration_since(at).as_nanos();
    let used = second.cpu_ns.saturating_sub(first.cpu_ns);
    let moved = (second.net_rx.saturating_add(second.net_tx))
        .saturating_sub(first.net_rx.saturating_add(first.net_tx));
    Some(Usage {
        cpu_percent: (wall > 0).then(|| used as f64 * 100.0 / wall as f64),
        memory_used: second.memory_used,
        memory_limit: second.memory_limit.unwrap_or(0),
        net_rx: second.net_rx,
        net_tx: second.net_tx,
        net_rate: (wall > 0).then(|| moved as f64 * 1e9 / wall as f64),
        block_read: second.block_read,
        block_write: second.block_write,
        pids: second.pids,
    })
}

/// The figures of `second`, CPU as the rate between the two samples.
fn usage_from(first: Option<&ContainerStatsResponse>, second: &ContainerStatsResponse) -> Usage {
    let memory = second.memory_stats.as_ref();
    let usage = memory.and_then(|m| m.usage).unwrap_or(0);
    // What `docker stats` subtracts: inactive file pages (cgroup v2's
    // `inactive_file`, v1's `total_inactive_file`), which the kernel drops
    // before it would kill anything. Shared memory and anonymous pages stay.
    let inactive = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|s| {
            s.get("total_inactive_file")
                .or_else(|| s.get("inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    // The engine's counters, summed without wrapping past u64.
    let (mut block_read, mut block_write) = (0u64, 0u64);
    for entry in second
        .blkio_stats
        .as_ref()
        .and_then(|b| b.io_service_bytes_recursive.as_ref())
        .into_iter()
        .flatten()
    {
        let value = entry.value.unwrap_or(0);
        match entry.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => block_read = block_read.saturating_add(value),
            Some("write") => block_write = block_write.saturating_add(value),
            _ => {}
        }
    }
    let (net_rx, net_tx) = network(second);
    Usage {
        cpu_percent: first.and_then(|first| cpu_percent(first, second)),
        net_rate: first.and_then(|first| net_rate(first, second)),
        memory_used: usage.saturating_sub(if inactive < usage { inactive } else { 0 }),
        memory_limit: memory.and_then(|m| m.limit).unwrap_or(0),
        net_rx,
        net_tx,
        block_read,
        block_write,
        pids: second
            .pids_stats
            .as_ref()
            .and_then(|p| p.current)
            .unwrap_or(0),
    }
}

/// Bytes received and sent, every network of the container together.
fn network(sample: &ContainerStatsResponse) -> (u64, u64) {
    let networks = sample.networks.iter().flat_map(|n| n.values());
    networks.fold((0u64, 0u64), |(rx, tx), n| {
        (
            rx.saturating_add(n.rx_bytes.unwrap_or(0)),
            tx.saturating_add(n.tx_bytes.unwrap_or(0)),
        )
    })
}

/// Bytes received and sent between the samples a second, by the engine's
/// own read times.
fn net_rate(first: &ContainerStatsResponse, second: &ContainerStatsResponse) -> Option<f64> {
    let read =
        |s: &ContainerStatsResponse| -> Option<jiff::Timestamp> { s.read.as_deref()?.parse().ok() };
    let wall = read(second)?.duration_since(read(first)?).as_secs_f64();
    let ((rx1, tx1), (rx2, tx2)) = (network(first), network(second));
    let moved = rx2
        .saturating_add(tx2)
        .saturating_sub(rx1.saturating_add(tx1));
    (wall > 0.0).then(|| moved as f64 / wall)
}

/// CPU nanoseconds used between the samples over wall nanoseconds between
/// them, by the engine's own read times (request latency does not count).
fn cpu_percent(first: &ContainerStatsResponse, second: &ContainerStatsResponse) -> Option<f64> {
    let total = |s: &ContainerStatsResponse| {
        s.cpu_stats
            .as_ref()
            .and_then(|c| c.cpu_usage.as_ref())
            .and_then(|u| u.total_usage)
    };
    let read =
        |s: &ContainerStatsResponse| -> Option<jiff::Timestamp> { s.read.as_deref()?.parse().ok() };
    let used = total(second)?.checked_sub(total(first)?)?;
    let wall = read(second)?.duration_since(read(first)?).as_nanos();
    (wall > 0).then(|| used as f64 * 100.0 / wall as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(json: &str) -> ContainerStatsResponse {
        serde_json::from_str(json).unwrap_or_default()
    }

    #[test]
    fn cpu_is_the_rate_between_samples_and_memory_leaves_out_inactive_files() {
        let first = sample(
            r#"{"read":"2026-12-01T10:00:00Z","cpu_stats":{"cpu_usage":{"total_usage":1000000000}}}"#,
        );
        let second = sample(
            r#"{"read":"2026-12-01T10:00:00.5Z","cpu_stats":{"cpu_usage":{"total_usage":1250000000}},
               "memory_stats":{"usage":1000,"limit":4000,"stats":{"total_inactive_file":200}},
               "pids_stats":{"current":3},
               "networks":{"eth0":{"rx_bytes":5,"tx_bytes":7},"eth1":{"rx_bytes":1,"tx_bytes":1}},
               "blkio_stats":{"io_service_bytes_recursive":[{"op":"Read","value":10},{"op":"Write","value":20},{"op":"read","value":1}]}}"#,
        );
        let usage = usage_from(Some(&first), &second);
        assert_eq!(usage.cpu_percent, Some(50.0));
        // 14 bytes moved since the first sample's none, over half a second.
        assert_eq!(usage.net_rate, Some(28.0));
        assert_eq!(usage.memory_used, 800);
        assert_eq!(usage.memory_limit, 4000);
        assert_eq!((usage.net_rx, usage.net_tx), (6, 8));
        assert_eq!((usage.block_read, usage.block_write), (11, 20));
        assert_eq!(usage.pids, 3);
        assert_eq!(usage_from(None, &second).cpu_percent, None);
    }

    #[test]
    fn counters_past_what_a_u64_holds_stay_at_its_largest() {
        let max = u64::MAX;
        let sample = sample(&format!(
            r#"{{"networks":{{"eth0":{{"rx_bytes":{max},"tx_bytes":1}},"eth1":{{"rx_bytes":2,"tx_bytes":{max}}}}},
               "blkio_stats":{{"io_service_bytes_recursive":[{{"op":"Read","value":{max}}},{{"op":"Read","value":3}},{{"op":"Write","value":{max}}},{{"op":"Write","value":4}}]}}}}"#
        ));
        let usage = usage_from(None, &sample);
        assert_eq!((usage.net_rx, usage.net_tx), (max, max));
        assert_eq!((usage.block_read, usage.block_write), (max, max));
    }
}
