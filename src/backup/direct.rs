//! Reading a volume straight from its folder on this host, as the same tar
//! stream Docker's archive endpoint gives for it: `<root>/` for the folder
//! itself, then every entry depth first in name order (the endpoint's
//! order), owners, modes with their type bits, mtimes in whole seconds,
//! symlinks as links, the second name of an inode as a hard link. Nothing
//! is ever followed: each open is relative to its parent folder's
//! descriptor and refuses a link. A file's or folder's `security.capability`
//! goes in a PAX record, the one extended attribute the endpoint keeps.
//! Headers are written by hand (GNU long names past 100 bytes) because the
//! `tar` crate's builder normalises paths, dropping a folder's trailing `/`
//! and rewriting link targets, where the endpoint keeps them as they are.
//! A file that changes while read is warned about, never a reason to stop:
//! its entry keeps the size first seen, cut or padded with zeros (as GNU
//! tar does).

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use tar::{EntryType, Header};

const BLOCK: usize = 512;
/// Bytes read from a file at a time: large reads, one buffer for the walk.
const CHUNK: usize = 256 * 1024;
/// The size of a header's name and link name fields.
const NAME_FIELD: usize = 100;
/// Warnings kept word for word; past these, only counted.
const WARNINGS: usize = 50;

const FOLDER: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
/// NONBLOCK: a file swapped for a FIFO after it was listed must not hang the open.
const FILE: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NONBLOCK);

/// Why a walk stopped.
#[derive(Debug)]
pub(crate) enum Failed {
    /// Reading the volume failed; the message names the entry.
    Read(String),
    /// Writing the archive failed.
    Write(io::Error),
}

impl From<io::Error> for Failed {
    fn from(e: io::Error) -> Failed {
        Failed::Write(e)
    }
}

/// Writes the tar stream of the folder `mountpoint`, named `root/` in it,
/// into `out`; the warnings about entries that changed or vanished while
/// read. `stop` set ends it early (the backup was interrupted).
pub(crate) fn write_tree(
    mountpoint: &Path,
    root: &str,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<Vec<String>, Failed> {
    let failed = |e: Errno| Failed::Read(format!("{}: {e}", mountpoint.display()));
    let dir = rustix::fs::open(mountpoint, FOLDER, Mode::empty()).map_err(failed)?;
    let stat = rustix::fs::fstat(&dir).map_err(failed)?;
    let mut walk = Walk {
        out,
        stop,
        seen: HashMap::new(),
        warnings: Vec::new(),
        unsaid: 0,
        buffer: vec![0; CHUNK],
    };
    let mut name = format!("{root}/").into_bytes();
    walk.entry(header(&stat, EntryType::Directory, 0), &name, None)?;
    walk.folder(&dir, &mut name)?;
    // The end of an archive: two zero blocks.
    walk.out.write_all(&[0; 2 * BLOCK])?;
    let mut warnings = walk.warnings;
    if walk.unsaid > 0 {
        warnings.push(format!("and {} more", walk.unsaid));
    }
    Ok(warnings)
}

struct Walk<'a> {
    out: &'a mut dyn Write,
    stop: &'a AtomicBool,
    /// The first name of each inode with more than one link.
    seen: HashMap<u64, Vec<u8>>,
    warnings: Vec<String>,
    unsaid: usize,
    buffer: Vec<u8>,
}

impl Walk<'_> {
    /// The entries of the open folder `dir`, archived as `name` (ending in `/`).
    fn folder(&mut self, dir: &OwnedFd, name: &mut Vec<u8>) -> Result<(), Failed> {
        let base = name.len();
        for child in self.names(dir, name)? {
            if self.stop.load(Ordering::Relaxed) {
                return Err(Failed::Read("interrupted".to_string()));
            }
            name.truncate(base);
            name.extend_from_slice(child.to_bytes());
            self.child(dir, &child, name)?;
        }
        name.truncate(base);
        Ok(())
    }

    /// The names in `dir`, sorted by their bytes as the endpoint sorts them.
    fn names(&self, dir: &OwnedFd, name: &[u8]) -> Result<Vec<CString>, Failed> {
        let entries = rustix::fs::Dir::read_from(dir).map_err(|e| read_failed(name, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| read_failed(name, e))?;
            let child = entry.file_name();
            if child != c"." && child != c".." {
                names.push(child.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// One entry of `dir`, as it is now (never following a link).
    fn child(&mut self, dir: &OwnedFd, child: &CStr, name: &mut Vec<u8>) -> Result<(), Failed> {
        let stat = match rustix::fs::statat(dir, child, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => return self.warn(name, "vanished while read: skipped"),
            Err(e) => return Err(read_failed(name, e)),
        };
        let kind = FileType::from_raw_mode(stat.st_mode);
        // As the endpoint: any name but a folder's, of an inode already archived.
        if kind != FileType::Directory
            && stat.st_nlink > 1
            && let Some(first) = self.seen.get(&stat.st_ino).cloned()
        {
            return self.entry(header(&stat, EntryType::Link, 0), name, Some(&first));
        }
        match kind {
            FileType::Directory => self.subfolder(dir, child, name),
            FileType::RegularFile => self.file(dir, child, name),
            FileType::Symlink => match rustix::fs::readlinkat(dir, child, Vec::new()) {
                Ok(target) => {
                    let header = header(&stat, EntryType::Symlink, 0);
                    self.entry(header, name, Some(target.as_bytes()))?;
                    self.first_name(&stat, name);
                    Ok(())
                }
                Err(Errno::NOENT | Errno::INVAL) => self.warn(name, "changed while read: skipped"),
                Err(e) => Err(read_failed(name, e)),
            },
            FileType::Fifo => {
                self.entry(header(&stat, EntryType::Fifo, 0), name, None)?;
                self.first_name(&stat, name);
                Ok(())
            }
            kind @ (FileType::CharacterDevice | FileType::BlockDevice) => {
                let kind = if kind == FileType::CharacterDevice {
                    EntryType::Char
                } else {
                    EntryType::Block
                };
                let mut header = header(&stat, kind, 0);
                header.set_device_major(rustix::fs::major(stat.st_rdev))?;
                header.set_device_minor(rustix::fs::minor(stat.st_rdev))?;
                self.entry(header, name, None)?;
                self.first_name(&stat, name);
                Ok(())
            }
            // The endpoint leaves sockets out: a tar cannot hold them.
            FileType::Socket | FileType::Unknown => Ok(()),
        }
    }

    fn subfolder(&mut self, dir: &OwnedFd, child: &CStr, name: &mut Vec<u8>) -> Result<(), Failed> {
        let opened = match rustix::fs::openat(dir, child, FOLDER, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return self.warn(name, "vanished while read: skipped"),
            // Swapped for a link or a file since it was listed.
            Err(Errno::LOOP | Errno::NOTDIR) => {
                return self.warn(name, "changed while read: skipped");
            }
            Err(e) => return Err(read_failed(name, e)),
        };
        let stat = rustix::fs::fstat(&opened).map_err(|e| read_failed(name, e))?;
        name.push(b'/');
        self.capability(&opened, name)?;
        self.entry(header(&stat, EntryType::Directory, 0), name, None)?;
        self.folder(&opened, name)
    }

    /// A regular file's header and content.
    fn file(&mut self, dir: &OwnedFd, child: &CStr, name: &[u8]) -> Result<(), Failed> {
        let opened = match open_file(dir, child) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return self.warn(name, "vanished while read: skipped"),
            Err(Errno::LOOP) => return self.warn(name, "changed while read: skipped"),
            Err(e) => return Err(read_failed(name, e)),
        };
        let before = rustix::fs::fstat(&opened).map_err(|e| read_failed(name, e))?;
        if FileType::from_raw_mode(before.st_mode) != FileType::RegularFile {
            return self.warn(name, "changed while read: skipped");
        }
        let size = u64::try_from(before.st_size).unwrap_or(0);
        self.capability(&opened, name)?;
        self.entry(header(&before, EntryType::Regular, size), name, None)?;
        self.first_name(&before, name);
        let mut file = File::from(opened);
        let (missing, grew) = self.content(&mut file, size, name)?;
        let after = rustix::fs::fstat(&file).map_err(|e| read_failed(name, e))?;
        if missing > 0 {
            let what = format!(
                "shrank by {missing} bytes while read: padded with zeros to the {size} bytes first seen"
            );
            return self.warn(name, &what);
        }
        if grew {
            let what = format!("grew while read: only its first {size} bytes are stored");
            return self.warn(name, &what);
        }
        if after.st_size != before.st_size
            || after.st_mtime != before.st_mtime
            || after.st_mtime_nsec != before.st_mtime_nsec
        {
            return self.warn(
                name,
                "changed while read: its copy may mix old and new content",
            );
        }
        Ok(())
    }

    /// Streams `size` bytes of `file` and the padding after them; the bytes
    /// it lacked (written as zeros) and whether it had more.
    fn content(&mut self, file: &mut File, size: u64, name: &[u8]) -> Result<(u64, bool), Failed> {
        let mut left = size;
        while left > 0 {
            if self.stop.load(Ordering::Relaxed) {
                return Err(Failed::Read("interrupted".to_string()));
            }
            let want = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
            let n = match file.read(&mut self.buffer[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failed::Read(format!("{}: {e}", shown(name)))),
            };
            self.out.write_all(&self.buffer[..n])?;
            left -= n as u64;
        }
        let missing = left;
        if missing > 0 {
            // Keep the header's promise so the archive stays readable.
            self.buffer.fill(0);
            while left > 0 {
                let n = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
                self.out.write_all(&self.buffer[..n])?;
                left -= n as u64;
            }
        }
        let grew = missing == 0 && matches!(file.read(&mut self.buffer[..1]), Ok(1));
        pad(self.out, size)?;
        Ok((missing, grew))
    }

    /// Writes one header named `name` (and `link`), with GNU long-name
    /// entries before it for a name or link over 100 bytes.
    fn entry(
        &mut self,
        mut header: Header,
        name: &[u8],
        link: Option<&[u8]>,
    ) -> Result<(), Failed> {
        if name.len() > NAME_FIELD {
            self.long(EntryType::GNULongName, name)?;
        }
        fill(&mut header.as_old_mut().name, name);
        if let Some(link) = link {
            if link.len() > NAME_FIELD {
                self.long(EntryType::GNULongLink, link)?;
            }
            fill(&mut header.as_old_mut().linkname, link);
        }
        header.set_cksum();
        self.out.write_all(header.as_bytes())?;
        Ok(())
    }

    /// A PAX header for the next entry with its `security.capability`, if it has one.
    fn capability(&mut self, fd: &OwnedFd, name: &[u8]) -> Result<(), Failed> {
        let mut value = [0u8; 256];
        let n = match rustix::fs::fgetxattr(fd, c"security.capability", &mut value[..]) {
            Ok(n) => n,
            // None, or a filesystem without extended attributes.
            Err(Errno::NODATA | Errno::NOTSUP) => return Ok(()),
            Err(e) => return Err(read_failed(name, e)),
        };
        let record = pax_record(b"SCHILY.xattr.security.capability", &value[..n]);
        let mut header = Header::new_ustar();
        fill(&mut header.as_old_mut().name, b"././@PaxHeader");
        header.set_entry_type(EntryType::XHeader);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(record.len() as u64);
        header.set_cksum();
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(&record)?;
        pad(self.out, record.len() as u64)?;
        Ok(())
    }

    /// A GNU `././@LongLink` entry carrying a long name or link target.
    fn long(&mut self, kind: EntryType, bytes: &[u8]) -> io::Result<()> {
        let mut header = Header::new_gnu();
        fill(&mut header.as_old_mut().name, b"././@LongLink");
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        let len = bytes.len() as u64 + 1;
        header.set_size(len);
        header.set_cksum();
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(bytes)?;
        self.out.write_all(&[0])?;
        pad(self.out, len)
    }

    /// Remembers `name` as its inode's first, when other names link to it.
    fn first_name(&mut self, stat: &Stat, name: &[u8]) {
        if stat.st_nlink > 1 {
            self.seen.insert(stat.st_ino, name.to_vec());
        }
    }

    /// Notes a problem with one entry; the walk goes on.
    fn warn(&mut self, name: &[u8], what: &str) -> Result<(), Failed> {
        if self.warnings.len() < WARNINGS {
            self.warnings.push(format!("`{}` {what}", shown(name)));
        } else {
            self.unsaid += 1;
        }
        Ok(())
    }
}

/// A header from lstat data: the endpoint keeps the type bits in the mode
/// (0o100644, 0o40755) and whole seconds of the mtime.
fn header(stat: &Stat, kind: EntryType, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(stat.st_mode);
    header.set_uid(u64::from(stat.st_uid));
    header.set_gid(u64::from(stat.st_gid));
    header.set_mtime(u64::try_from(stat.st_mtime).unwrap_or(0));
    header.set_size(size);
    header
}

/// One PAX record, `<length> <key>=<value>\n`, its length counting itself.
fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // the space, `=` and newline
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut record = format!("{len} ").into_bytes();
    record.extend_from_slice(key);
    record.push(b'=');
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// Opens a listed file to read, without touching its access time when allowed.
fn open_file(dir: &OwnedFd, child: &CStr) -> Result<OwnedFd, Errno> {
    match rustix::fs::openat(dir, child, FILE | OFlags::NOATIME, Mode::empty()) {
        // NOATIME needs the file's owner or CAP_FOWNER.
        Err(Errno::PERM) => rustix::fs::openat(dir, child, FILE, Mode::empty()),
        opened => opened,
    }
}

/// Copies as much of `bytes` as fits into a header field, zeros after.
fn fill(field: &mut [u8], bytes: &[u8]) {
    field.fill(0);
    let n = bytes.len().min(field.len());
    field[..n].copy_from_slice(&bytes[..n]);
}

/// Zeros up to the next block after `len` bytes of content.
fn pad(out: &mut dyn Write, len: u64) -> io::Result<()> {
    let rest = (BLOCK - (len % BLOCK as u64) as usize) % BLOCK;
    out.write_all(&[0; BLOCK][..rest])
}

fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn read_failed(name: &[u8], e: Errno) -> Failed {
    Failed::Read(format!("{}: {e}", shown(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::ffi::OsStrExt;

    fn listing(bytes: &[u8]) -> Vec<(String, EntryType, u64, Vec<u8>)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .expect("test setup")
            .map(|entry| {
                let mut entry = entry.expect("test setup");
                let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let kind = entry.header().entry_type();
                let link = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                let mut content = Vec::new();
                entry.read_to_end(&mut content).expect("test setup");
                (path, kind, content.len() as u64, link)
            })
            .collect()
    }

    #[test]
    fn a_tree_is_archived_in_name_order_without_following_links() {
        let dir = tempfile::tempdir().expect("test setup");
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/empty")).expect("test setup");
        std::fs::write(root.join("b/file"), b"hello").expect("test setup");
        std::fs::write(root.join("a"), b"").expect("test setup");
        std::fs::hard_link(root.join("b/file"), root.join("c")).expect("test setup");
        std::os::unix::fs::symlink("/etc/passwd", root.join("d")).expect("test setup");
        let long = "x".repeat(150);
        std::fs::write(root.join(&long), b"long").expect("test setup");
        let odd = std::ffi::OsStr::from_bytes(b"odd-\xff");
        std::fs::write(root.join(odd), b"odd").expect("test setup");

        let mut out = Vec::new();
        let stop = AtomicBool::new(false);
        let warnings = write_tree(root, "data", &stop, &mut out).expect("test setup");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(out.len() % BLOCK, 0);
        let names: Vec<(String, EntryType, u64, Vec<u8>)> = listing(&out);
        let expected = [
            ("data/".to_string(), EntryType::Directory, 0, Vec::new()),
            ("data/a".to_string(), EntryType::Regular, 0, Vec::new()),
            ("data/b/".to_string(), EntryType::Directory, 0, Vec::new()),
            (
                "data/b/empty/".to_string(),
                EntryType::Directory,
                0,
                Vec::new(),
            ),
            ("data/b/file".to_string(), EntryType::Regular, 5, Vec::new()),
            (
                "data/c".to_string(),
                EntryType::Link,
                0,
                b"data/b/file".to_vec(),
            ),
            (
                "data/d".to_string(),
                EntryType::Symlink,
                0,
                b"/etc/passwd".to_vec(),
            ),
            (
                "data/odd-\u{fffd}".to_string(),
                EntryType::Regular,
                3,
                Vec::new(),
            ),
            (format!("data/{long}"), EntryType::Regular, 4, Vec::new()),
        ];
        assert_eq!(names, expected);
    }

    #[test]
    fn a_file_shorter_than_its_header_is_padded_with_zeros() {
        let dir = tempfile::tempdir().expect("test setup");
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").expect("test setup");
        let mut file = File::open(&path).expect("test setup");
        let mut out = Vec::new();
        let stop = AtomicBool::new(false);
        let mut walk = Walk {
            out: &mut out,
            stop: &stop,
            seen: HashMap::new(),
            warnings: Vec::new(),
            unsaid: 0,
            buffer: vec![0; CHUNK],
        };
        let (missing, grew) = walk.content(&mut file, 1000, b"data/f").expect("content");
        assert_eq!((missing, grew), (990, false));
        assert_eq!(out.len(), 1024);
        assert_eq!(&out[..10], b"0123456789");
        assert!(out[10..].iter().all(|b| *b == 0));
    }

    #[test]
    fn a_pax_record_counts_its_own_length() {
        assert_eq!(pax_record(b"k", b"v"), b"6 k=v\n");
        let record = pax_record(b"key", &[b'x'; 95]);
        assert_eq!(&record[..4], b"104 ");
        assert_eq!(record.len(), 104);
    }

    #[test]
    fn a_missing_folder_is_a_read_failure_naming_it() {
        let stop = AtomicBool::new(false);
        let failed = write_tree(
            Path::new("/nonexistent-opsbook"),
            "data",
            &stop,
            &mut Vec::new(),
        );
        match failed {
            Err(Failed::Read(why)) => assert!(why.starts_with("/nonexistent-opsbook: "), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
