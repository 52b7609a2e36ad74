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
//! The stored file is read once: hashed as it is read, decrypted and
//! decompressed on one thread, unpacked on another; the checksum, the
//! stored size and the unpacked size are checked against the manifest at
//! the end, and a mismatch is an error (the caller removes the folder).
//! Memory stays bounded: a few chunks in flight, one buffer per thread.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;
use sha2::{Digest, Sha256};
use tar::EntryType;

use super::manifest::Item;
use super::verify;
use super::writer::hex;

/// Bytes moved at a time, and how many chunks are in flight between the threads.
const CHUNK: usize = 256 * 1024;
const QUEUE: usize = 8;

const FOLDER: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
const NEW_FILE: OFlags = OFlags::WRONLY
    .union(OFlags::CREATE)
    .union(OFlags::EXCL)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The identities an encrypted item is read with.
pub type Identities = [Box<dyn age::Identity + Send + Sync>];

/// Beside a volume's `_data`: a restore's staging folder, and the data it
/// set aside by the swap, each named with the restore's id.
pub const STAGING_PREFIX: &str = ".opsbook-restore-";
pub const OLD_PREFIX: &str = ".opsbook-old-";

/// Why an unpack failed: the stored file is not what the manifest says
/// (it does not verify), or writing the folder failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failed {
    Stored(String),
    Write(String),
}

impl Failed {
    pub fn reason(&self) -> &str {
        match self {
            Failed::Stored(r) | Failed::Write(r) => r,
        }
    }
}

/// The folders beside `mountpoint` that a restore killed before it ended
/// left: its staging folders, then the data it set aside.
pub fn leftover_folders(mountpoint: &Path) -> (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let (mut staging, mut old) = (Vec::new(), Vec::new());
    let Some(parent) = mountpoint.parent() else {
        return (staging, old);
    };
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(STAGING_PREFIX) {
            staging.push(entry.path());
        } else if name.starts_with(OLD_PREFIX) {
            old.push(entry.path());
        }
    }
    staging.sort();
    old.sort();
    (staging, old)
}

/// What to say about the data a restore set aside and never finished with.
pub fn old_note(old: &Path, mountpoint: &Path) -> String {
    format!(
        "{} holds the data a restore set aside when it swapped the restored data in, and it was killed before it finished: the volume holds the restored data and opsbook never uses that folder; once the volume's data is right remove it (rm -rf), or to go back to it stop the services and rename it to {}",
        old.display(),
        mountpoint.display()
    )
}

/// Warnings for a backup of the volume at `mountpoint`: leftovers of a
/// killed restore, which are not part of it.
pub fn leftovers(mountpoint: &Path) -> Vec<String> {
    let (staging, old) = leftover_folders(mountpoint);
    let mut said: Vec<String> = old.iter().map(|o| old_note(o, mountpoint)).collect();
    said.extend(staging.iter().map(|s| {
        format!(
            "{} is the staging folder of a restore that was killed: not live data, the next restore of this volume removes it",
            s.display()
        )
    }));
    said
}

/// Unpacks the stored file of `item` (in `folder`) into the new folder
/// `into`, checking its checksum and sizes in the same pass; bytes unpacked
/// are counted into `counter`. `stop` set ends it early. On an error the
/// folder may be partly written: the caller removes it.
pub fn item(
    folder: &Path,
    item: &Item,
    identities: Arc<Vec<Box<dyn age::Identity + Send + Sync>>>,
    into: &Path,
    counter: Arc<AtomicU64>,
    stop: &AtomicBool,
) -> Result<(), Failed> {
    let path = folder.join(&item.file);
    let root = item.archive_root.clone();
    let (sender, receiver) = mpsc::sync_channel::<io::Result<Vec<u8>>>(QUEUE);
    let reading = {
        let (item, identities) = (item.clone(), identities.clone());
        std::thread::spawn(move || read_stored(&path, &item, &identities, &sender))
    };
    let mut input = Chunks {
        receiver,
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

/// Reads the stored file once: hashes every byte of it, sends its
/// decompressed stream in chunks; its sha256 and size.
fn read_stored(
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
struct Chunks {
    receiver: mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
    counter: Arc<AtomicU64>,
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

/// What an entry's inode gets once written.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Timespec,
    xattrs: Vec<(CString, Vec<u8>)>,
}

/// Unpacks the tar stream `input` into the new folder `into`; `root`, the
/// archive's top folder (`None`: whatever the first entry's is).
pub fn unpack<R: Read>(
    input: &mut R,
    into: &Path,
    root: Option<&str>,
    stop: &AtomicBool,
) -> Result<(), String> {
    let made = |e: io::Error| format!("{}: {e}", into.display());
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(into)
        .map_err(made)?;
    let top = rustix::fs::open(into, FOLDER, Mode::empty())
        .map_err(|e| format!("{}: {e}", into.display()))?;
    let mut unpacking = Unpacking {
        top,
        root: root.map(|r| r.as_bytes().to_vec()),
        cached: None,
        folders: Vec::new(),
        buffer: vec![0; CHUNK],
        stop,
    };
    {
        let mut archive = tar::Archive::new(&mut *input);
        let entries = archive.entries().map_err(|e| e.to_string())?;
        for entry in entries {
            if stop.load(Ordering::Relaxed) {
                return Err("interrupted".to_string());
            }
            let mut entry = entry.map_err(|e| format!("reading the archive: {e}"))?;
            let name = entry.path_bytes().into_owned();
            unpacking
                .entry(&mut entry, &name)
                .map_err(|e| format!("`{}`: {e}", String::from_utf8_lossy(&name)))?;
        }
    }
    unpacking.cached = None;
    // Folders last, deepest first: their mtimes stay as written.
    for (parts, meta) in unpacking.folders.iter().rev() {
        let folder = unpacking.open_path(parts, false);
        let folder = folder.map_err(|e| format!("{}: {e}", shown(parts)))?;
        set_fd(&folder, meta).map_err(|e| format!("{}: {e}", shown(parts)))?;
    }
    // The tar ends before the stream does (padding): read that too.
    io::copy(input, &mut io::sink()).map_err(|e| format!("reading the archive: {e}"))?;
    Ok(())
}

struct Unpacking<'a> {
    top: OwnedFd,
    stop: &'a AtomicBool,
    root: Option<Vec<u8>>,
    /// The folder last written into, open.
    cached: Option<(Vec<Vec<u8>>, OwnedFd)>,
    /// Every folder's metadata, set at the end.
    folders: Vec<(Vec<Vec<u8>>, Meta)>,
    buffer: Vec<u8>,
}

impl Unpacking<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, name: &[u8]) -> io::Result<()> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let parts = self.relative(name)?;
        let meta = meta(entry)?;
        let Some((last, parents)) = parts.split_last() else {
            // The top folder: the staged folder itself.
            if kind != EntryType::Directory {
                return Err(io::Error::other("the archive's top entry is not a folder"));
            }
            self.folders.push((Vec::new(), meta));
            return Ok(());
        };
        let parent = self.parent(parents)?;
        let last = CString::new(last.clone()).map_err(io::Error::other)?;
        match kind {
            EntryType::Directory => {
                match rustix::fs::mkdirat(&parent, &last, Mode::from_raw_mode(0o700)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        let stat = rustix::fs::statat(&parent, &last, AtFlags::SYMLINK_NOFOLLOW)?;
                        if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
                            rustix::fs::unlinkat(&parent, &last, AtFlags::empty())?;
                            rustix::fs::mkdirat(&parent, &last, Mode::from_raw_mode(0o700))?;
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
                self.folders.push((parts, meta));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let fd = create(&parent, &last, |p, n| {
                    rustix::fs::openat(p, n, NEW_FILE, Mode::from_raw_mode(0o600))
                })?;
                let mut file = File::from(fd);
                loop {
                    if self.stop.load(Ordering::Relaxed) {
                        return Err(io::Error::other("interrupted"));
                    }
                    let n = entry.read(&mut self.buffer)?;
                    if n == 0 {
                        break;
                    }
                    file.write_all(&self.buffer[..n])?;
                }
                set_fd(&file, &meta)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| io::Error::other("a symlink without a target"))?;
                let target = CString::new(target.into_owned()).map_err(io::Error::other)?;
                create(&parent, &last, |p, n| rustix::fs::symlinkat(&target, p, n))?;
                set_at(&parent, &last, &meta, false)?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| io::Error::other("a hard link without a target"))?
                    .into_owned();
                let target = self.relative(&target)?;
                let Some((tlast, tparents)) = target.split_last() else {
                    return Err(io::Error::other("a hard link to the top folder"));
                };
                let tparent = self.open_path(tparents, false)?;
                let tlast = CString::new(tlast.clone()).map_err(io::Error::other)?;
                // Flags empty: a link to a symlink links the symlink, never what it points to.
                create(&parent, &last, |p, n| {
                    rustix::fs::linkat(&tparent, &tlast, p, n, AtFlags::empty())
                })?;
            }
            EntryType::Fifo | EntryType::Char | EntryType::Block => {
                let (file_type, dev) = match kind {
                    EntryType::Fifo => (FileType::Fifo, 0),
                    kind => {
                        let major = entry.header().device_major()?.unwrap_or(0);
                        let minor = entry.header().device_minor()?.unwrap_or(0);
                        let file_type = if kind == EntryType::Char {
                            FileType::CharacterDevice
                        } else {
                            FileType::BlockDevice
                        };
                        (file_type, rustix::fs::makedev(major, minor))
                    }
                };
                create(&parent, &last, |p, n| {
                    rustix::fs::mknodat(p, n, file_type, Mode::from_raw_mode(0o600), dev)
                })?;
                set_at(&parent, &last, &meta, true)?;
            }
            // What the endpoint never writes is skipped, as it skips it.
            _ => {}
        }
        Ok(())
    }

    /// The parts of `name` below the archive's top folder: refused when
    /// absolute, with a `..`, or outside the top folder.
    fn relative(&mut self, name: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        if name.first() == Some(&b'/') {
            return Err(io::Error::other("an absolute name is refused"));
        }
        let mut parts = name
            .split(|b| *b == b'/')
            .filter(|p| !p.is_empty() && *p != b".")
            .map(<[u8]>::to_vec);
        let first = parts
            .next()
            .ok_or_else(|| io::Error::other("an empty name"))?;
        let rest: Vec<Vec<u8>> = parts.collect();
        if first == b".." || rest.iter().any(|p| p == b"..") {
            return Err(io::Error::other("a name with `..` is refused"));
        }
        match &self.root {
            Some(root) if *root != first => Err(io::Error::other(format!(
                "outside the archive's top folder `{}`",
                String::from_utf8_lossy(root)
            ))),
            Some(_) => Ok(rest),
            None => {
                self.root = Some(first);
                Ok(rest)
            }
        }
    }

    /// The folder `parts` open (kept for the next entry in it); missing
    /// folders on the way are made, as the endpoint makes them.
    fn parent(&mut self, parts: &[Vec<u8>]) -> io::Result<OwnedFd> {
        if let Some((path, fd)) = &self.cached
            && path.as_slice() == parts
        {
            return fd.try_clone();
        }
        let fd = self.open_path(parts, true)?;
        self.cached = Some((parts.to_vec(), fd.try_clone()?));
        Ok(fd)
    }

    /// Opens folder `parts` below the top one, one part at a time, never
    /// through a link; `make`: missing ones are made (0755).
    fn open_path(&self, parts: &[Vec<u8>], make: bool) -> io::Result<OwnedFd> {
        let mut fd = self.top.try_clone()?;
        for part in parts {
            let name = CString::new(part.clone()).map_err(io::Error::other)?;
            fd = match rustix::fs::openat(&fd, &name, FOLDER, Mode::empty()) {
                Ok(next) => next,
                Err(Errno::NOENT) if make => {
                    rustix::fs::mkdirat(&fd, &name, Mode::from_raw_mode(0o755))?;
                    rustix::fs::openat(&fd, &name, FOLDER, Mode::empty())?
                }
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    return Err(io::Error::other(format!(
                        "`{}` is not a folder: never followed",
                        String::from_utf8_lossy(part)
                    )));
                }
                Err(e) => return Err(e.into()),
            };
        }
        Ok(fd)
    }
}

/// Makes `name` in `parent` with `make`; a non-folder already there (an
/// entry given twice) is replaced, as the endpoint replaces it.
fn create<T>(
    parent: &OwnedFd,
    name: &CString,
    make: impl Fn(&OwnedFd, &CString) -> rustix::io::Result<T>,
) -> io::Result<T> {
    match make(parent, name) {
        Err(Errno::EXIST) => {
            rustix::fs::unlinkat(parent, name, AtFlags::empty())?;
            Ok(make(parent, name)?)
        }
        made => Ok(made?),
    }
}

/// An entry's owner, mode, mtime and extended attributes, from its header
/// and its PAX records.
fn meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let header = entry.header();
    let mut meta = Meta {
        mode: header.mode()? & 0o7777,
        uid: u32::try_from(header.uid()?).map_err(io::Error::other)?,
        gid: u32::try_from(header.gid()?).map_err(io::Error::other)?,
        mtime: Timespec {
            tv_sec: i64::try_from(header.mtime()?).map_err(io::Error::other)?,
            tv_nsec: 0,
        },
        xattrs: Vec::new(),
    };
    if let Some(records) = entry.pax_extensions()? {
        for record in records {
            let record = record?;
            let (key, value) = (record.key_bytes(), record.value_bytes());
            let number = || std::str::from_utf8(value).ok()?.parse::<u32>().ok();
            if let Some(xattr) = key.strip_prefix(b"SCHILY.xattr.") {
                let xattr = CString::new(xattr).map_err(io::Error::other)?;
                meta.xattrs.push((xattr, value.to_vec()));
            } else if key == b"uid" {
                meta.uid = number().unwrap_or(meta.uid);
            } else if key == b"gid" {
                meta.gid = number().unwrap_or(meta.gid);
            } else if key == b"mtime"
                && let Some(mtime) = pax_time(value)
            {
                meta.mtime = mtime;
            }
        }
    }
    Ok(meta)
}

/// A PAX time, `1700000000.25`.
fn pax_time(value: &[u8]) -> Option<Timespec> {
    let text = std::str::from_utf8(value).ok()?;
    let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
    // Digits only: `truncate` below cuts bytes, and must not cut a character.
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut nanos = format!("{fraction:0<9}");
    nanos.truncate(9);
    Some(Timespec {
        tv_sec: secs.parse().ok()?,
        tv_nsec: nanos.parse().ok()?,
    })
}

fn times(meta: &Meta) -> Timestamps {
    Timestamps {
        last_access: meta.mtime,
        last_modification: meta.mtime,
    }
}

/// Owner first (it clears setuid bits and capabilities), then the extended
/// attributes, the mode, the times: the endpoint's order.
fn set_fd(fd: impl std::os::fd::AsFd, meta: &Meta) -> io::Result<()> {
    let fd = fd.as_fd();
    rustix::fs::fchown(
        fd,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
    )?;
    for (name, value) in &meta.xattrs {
        rustix::fs::fsetxattr(fd, name.as_c_str(), value, XattrFlags::empty())?;
    }
    rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode))?;
    rustix::fs::futimens(fd, &times(meta))?;
    Ok(())
}

/// As `set_fd`, for what is not opened (a symlink, a FIFO, a device):
/// never following a link. A symlink has no mode of its own.
fn set_at(parent: &OwnedFd, name: &CString, meta: &Meta, mode: bool) -> io::Result<()> {
    let nofollow = AtFlags::SYMLINK_NOFOLLOW;
    rustix::fs::chownat(
        parent,
        name,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
        nofollow,
    )?;
    if mode {
        rustix::fs::chmodat(
            parent,
            name,
            Mode::from_raw_mode(meta.mode),
            AtFlags::empty(),
        )?;
    }
    rustix::fs::utimensat(parent, name, &times(meta), nofollow)?;
    Ok(())
}

fn shown(parts: &[Vec<u8>]) -> String {
    let joined: Vec<String> = parts
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    format!("/{}", joined.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_pax_time_is_whole_seconds_and_nanoseconds_and_never_a_cut_character() {
        let time = pax_time(b"1700000000.25").map(|t| (t.tv_sec, t.tv_nsec));
        assert_eq!(time, Some((1_700_000_000, 250_000_000)));
        let time = pax_time(b"1700000000.1234567891").map(|t| (t.tv_sec, t.tv_nsec));
        assert_eq!(time, Some((1_700_000_000, 123_456_789)));
        // `€` would straddle the ninth byte: refused, not a panic.
        assert!(pax_time("1700000000.1234567€".as_bytes()).is_none());
        assert!(pax_time(b"1700000000.-5").is_none());
    }

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        builder.into_inner().unwrap_or_default()
    }

    fn header(kind: EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(1_700_000_000);
        header.set_uid(0);
        header.set_gid(0);
        header
    }

    fn append(b: &mut tar::Builder<Vec<u8>>, kind: EntryType, name: &str, data: &[u8]) {
        let mut h = header(kind, 0o640, data.len() as u64);
        let _ = b.append_data(&mut h, name, data);
    }

    fn unpacked(bytes: &[u8]) -> (tempfile::TempDir, Result<(), String>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let into = dir.path().join("staged");
        let stop = AtomicBool::new(false);
        let mut input = bytes;
        let done = unpack(&mut input, &into, Some("data"), &stop);
        (dir, done)
    }

    #[test]
    fn files_folders_and_links_come_back_with_their_times() {
        let bytes = archive(|b| {
            append(b, EntryType::Directory, "data/", b"");
            append(b, EntryType::Directory, "data/sub/", b"");
            append(b, EntryType::Regular, "data/sub/a.txt", b"hello");
            let mut link = header(EntryType::Symlink, 0o777, 0);
            let _ = b.append_link(&mut link, "data/l", "/etc/passwd");
            let mut hard = header(EntryType::Link, 0o640, 0);
            let _ = b.append_link(&mut hard, "data/hard", "data/sub/a.txt");
        });
        let (dir, done) = unpacked(&bytes);
        assert_eq!(done, Ok(()));
        let root = dir.path().join("staged");
        let a = std::fs::metadata(root.join("sub/a.txt")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.mode() & 0o7777, 0o640);
        assert_eq!(a.mtime(), 1_700_000_000);
        assert_eq!(a.nlink(), 2);
        let sub = std::fs::metadata(root.join("sub")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sub.mtime(), 1_700_000_000);
        let link = std::fs::read_link(root.join("l")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(link, Path::new("/etc/passwd"));
    }

    #[test]
    fn a_name_through_a_symlink_is_refused_never_followed() {
        let outside = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = outside.path().display().to_string();
        let bytes = archive(|b| {
            append(b, EntryType::Directory, "data/", b"");
            let mut link = header(EntryType::Symlink, 0o777, 0);
            let _ = b.append_link(&mut link, "data/out", &target);
            append(b, EntryType::Regular, "data/out/evil", b"x");
        });
        let (_dir, done) = unpacked(&bytes);
        assert!(done.is_err_and(|e| e.contains("never followed")));
        assert!(!outside.path().join("evil").exists());
    }

    #[test]
    fn dot_dot_and_other_top_folders_are_refused() {
        for name in ["data/../x", "other/x"] {
            let mut raw = header(EntryType::Regular, 0o644, 1);
            // The builder refuses `..`: the name goes in by hand.
            let bytes = name.as_bytes();
            raw.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            raw.set_cksum();
            let mut tar = raw.as_bytes().to_vec();
            tar.extend_from_slice(&[b'x'; 1]);
            tar.resize(1024 + 1024, 0);
            let (_dir, done) = unpacked(&tar);
            assert!(done.is_err(), "{name}");
        }
    }
}
