//! Unpacking a volume's stored archive straight into a folder on this host
//! (a restore's staging folder beside the volume's data), as Docker's
//! archive endpoint unpacks it: the archive's top folder `<root>/` is the
//! folder itself (its owner, mode and mtime go to it), and every entry keeps
//! its owner, mode (setuid and sticky bits too), mtime, symlink target,
//! hard link, device numbers and extended attributes (PAX
//! `SCHILY.xattr.*`: `security.capability`). Names are bytes, never UTF-8.
//!
//! Nothing is ever followed: each folder is opened relative to its parent's
//! descriptor and refuses a link, each file is created anew (never opened
//! through a link), an absolute name or a `..` is refused. A folder's owner,
//! mode and mtime are set once everything in it is written.
//!
//! The stored file is read once: hashed as it is read on one thread,
//! decrypted and decompressed on another, unpacked on a third; the checksum, the
//! stored size and the unpacked size are checked against the manifest at
//! the end, and a mismatch is an error (the caller removes the folder).
//! Memory stays bounded: a few chunks in flight, one buffer per thread.

mod archive;
mod leftovers;
mod meta;
mod stored;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use super::manifest::Item;
use super::verify;

pub(crate) use archive::unpack;
pub(crate) use leftovers::{leftover_folders, leftovers, old_note};
use stored::{Chunks, Way, read_stored};

/// Bytes moved at a time, and how many chunks are in flight between the threads.
const CHUNK: usize = 256 * 1024;
const QUEUE: usize = 8;

/// The identities an encrypted item is read with.
pub(crate) type Identities = [Box<dyn age::Identity + Send + Sync>];

/// Beside a volume's `_data`: a restore's staging folder, and the data it
/// set aside by the swap, each named with the restore's id.
pub(crate) const STAGING_PREFIX: &str = ".opsbook-restore-";
pub(crate) const OLD_PREFIX: &str = ".opsbook-old-";

/// Why an unpack failed: the stored file is not what the manifest says
/// (it does not verify), or writing the folder failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failed {
    Stored(String),
    Write(String),
}

/// Unpacks the tar stream `produce` writes (on a thread of its own) into
/// the new folder `into`, under the archive's top folder `root`: a volume
/// read from somewhere that checks it as it reads (each blob of a restic
/// snapshot is authenticated by its MAC), so no checksum is compared here.
/// An error of `produce` is the stored data's (`Failed::Stored`), one of
/// the unpacking the folder's; `stop` set ends it early.
pub(crate) fn stream(
    produce: impl FnOnce(&mut dyn io::Write) -> io::Result<()> + Send + 'static,
    root: Option<&str>,
    into: &Path,
    counter: Arc<AtomicU64>,
    stop: &AtomicBool,
) -> Result<(), Failed> {
    let (chunks, receiver) = mpsc::sync_channel::<io::Result<Vec<u8>>>(QUEUE);
    let (emptied, to_fill) = mpsc::channel::<Vec<u8>>();
    let producing = std::thread::spawn(move || {
        let mut out = Sending {
            chunks: &chunks,
            emptied: &to_fill,
            chunk: Vec::with_capacity(CHUNK),
        };
        let made = produce(&mut out).and_then(|()| out.send());
        drop(out);
        if let Err(e) = &made {
            let _ = chunks.send(Err(io::Error::new(e.kind(), e.to_string())));
        }
        made
    });
    let mut input = Chunks {
        receiver,
        emptied,
        chunk: Vec::new(),
        at: 0,
        counter,
    };
    let unpacked = unpack(&mut input, into, root, stop);
    drop(input);
    let produced = producing
        .join()
        .map_err(|_| Failed::Write("the reading thread failed".to_string()))?;
    match (produced, unpacked) {
        // The unpacking side gave up first: its error is the one to report.
        (Err(sent), Err(e)) if sent.kind() == io::ErrorKind::BrokenPipe => Err(Failed::Write(e)),
        (Err(e), _) => Err(Failed::Stored(e.to_string())),
        (Ok(()), Err(e)) => Err(Failed::Write(e)),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// What is written, gathered into chunks sent to the unpacking side, in
/// buffers it hands back (one copy, no new buffer per chunk).
struct Sending<'a> {
    chunks: &'a mpsc::SyncSender<io::Result<Vec<u8>>>,
    emptied: &'a mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
}

impl Sending<'_> {
    /// Sends the chunk gathered so far.
    fn send(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let mut next = self
            .emptied
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        next.clear();
        let full = std::mem::replace(&mut self.chunk, next);
        self.chunks
            .send(Ok(full))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the unpacking stopped"))
    }
}

impl io::Write for Sending<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = CHUNK.saturating_sub(self.chunk.len());
        let n = buf.len().min(room.max(1));
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Unpacks the stored file of `item` (in `folder`) into the new folder
/// `into`, checking its checksum and sizes in the same pass; bytes unpacked
/// are counted into `counter`. `stop` set ends it early. On an error the
/// folder may be partly written: the caller removes it.
pub(crate) fn item(
    folder: &Path,
    item: &Item,
    identities: Arc<Vec<Box<dyn age::Identity + Send + Sync>>>,
    into: &Path,
    counter: Arc<AtomicU64>,
    stop: &AtomicBool,
) -> Result<(), Failed> {
    let path = folder.join(&item.file);
    let root = item.archive_root.clone();
    let (chunks, receiver) = mpsc::sync_channel::<io::Result<Vec<u8>>>(QUEUE);
    let (emptied, to_fill) = mpsc::channel::<Vec<u8>>();
    let reading = {
        let (item, identities) = (item.clone(), identities.clone());
        let way = Way {
            chunks,
            emptied: to_fill,
        };
        std::thread::spawn(move || read_stored(&path, &item, &identities, &way))
    };
    let mut input = Chunks {
        receiver,
        emptied,
        chunk: Vec::new(),
        at: 0,
        counter,
    };
    let unpacked = unpack(&mut input, into, root.as_deref(), stop).map_err(Failed::Write);
    // Whatever happened, the reading side is let go and waited for.
    let read_to = input.counter.load(Ordering::Relaxed);
    drop(input);
    let read = reading
        .join()
        .map_err(|_| Failed::Write("the reading thread failed".to_string()))?;
    let file = &item.file;
    match (read, unpacked) {
        // A stream that does not read back explains a failed unpack best.
        (Err(e), _) => Err(Failed::Stored(format!("`{file}` does not read back: {e}"))),
        // A damaged stored file can fail the unpack before its checksum is known.
        (Ok(_), Err(e)) if !stop.load(Ordering::Relaxed) => {
            match verify::item(folder, item, &identities) {
                Err(bad) => Err(Failed::Stored(bad)),
                Ok(_) => Err(e),
            }
        }
        (Ok(_), Err(e)) => Err(e),
        (Ok((sha, stored)), Ok(())) => {
            if stored != item.stored_size {
                return Err(Failed::Stored(format!(
                    "`{file}` is {stored} bytes, the manifest says {}",
                    item.stored_size
                )));
            }
            if sha != item.sha256 {
                return Err(Failed::Stored(format!(
                    "`{file}` does not match its sha256 (stored file changed)"
                )));
            }
            if read_to != item.size {
                return Err(Failed::Stored(format!(
                    "`{file}` holds {read_to} bytes, the manifest says {}",
                    item.size
                )));
            }
            Ok(())
        }
    }
}
