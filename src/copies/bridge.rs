//! A download as a blocking `Read`: a task pulls the chunks (of an HTTP
//! response, of an SFTP file) and hands them over a small channel, so the
//! decompressing, hashing reader (which blocks, in `spawn_blocking`) holds
//! a few chunks at most, never the whole file.

use std::io::{self, Read};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// How many chunks may wait for the reader.
const QUEUED: usize = 8;

pub(super) struct Bridge {
    chunks: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

/// Starts pulling `body`'s chunks; read them off the async threads.
pub(super) fn reader<S>(mut body: S) -> Bridge
where
    S: futures_util::Stream<Item = Result<Bytes, String>> + Send + Unpin + 'static,
{
    let (send, chunks) = mpsc::channel(QUEUED);
    tokio::spawn(async move {
        while let Some(chunk) = body.next().await {
            let failed = chunk.is_err();
            if send.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    Bridge {
        chunks,
        current: Bytes::new(),
    }
}

impl Read for Bridge {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(io::Error::other(format!("download failed: {e}"))),
                // The sender is done: the body has ended.
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
