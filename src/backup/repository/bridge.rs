//! From Docker's async streams (a dump's stdout, a volume's archive) to
//! the blocking reads of rustic's archiver. A stream starts only when the
//! archiver opens its entry (a dump is not run, holding its database, while
//! other items are read); its chunks then flow through a small bounded
//! channel, and its end carries how it ended, so a dump that exits non-zero
//! is a read error, never a short file.

use std::io::{self, Read};

use tokio::sync::{mpsc, oneshot};

/// Chunks in flight per stream (each up to the engine's frame size).
const CHUNKS: usize = 8;

/// The async side: waits for the archiver to open the entry, then sends.
pub(super) struct Producer {
    start: oneshot::Receiver<()>,
    pub chunks: mpsc::Sender<Vec<u8>>,
    status: oneshot::Sender<Result<(), String>>,
}

impl Producer {
    /// Whether the archiver opened the entry (false: it never will).
    pub(super) async fn opened(&mut self) -> bool {
        (&mut self.start).await.is_ok()
    }

    /// The stream ended: how.
    pub(super) fn end(self, status: Result<(), String>) {
        drop(self.chunks);
        let _ = self.status.send(status);
    }
}

/// The blocking side, read by the archiver.
pub(super) struct Pipe {
    start: Option<oneshot::Sender<()>>,
    chunks: mpsc::Receiver<Vec<u8>>,
    status: Option<oneshot::Receiver<Result<(), String>>>,
    chunk: Vec<u8>,
    at: usize,
}

/// A producer and the pipe it feeds.
pub(super) fn pipe() -> (Producer, Pipe) {
    let (start_tx, start_rx) = oneshot::channel();
    let (chunks_tx, chunks_rx) = mpsc::channel(CHUNKS);
    let (status_tx, status_rx) = oneshot::channel();
    (
        Producer {
            start: start_rx,
            chunks: chunks_tx,
            status: status_tx,
        },
        Pipe {
            start: Some(start_tx),
            chunks: chunks_rx,
            status: Some(status_rx),
            chunk: Vec::new(),
            at: 0,
        },
    )
}

impl Pipe {
    /// Lets the producer start: the archiver is reading.
    pub(super) fn open(mut self) -> Pipe {
        if let Some(start) = self.start.take() {
            let _ = start.send(());
        }
        self
    }
}

impl Read for Pipe {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.chunks.blocking_recv() {
                Some(chunk) => (self.chunk, self.at) = (chunk, 0),
                None => {
                    return match self.status.take().map(|s| s.blocking_recv()) {
                        None | Some(Ok(Ok(()))) => Ok(0),
                        Some(Ok(Err(why))) => Err(io::Error::other(why)),
                        Some(Err(_)) => Err(io::Error::other("stopped before it ended")),
                    };
                }
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
