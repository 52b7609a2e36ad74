//! One request to the object store, bounded in time and in size, so a
//! store that accepts and never answers, stops reading an upload, trickles
//! an answer or streams one without end can neither hang a run nor fill
//! its memory:
//!
//! - a request must make progress at least every `timeout`: an upload's
//!   body is handed over in slices (each slice taken is progress), and the
//!   answer's head must come within `timeout` of the last slice;
//! - a small answer (a listing page, a manifest, an error) is read whole
//!   within `timeout` and up to a cap; a download, chunk by chunk, each
//!   chunk within `timeout`, never past the size its manifest gives;
//! - a signal (`Interrupt`) ends whatever is waiting at once.
//!
//! Never the URL in a message: it carries the signature.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::Instant;

use crate::backup::copies::{INTERRUPTED, Small};
use crate::interrupt::Interrupt;
use crate::runbook::units;

/// Bytes of an upload handed over at a time.
const SLICE: usize = 256 * 1024;
/// The most of an error's answer read (its code and message are at the start).
const ERROR_BODY: u64 = 64 * 1024;
/// The longest a clean-up (an abort, a delete after a failure) waits.
const CLEANUP: Duration = Duration::from_secs(5);

/// The client, its deadline and the signal every request heeds.
#[derive(Clone)]
pub(super) struct Wire {
    client: reqwest::Client,
    pub(super) timeout: Duration,
    interrupt: Interrupt,
}

impl Wire {
    pub(super) fn new(timeout: Duration) -> Result<Wire, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Wire {
            client,
            timeout,
            interrupt: Interrupt::never(),
        })
    }

    pub(super) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Every request from now on ends at once when `interrupt` is raised.
    pub(super) fn heed(&mut self, interrupt: &Interrupt) {
        self.interrupt = interrupt.clone();
    }

    /// The same, for cleaning up after a failure or a signal: a short
    /// deadline, and deaf to the signal that may have caused it.
    pub(super) fn cleanup(&self) -> Wire {
        Wire {
            client: self.client.clone(),
            timeout: self.timeout.min(CLEANUP),
            interrupt: Interrupt::never(),
        }
    }

    /// `bytes` as a request body handed over in slices, each one taken
    /// marking `progress`. Its length is `Content-Length` (S3 takes no
    /// chunked upload).
    pub(super) fn body(
        request: reqwest::RequestBuilder,
        bytes: Bytes,
        progress: &Progress,
    ) -> reqwest::RequestBuilder {
        let length = bytes.len();
        let progress = progress.clone();
        let slices = (0..length).step_by(SLICE).map(move |at| {
            progress.tick();
            Ok::<Bytes, std::io::Error>(bytes.slice(at..(at + SLICE).min(length)))
        });
        request
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                slices,
            )))
    }

    /// Sends a request (its body, if any, made with `body` and `progress`);
    /// a status other than 2xx is an error with the store's own code and
    /// message.
    pub(super) async fn send(
        &self,
        request: reqwest::RequestBuilder,
        progress: &Progress,
        key: &str,
        what: &str,
    ) -> Result<reqwest::Response, String> {
        let response = tokio::select! {
            sent = request.send() => sent.map_err(|e| format!("{what} {key}: {}", e.without_url()))?,
            () = progress.stalled(self.timeout) => return Err(self.no_answer(what, key)),
            () = self.interrupt.raised() => return Err(INTERRUPTED.to_string()),
        };
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let said = match self.small(response, ERROR_BODY, key, what).await {
            Ok(Small::Whole(body)) => error_text(&String::from_utf8_lossy(&body)),
            Ok(Small::Over) => format!(
                "an answer larger than {}, not read",
                crate::ui::human::bytes(ERROR_BODY)
            ),
            Err(e) if e == INTERRUPTED => return Err(e),
            Err(_) => error_text(""),
        };
        Err(format!("{what} {key}: {status}: {said}"))
    }

    /// A request without a body.
    pub(super) async fn ask(
        &self,
        request: reqwest::RequestBuilder,
        key: &str,
        what: &str,
    ) -> Result<reqwest::Response, String> {
        self.send(request, &Progress::new(), key, what).await
    }

    /// The answer's body read whole within `timeout`, up to `cap` bytes.
    pub(super) async fn small(
        &self,
        mut response: reqwest::Response,
        cap: u64,
        key: &str,
        what: &str,
    ) -> Result<Small, String> {
        if response.content_length().is_some_and(|n| n > cap) {
            return Ok(Small::Over);
        }
        let read = async {
            let mut bytes = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| format!("{what} {key}: {}", e.without_url()))?
            {
                if (bytes.len() as u64).saturating_add(chunk.len() as u64) > cap {
                    return Ok(Small::Over);
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(Small::Whole(bytes))
        };
        tokio::select! {
            done = tokio::time::timeout(self.timeout, read) => done.unwrap_or_else(|_| Err(self.no_answer(what, key))),
            () = self.interrupt.raised() => Err(INTERRUPTED.to_string()),
        }
    }

    /// The answer's body as a stream of chunks, each within `timeout` of
    /// the one before; a signal ends it.
    pub(super) fn stream(
        &self,
        response: reqwest::Response,
        key: &str,
    ) -> impl futures_util::Stream<Item = Result<Bytes, String>> + Send + Unpin + 'static {
        let (timeout, interrupt, key) = (self.timeout, self.interrupt.clone(), key.to_string());
        let no_answer = self.no_answer("GET", &key);
        Box::pin(futures_util::stream::unfold(
            Some(Box::pin(response.bytes_stream())),
            move |body| {
                let (interrupt, key, no_answer) =
                    (interrupt.clone(), key.clone(), no_answer.clone());
                async move {
                    let mut body = body?;
                    let next = tokio::select! {
                        next = tokio::time::timeout(timeout, body.next()) => next,
                        () = interrupt.raised() => return Some((Err(INTERRUPTED.to_string()), None)),
                    };
                    match next {
                        Err(_) => Some((Err(no_answer), None)),
                        Ok(None) => None,
                        Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(body))),
                        Ok(Some(Err(e))) => {
                            Some((Err(format!("GET {key}: {}", e.without_url())), None))
                        }
                    }
                }
            },
        ))
    }

    fn no_answer(&self, what: &str, key: &str) -> String {
        format!(
            "{what} {key}: no answer within {} (the target's `timeout`)",
            units::Duration(self.timeout)
        )
    }
}

/// When a request last moved: made, or a slice of its body taken.
#[derive(Clone)]
pub(super) struct Progress(Arc<Mutex<Instant>>);

impl Progress {
    pub(super) fn new() -> Progress {
        Progress(Arc::new(Mutex::new(Instant::now())))
    }

    fn tick(&self) {
        if let Ok(mut last) = self.0.lock() {
            *last = Instant::now();
        }
    }

    fn last(&self) -> Instant {
        self.0.lock().map_or_else(|_| Instant::now(), |last| *last)
    }

    /// Resolves once nothing moved for `timeout`.
    async fn stalled(&self, timeout: Duration) {
        loop {
            let until = self.last() + timeout;
            if Instant::now() >= until {
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    }
}

/// The ETag the store gave, unquoted; `None` when it gave none.
pub(super) fn etag_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// `<Tag>text</Tag>` of a small XML answer.
pub(super) fn tag_of(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&#34;", "\""),
    )
}

/// The store's error: its `Code` and `Message`, or the start of the body.
pub(super) fn error_text(body: &str) -> String {
    match (tag_of(body, "Code"), tag_of(body, "Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => crate::redact::quote(body.chars().take(200).collect::<String>().trim()),
    }
}
