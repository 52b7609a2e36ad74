//! Heartbeats in: the pings of jobs opsbook does not run (an application's
//! cron, certbot, a host backup), taken at `/ping/NAME`,
//! `/ping/NAME/start`, `/ping/NAME/fail` and `/ping/NAME/EXIT-STATUS` as
//! Healthchecks has them. A ping of a heartbeat the runbook names is
//! recorded in the state folder, where daily-check reads it, and taken
//! into the cache the page and metrics show.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use jiff::Timestamp;

use super::http::{decode, reply};
use super::{Shared, Site};
use crate::state::pings::Ping;

/// Why a ping was not taken.
pub(crate) enum Refused {
    /// No heartbeat of that name (the message names those there are).
    Unknown(String),
    /// It could not be recorded.
    Failed(String),
}

impl Shared {
    /// A ping of heartbeat `name`, now: recorded in the state folder (where
    /// daily-check reads it), then taken into the cache.
    fn ping(&self, name: &str, ping: Ping) -> Result<(), Refused> {
        let key = {
            let cache = match self.cache.read() {
                Ok(cache) => cache,
                Err(poisoned) => poisoned.into_inner(),
            };
            if !cache.beats.iter().any(|(beat, _)| beat.name == name) {
                let known: Vec<&str> = cache.beats.iter().map(|(b, _)| b.name.as_str()).collect();
                return Err(Refused::Unknown(if known.is_empty() {
                    format!("unknown heartbeat `{name}`: the runbook has no `heartbeats`")
                } else {
                    format!(
                        "unknown heartbeat `{name}` (heartbeats are: {})",
                        known.join(", ")
                    )
                }));
            }
            cache.state_key.clone()
        };
        let now = Timestamp::now();
        crate::state::pings::record(&self.state_dir, &key, name, ping, now)
            .map_err(|e| Refused::Failed(e.lines().join("; ")))?;
        self.cache().pinged(name, ping, now);
        Ok(())
    }
}

/// `/ping/NAME`, `/ping/NAME/start`, `/ping/NAME/fail`, `/ping/NAME/0`
/// (an exit status: 0 a success, any other a fail), as Healthchecks has
/// them, by GET, POST or HEAD (a body is not read); over a fleet the
/// host's name comes first (`/ping/HOST/NAME`).
pub(super) fn ping(site: &Site, method: &Method, rest: &str) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if ![Method::GET, Method::POST, Method::HEAD].contains(method) {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "a ping is a GET, POST or HEAD\n",
        );
    }
    let mut parts: Vec<String> = rest.split('/').map(decode).collect();
    let shared = match &site.hosts[..] {
        [(None, shared)] => shared,
        hosts => {
            let host = parts.remove(0);
            match hosts
                .iter()
                .find(|(name, _)| name.as_deref() == Some(&host))
            {
                Some((_, shared)) => shared,
                None => {
                    return reply(
                        StatusCode::NOT_FOUND,
                        TEXT,
                        format!("no host `{host}` in the fleet: ping /ping/HOST/NAME\n"),
                    );
                }
            }
        }
    };
    let kind = match parts.get(1).map(String::as_str) {
        None | Some("") => Some(Ping::Success),
        Some("start") => Some(Ping::Start),
        Some("fail") => Some(Ping::Fail),
        Some("0") => Some(Ping::Success),
        Some(status) => status.parse::<u8>().ok().map(|_| Ping::Fail),
    };
    let (Some(name), Some(kind), None) = (parts.first(), kind, parts.get(2)) else {
        return reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: /ping/NAME, /ping/NAME/start, /ping/NAME/fail or /ping/NAME/EXIT-STATUS\n",
        );
    };
    match shared.ping(name, kind) {
        Ok(()) => reply(StatusCode::OK, TEXT, "OK\n"),
        Err(Refused::Unknown(why)) => reply(StatusCode::NOT_FOUND, TEXT, format!("{why}\n")),
        Err(Refused::Failed(why)) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            TEXT,
            format!("the ping was not recorded: {why}\n"),
        ),
    }
}
