//! Reading a volume's stored file once, on a thread of its own: every
//! byte of it hashed as it is read (what its stream leaves unread too),
//! its decrypted and decompressed stream sent in chunks, and those chunks
//! read back as a stream on the unpacking side (`Chunks`).

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

/// Reads the stored file once: hashes every byte of it, sends its
/// decompressed stream in chunks; its sha256 and size.
pub(super) fn read_stored(
    path: &Path,
    item: &Item,
    identities: &Identities,
    sender: &mpsc::SyncSender<io::Result<Vec<u8>>>,
) -> io::Result<(String, u64)> {
    let file = File::open(path)?;
    // The same open file: after the stream ends, what is left of it is hashed too.
    let rest = file.try_clone()?;
    let hashed = Hashed {
        inner: file,
        hasher: Sha256::new(),
        read: 0,
    };
    let shared = Arc::new(std::sync::Mutex::new(None));
    let reader = Handing {
        inner: Some(hashed),
        back: shared.clone(),
    };
    let mut stream = verify::open_reader(Box::new(reader), item, identities)?;
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) => {
                let _ = sender.send(Err(io::Error::new(e.kind(), e.to_string())));
                return Err(e);
            }
        };
        if n == 0 {
            break;
        }
        chunk.truncate(n);
        if sender.send(Ok(chunk)).is_err() {
            // The unpacking side gave up: its error is the one to report.
            return Ok((String::new(), 0));
        }
    }
    drop(stream);
    let mut hashed = shared
        .lock()
        .map_err(|_| io::Error::other("poisoned"))?
        .take()
        .ok_or_else(|| io::Error::other("stream not handed back"))?;
    let mut rest = rest;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = rest.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hashed.hasher.update(&buffer[..n]);
        hashed.read += n as u64;
    }
    Ok((hex(&hashed.hasher.finalize()), hashed.read))
}

/// A file read through a hasher.
struct Hashed {
    inner: File,
    hasher: Sha256,
    read: u64,
}

/// Reads through `Hashed`, and hands it back when dropped (the stream
/// that owns it is done with it).
struct Handing {
    inner: Option<Hashed>,
    back: Arc<std::sync::Mutex<Option<Hashed>>>,
}

impl Read for Handing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(h) = self.inner.as_mut() else {
            return Ok(0);
        };
        let n = h.inner.read(buf)?;
        h.hasher.update(&buf[..n]);
        h.read += n as u64;
        Ok(n)
    }
}

impl Drop for Handing {
    fn drop(&mut self) {
        if let Ok(mut back) = self.back.lock() {
            *back = self.inner.take();
        }
    }
}

/// The chunks the reading thread sends, as a stream.
pub(super) struct Chunks {
    pub(super) receiver: mpsc::Receiver<io::Result<Vec<u8>>>,
    pub(super) chunk: Vec<u8>,
    pub(super) at: usize,
    pub(super) counter: Arc<AtomicU64>,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.receiver.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
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
