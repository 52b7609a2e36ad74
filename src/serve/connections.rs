//! The HTTP side's connections, kept from taking the agent down: at most
//! `cap()` open at once (a quarter of the open-file limit, at most 256, so
//! the scheduled runs always have file descriptors left), and at the cap
//! a new connection makes room by closing the one that has waited longest
//! for a request, and is served once that one's socket is closed. A
//! connection on which no byte moves either way for `IDLE_TIMEOUT` (a body
//! that stops coming, an answer that is not read) is closed; hyper closes
//! one whose request head does not arrive within `HEADER_TIMEOUT`. Accept
//! errors that are not one connection's (out of file descriptors) pause
//! the accept loop instead of spinning it.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::Logger;

/// How long a request's head may take to arrive in full, on a new
/// connection or on one kept alive after an answer.
pub(super) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection may go without a byte read or written.
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the accept loop pauses after an error that is not one
/// connection's (`Too many open files`).
pub(super) const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// The most connections open at once, whatever the open-file limit.
const MOST: usize = 256;

/// The cap on open connections: a quarter of the soft open-file limit
/// (`ulimit -n`), at most `MOST`.
pub(super) fn cap() -> usize {
    cap_of(rustix::process::getrlimit(rustix::process::Resource::Nofile).current)
}

/// `limit` None is unlimited.
fn cap_of(limit: Option<u64>) -> usize {
    limit.map_or(MOST, |limit| {
        usize::try_from(limit / 4).unwrap_or(MOST).clamp(1, MOST)
    })
}

/// The clock the stamps count from.
static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);

fn millis() -> u64 {
    u64::try_from(BASE.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// When something last happened on a connection (a request came, a byte
/// moved), shared between the connection and what watches it.
pub(super) struct Stamp(AtomicU64);

impl Stamp {
    pub(super) fn now() -> Stamp {
        Stamp(AtomicU64::new(millis()))
    }

    pub(super) fn touch(&self) {
        self.0.store(millis(), Ordering::Relaxed);
    }

    fn at(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// How long ago it last happened.
    pub(super) fn age(&self) -> Duration {
        Duration::from_millis(millis().saturating_sub(self.at()))
    }
}

/// The open connections, each with when it last asked and the way to
/// close it.
pub(super) struct Connections {
    cap: usize,
    /// A permit per open connection, given back once its socket is closed:
    /// a connection closed to make room has given up its file descriptor
    /// before the next one is served.
    slots: Arc<Semaphore>,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next: u64,
    by_id: HashMap<u64, Entry>,
}

struct Entry {
    asked: Arc<Stamp>,
    /// Dropped to close the connection.
    _close: oneshot::Sender<()>,
}

/// One admitted connection: it leaves the open ones when dropped, which
/// must be after its socket is closed.
pub(super) struct Admitted {
    id: u64,
    connections: Arc<Connections>,
    _slot: OwnedSemaphorePermit,
    /// Touched at each request.
    pub(super) asked: Arc<Stamp>,
    /// Ready when the connection is to be closed to make room.
    pub(super) closing: oneshot::Receiver<()>,
}

impl Connections {
    pub(super) fn new(cap: usize) -> Arc<Connections> {
        let cap = cap.max(1);
        Arc::new(Connections {
            cap,
            slots: Arc::new(Semaphore::new(cap)),
            open: Mutex::new(Open::default()),
        })
    }

    pub(super) fn cap(&self) -> usize {
        self.cap
    }

    /// A new connection, admitted; at the cap the open connection that has
    /// waited longest for a request (since it was accepted, or since its
    /// last request came) is closed to make room first, and `true` says so.
    /// None: the slots are gone (never, while the agent runs).
    pub(super) async fn admit(self: &Arc<Self>) -> Option<(Admitted, bool)> {
        let (slot, made_room) = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => (slot, false),
            Err(_) => {
                self.close_oldest();
                (self.slots.clone().acquire_owned().await.ok()?, true)
            }
        };
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (close, closing) = oneshot::channel();
        let asked = Arc::new(Stamp::now());
        let id = open.next;
        open.next += 1;
        open.by_id.insert(
            id,
            Entry {
                asked: asked.clone(),
                _close: close,
            },
        );
        let admitted = Admitted {
            id,
            connections: self.clone(),
            _slot: slot,
            asked,
            closing,
        };
        Some((admitted, made_room))
    }

    /// Tells the connection that has waited longest for a request to close
    /// (one already told is no longer among the open ones).
    fn close_oldest(&self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest = open
            .by_id
            .iter()
            .min_by_key(|(_, entry)| entry.asked.at())
            .map(|(id, _)| *id);
        if let Some(oldest) = oldest {
            open.by_id.remove(&oldest);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_id
            .len()
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.by_id.remove(&self.id);
    }
}

/// A stream that stamps each read and write that moves a byte.
pub(super) struct Watched<S> {
    inner: S,
    moved: Arc<Stamp>,
}

impl<S> Watched<S> {
    pub(super) fn new(inner: S, moved: Arc<Stamp>) -> Watched<S> {
        Watched { inner, moved }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.moved.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.moved.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.moved.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The accept loop's errors: one connection's (it went before it was
/// taken) are passed over; any other (out of file descriptors) pauses the
/// loop for `ACCEPT_PAUSE`. The first is told, and once a connection is
/// accepted again, that is told too; then nothing for `TOLD_EVERY`, so a
/// loop that fails and accepts by turns does not flood the log.
#[derive(Default)]
pub(super) struct AcceptErrors {
    /// Errors since the last line told.
    failed: u64,
    /// Whether a line said the loop is failing, and none yet that it
    /// accepts again.
    failing: bool,
    /// When a line last said the loop is failing.
    told: Option<Instant>,
}

/// What the accept loop does after an error.
#[derive(Debug, PartialEq)]
pub(super) enum AfterError {
    /// Accept again at once.
    Retry,
    /// Pause first; log the line, when there is one.
    Pause(Option<String>),
}

impl AcceptErrors {
    pub(super) fn failed(&mut self, error: &io::Error) -> AfterError {
        use io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
        if matches!(
            error.kind(),
            ConnectionAborted | ConnectionReset | Interrupted
        ) {
            return AfterError::Retry;
        }
        self.failed += 1;
        let tell = !self.failing && self.told.is_none_or(|at| at.elapsed() >= TOLD_EVERY);
        if tell {
            self.failing = true;
            self.told = Some(Instant::now());
        }
        AfterError::Pause(tell.then(|| error.to_string()))
    }

    /// A connection was accepted: when a line said the loop was failing,
    /// how many errors came since the last line.
    pub(super) fn accepted(&mut self) -> Option<u64> {
        if !std::mem::take(&mut self.failing) {
            return None;
        }
        Some(std::mem::take(&mut self.failed))
    }
}

/// How often the accept loop may say it is failing.
const TOLD_EVERY: Duration = Duration::from_secs(60);

/// The log of connections closed to make room at the cap: a line at the
/// first, then at most one a minute, counting them.
#[derive(Default)]
pub(super) struct Crowded {
    told: Option<Instant>,
    closed: u64,
}

impl Crowded {
    pub(super) fn closed(&mut self, logger: &Logger, cap: usize) {
        self.closed += 1;
        if self.told.is_some_and(|at| at.elapsed() < CROWDED_EVERY) {
            return;
        }
        logger.event(
            "connections at the cap",
            &[
                ("cap", cap.to_string()),
                ("closed", self.closed.to_string()),
                (
                    "reason",
                    "each new one closes the one that waited longest for a request".to_string(),
                ),
            ],
        );
        self.told = Some(Instant::now());
        self.closed = 0;
    }
}

/// How often the cap's log line may come.
const CROWDED_EVERY: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_a_quarter_of_the_open_file_limit_at_most_256() {
        assert_eq!(cap_of(Some(64)), 16);
        assert_eq!(cap_of(Some(1024)), 256);
        assert_eq!(cap_of(Some(1_048_576)), 256);
        assert_eq!(cap_of(Some(3)), 1);
        assert_eq!(cap_of(None), 256);
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_waiting_for_a_request_is_closed_before_the_next_is_served() {
        let connections = Connections::new(2);
        let (mut first, made_room) = connections.admit().await.expect("a slot");
        assert!(!made_room);
        let (mut second, _) = connections.admit().await.expect("a slot");
        // The first asks now: the second has waited longest.
        std::thread::sleep(Duration::from_millis(5));
        first.asked.touch();
        let third = {
            let connections = connections.clone();
            tokio::spawn(async move { connections.admit().await })
        };
        // The second is told to close; the third waits until it has.
        assert!((&mut second.closing).await.is_err());
        assert!(matches!(
            first.closing.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
        assert!(!third.is_finished());
        drop(second);
        let (mut third, made_room) = third.await.expect("admitted").expect("a slot");
        assert!(made_room);
        assert_eq!(connections.len(), 2);
        assert!(matches!(
            third.closing.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
        drop(first);
        assert_eq!(connections.len(), 1);
        let (_, made_room) = connections.admit().await.expect("a slot");
        assert!(!made_room);
    }

    #[test]
    fn out_of_file_descriptors_pauses_the_accept_loop_and_is_told_at_most_once_a_minute() {
        let mut errors = AcceptErrors::default();
        let emfile = io::Error::from_raw_os_error(24);
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(errors.failed(&aborted), AfterError::Retry);
        assert_eq!(errors.accepted(), None);
        assert_eq!(
            errors.failed(&emfile),
            AfterError::Pause(Some("Too many open files (os error 24)".into()))
        );
        assert_eq!(errors.failed(&emfile), AfterError::Pause(None));
        assert_eq!(errors.failed(&aborted), AfterError::Retry);
        assert_eq!(errors.accepted(), Some(2));
        assert_eq!(errors.accepted(), None);
        // Failing again within the minute: counted, not told.
        assert_eq!(errors.failed(&emfile), AfterError::Pause(None));
        assert_eq!(errors.accepted(), None);
        errors.told = Instant::now().checked_sub(TOLD_EVERY);
        assert!(matches!(errors.failed(&emfile), AfterError::Pause(Some(_))));
        assert_eq!(errors.accepted(), Some(2));
    }
}
