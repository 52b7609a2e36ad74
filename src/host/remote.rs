//! The figures of the engine's host when it is another machine: a helper
//! container there (`Deployment::look_at_host`) prints `/proc/meminfo`,
//! `/proc/loadavg` and `stat -f` of each disk path below the host's `/`,
//! and the same arithmetic as here (`free`, `df`) is done on what it
//! printed. `/proc` in a container is the host's: no lxcfs on an engine's
//! host masks it, and memory, load and CPU are machine-wide. The network
//! is not (the helper has none of its own): its counters are those of the
//! host's first process, `$HOST_ROOT/proc/1/net/dev`, with the host's
//! virtual interfaces from its `/sys/devices/virtual/net`. A sample prints
//! `/proc/uptime` beside its counters, so the rates are over the time that
//! passed there.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::sample::Counters;
use super::{Counts, DiskUsage, HostSnapshot, Usage};
use crate::docker::Deployment;

/// Run with the disk paths as `$1`… and the host's `/` at `$HOST_ROOT`;
/// each section starts with a `---` line.
const SCRIPT: &str = r#"cat /proc/meminfo; echo '--- load'; cat /proc/loadavg
for p in "$@"; do echo "--- disk"; stat -f -c '%S %b %f %a %c %d' "$HOST_ROOT$p" 2>&1; done"#;

/// The CPU and network counters, twice `$SAMPLE` seconds apart, before
/// `SCRIPT` (whose `/proc/meminfo` then gets a section line of its own).
const SAMPLED: &str = r#"sample() { echo '--- sample'; cat /proc/uptime; head -n 1 /proc/stat; cat "$HOST_ROOT/proc/1/net/dev" 2>/dev/null
  echo "virtual $(ls "$HOST_ROOT/sys/devices/virtual/net" 2>/dev/null | tr '\n' ' ')"; }
sample; sleep "$SAMPLE"; sample; echo '--- meminfo'
"#;

pub(super) async fn measure(disk_paths: &[PathBuf], gap: Option<Duration>) -> HostSnapshot {
    let deployment = match Deployment::connect(None).await {
        Ok(deployment) => deployment,
        Err(e) => return HostSnapshot::unread(disk_paths, e.to_string()),
    };
    let args: Vec<String> = disk_paths.iter().map(|p| p.display().to_string()).collect();
    let script = match gap {
        Some(gap) => format!("SAMPLE={:.3}\n{SAMPLED}{SCRIPT}", gap.as_secs_f64()),
        None => SCRIPT.to_string(),
    };
    match deployment.look_at_host(&script, &args).await {
        Ok(look) => {
            let mut snapshot = parse(&look.output, disk_paths);
            snapshot.hostname = look.hostname;
            snapshot.cores = look.cores.unwrap_or(1).max(1);
            snapshot.measured_through = Some(format!(
                "a helper container on the engine at {}",
                deployment.endpoint()
            ));
            snapshot
        }
        Err(e) => HostSnapshot::unread(disk_paths, format!("measuring the engine's host: {e}")),
    }
}

/// The snapshot the helper's output describes.
fn parse(output: &str, disk_paths: &[PathBuf]) -> HostSnapshot {
    let mut sections = output.split("--- ");
    let mut samples = Vec::new();
    let mut meminfo = sections.next().unwrap_or_default();
    while meminfo.is_empty() || meminfo.starts_with("sample") {
        if let Some(sample) = meminfo.strip_prefix("sample") {
            samples.push(sample);
        }
        match sections.next() {
            Some(next) => meminfo = next,
            None => break,
        }
    }
    let kib = |key: &str| {
        meminfo.lines().find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            let number = rest.split_whitespace().next()?.parse::<u64>().ok()?;
            Some(number.saturating_mul(1024))
        })
    };
    let memory = match (kib("MemTotal"), kib("MemAvailable")) {
        (Some(total), Some(available)) if total > 0 => Some(Usage {
            used: total.saturating_sub(available),
            total,
        }),
        _ => None,
    };
    let swap = match (kib("SwapTotal"), kib("SwapFree")) {
        (Some(total), Some(free)) => Some(Usage {
            used: total.saturating_sub(free),
            total,
        }),
        _ => None,
    };
    let mut load = [None, None, None];
    let mut disks = Vec::new();
    for section in sections {
        if let Some(rest) = section.strip_prefix("load") {
            for (slot, value) in load.iter_mut().zip(rest.split_whitespace()) {
                *slot = value.parse::<f64>().ok();
            }
        } else if let Some(rest) = section.strip_prefix("disk") {
            let Some(path) = disk_paths.get(disks.len()) else {
                break;
            };
            disks.push(disk(path, rest.trim()));
        }
    }
    // A path the helper printed nothing for (cut short).
    for path in disk_paths.iter().skip(disks.len()) {
        disks.push(DiskUsage {
            path: path.clone(),
            usage: None,
            inodes: None,
            error: Some("the helper printed nothing for it".into()),
        });
    }
    let (cpu, network) = rates(&samples);
    HostSnapshot {
        hostname: None,
        memory,
        swap,
        load1: load[0],
        load5: load[1],
        load15: load[2],
        cores: 1,
        disks,
        cpu,
        network,
        measured_through: None,
        unread: None,
    }
}

/// CPU and network from the two samples, over the uptime between them.
fn rates(samples: &[&str]) -> (Option<super::CpuShare>, Option<super::NetworkRate>) {
    let [first, second] = samples else {
        return (None, None);
    };
    let uptime = |text: &str| -> Option<f64> { text.split_whitespace().next()?.parse().ok() };
    let (a, b) = (Counters::parse(first), Counters::parse(second));
    let took = match (uptime(first), uptime(second)) {
        (Some(from), Some(to)) if to > from => Some(Duration::from_secs_f64(to - from)),
        _ => None,
    };
    (
        a.cpu_share(&b),
        took.and_then(|took| a.network_rate(&b, took)),
    )
}

/// One path's `stat -f -c '%S %b %f %a %c %d'` line, or its error.
fn disk(path: &Path, said: &str) -> DiskUsage {
    let numbers: Vec<u64> = said
        .split_whitespace()
        .map_while(|n| n.parse().ok())
        .collect();
    if let [block, blocks, free, available, files, files_free] = numbers[..] {
        return DiskUsage::from_counts(
            path,
            Counts {
                block,
                blocks,
                free,
                available,
                files,
                files_free,
            },
        );
    }
    // `stat: can't read file system information for '/host/x': No such file or directory`
    let why = said
        .rsplit(": ")
        .next()
        .filter(|w| !w.is_empty())
        .unwrap_or("stat printed nothing");
    DiskUsage {
        path: path.to_path_buf(),
        usage: None,
        inodes: None,
        error: Some(why.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helpers_output_gives_free_and_df_figures() {
        let output = "MemTotal:       16000 kB\nMemFree:         1000 kB\nMemAvailable:    4000 kB\nSwapTotal:       2000 kB\nSwapFree:        1500 kB\n--- load\n0.50 0.40 0.30 1/200 999\n--- disk\n4096 1000 400 300 500 100\n--- disk\nstat: can't read file system information for '/host/nope': No such file or directory\n";
        let snapshot = parse(output, &["/".into(), "/nope".into()]);
        let memory = snapshot.memory.expect("memory");
        assert_eq!((memory.used, memory.total), (12000 * 1024, 16000 * 1024));
        let swap = snapshot.swap.expect("swap");
        assert_eq!((swap.used, swap.total), (500 * 1024, 2000 * 1024));
        assert_eq!(
            (snapshot.load1, snapshot.load5, snapshot.load15),
            (Some(0.5), Some(0.4), Some(0.3))
        );
        let root = snapshot.disks[0].usage.expect("disk");
        // df: used is blocks less free, the total what users can have.
        assert_eq!((root.used, root.total), (600 * 4096, 900 * 4096));
        let inodes = snapshot.disks[0].inodes.expect("inodes");
        assert_eq!((inodes.used, inodes.total), (400, 500));
        assert_eq!(
            snapshot.disks[1].error.as_deref(),
            Some("No such file or directory")
        );
    }

    #[test]
    fn two_samples_give_cpu_and_network_over_the_uptime_between() {
        let sample = |uptime: &str, cpu: &str, eth0: &str| {
            format!(
                "--- sample\n{uptime} 100.00\ncpu  {cpu} 0 0 0 0 0 0\nInter-|   Receive\n face |bytes\n    lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n  eth0: {eth0} 1 0 0 0 0 0 0 {eth0} 1 0 0 0 0 0 0\n"
            )
        };
        let output = format!(
            "{}{}--- meminfo\nMemTotal:       16000 kB\nMemAvailable:    4000 kB\n--- load\n0.50 0.40 0.30 1/200 999\n",
            sample("1000.00", "100 0 100 800", "1000"),
            sample("1000.50", "250 0 150 800", "2000"),
        );
        let snapshot = parse(&output, &[]);
        let cpu = snapshot.cpu.expect("cpu");
        // 200 ticks, none idle: all busy, three quarters user.
        assert_eq!((cpu.busy, cpu.user, cpu.system), (100.0, 75.0, 25.0));
        let network = snapshot.network.expect("network");
        assert_eq!((network.rx, network.tx), (2000.0, 2000.0));
        assert_eq!(network.interfaces, ["eth0"]);
        assert_eq!(snapshot.memory.map(|m| m.total), Some(16000 * 1024));
        assert_eq!(snapshot.load1, Some(0.5));
    }
}
