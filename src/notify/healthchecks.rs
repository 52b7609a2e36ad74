//! healthchecks.io-style ping URLs (Healthchecks, self-hosted or not, and
//! the services that copy its API): `/start` when a run begins, the URL
//! itself on success, `/<exit code>` on failure, each with the same `rid`
//! so the service pairs them and measures the run; the summary is the
//! body. A heartbeat, not an alert: every run of its commands pings, with
//! no streaks. In a maintenance window a failed run is sent to `/log`,
//! which records it without marking the check down.

use super::delivery::Request;
use super::message::{Summary, Tone};

/// Which ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ping {
    Start,
    /// The run ended with this exit code.
    Exit(u8),
    /// Recorded only (a failure in a maintenance window).
    Log,
}

pub(super) fn request(url: &str, ping: Ping, rid: &str, summary: Option<&Summary>) -> Request {
    let suffix = match ping {
        Ping::Start => "/start".to_string(),
        Ping::Exit(0) => String::new(),
        Ping::Exit(code) => format!("/{code}"),
        Ping::Log => "/log".to_string(),
    };
    let body = summary.map(|s| s.text(Tone::Alert)).unwrap_or_default();
    Request::post_text(ping_url(url, &suffix, rid), body)
}

/// `url` with `suffix` added to its path and `rid` to its query.
fn ping_url(url: &str, suffix: &str, rid: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("{query}&")),
        None => (url, String::new()),
    };
    format!("{}{suffix}?{query}rid={rid}", base.trim_end_matches('/'))
}

/// A random UUID (version 4), the run id healthchecks pairs pings by.
pub(super) fn run_id() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness the pings still arrive, unpaired.
    let _ = getrandom::fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ping_has_its_path_and_the_run_id() {
        let url = |ping| request("https://hc.example/abc/", ping, "r1", None).url;
        assert_eq!(url(Ping::Start), "https://hc.example/abc/start?rid=r1");
        assert_eq!(url(Ping::Exit(0)), "https://hc.example/abc?rid=r1");
        assert_eq!(url(Ping::Exit(2)), "https://hc.example/abc/2?rid=r1");
        assert_eq!(url(Ping::Log), "https://hc.example/abc/log?rid=r1");
        assert_eq!(
            request(
                "https://hc.example/key/slug?create=1",
                Ping::Start,
                "r",
                None
            )
            .url,
            "https://hc.example/key/slug/start?create=1&rid=r"
        );
    }

    #[test]
    fn run_ids_are_version_4_uuids() {
        let id = run_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, run_id());
    }
}
