//! The agent's HTTP side (hyper, HTTP/1.1): `/metrics`, `/healthz`,
//! `/healthz/CHECK`, `/` and `/status.json` (the page's figures as JSON),
//! read-only, answered from the cache; and the heartbeats' pings
//! (`/ping/NAME`), the one thing a request records. With a token every
//! request must carry it, as `Authorization: Bearer TOKEN` or as the
//! password of HTTP Basic (a browser asks for it once). Clients cannot hold it: the
//! limits on connections (header and idle timeouts, a cap) are kept with
//! `connections`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::connections::{
    self, ACCEPT_PAUSE, AcceptErrors, Admitted, AfterError, Connections, Crowded, HEADER_TIMEOUT,
    IDLE_TIMEOUT, Stamp, Watched,
};
use super::{Logger, Shared, Site};
use base64::Engine as _;

/// Serves `listener` until `stop` turns true; connections in hand finish.
/// Connections are kept within `connections`' limits; an accept error that
/// is not one connection's pauses the loop (`ACCEPT_PAUSE`) instead of
/// spinning it, told once until a connection is accepted again.
pub(super) async fn serve(
    listener: TcpListener,
    site: Arc<Site>,
    logger: Logger,
    mut stop: watch::Receiver<bool>,
) {
    let connections = Connections::new(connections::cap());
    let mut errors = AcceptErrors::default();
    let mut crowded = Crowded::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => match errors.failed(&e) {
                AfterError::Retry => continue,
                AfterError::Pause(told) => {
                    if let Some(error) = told {
                        logger.event(
                            "accept failing",
                            &[
                                ("error", error),
                                ("pause", format!("{}ms", ACCEPT_PAUSE.as_millis())),
                            ],
                        );
                    }
                    tokio::select! {
                        () = tokio::time::sleep(ACCEPT_PAUSE) => continue,
                        _ = stop.wait_for(|stop| *stop) => return,
                    }
                }
            },
        };
        if let Some(failed) = errors.accepted() {
            logger.event("accepting again", &[("failed", failed.to_string())]);
        }
        let Some((admitted, made_room)) = connections.admit().await else {
            return;
        };
        if made_room {
            crowded.closed(&logger, connections.cap());
        }
        tokio::spawn(connection(stream, admitted, site.clone()));
    }
}

/// Serves one connection until the client is done, its request head does
/// not arrive within `HEADER_TIMEOUT`, no byte moves for `IDLE_TIMEOUT`,
/// or it is closed to make room; it leaves the open ones once its socket
/// is closed.
async fn connection(stream: TcpStream, mut admitted: Admitted, site: Arc<Site>) {
    let moved = Arc::new(Stamp::now());
    {
        let asked = admitted.asked.clone();
        let service = hyper::service::service_fn(move |request| {
            asked.touch();
            let site = site.clone();
            async move { Ok::<_, Infallible>(answer(&site, &request)) }
        });
        let served = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(Watched::new(stream, moved.clone())), service);
        tokio::select! {
            _ = served => {}
            _ = &mut admitted.closing => {}
            () = idle(&moved) => {}
        }
    }
    drop(admitted);
}

/// Ready once nothing has moved for `IDLE_TIMEOUT`.
async fn idle(moved: &Stamp) {
    loop {
        let age = moved.age();
        if age >= IDLE_TIMEOUT {
            return;
        }
        tokio::time::sleep(IDLE_TIMEOUT - age).await;
    }
}

fn answer(site: &Site, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if let Some(token) = &site.token
        && !authorized(request, token)
    {
        return unauthorized(request);
    }
    let path = request.uri().path();
    if let Some(rest) = path.strip_prefix("/ping/") {
        return super::pings::ping(site, request.method(), rest);
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "read-only: GET or HEAD (a ping may POST to /ping/NAME)\n",
        );
    }
    let now = jiff::Timestamp::now();
    match &site.hosts[..] {
        [(None, shared)] => one_agent(shared, path, now),
        hosts => super::fleet::answer(site.fleet.as_deref().unwrap_or("fleet"), hosts, path, now),
    }
}

/// The token given as `Authorization: Bearer TOKEN` (Prometheus, scripts),
/// or as the password of HTTP Basic with any user name (a browser, which
/// asks for it once).
fn authorized(request: &Request<Incoming>, token: &str) -> bool {
    let Some(given) = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    if let Some(bearer) = given.strip_prefix("Bearer ") {
        return same(bearer.trim().as_bytes(), token.as_bytes());
    }
    let basic = given
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        });
    let Some(pair) = basic else {
        return false;
    };
    match pair.iter().position(|b| *b == b':') {
        Some(colon) => same(&pair[colon + 1..], token.as_bytes()),
        None => false,
    }
}

/// A 401: a page request (`/`, or one that accepts HTML) is challenged
/// for HTTP Basic, so a browser asks for the token once; any other for a
/// bearer token.
fn unauthorized(request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let page = request.uri().path() == "/"
        || request
            .headers()
            .get(hyper::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    let mut response = reply(
        StatusCode::UNAUTHORIZED,
        "text/plain; charset=utf-8",
        "the token is required: `Authorization: Bearer TOKEN`, or TOKEN as the password of HTTP Basic (any user name)\n",
    );
    let challenge = if page {
        "Basic realm=\"opsbook\", charset=\"UTF-8\""
    } else {
        "Bearer realm=\"opsbook\""
    };
    response
        .headers_mut()
        .insert("www-authenticate", HeaderValue::from_static(challenge));
    response
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
                "not found: /, /status.json, /metrics, /healthz, /healthz/CHECK, /ping/NAME\n",
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
