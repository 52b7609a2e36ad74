//! This host's process table, read from /proc: the processes of a command
//! name (a `process` check with `where: host`), and the ones using the most
//! memory (Huly's `ps aux --sort=-%mem`, for an incident's evidence), by
//! name only: another process's command line may carry a secret in its
//! arguments, which no redactor can tell from the rest. A process that
//! ends while it is read is skipped.

use serde::Serialize;

/// The kernel keeps a command name to 15 characters.
const COMM_LEN: usize = 15;

/// Whether `comm` (what the kernel keeps) is the command name `name`.
pub(crate) fn is_named(comm: &str, name: &str) -> bool {
    comm == name || (name.len() > COMM_LEN && name.get(..COMM_LEN) == Some(comm))
}

/// The pids of the processes whose command name is `name`.
pub(crate) fn pids_named(name: &str) -> std::io::Result<Vec<u32>> {
    let mut found = Vec::new();
    for pid in pids()? {
        if let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            && is_named(comm.trim_end_matches('\n'), name)
        {
            found.push(pid);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// One process and the memory it holds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MemoryUser {
    pub pid: u32,
    pub name: String,
    /// Resident memory, in bytes.
    pub rss: u64,
    /// Of the host's memory, in percent.
    pub memory_percent: f64,
}

/// The `count` processes holding the most resident memory, largest first.
pub(crate) fn top_by_memory(count: usize) -> std::io::Result<Vec<MemoryUser>> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| kib_of(&text, "MemTotal:"))
        .unwrap_or(0);
    let mut users: Vec<MemoryUser> = pids()?
        .into_iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let rss = kib_of(&status, "VmRSS:")?;
            let name = status
                .lines()
                .find_map(|l| l.strip_prefix("Name:"))
                .unwrap_or("")
                .trim()
                .to_string();
            Some(MemoryUser {
                pid,
                name,
                rss: rss * 1024,
                memory_percent: crate::grade::percent_of(rss, total),
            })
        })
        .collect();
    users.sort_by(|a, b| b.rss.cmp(&a.rss).then(a.pid.cmp(&b.pid)));
    users.truncate(count);
    Ok(users)
}

/// Every pid in /proc.
fn pids() -> std::io::Result<Vec<u32>> {
    Ok(std::fs::read_dir("/proc")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect())
}

/// `MemTotal:  16316412 kB` → 16316412.
fn kib_of(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_as_the_kernel_keeps_them() {
        assert!(is_named("node", "node"));
        assert!(!is_named("nodejs", "node"));
        assert!(is_named("postgres-export", "postgres-exporter"));
        assert_eq!(kib_of("MemTotal:   2048 kB\n", "MemTotal:"), Some(2048));
    }

    #[test]
    fn this_process_is_found_by_its_name_and_the_table_is_sorted() {
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
        let pids = pids_named(comm.trim()).unwrap_or_default();
        assert!(pids.contains(&std::process::id()), "{pids:?}");
        let top = top_by_memory(3).unwrap_or_default();
        assert!(top.windows(2).all(|w| w[0].rss >= w[1].rss), "{top:?}");
    }
}
