//! Reading a volume's stored file once, on a thread of its own: its raw
//! blocks are handed to a hashing thread as they are read (what its stream
//! leaves unread too), so the sha256 runs beside the decryption and
//! decompression instead of before them; the decompressed stream is sent in
//! chunks, read back as a stream on the unpacking side (`Chunks`), which
//! hands each chunk's buffer back to be filled again (no new, zeroed buffer
//! per chunk).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use super::{CHUNK, Identities};
use crate::backup::manifest::Item;
use crate::backup::verify;
use crate::backup::writer::hex;

/// How much of the stored file is read at a time (and hashed as one block).
const BLOCK: usize = 1024 * 1024;
/// Raw blocks in flight to the hashing thread.
const BLOCKS: usize = 8;

/// The two ends of the decompressed chunks' way: chunks go to the
/// unpacking side, emptied buffers come back.
pub(super) struct Way {
    pub(super) chunks: mpsc::SyncSender<io::Result<Vec<u8>>>,
    pub(super) emptied: mpsc::Receiver<Vec<u8>>,
}

/// Reads the stored file once: hashes every byte of it (on a thread of its
/// own), sends its decompressed stream in chunks; its sha256 and size.
pub(super) fn read_stored(
    path: &Path,
    item: &Item,
    identities: &Identities,
    way: &Way,
) -> io::Result<(String, u64)> {
    let (blocks, hashing) = hasher();
    let teed = Teed {
        file: File::open(path)?,
        block: Arc::new(Vec::new()),
        at: 0,
        blocks,
    };
    let shared = Arc::new(std::sync::Mutex::new(None));
    let reader = Handing {
        inner: Some(teed),
        back: shared.clone(),
    };
    let streamed = send_stream(
        verify::open_reader(Box::new(reader), item, identities)?,
        way,
    );
    let teed = shared.lock().ok().and_then(|mut back| back.take());
    drop(shared);
    // After the stream: what is left of the file is hashed too (padding).
    // Whatever happened, the reader is dropped, and so the hashing ends.
    let rest = match (&streamed, teed) {
        (Ok(Streamed::Whole), Some(mut teed)) => io::copy(&mut teed, &mut io::sink()).map(|_| ()),
        (Ok(Streamed::Whole), None) => Err(io::Error::other("stream not handed back")),
        _ => Ok(()),
    };
    let hashed = hashing
        .join()
        .map_err(|_| io::Error::other("the hashing thread failed"))?;
    match streamed? {
        // The unpacking side gave up: its error is the one to report.
        Streamed::Abandoned => Ok((String::new(), 0)),
        Streamed::Whole => rest.map(|()| hashed),
    }
}

/// How sending the stream ended.
enum Streamed {
    Whole,
    Abandoned,
}

/// Sends `stream` in chunks, in buffers the unpacking side hands back.
fn send_stream(mut stream: Box<dyn Read + '_>, way: &Way) -> io::Result<Streamed> {
    loop {
        let mut chunk = way.emptied.try_recv().unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) => {
                let _ = way
                    .chunks
                    .send(Err(io::Error::new(e.kind(), e.to_string())));
                return Err(e);
            }
        };
        if n == 0 {
            return Ok(Streamed::Whole);
        }
        chunk.truncate(n);
        if way.chunks.send(Ok(chunk)).is_err() {
            return Ok(Streamed::Abandoned);
        }
    }
}

/// Where the raw blocks go to be hashed.
type Blocks = mpsc::SyncSender<Arc<Vec<u8>>>;

/// The hashing thread: it hashes every block it is sent, in order; its
/// sha256 and the bytes hashed once the sender is dropped.
fn hasher() -> (Blocks, std::thread::JoinHandle<(String, u64)>) {
    let (blocks, received) = mpsc::sync_channel::<Arc<Vec<u8>>>(BLOCKS);
    let hashing = std::thread::spawn(move || {
        let mut hasher = Sha256::new();
        let mut read = 0u64;
        for block in received {
            hasher.update(block.as_slice());
            read = read.saturating_add(block.len() as u64);
        }
        (hex(&hasher.finalize()), read)
    });
    (blocks, hashing)
}

/// The stored file read in blocks, each one handed to the hashing thread
/// as it is read and then served to the stream.
struct Teed {
    file: File,
    block: Arc<Vec<u8>>,
    at: usize,
    blocks: Blocks,
}

impl Read for Teed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.block.len() {
            let mut next = vec![0u8; BLOCK];
            let n = self.file.read(&mut next)?;
            next.truncate(n);
            self.block = Arc::new(next);
            self.at = 0;
            if n == 0 {
                return Ok(0);
            }
            self.blocks
                .send(self.block.clone())
                .map_err(|_| io::Error::other("the hashing thread stopped"))?;
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Reads through `Teed`, and hands it back when dropped (the stream that
/// owns it is done with it).
struct Handing {
    inner: Option<Teed>,
    back: Arc<std::sync::Mutex<Option<Teed>>>,
}

impl Read for Handing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.as_mut() {
            Some(teed) => teed.read(buf),
            None => Ok(0),
        }
    }
}

impl Drop for Handing {
    fn drop(&mut self) {
        if let Ok(mut back) = self.back.lock() {
            *back = self.inner.take();
        }
    }
}

/// The chunks the reading thread sends, as a stream; each chunk read
/// whole goes back to be filled again.
pub(super) struct Chunks {
    pub(super) receiver: mpsc::Receiver<io::Result<Vec<u8>>>,
    pub(super) emptied: mpsc::Sender<Vec<u8>>,
    pub(super) chunk: Vec<u8>,
    pub(super) at: usize,
    pub(super) counter: Arc<AtomicU64>,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.receiver.recv() {
                Ok(Ok(chunk)) => {
                    let done = std::mem::replace(&mut self.chunk, chunk);
                    // The reading side may be gone (all sent): nothing to hand back to.
                    let _ = self.emptied.send(done);
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
