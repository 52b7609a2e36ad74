//! Unpacking a tar stream into a new folder as Docker's archive endpoint
//! does: the archive's top folder is the folder itself, each entry is
//! written below it where its name says (a folder, a file, a symlink, a
//! hard link, a FIFO or a device), never through a link, and the folders'
//! owners, modes and times are set last, deepest first.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use tar::EntryType;

use super::CHUNK;
use super::meta::{Meta, meta, set_at, set_fd};

const FOLDER: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
const NEW_FILE: OFlags = OFlags::WRONLY
    .union(OFlags::CREATE)
    .union(OFlags::EXCL)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Unpacks the tar stream `input` into the new folder `into`; `root`, the
/// archive's top folder (`None`: whatever the first entry's is).
pub(crate) fn unpack<R: Read>(
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
    /// Writes one entry of the archive where its name says, with its
    /// owner, mode, times and attributes (a folder's: at the end).
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
                folder(&parent, &last)?;
                self.folders.push((parts, meta));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.file(entry, &parent, &last, &meta)?;
            }
            EntryType::Symlink => symlink(entry, &parent, &last, &meta)?,
            EntryType::Link => self.hard_link(entry, &parent, &last)?,
            EntryType::Fifo | EntryType::Char | EntryType::Block => {
                node(entry, kind, &parent, &last, &meta)?;
            }
            // What the endpoint never writes is skipped, as it skips it.
            _ => {}
        }
        Ok(())
    }

    /// A regular file, made anew and written from the entry's data.
    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: &OwnedFd,
        last: &CString,
        meta: &Meta,
    ) -> io::Result<()> {
        let fd = create(parent, last, |p, n| {
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
        set_fd(&file, meta)?;
        Ok(())
    }

    /// A hard link to an entry written before it, found below the top
    /// folder as any name is.
    fn hard_link<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: &OwnedFd,
        last: &CString,
    ) -> io::Result<()> {
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
        create(parent, last, |p, n| {
            rustix::fs::linkat(&tparent, &tlast, p, n, AtFlags::empty())
        })?;
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

/// A folder, made unless one is there; anything else there (an entry
/// given twice) is replaced.
fn folder(parent: &OwnedFd, last: &CString) -> io::Result<()> {
    match rustix::fs::mkdirat(parent, last, Mode::from_raw_mode(0o700)) {
        Ok(()) => {}
        Err(Errno::EXIST) => {
            let stat = rustix::fs::statat(parent, last, AtFlags::SYMLINK_NOFOLLOW)?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
                rustix::fs::unlinkat(parent, last, AtFlags::empty())?;
                rustix::fs::mkdirat(parent, last, Mode::from_raw_mode(0o700))?;
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// A symlink, its target as written (never followed).
fn symlink<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    parent: &OwnedFd,
    last: &CString,
    meta: &Meta,
) -> io::Result<()> {
    let target = entry
        .link_name_bytes()
        .ok_or_else(|| io::Error::other("a symlink without a target"))?;
    let target = CString::new(target.into_owned()).map_err(io::Error::other)?;
    create(parent, last, |p, n| rustix::fs::symlinkat(&target, p, n))?;
    set_at(parent, last, meta, false)?;
    Ok(())
}

/// A FIFO, or a character or block device with the entry's numbers.
fn node<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    kind: EntryType,
    parent: &OwnedFd,
    last: &CString,
    meta: &Meta,
) -> io::Result<()> {
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
    create(parent, last, |p, n| {
        rustix::fs::mknodat(p, n, file_type, Mode::from_raw_mode(0o600), dev)
    })?;
    set_at(parent, last, meta, true)?;
    Ok(())
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
