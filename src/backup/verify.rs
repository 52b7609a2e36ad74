//! Checking a backup without restoring it: every stored file's sha256
//! against the manifest, then the stream itself (it decompresses to the
//! end) and, for volumes, the tar structure (every entry readable).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::manifest::{Item, Kind, Manifest};
use super::writer::hex;
use super::{select, settings};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;
use crate::runbook::model::Compression;

/// `Ok` with the number of bytes the item decompresses to (`None`: an
/// encrypted item checked by checksum only, for want of an identity), or
/// what is wrong.
/// The identities an encrypted backup is read with, shared with the
/// threads that read it.
pub(crate) type SharedIdentities = std::sync::Arc<Vec<Box<dyn age::Identity + Send + Sync>>>;

/// Every item of a backup in `folder` read back (`item` each) on a
/// blocking thread: each item's name and verdict, in manifest order.
pub(crate) async fn items(
    folder: &Path,
    items: &[Item],
    identities: &SharedIdentities,
) -> Vec<(String, Result<Option<u64>, String>)> {
    let (folder, items, identities) = (folder.to_path_buf(), items.to_vec(), identities.clone());
    tokio::task::spawn_blocking(move || {
        items
            .iter()
            .map(|i| (i.name.clone(), item(&folder, i, &identities)))
            .collect()
    })
    .await
    .unwrap_or_else(|e| vec![("verify".to_string(), Err(format!("verify task: {e}")))])
}

pub(crate) fn item(
    folder: &Path,
    item: &Item,
    identities: &[Box<dyn age::Identity + Send + Sync>],
) -> Result<Option<u64>, String> {
    let path = folder.join(&item.file);
    let mut hasher = Sha256::new();
    let mut file = File::open(&path).map_err(|e| format!("cannot open `{}`: {e}", item.file))?;
    let mut buffer = vec![0u8; 256 * 1024];
    let mut stored = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| format!("cannot read `{}`: {e}", item.file))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        stored += n as u64;
    }
    if stored != item.stored_size {
        return Err(format!(
            "`{}` is {stored} bytes, the manifest says {}",
            item.file, item.stored_size
        ));
    }
    let sha = hex(&hasher.finalize());
    if sha != item.sha256 {
        return Err(format!(
            "`{}` does not match its sha256 (stored file changed)",
            item.file
        ));
    }
    if item.encrypted && identities.is_empty() {
        // Reading the stream needs an identity; the checksum above stands.
        return Ok(None);
    }
    let reader =
        open_stream(&path, item, identities).map_err(|e| format!("`{}`: {e}", item.file))?;
    let mut counted = Counted {
        inner: reader,
        read: 0,
    };
    let checked = match item.kind {
        Kind::Volume => tar_entries(&mut counted),
        Kind::File | Kind::Dump => io::copy(&mut counted, &mut io::sink()).map(|_| ()),
    };
    checked.map_err(|e| format!("`{}` does not read back: {e}", item.file))?;
    if counted.read != item.size {
        return Err(format!(
            "`{}` holds {} bytes, the manifest says {}",
            item.file, counted.read, item.size
        ));
    }
    Ok(Some(counted.read))
}

/// As `item`, for a stored file that can be read only once (a download):
/// hashed as it is decompressed and walked, in one pass.
pub(crate) fn item_stream(
    raw: Box<dyn Read + Send>,
    item: &Item,
    identities: &[Box<dyn age::Identity + Send + Sync>],
) -> Result<Option<u64>, String> {
    let hashed = Hashed {
        inner: raw,
        hasher: Sha256::new(),
        read: 0,
    };
    let shared = std::sync::Arc::new(std::sync::Mutex::new(hashed));
    let reader = SharedReader(shared.clone());
    let mut plain_size = None;
    if item.encrypted && identities.is_empty() {
        io::copy(&mut SharedReader(shared.clone()), &mut io::sink())
            .map_err(|e| format!("`{}` does not read: {e}", item.file))?;
    } else {
        let stream = open_reader(Box::new(reader), item, identities)
            .map_err(|e| format!("`{}`: {e}", item.file))?;
        let mut counted = Counted {
            inner: stream,
            read: 0,
        };
        let checked = match item.kind {
            Kind::Volume => tar_entries(&mut counted),
            Kind::File | Kind::Dump => io::copy(&mut counted, &mut io::sink()).map(|_| ()),
        };
        checked.map_err(|e| format!("`{}` does not read back: {e}", item.file))?;
        // What the decompressor left unread (a trailing frame) still counts.
        io::copy(&mut SharedReader(shared.clone()), &mut io::sink())
            .map_err(|e| format!("`{}` does not read: {e}", item.file))?;
        plain_size = Some(counted.read);
    }
    let (sha, stored) = match shared.lock() {
        Ok(mut hashed) => {
            let hasher = std::mem::take(&mut hashed.hasher);
            (hex(&hasher.finalize()), hashed.read)
        }
        Err(_) => return Err(format!("`{}`: reader poisoned", item.file)),
    };
    if stored != item.stored_size {
        return Err(format!(
            "`{}` is {stored} bytes, the manifest says {}",
            item.file, item.stored_size
        ));
    }
    if sha != item.sha256 {
        return Err(format!(
            "`{}` does not match its sha256 (stored file changed)",
            item.file
        ));
    }
    if let Some(size) = plain_size
        && size != item.size
    {
        return Err(format!(
            "`{}` holds {size} bytes, the manifest says {}",
            item.file, item.size
        ));
    }
    Ok(plain_size)
}

/// Raw bytes, hashed and counted as they are read.
struct Hashed {
    inner: Box<dyn Read + Send>,
    hasher: Sha256,
    read: u64,
}

/// A `Hashed` read through a handle the decompressor can own, while the
/// caller keeps another to read the rest and take the hash.
struct SharedReader(std::sync::Arc<std::sync::Mutex<Hashed>>);

impl Read for SharedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut hashed = self
            .0
            .lock()
            .map_err(|_| io::Error::other("reader poisoned"))?;
        let n = hashed.inner.read(buf)?;
        hashed.hasher.update(&buf[..n]);
        hashed.read += n as u64;
        Ok(n)
    }
}

/// A stored file decrypted (when encrypted) and decompressed, as a stream.
pub(crate) fn open_stream(
    path: &Path,
    item: &Item,
    identities: &[Box<dyn age::Identity + Send + Sync>],
) -> io::Result<Box<dyn Read + Send>> {
    open_reader(Box::new(File::open(path)?), item, identities)
}

/// As `open_stream`, for a stored file already open (`raw`).
pub(crate) fn open_reader(
    raw: Box<dyn Read + Send>,
    item: &Item,
    identities: &[Box<dyn age::Identity + Send + Sync>],
) -> io::Result<Box<dyn Read + Send>> {
    let file = BufReader::with_capacity(256 * 1024, raw);
    let plain: Box<dyn Read + Send> = if item.encrypted {
        let decryptor = age::Decryptor::new(file).map_err(io::Error::other)?;
        let reader = decryptor
            .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| io::Error::other(format!("cannot decrypt: {e}")))?;
        Box::new(reader)
    } else {
        Box::new(file)
    };
    Ok(match item.compression {
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(plain)?),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(plain)),
        Compression::None => plain,
    })
}

/// The identities of an age identity file (`AGE-SECRET-KEY-1…` lines).
pub(crate) fn identities(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, String> {
    let file = File::open(path)
        .map_err(|e| format!("cannot read identity file `{}`: {e}", path.display()))?;
    age::IdentityFile::from_buffer(BufReader::new(file))
        .and_then(|f| f.into_identities().map_err(io::Error::other))
        .map_err(|e| format!("`{}` is not an age identity file: {e}", path.display()))
}

/// Reads every entry of a tar stream to its end, then the rest of the stream.
fn tar_entries(reader: &mut impl Read) -> io::Result<()> {
    {
        let mut archive = tar::Archive::new(&mut *reader);
        for entry in archive.entries()? {
            let mut entry = entry?;
            io::copy(&mut entry, &mut io::sink())?;
        }
    }
    // The tar ends before the stream does (padding): read that too.
    io::copy(reader, &mut io::sink())?;
    Ok(())
}

struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The chunks `read_back` hands over, and how many may wait.
const READ_BACK_CHUNK: usize = 256 * 1024;
const READ_BACK_QUEUE: usize = 16;

/// Reads the item back (decrypted, decompressed) on a blocking thread into a
/// bounded channel of chunks, for a restore to stream into Docker.
pub(crate) fn read_back(
    folder: &Path,
    item: &Item,
    identities: &SharedIdentities,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> (
    tokio::sync::mpsc::Receiver<Vec<u8>>,
    tokio::task::JoinHandle<io::Result<()>>,
) {
    let (sender, receiver) = tokio::sync::mpsc::channel(READ_BACK_QUEUE);
    let path = folder.join(&item.file);
    let item = item.clone();
    let identities = identities.clone();
    let reading = tokio::task::spawn_blocking(move || {
        let mut stream = open_stream(&path, &item, &identities)?;
        loop {
            let mut chunk = vec![0u8; READ_BACK_CHUNK];
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            chunk.truncate(n);
            counter.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            if sender.blocking_send(chunk).is_err() {
                // The other side stopped taking: its error is the one to report.
                return Ok(());
            }
        }
    });
    (receiver, reading)
}

/// `opsbook backup verify [ID|latest|--all]`: every stored item of the
/// chosen backups here read back against its checksum (and, with
/// `identities`, decrypted and decompressed), one result per item.
pub(crate) async fn backups(
    runbook: &Runbook,
    id: Option<&str>,
    all: bool,
    identities: &SharedIdentities,
    report: &mut Report,
) -> Result<(), Error> {
    let dir = runbook.backup_dir(settings(runbook)?);
    for entry in select(&dir, id, all)? {
        let manifest = match Manifest::read(&entry.path) {
            Ok(manifest) => manifest,
            Err(e) => {
                report.results.push(CheckResult::new(
                    "verify",
                    &entry.id,
                    Status::Crit,
                    format!("manifest.json: {e}"),
                ));
                continue;
            }
        };
        for (name, outcome) in items(&entry.path, &manifest.items, identities).await {
            report
                .results
                .push(verdict(format!("{}/{name}", entry.id), outcome));
        }
    }
    Ok(())
}

/// The result of one item's verification.
pub(crate) fn verdict(result_name: String, outcome: Result<Option<u64>, String>) -> CheckResult {
    match outcome {
        Ok(Some(size)) => CheckResult::new(
            "verify",
            result_name,
            Status::Ok,
            format!(
                "checksum and stream good ({})",
                crate::ui::human::bytes(size)
            ),
        ),
        Ok(None) => CheckResult::new(
            "verify",
            result_name,
            Status::Ok,
            "checksum good; encrypted: pass --identity to read the stream back",
        ),
        Err(problem) => CheckResult::new("verify", result_name, Status::Crit, problem),
    }
}
