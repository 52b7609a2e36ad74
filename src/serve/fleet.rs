//! The HTTP side of a fleet's agents (`opsbook --fleet FILE serve`): one
//! listener for every host's agent. `/metrics` is each host's metrics with
//! a `host` label on every sample (each family's HELP and TYPE once),
//! `/healthz` is healthy while every host is (the body a line per host),
//! `/healthz/HOST` and `/healthz/HOST/CHECK` are one host's, `/status.json`
//! has each host's under `hosts`, and the page a section per host.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use jiff::Timestamp;

use super::Shared;
use super::http::{code, decode, reply};
use super::page::HostView;

const TEXT: &str = "text/plain; charset=utf-8";

pub(super) fn answer(
    title: &str,
    hosts: &[(Option<String>, Arc<Shared>)],
    path: &str,
    now: Timestamp,
) -> Response<Full<Bytes>> {
    let named: Vec<(&str, &Shared)> = hosts
        .iter()
        .map(|(name, shared)| (name.as_deref().unwrap_or("-"), shared.as_ref()))
        .collect();
    match path {
        "/metrics" => {
            let parts: Vec<(&str, Bytes)> = named
                .iter()
                .map(|(name, shared)| {
                    let cache = read(shared);
                    let body = shared.rendered("/metrics", cache.generation, now, || {
                        super::metrics::render(&cache)
                    });
                    (*name, body)
                })
                .collect();
            reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                labelled(&parts),
            )
        }
        "/status.json" => {
            let mut all = serde_json::Map::new();
            for (name, shared) in &named {
                all.insert(
                    (*name).to_string(),
                    read(shared).to_json(&shared.redactor()),
                );
            }
            reply(
                StatusCode::OK,
                "application/json",
                serde_json::json!({ "hosts": all }).to_string(),
            )
        }
        "/healthz" => {
            let mut healthy = true;
            let mut body = String::new();
            for (name, shared) in &named {
                let verdict = super::health::overall(&read(shared), &shared.timetable(), now);
                healthy &= verdict.healthy;
                for line in verdict.body.lines() {
                    body.push_str(&format!("{name}: {line}\n"));
                }
            }
            reply(code(if healthy { 200 } else { 503 }), TEXT, body)
        }
        "/" => {
            let caches: Vec<_> = named.iter().map(|(_, shared)| read(shared)).collect();
            let timetables: Vec<_> = named.iter().map(|(_, shared)| shared.timetable()).collect();
            let views: Vec<HostView<'_>> = named
                .iter()
                .zip(&caches)
                .zip(&timetables)
                .map(|(((name, shared), cache), timetable)| HostView {
                    name,
                    cache,
                    verdict: super::health::overall(cache, timetable, now),
                    timetable,
                    redactor: shared.redactor(),
                })
                .collect();
            reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                super::page::render_fleet(title, &views, now),
            )
        }
        _ => one_host(&named, path, now),
    }
}

/// `/healthz/HOST` and `/healthz/HOST/CHECK`.
fn one_host(named: &[(&str, &Shared)], path: &str, now: Timestamp) -> Response<Full<Bytes>> {
    let not_found = || {
        let hosts: Vec<&str> = named.iter().map(|(name, _)| *name).collect();
        reply(
            StatusCode::NOT_FOUND,
            TEXT,
            format!(
                "not found: /, /status.json, /metrics, /healthz, /healthz/HOST, /healthz/HOST/CHECK (hosts: {})\n",
                hosts.join(", ")
            ),
        )
    };
    let Some(rest) = path.strip_prefix("/healthz/") else {
        return not_found();
    };
    let (host, check) = match rest.split_once('/') {
        Some((host, check)) => (decode(host), Some(decode(check))),
        None => (decode(rest), None),
    };
    let Some((_, shared)) = named.iter().find(|(name, _)| *name == host) else {
        return not_found();
    };
    let cache = read(shared);
    let timetable = shared.timetable();
    let verdict = match &check {
        None => Some(super::health::overall(&cache, &timetable, now)),
        Some(check) => super::health::one(&cache, &timetable, check, now),
    };
    match verdict {
        Some(verdict) => reply(code(verdict.code()), TEXT, verdict.body),
        None => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            format!(
                "no result `{}` in {host}'s last daily-check\n",
                check.unwrap_or_default()
            ),
        ),
    }
}

fn read(shared: &Shared) -> std::sync::RwLockReadGuard<'_, super::cache::Cache> {
    match shared.cache.read() {
        Ok(cache) => cache,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Each host's exposition with `host="NAME"` first on every sample, the
/// families merged: a family's HELP and TYPE once, then every host's
/// samples of it, in the order the families first come.
fn labelled(parts: &[(&str, Bytes)]) -> String {
    let mut families: Vec<(String, String, String)> = Vec::new();
    for (host, text) in parts {
        let text = String::from_utf8_lossy(text);
        let host = super::metrics::label(host);
        let mut current: Option<usize> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default().to_string();
                let at = match families.iter().position(|(n, _, _)| *n == name) {
                    Some(at) => at,
                    None => {
                        families.push((name, String::new(), String::new()));
                        families.len() - 1
                    }
                };
                if families[at].1.is_empty() {
                    families[at].1.push_str(line);
                    families[at].1.push('\n');
                }
                current = Some(at);
            } else if line.starts_with("# TYPE ") {
                if let Some(at) = current
                    && !families[at].1.contains("# TYPE ")
                {
                    families[at].1.push_str(line);
                    families[at].1.push('\n');
                }
            } else if !line.is_empty()
                && let Some(at) = current
            {
                let sample = match line.find(['{', ' ']) {
                    Some(i) if line[i..].starts_with("{}") => {
                        format!("{}{{host=\"{host}\"}}{}", &line[..i], &line[i + 2..])
                    }
                    Some(i) if line[i..].starts_with('{') => {
                        format!("{}{{host=\"{host}\",{}", &line[..i], &line[i + 1..])
                    }
                    Some(i) => format!("{}{{host=\"{host}\"}}{}", &line[..i], &line[i..]),
                    None => continue,
                };
                families[at].2.push_str(&sample);
                families[at].2.push('\n');
            }
        }
    }
    families
        .into_iter()
        .map(|(_, header, samples)| header + &samples)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_gets_its_host_and_each_family_its_header_once() {
        let a = Bytes::from(
            "# HELP opsbook_up Up.\n# TYPE opsbook_up gauge\nopsbook_up 1\n# HELP opsbook_check_status S.\n# TYPE opsbook_check_status gauge\nopsbook_check_status{name=\"web\"} 0\n",
        );
        let b = Bytes::from(
            "# HELP opsbook_up Up.\n# TYPE opsbook_up gauge\nopsbook_up 0\n# HELP opsbook_check_status S.\n# TYPE opsbook_check_status gauge\nopsbook_check_status{name=\"web\"} 2\n",
        );
        assert_eq!(
            labelled(&[("a", a), ("b", b)]),
            "# HELP opsbook_up Up.\n# TYPE opsbook_up gauge\nopsbook_up{host=\"a\"} 1\nopsbook_up{host=\"b\"} 0\n\
             # HELP opsbook_check_status S.\n# TYPE opsbook_check_status gauge\n\
             opsbook_check_status{host=\"a\",name=\"web\"} 0\nopsbook_check_status{host=\"b\",name=\"web\"} 2\n"
        );
    }
}
