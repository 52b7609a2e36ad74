//! Checking a backup without restoring it: every stored file's sha256
//! against the manifest, then the stream itself (it decompresses to the
//! end) and, for volumes, the tar structure (every entry readable).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::manifest::{Item, Kind};
use super::writer::hex;
use crate::runbook::model::Compression;

/// `Ok` with the number of bytes the item decompresses to, or what is wrong.
pub fn item(folder: &Path, item: &Item) -> Result<u64, String> {
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
    if item.encrypted {
        // Checking the stream needs the identity; the checksum above stands.
        return Ok(item.size);
    }
    let reader =
        open_stream(&path, item.compression).map_err(|e| format!("`{}`: {e}", item.file))?;
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
    Ok(counted.read)
}

/// A stored file decompressed as a stream.
pub fn open_stream(path: &Path, compression: Compression) -> io::Result<Box<dyn Read + Send>> {
    let file = BufReader::new(File::open(path)?);
    Ok(match compression {
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(file)?),
        Compression::Gzip => Box::new(flate2::bufread::GzDecoder::new(file)),
    })
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
