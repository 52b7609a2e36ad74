//! A download as a blocking `Read`: a task pulls the chunks (of an HTTP
//! response, of an SFTP file) and hands them over a small channel, so the
//! decompressing, hashing reader (which blocks, in `spawn_blocking`) holds
//! a few chunks at most, never the whole file. It stops pulling past the
//! size the backup's manifest gives the file: a store that streams more
//! is never read to its end.

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

/// Starts pulling `body`'s chunks, at most `size` bytes of them (the
/// stored size of `name`); read them off the async threads.
pub(super) fn reader<S>(mut body: S, name: &str, size: u64) -> Bridge
where
    S: futures_util::Stream<Item = Result<Bytes, String>> + Send + Unpin + 'static,
{
    let (send, chunks) = mpsc::channel(QUEUED);
    let name = name.to_string();
    tokio::spawn(async move {
        let mut pulled = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.and_then(|chunk| {
                pulled = pulled.saturating_add(chunk.len() as u64);
                if pulled > size {
                    Err(super::too_large(&name, pulled, size))
                } else {
                    Ok(chunk)
                }
            });
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
