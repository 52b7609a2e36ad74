//! Files only their owner reads: folders 0700, files 0600, written beside
//! and renamed so a reader never sees half of one. Backups, incidents,
//! evidence, the history and the locks are all written this way.
//!
//! Nothing is ever written through a symbolic link: every file is opened
//! with `O_NOFOLLOW` (a link where a file should be is refused), and a file
//! is only written in a folder that no other user can write to, so no one
//! else can plant a link, a fifo or a file of theirs there in the first place.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::error::UnsafeFolder;

/// Writes `bytes` to `path` (0600) through a file beside it, fsynced and
/// renamed, creating missing folders (0700): readers never see half a file.
/// The rename replaces whatever is at `path`, a link included, never
/// writing through it.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let beside = path.with_file_name(format!(".{name}.partial"));
    // Left by a crash: removed (a link is removed, not followed), then made anew.
    remove_if_present(&beside)?;
    let mut file = open_private(&beside, OpenOptions::new().write(true).create_new(true))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&beside, path)
}

/// Appends `bytes` to `path` (created 0600) in one write, fsynced: a crash
/// leaves at worst a torn last line.
pub(crate) fn append_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = open_private(path, OpenOptions::new().append(true).create(true))?;
    file.write_all(bytes)?;
    file.sync_data()
}

/// Opens `path` as `options` say, never through a symbolic link: created
/// 0600, in a folder no one else can write to, and it must be a plain file.
pub(crate) fn open_private(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        check_private_dir(parent)?;
    }
    let file = options
        .mode(0o600)
        .custom_flags(no_follow())
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                io::Error::other(format!(
                    "`{}` is a symbolic link: opsbook never writes through one (remove it)",
                    path.display()
                ))
            } else {
                e
            }
        })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "`{}` is not a plain file: opsbook writes only plain files there",
            path.display()
        )));
    }
    Ok(file)
}

/// Creates `path`, which must not exist yet (0600 until the caller sets
/// its mode), never through a link: for files written beside a deployment's
/// own (rotate, restore), whose folders are the deployment's to set up.
pub(crate) fn create_new_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(no_follow())
        .open(path)
}

/// Creates `path` and missing parents (0700), then checks that no other
/// user can write to it.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    if !path.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)?;
    }
    check_private_dir(path)
}

/// Refuses a folder other users could plant links or files in: one owned
/// by someone else than this user (or root), or writable by its group or
/// by everyone.
pub(crate) fn check_private_dir(path: &Path) -> io::Result<()> {
    let metadata = std::fs::metadata(path)?;
    let refuse = |reason: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            UnsafeFolder {
                folder: path.to_path_buf(),
                reason,
            },
        ))
    };
    if !metadata.is_dir() {
        return Err(io::Error::other(format!(
            "`{}` is not a folder",
            path.display()
        )));
    }
    let me = rustix::process::geteuid().as_raw();
    if metadata.uid() != me && metadata.uid() != 0 {
        return refuse(format!("belongs to another user (uid {})", metadata.uid()));
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return refuse(format!("is writable by other users (mode {mode:04o})"));
    }
    Ok(())
}

/// Removes a file (or a link, not what it points to) if it is there.
pub(crate) fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// `O_NOFOLLOW`: opening a path whose last part is a symbolic link fails.
fn no_follow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// The folder itself, or the closest parent that exists (a folder not made
/// yet will live on that filesystem).
pub(crate) fn nearest_existing(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| p.exists())
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

/// A folder held open: every name in it is reached relative to it and
/// never through a symbolic link (`O_NOFOLLOW`), new files are made with
/// `O_EXCL` (0600) and new folders 0700. What a copy target holds is read
/// and written only this way: someone who can write there cannot make
/// opsbook write, read or delete through a link they planted.
pub(crate) struct OpenFolder {
    fd: OwnedFd,
    path: PathBuf,
}

const FOLDER: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// How deep `remove` goes: a backup folder holds files only.
const REMOVE_DEPTH: usize = 8;

impl OpenFolder {
    /// The folder at `path` as written (a link on the way to it is
    /// followed: it is the runbook's own setting), which must exist.
    pub(crate) fn open(path: &Path) -> io::Result<OpenFolder> {
        let fd = rustix::fs::open(path, FOLDER.difference(OFlags::NOFOLLOW), Mode::empty())?;
        Ok(OpenFolder {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Where it is, for messages.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The folder `name` in it, never through a link.
    pub(crate) fn folder(&self, name: &str) -> io::Result<OpenFolder> {
        let fd = rustix::fs::openat(&self.fd, one(name)?, FOLDER, Mode::empty())
            .map_err(|e| self.refused(name, e, "a folder"))?;
        Ok(OpenFolder {
            fd,
            path: self.path.join(name),
        })
    }

    /// The folder `name` in it, made (0700) when missing.
    pub(crate) fn folder_made(&self, name: &str) -> io::Result<OpenFolder> {
        match rustix::fs::mkdirat(&self.fd, one(name)?, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => self.folder(name),
            Err(e) => Err(self.refused(name, e, "a folder")),
        }
    }

    /// A new folder `name` (0700): nothing may be there yet.
    pub(crate) fn new_folder(&self, name: &str) -> io::Result<OpenFolder> {
        rustix::fs::mkdirat(&self.fd, one(name)?, Mode::from_raw_mode(0o700))
            .map_err(|e| self.refused(name, e, "a new folder"))?;
        self.folder(name)
    }

    /// A new file `name` (0600), open for writing: nothing may be there yet.
    pub(crate) fn new_file(&self, name: &str) -> io::Result<File> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        rustix::fs::openat(&self.fd, one(name)?, flags, Mode::from_raw_mode(0o600))
            .map(File::from)
            .map_err(|e| self.refused(name, e, "a new file"))
    }

    /// The plain file `name`, open for reading; a link, a folder or a fifo
    /// there is refused (a fifo is not waited on).
    pub(crate) fn file(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, one(name)?, flags, Mode::empty())
            .map_err(|e| self.refused(name, e, "a file"))?;
        let stat = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(io::Error::other(format!(
                "`{}` is not a plain file",
                self.path.join(name).display()
            )));
        }
        rustix::fs::fcntl_setfl(&fd, OFlags::empty())?;
        Ok(File::from(fd))
    }

    /// Whether anything (a link included) is called `name` in it.
    pub(crate) fn has(&self, name: &str) -> io::Result<bool> {
        match rustix::fs::statat(&self.fd, one(name)?, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The names of the folders in it (links to folders are not folders).
    pub(crate) fn folders(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "." || name == ".." {
                continue;
            }
            let kind = match entry.file_type() {
                FileType::Unknown => {
                    let stat = rustix::fs::statat(&self.fd, &name, AtFlags::SYMLINK_NOFOLLOW)?;
                    FileType::from_raw_mode(stat.st_mode)
                }
                kind => kind,
            };
            if kind == FileType::Directory {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Removes `name` and, if it is a folder, everything in it; a link is
    /// removed, never what it points to. Nothing there is not an error.
    pub(crate) fn remove(&self, name: &str) -> io::Result<()> {
        remove_at(&self.fd, one(name)?, REMOVE_DEPTH).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("`{}`: {e}", self.path.join(name).display()),
            )
        })
    }

    /// Renames `from` to `to`, both in it; an existing `to` is never
    /// replaced (where the filesystem can say so: NFS cannot).
    pub(crate) fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (from, to) = (one(from)?, one(to)?);
        match rustix::fs::renameat_with(&self.fd, from, &self.fd, to, RenameFlags::NOREPLACE) {
            Err(Errno::INVAL | Errno::NOSYS) => {
                if self.has(to)? {
                    return Err(Errno::EXIST.into());
                }
                Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
            }
            done => Ok(done?),
        }
    }

    /// Makes what was made or renamed in it durable.
    pub(crate) fn sync(&self) -> io::Result<()> {
        Ok(rustix::fs::fsync(&self.fd)?)
    }

    fn refused(&self, name: &str, e: Errno, what: &str) -> io::Error {
        let path = self.path.join(name);
        match e {
            Errno::LOOP => io::Error::other(format!(
                "`{}` is a symbolic link: opsbook never follows one there (remove it)",
                path.display()
            )),
            Errno::NOTDIR => io::Error::other(format!("`{}` is not {what}", path.display())),
            e => io::Error::new(
                io::Error::from(e).kind(),
                format!("`{}`: {e}", path.display()),
            ),
        }
    }
}

/// `name` if it names one entry of a folder (no `/`, not `.` or `..`).
fn one(name: &str) -> io::Result<&str> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(io::Error::other(format!(
            "`{name}` is not a name of one file or folder"
        )));
    }
    Ok(name)
}

/// `name` in `dir` removed without following a link, `depth` folders deep at most.
fn remove_at(dir: &OwnedFd, name: &str, depth: usize) -> io::Result<()> {
    let folder = match rustix::fs::openat(dir, name, FOLDER, Mode::empty()) {
        Ok(folder) => folder,
        Err(Errno::NOENT) => return Ok(()),
        // A link, a file, a fifo: the name itself goes.
        Err(Errno::LOOP | Errno::NOTDIR) => {
            return Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?);
        }
        Err(e) => return Err(e.into()),
    };
    if depth == 0 {
        return Err(io::Error::other("folders nested too deep to be opsbook's"));
    }
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(&folder)? {
        let entry = entry?;
        let entry = entry.file_name().to_string_lossy().into_owned();
        if entry != "." && entry != ".." {
            names.push(entry);
        }
    }
    for entry in names {
        remove_at(&folder, &entry, depth - 1)?;
    }
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn a_link_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap_or_else(|e| panic!("{e}"));
        let link = dir.path().join("history.jsonl");
        std::os::unix::fs::symlink(&victim, &link).unwrap_or_else(|e| panic!("{e}"));
        let appended = append_private(&link, b"x\n");
        assert!(
            appended.is_err_and(|e| e.to_string().contains("symbolic link")),
            "appending through a link is refused"
        );
        let opened = open_private(&link, OpenOptions::new().write(true).create(true));
        assert!(opened.is_err());
        assert_eq!(
            std::fs::read_to_string(&victim).ok().as_deref(),
            Some("keep")
        );

        // write_private replaces the link itself (and a planted `.partial` link).
        let target = dir.path().join("record.json");
        std::os::unix::fs::symlink(&victim, &target).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(&victim, dir.path().join(".record.json.partial"))
            .unwrap_or_else(|e| panic!("{e}"));
        write_private(&target, b"new").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            std::fs::read_to_string(&victim).ok().as_deref(),
            Some("keep")
        );
        assert_eq!(
            std::fs::read_to_string(&target).ok().as_deref(),
            Some("new")
        );
        assert!(!std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()));
    }

    #[test]
    fn folders_others_can_write_are_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap_or_else(|e| panic!("{e}"));
        for mode in [0o777, 0o1777, 0o770] {
            chmod(&shared, mode);
            let refused = write_private(&shared.join("f"), b"x");
            let message = refused.as_ref().map_err(ToString::to_string).err();
            assert!(
                refused.is_err_and(|e| crate::error::is_unsafe_folder(&e)),
                "mode {mode:o} refused"
            );
            assert!(message.is_some_and(|m| m.contains(&shared.display().to_string())));
            assert!(!shared.join("f").exists());
        }
        chmod(&shared, 0o755);
        assert!(write_private(&shared.join("f"), b"x").is_ok());
        assert!(create_private_dir(&dir.path().join("a/b")).is_ok());
        let mode =
            std::fs::metadata(dir.path().join("a/b")).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o700));
    }
}
