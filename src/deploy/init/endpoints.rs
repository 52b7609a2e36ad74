//! A service's published ports turned into checks: each is asked the usual
//! health paths on its host address (loopback for a wildcard binding); the
//! first to answer 2xx or 3xx becomes an `http` check with that status and
//! a latency limit, a port that does not answer HTTP a `tcp` check. A
//! database's ports are not asked HTTP at all (Redis logs it as an attack).

use std::time::Duration;

use futures_util::future::join_all;

use crate::docker::Published;

/// The paths asked, in order.
pub(super) const HEALTH_PATHS: [&str; 5] = ["/health", "/healthz", "/api/health", "/status", "/"];
/// How long one path may take to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What a published port became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Endpoint {
    Http {
        url: String,
        status: u16,
        max_latency: Duration,
    },
    Tcp {
        host: String,
        port: u16,
        /// Why it is not an http check, for the notes (none for a database).
        why: Option<String>,
    },
}

/// Each of `ports` as an endpoint check; `http` says whether to ask HTTP.
pub(super) async fn endpoints(ports: &[Published], http: bool) -> Vec<Endpoint> {
    join_all(ports.iter().map(|p| endpoint(p, http))).await
}

async fn endpoint(port: &Published, http: bool) -> Endpoint {
    let host = match port.host_ip.as_str() {
        "" | "0.0.0.0" | "::" => "127.0.0.1".to_string(),
        ip if ip.contains(':') => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let tcp = |why: Option<String>| Endpoint::Tcp {
        host: host.trim_matches(['[', ']']).to_string(),
        port: port.host_port,
        why,
    };
    if !http {
        return tcp(None);
    }
    let mut answers = Vec::new();
    for path in HEALTH_PATHS {
        let url = format!("http://{host}:{}{path}", port.host_port);
        match crate::check::answer_of(&url, PROBE_TIMEOUT).await {
            Ok((status, latency)) if (200..400).contains(&status) => {
                return Endpoint::Http {
                    url,
                    status,
                    max_latency: latency_limit(latency),
                };
            }
            Ok((status, _)) => answers.push(format!("{path} {status}")),
            // Not HTTP (or nothing answers): no other path will do better.
            Err(reason) => {
                return tcp(Some(format!(
                    "no HTTP answer on {} ({reason})",
                    port.host_port
                )));
            }
        }
    }
    tcp(Some(format!(
        "no 2xx or 3xx answer on {} ({})",
        port.host_port,
        answers.join(", ")
    )))
}

/// Ten times what the probe took, in whole seconds, at least 2 s: room for
/// a busy day, still a page when it crawls.
fn latency_limit(latency: Duration) -> Duration {
    let seconds = (latency.as_secs_f64() * 10.0).ceil().max(2.0);
    Duration::from_secs(seconds as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latency_limit_is_ten_times_the_probe_in_whole_seconds() {
        assert_eq!(
            latency_limit(Duration::from_millis(3)),
            Duration::from_secs(2)
        );
        assert_eq!(
            latency_limit(Duration::from_millis(250)),
            Duration::from_secs(3)
        );
        assert_eq!(
            latency_limit(Duration::from_millis(1200)),
            Duration::from_secs(12)
        );
    }
}
