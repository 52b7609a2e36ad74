//! The TCP ports in LISTEN, as netstat reads them: `/proc/net/tcp` and
//! `/proc/net/tcp6`, of this host or (their text handed in) of a
//! container. The kernel lists listening sockets before connected ones,
//! so a capped read of a busy table still holds every listener.

use std::collections::BTreeSet;
use std::io::BufRead;

/// The state column's value for a socket in LISTEN.
const LISTEN: &str = "0A";
/// 127.0.0.11 as the table writes it: Docker's embedded DNS resolver,
/// which listens on a random port in every container of a user-defined
/// network (compose's default). Not the service's: never a stranger.
const DOCKER_DNS: &str = "0B00007F";

/// The ports listening on this host (its network namespace): IPv4, and
/// IPv6 where the kernel has it.
pub(crate) fn listening() -> std::io::Result<BTreeSet<u16>> {
    let mut ports = read("/proc/net/tcp")?;
    if let Ok(more) = read("/proc/net/tcp6") {
        ports.extend(more);
    }
    Ok(ports)
}

/// Streams one table, line by line.
fn read(path: &str) -> std::io::Result<BTreeSet<u16>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut ports = BTreeSet::new();
    for line in file.lines() {
        ports.extend(listener(&line?));
    }
    Ok(ports)
}

/// The listening ports in the text of `/proc/net/tcp` (or tcp6, or both).
pub(crate) fn parse(text: &str) -> BTreeSet<u16> {
    text.lines().filter_map(listener).collect()
}

/// `  1: 00000000:1F90 00000000:0000 0A …`: the local port, for a listener.
fn listener(line: &str) -> Option<u16> {
    let mut fields = line.split_whitespace();
    let local = fields.nth(1)?;
    let state = fields.nth(1)?;
    if state != LISTEN {
        return None;
    }
    let (address, port) = local.rsplit_once(':')?;
    if address == DOCKER_DNS {
        return None;
    }
    u16::from_str_radix(port, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listeners_count_and_v4_and_v6_meet_and_dockers_dns_is_left_out() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
           1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n\
           2: 0100007F:1538 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0\n\
           3: 0B00007F:A429 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0\n\
           0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0 0 0 0 0\n\
           1: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 0 0 0 0 0\n";
        assert_eq!(parse(text), BTreeSet::from([443, 5432, 8080]));
        assert!(parse("").is_empty());
    }
}
