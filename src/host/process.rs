//! A process of this host told apart from any later one that gets the
//! same pid: its pid, its start time (field 22 of `/proc/<pid>/stat`, in
//! clock ticks since boot) and the boot it runs in
//! (`/proc/sys/kernel/random/boot_id`). A pid alone is not enough: the
//! kernel hands a freed pid to the next process that needs one.

/// This process: what a later look at its pid compares against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub pid: u32,
    /// Clock ticks since boot when it started; None where /proc says nothing.
    pub started: Option<u64>,
    /// The kernel's id of the current boot.
    pub boot: Option<String>,
}

/// What a look at a pid found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// No process has that pid.
    Gone,
    /// A process has it, which started then (None: its start could not be read).
    Running { started: Option<u64> },
}

/// This process, as it can be recognised later.
pub(crate) fn own() -> Identity {
    Identity {
        pid: std::process::id(),
        started: std::fs::read_to_string("/proc/self/stat")
            .ok()
            .as_deref()
            .and_then(start_ticks),
        boot: boot_id(),
    }
}

/// The id of the current boot: a process of another boot is gone, whatever
/// its pid is now.
pub(crate) fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
}

/// Whether a process has `pid` now, and when it started.
pub(crate) fn look(pid: i32) -> Seen {
    // 0 and negative pids name groups of processes to signal, never one
    // process (and rustix asserts against them): a label no drill writes.
    if pid <= 0 {
        return Seen::Gone;
    }
    let Some(raw) = rustix::process::Pid::from_raw(pid) else {
        return Seen::Gone;
    };
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        return Seen::Running {
            started: start_ticks(&stat),
        };
    }
    // No /proc, or one that hides other users' processes: only a signal 0
    // can tell, and one the kernel refuses (EPERM) still means it exists.
    match rustix::process::test_kill_process(raw) {
        Err(rustix::io::Errno::SRCH) => Seen::Gone,
        _ => Seen::Running { started: None },
    }
}

/// Field 22 (starttime) of a `/proc/<pid>/stat` line. The command name
/// (field 2) is in parentheses and may hold spaces and parentheses itself,
/// so the fields are counted from the last `)`.
fn start_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // Field 3 (state) is the first after the name: starttime is the 20th.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_counted_from_the_last_parenthesis() {
        let stat = "4242 (od) d (x) S 1 4242 4242 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0 \
                    987654 2490368 180 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(start_ticks(stat), Some(987_654));
        assert_eq!(start_ticks("12 (sleep) S 1 2"), None);
        assert_eq!(start_ticks("no parenthesis"), None);
    }

    #[test]
    fn this_process_is_seen_running_with_its_own_start() {
        let me = own();
        let pid = i32::try_from(me.pid).expect("pid fits");
        assert!(me.started.is_some(), "{me:?}");
        assert_eq!(
            look(pid),
            Seen::Running {
                started: me.started
            }
        );
        assert_eq!(look(0), Seen::Gone);
        assert_eq!(look(-1), Seen::Gone);
    }
}
