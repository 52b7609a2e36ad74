//! Writing one item: chunks in → compression → sha256 and byte counts →
//! a new 0600 file (never through a link), fsynced. It runs on a blocking
//! thread fed through a bounded channel, so memory holds a few chunks,
//! never an item; or, for a producer that blocks itself (the walk of a
//! volume's folder), as a plain `Write` on that producer's thread.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::runbook::model::Compression;
use crate::state::files::open_private;

/// zstd's multithreaded job size.
const JOB_SIZE: u32 = 2 * 1024 * 1024;

/// Chunks in flight between the reader and the writer.
const QUEUE: usize = 16;

/// What was written.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub size: u64,
    pub stored_size: u64,
    pub sha256: String,
}

/// Starts a writer for `path`; send chunks, drop the sender, await the handle.
pub(crate) fn spawn(
    path: PathBuf,
    compression: Compression,
    level: Option<i32>,
    recipients: Vec<age::x25519::Recipient>,
    counter: Arc<AtomicU64>,
) -> (
    mpsc::Sender<Vec<u8>>,
    tokio::task::JoinHandle<io::Result<Written>>,
) {
    let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(QUEUE);
    let handle = tokio::task::spawn_blocking(move || {
        let mut sink = Sink::create(&path, compression, level, &recipients, counter)?;
        while let Some(chunk) = receiver.blocking_recv() {
            sink.write_all(&chunk)?;
        }
        sink.finish()
    });
    (sender, handle)
}

/// Compresses everything read from `reader` into `path` (for host files).
pub(crate) fn copy_from(
    reader: &mut impl io::Read,
    path: &Path,
    compression: Compression,
    level: Option<i32>,
    recipients: &[age::x25519::Recipient],
    counter: Arc<AtomicU64>,
) -> io::Result<Written> {
    let mut sink = Sink::create(path, compression, level, recipients, counter)?;
    io::copy(reader, &mut sink)?;
    sink.finish()
}

/// Runs `fill` on this thread with the item's compressing writer, then
/// finishes the file; `fill`'s own error (a read that failed) wins.
pub(crate) fn write_with<T, E: From<io::Error>>(
    path: &Path,
    compression: Compression,
    level: Option<i32>,
    recipients: &[age::x25519::Recipient],
    counter: Arc<AtomicU64>,
    fill: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<(T, Written), E> {
    let mut sink = Sink::create(path, compression, level, recipients, counter)?;
    let filled = fill(&mut sink)?;
    Ok((filled, sink.finish()?))
}

/// The stored file, hashed and counted as it is written.
struct Hashed {
    file: File,
    hasher: Sha256,
    written: u64,
}

impl Write for Hashed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// What the compressor writes into: the file, or age encrypting into it.
enum Output {
    Plain(Hashed),
    Encrypted(age::stream::StreamWriter<Hashed>),
}

impl Output {
    fn finish(self) -> io::Result<Hashed> {
        match self {
            Output::Plain(hashed) => Ok(hashed),
            Output::Encrypted(writer) => writer.finish(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Plain(hashed) => hashed.write(buf),
            Output::Encrypted(writer) => writer.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Plain(hashed) => hashed.flush(),
            Output::Encrypted(writer) => writer.flush(),
        }
    }
}

enum Encoder {
    Zstd(zstd::stream::write::Encoder<'static, Output>),
    Gzip(flate2::write::GzEncoder<Output>),
    Plain(Output),
}

struct Sink {
    encoder: Encoder,
    size: u64,
    /// Bytes taken in so far, for a live progress line.
    counter: Arc<AtomicU64>,
}

impl Sink {
    fn create(
        path: &Path,
        compression: Compression,
        level: Option<i32>,
        recipients: &[age::x25519::Recipient],
        counter: Arc<AtomicU64>,
    ) -> io::Result<Sink> {
        let file = open_private(path, OpenOptions::new().write(true).create_new(true))?;
        let hashed = Hashed {
            file,
            hasher: Sha256::new(),
            written: 0,
        };
        let hashed = if recipients.is_empty() {
            Output::Plain(hashed)
        } else {
            let recipients = recipients.iter().map(|r| r as &dyn age::Recipient);
            let encryptor =
                age::Encryptor::with_recipients(recipients).map_err(io::Error::other)?;
            Output::Encrypted(encryptor.wrap_output(hashed)?)
        };
        let encoder = match compression {
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(hashed, level.unwrap_or(3))?;
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
                encoder.multithread(threads)?;
                // Each worker holds a job's input and output: bounded jobs keep
                // memory flat and small whatever the item's size.
                encoder.set_parameter(zstd::zstd_safe::CParameter::JobSize(JOB_SIZE))?;
                Encoder::Zstd(encoder)
            }
            Compression::Gzip => {
                let level = level.map_or(6, |l| l.clamp(0, 9) as u32);
                Encoder::Gzip(flate2::write::GzEncoder::new(
                    hashed,
                    flate2::Compression::new(level),
                ))
            }
            Compression::None => Encoder::Plain(hashed),
        };
        Ok(Sink {
            encoder,
            size: 0,
            counter,
        })
    }

    fn finish(self) -> io::Result<Written> {
        let output = match self.encoder {
            Encoder::Zstd(encoder) => encoder.finish()?,
            Encoder::Gzip(encoder) => encoder.finish()?,
            Encoder::Plain(output) => output,
        };
        let hashed = output.finish()?;
        hashed.file.sync_all()?;
        Ok(Written {
            size: self.size,
            stored_size: hashed.written,
            sha256: hex(&hashed.hasher.finalize()),
        })
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.encoder {
            Encoder::Zstd(encoder) => encoder.write(buf)?,
            Encoder::Gzip(encoder) => encoder.write(buf)?,
            Encoder::Plain(output) => output.write(buf)?,
        };
        self.size += n as u64;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.encoder {
            Encoder::Zstd(encoder) => encoder.flush(),
            Encoder::Gzip(encoder) => encoder.flush(),
            Encoder::Plain(output) => output.flush(),
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
