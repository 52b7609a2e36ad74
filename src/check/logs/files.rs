//! Host log files (`logs.files`: nginx's access log, a backup log), read
//! from where the last check stopped, as logtail does: each file's inode and
//! offset are kept in the state folder. A file rotated since (its inode
//! changed, or it shrank) is finished from `PATH.1` when that is the file
//! read last time, then read from its start. A file seen for the first time
//! is read from its end: there is no knowing which of its lines are new.
//! Lines are streamed through the scanner, never held whole.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::logs::scan::LineScanner;

/// Where one file was read up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Offset {
    pub inode: u64,
    pub offset: u64,
}

/// Every file's offset, by path, as kept in the state folder.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Offsets(pub BTreeMap<String, Offset>);

impl Offsets {
    /// The offsets kept at `path`; none when there is no (readable) file.
    pub(crate) fn load(path: &Path) -> Offsets {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Keeps them (0600, written beside and renamed, never through a link).
    pub(crate) fn save(&self, path: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        crate::state::files::write_private(path, &bytes)
    }
}

/// What reading one file did.
pub(crate) struct Reading {
    /// Where to start next time.
    pub next: Offset,
    /// Whether a rotation was followed, for the message.
    pub rotated: bool,
    /// A first sight: nothing was read.
    pub first: bool,
}

/// Feeds what `path` gained since `last` into `scanner`.
pub(crate) fn read_new(
    path: &Path,
    last: Option<Offset>,
    scanner: &mut LineScanner,
) -> io::Result<Reading> {
    let mut file = File::open(path)?;
    let metadata = file.metadata()?;
    let now = Offset {
        inode: metadata.ino(),
        offset: metadata.len(),
    };
    let Some(last) = last else {
        return Ok(Reading {
            next: now,
            rotated: false,
            first: true,
        });
    };
    if last.inode == now.inode && last.offset <= now.offset {
        stream_from(&mut file, last.offset, scanner)?;
        return Ok(Reading {
            next: now,
            rotated: false,
            first: false,
        });
    }
    // Rotated (or truncated): the rest of the old file first, where it went.
    let rotated = rotated_path(path);
    if let Ok(mut old) = File::open(&rotated)
        && old.metadata().is_ok_and(|m| m.ino() == last.inode)
    {
        stream_from(&mut old, last.offset, scanner)?;
    }
    stream_from(&mut file, 0, scanner)?;
    Ok(Reading {
        next: now,
        rotated: true,
        first: false,
    })
}

/// `access.log.1`: where logrotate puts the file it rotated.
fn rotated_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".1");
    PathBuf::from(name)
}

fn stream_from(file: &mut File, offset: u64, scanner: &mut LineScanner) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        scanner.feed(&buffer[..n]);
    }
}
