//! A snapshot's content read out in order, the repository's side on
//! threads of their own: one walks the snapshot's tree ahead of the
//! caller and hands each blob to `FETCHERS` threads that fetch blobs side
//! by side (each from its pack, its MAC checked as it is decrypted, then
//! decompressed), while the caller's writes what came before (a tar of a
//! folder, or one streamed file), each blob in its turn. At most `AHEAD`
//! blobs wait between the two, so memory stays flat whatever the size.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rustic_core::repofile::{Node, NodeType};
use rustic_core::{BlobId, DataId, IndexedFullStatus, LsOptions, PackedId, Repository};

/// The top folder of a volume's tar made from a snapshot's folder.
pub(super) const ROOT: &str = "volume";
/// Blobs read ahead of the writer at most (restic's are 512 KiB to 8 MiB,
/// about 1 MiB on average).
const AHEAD: usize = 12;
/// Blobs fetched at once.
const FETCHERS: usize = 2;

pub(super) type Full = Repository<IndexedFullStatus>;

/// What the reading side hands over, in order.
enum Piece {
    /// The next entry of the folder (its data follows, for a file).
    Entry(PathBuf, Box<Node>),
    /// A blob of the file's data, once fetched.
    Data(Receiver<io::Result<bytes::Bytes>>),
    /// The end of a file's data.
    End,
}

type Pieces = Receiver<io::Result<Piece>>;

/// A blob to fetch, and where its bytes go.
type Job = (BlobId, SyncSender<io::Result<bytes::Bytes>>);

/// Starts the fetching threads in `scope`; the jobs' sender (dropped:
/// they end).
fn fetchers<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    repository: &'scope Full,
) -> SyncSender<Job> {
    let (jobs, queue) = sync_channel::<Job>(AHEAD);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
    for _ in 0..FETCHERS {
        let queue = queue.clone();
        scope.spawn(move || {
            loop {
                let job = match queue.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_) => return,
                };
                let Ok((id, put)) = job else { return };
                let fetched = repository
                    .get_blob_cached(&id, DataId::TYPE)
                    .map_err(|e| failed(&e));
                let _ = put.send(fetched);
            }
        });
    }
    jobs
}

fn failed(e: &rustic_core::RusticError) -> io::Error {
    io::Error::other(super::said(e))
}

/// A snapshot's folder as a tar under `volume/`: folders, files and links
/// with their modes, owners and times.
pub(super) fn folder_tar(repository: &Full, folder: &Node, out: &mut dyn Write) -> io::Result<()> {
    std::thread::scope(|scope| {
        // Made here, so an early return drops it and lets the threads end.
        let (send, pieces) = sync_channel(AHEAD);
        let jobs = fetchers(scope, repository);
        scope.spawn(move || {
            if let Err(e) = entries(repository, folder, &jobs, &send) {
                let _ = send.send(Err(e));
            }
        });
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Complete);
        append(&mut tar, Path::new(ROOT), folder, &pieces)?;
        while let Ok(piece) = pieces.recv() {
            if let Piece::Entry(path, node) = piece? {
                append(&mut tar, &Path::new(ROOT).join(path), &node, &pieces)?;
            }
        }
        tar.finish()
    })
}

/// One streamed file of the snapshot written out whole; its bytes.
pub(super) fn file(repository: &Full, node: &Node, out: &mut dyn Write) -> io::Result<u64> {
    std::thread::scope(|scope| {
        // Made here, so an early return drops it and lets the threads end.
        let (send, pieces) = sync_channel(AHEAD);
        let jobs = fetchers(scope, repository);
        scope.spawn(move || {
            if let Err(e) = data(node, &jobs, &send) {
                let _ = send.send(Err(e));
            }
        });
        io::copy(&mut Data::new(&pieces), out)
    })
}

/// Every entry below `folder`, each file's data after it.
fn entries(
    repository: &Full,
    folder: &Node,
    jobs: &SyncSender<Job>,
    send: &SyncSender<io::Result<Piece>>,
) -> io::Result<()> {
    let nodes = repository
        .ls(folder, &LsOptions::default())
        .map_err(|e| failed(&e))?;
    for entry in nodes {
        let (path, node) = entry.map_err(|e| failed(&e))?;
        let is_file = matches!(node.node_type, NodeType::File);
        if send
            .send(Ok(Piece::Entry(path, Box::new(node.clone()))))
            .is_err()
        {
            return Ok(());
        }
        if is_file {
            data(&node, jobs, send)?;
        }
    }
    Ok(())
}

/// A file's content blob by blob, each given to the fetchers and handed
/// over in its turn (whole, no copy), then `End`. A writer gone ends it
/// quietly.
fn data(
    node: &Node,
    jobs: &SyncSender<Job>,
    send: &SyncSender<io::Result<Piece>>,
) -> io::Result<()> {
    for id in node.content.iter().flatten() {
        let (put, blob) = sync_channel(1);
        if jobs.send((BlobId::from(*id), put)).is_err() || send.send(Ok(Piece::Data(blob))).is_err()
        {
            return Ok(());
        }
    }
    let _ = send.send(Ok(Piece::End));
    Ok(())
}

/// One file's data as it comes, to its `End`.
struct Data<'a> {
    pieces: &'a Pieces,
    /// The rest of the last chunk.
    left: bytes::Bytes,
    ended: bool,
}

impl<'a> Data<'a> {
    fn new(pieces: &'a Pieces) -> Data<'a> {
        Data {
            pieces,
            left: bytes::Bytes::new(),
            ended: false,
        }
    }
}

impl Read for Data<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.left.is_empty() {
            if self.ended {
                return Ok(0);
            }
            let piece = self
                .pieces
                .recv()
                .map_err(|_| io::Error::other("the repository's reader stopped"))?;
            match piece? {
                Piece::Data(blob) => {
                    self.left = blob
                        .recv()
                        .map_err(|_| io::Error::other("the repository's reader stopped"))??;
                }
                Piece::End => self.ended = true,
                Piece::Entry(..) => return Err(io::Error::other("a file's data ended early")),
            }
        }
        let n = out.len().min(self.left.len());
        out[..n].copy_from_slice(&self.left[..n]);
        self.left = self.left.slice(n..);
        Ok(n)
    }
}

/// One node into the tar at `path`, a file's data from `pieces`.
fn append(
    tar: &mut tar::Builder<&mut dyn Write>,
    path: &Path,
    node: &Node,
    pieces: &Pieces,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    let meta = &node.meta;
    // restic keeps Go's file mode: the permission bits are the same.
    header.set_mode(meta.mode.unwrap_or(0o644) & 0o777);
    header.set_uid(meta.uid.unwrap_or(0).into());
    header.set_gid(meta.gid.unwrap_or(0).into());
    header.set_mtime(meta.mtime.map_or(0, |t| t.as_second().max(0) as u64));
    match &node.node_type {
        NodeType::Dir => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            tar.append_data(&mut header, path, io::empty())
        }
        NodeType::Symlink { .. } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            let target = PathBuf::from(node.node_type.to_link().to_string_lossy().into_owned());
            tar.append_link(&mut header, path, target)
        }
        NodeType::File => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.size);
            let mut data = Data::new(pieces);
            tar.append_data(&mut header, path, (&mut data).take(meta.size))?;
            // Whatever is past the size the node gives is not the file's.
            io::copy(&mut data, &mut io::sink()).map(|_| ())
        }
        // Devices, fifos and sockets are not data a volume restore puts back.
        _ => Ok(()),
    }
}
