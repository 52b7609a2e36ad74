//! An entry's owner, mode (setuid and sticky bits too), mtime and extended
//! attributes (PAX `SCHILY.xattr.*`): read from its tar header and PAX
//! records, and set on what was written in the endpoint's order, never
//! through a link.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, Gid, Mode, Timespec, Timestamps, Uid, XattrFlags};

/// What an entry's inode gets once written.
pub(super) struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Timespec,
    xattrs: Vec<(CString, Vec<u8>)>,
}

/// An entry's owner, mode, mtime and extended attributes, from its header
/// and its PAX records.
pub(super) fn meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
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
pub(super) fn set_fd(fd: impl std::os::fd::AsFd, meta: &Meta) -> io::Result<()> {
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
pub(super) fn set_at(parent: &OwnedFd, name: &CString, meta: &Meta, mode: bool) -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
