//! The agent's HTTP side (hyper, HTTP/1.1): `/metrics`, `/healthz`,
//! `/healthz/CHECK`, `/` and `/status.json` (the page's figures as JSON),
//! read-only, answered from the cache. With a token every request must
//! carry `Authorization: Bearer TOKEN`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{Shared, Site};

/// Serves `listener` until `stop` turns true; connections in hand finish.
pub(super) async fn serve(listener: TcpListener, site: Arc<Site>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let site = site.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let site = site.clone();
                async move { Ok::<_, Infallible>(answer(&site, &request)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(site: &Site, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if let Some(token) = &site.token {
        let given = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same(given.as_bytes(), token.as_bytes()) {
            let mut response = reply(
                StatusCode::UNAUTHORIZED,
                "text/plain; charset=utf-8",
                "a bearer token is required: Authorization: Bearer TOKEN\n",
            );
            response
                .headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "read-only: GET or HEAD\n",
        );
    }
    let path = request.uri().path();
    let now = jiff::Timestamp::now();
    match &site.hosts[..] {
        [(None, shared)] => one_agent(shared, path, now),
        hosts => super::fleet::answer(site.fleet.as_deref().unwrap_or("fleet"), hosts, path, now),
    }
}

/// The answer of a runbook's own agent.
fn one_agent(shared: &Shared, path: &str, now: jiff::Timestamp) -> Response<Full<Bytes>> {
    let cache = match shared.cache.read() {
        Ok(cache) => cache,
        Err(poisoned) => poisoned.into_inner(),
    };
    let timetable = shared.timetable();
    match path {
        "/metrics" => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            shared.rendered("/metrics", cache.generation, now, || {
                super::metrics::render(&cache)
            }),
        ),
        "/status.json" => reply(
            StatusCode::OK,
            "application/json",
            cache.to_json(&shared.redactor()).to_string(),
        ),
        "/healthz" => {
            let verdict = super::health::overall(&cache, &timetable, now);
            reply(
                code(verdict.code()),
                "text/plain; charset=utf-8",
                verdict.body,
            )
        }
        "/" => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            shared.rendered("/", cache.generation, now, || {
                let verdict = super::health::overall(&cache, &timetable, now);
                super::page::render(&cache, &verdict, &timetable, &shared.redactor(), now)
            }),
        ),
        _ => match path.strip_prefix("/healthz/") {
            Some(name) => match super::health::one(&cache, &timetable, &decode(name), now) {
                Some(verdict) => reply(
                    code(verdict.code()),
                    "text/plain; charset=utf-8",
                    verdict.body,
                ),
                None => reply(
                    StatusCode::NOT_FOUND,
                    "text/plain; charset=utf-8",
                    format!("no result `{}` in the last daily-check\n", decode(name)),
                ),
            },
            None => reply(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found: /, /status.json, /metrics, /healthz, /healthz/CHECK\n",
            ),
        },
    }
}

pub(super) fn code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(super) fn reply(
    status: StatusCode,
    kind: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `%20` and the like in a check's name (UTF-8; a bad escape stays as written).
pub(super) fn decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| path.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Compares in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_paths_are_decoded_and_tokens_compared_whole() {
        assert_eq!(decode("copy%20offsite"), "copy offsite");
        assert_eq!(decode("a+b"), "a+b");
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
    }
}
