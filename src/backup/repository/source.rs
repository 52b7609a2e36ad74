//! What one snapshot reads: volumes' folders on this host (walked by
//! rustic's own local source, links stored as links, never followed) put
//! under `/volumes/NAME`, and streams (a dump's stdout, a volume's archive,
//! a host file) opened only when the archiver reaches them, each counted
//! and hashed as it is read. rustic_core leaves out an entry whose read
//! fails and saves the snapshot anyway: every failure is recorded here, so
//! the caller deletes such a snapshot.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustic_core::repofile::{Metadata, Node, NodeType};
use rustic_core::{
    Excludes, LocalSource, LocalSourceFilterOptions, LocalSourceSaveOptions, ReadSource,
    ReadSourceEntry, ReadSourceOpen, RusticError, RusticResult,
};
use sha2::{Digest, Sha256};

pub(super) type BoxRead = Box<dyn Read + Send>;
type Opener = Box<dyn FnOnce() -> io::Result<BoxRead> + Send>;

/// What went wrong while reading, by entry: rustic_core only logs it.
#[derive(Clone, Default)]
pub(super) struct Failures(Arc<Mutex<Vec<String>>>);

impl Failures {
    pub(super) fn push(&self, failure: String) {
        if let Ok(mut all) = self.0.lock() {
            all.push(failure);
        }
    }

    pub(super) fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut all| std::mem::take(&mut *all))
            .unwrap_or_default()
    }
}

/// Bytes and sha256 of a stream, as read.
#[derive(Clone, Default)]
pub(super) struct Tally(Arc<Mutex<(u64, Sha256)>>);

impl Tally {
    /// A folder's file of `size` bytes (not hashed: restic's blob ids are).
    fn count(&self, size: u64) {
        if let Ok(mut tally) = self.0.lock() {
            tally.0 += size;
        }
    }

    fn add(&self, bytes: &[u8]) {
        if let Ok(mut tally) = self.0.lock() {
            tally.0 += bytes.len() as u64;
            tally.1.update(bytes);
        }
    }

    /// The bytes read and their sha256 (hex).
    pub(super) fn sum(&self) -> (u64, String) {
        match self.0.lock() {
            Ok(tally) => {
                let hex = tally.1.clone().finalize();
                (tally.0, hex.iter().map(|b| format!("{b:02x}")).collect())
            }
            Err(_) => (0, String::new()),
        }
    }
}

/// A stream's reader, counted, hashed, and its errors recorded.
struct Watched {
    inner: BoxRead,
    name: String,
    tally: Tally,
    failures: Failures,
}

impl Read for Watched {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.tally.add(&buf[..n]);
                Ok(n)
            }
            Err(e) => {
                self.failures.push(format!("{}: {e}", self.name));
                Err(e)
            }
        }
    }
}

/// How an entry is opened: a file of a walked folder, or a stream.
pub(super) enum Open {
    File(<LocalSource as ReadSource>::Open),
    Stream {
        name: String,
        opener: Opener,
        tally: Tally,
        failures: Failures,
    },
}

impl ReadSourceOpen for Open {
    type Reader = BoxRead;

    fn open(self) -> RusticResult<BoxRead> {
        match self {
            Open::File(file) => Ok(Box::new(file.open()?)),
            Open::Stream {
                name,
                opener,
                tally,
                failures,
            } => match opener() {
                Ok(inner) => Ok(Box::new(Watched {
                    inner,
                    name,
                    tally,
                    failures,
                })),
                Err(e) => {
                    failures.push(format!("{name}: {e}"));
                    Err(RusticError::with_source(
                        rustic_core::ErrorKind::InputOutput,
                        "cannot open a backup item",
                        e,
                    ))
                }
            },
        }
    }
}

enum Part {
    /// A folder on this host, stored under `at`.
    Folder {
        real: PathBuf,
        at: PathBuf,
        source: Box<LocalSource>,
        tally: Tally,
    },
    /// A stream stored as the file `at`, opened when the archiver reaches it.
    Stream {
        name: String,
        at: PathBuf,
        opener: Mutex<Option<Opener>>,
        tally: Tally,
    },
}

impl Part {
    fn at(&self) -> &Path {
        match self {
            Part::Folder { at, .. } | Part::Stream { at, .. } => at,
        }
    }
}

/// The items of one backup as one snapshot's source.
#[derive(Default)]
pub(super) struct Items {
    parts: Vec<Part>,
    pub(super) failures: Failures,
}

impl Items {
    /// Folder `real` (a volume's data), stored as `at`; its tally counts
    /// the files' bytes.
    pub(super) fn folder(&mut self, real: &Path, at: PathBuf) -> Result<Tally, String> {
        let source = LocalSource::new(
            LocalSourceSaveOptions::default(),
            &Excludes::default(),
            &LocalSourceFilterOptions::default(),
            &[real],
        )
        .map_err(|e| format!("{}: {}", real.display(), super::said(&e)))?;
        let tally = Tally::default();
        self.parts.push(Part::Folder {
            real: real.to_path_buf(),
            at,
            source: Box::new(source),
            tally: tally.clone(),
        });
        Ok(tally)
    }

    /// A stream stored as the file `at`; its tally says what was read.
    pub(super) fn stream(
        &mut self,
        name: &str,
        at: PathBuf,
        opener: impl FnOnce() -> io::Result<BoxRead> + Send + 'static,
    ) -> Tally {
        let tally = Tally::default();
        self.parts.push(Part::Stream {
            name: name.to_string(),
            at,
            opener: Mutex::new(Some(Box::new(opener))),
            tally: tally.clone(),
        });
        tally
    }

    /// The snapshot's paths, in the order the archiver needs: by path.
    pub(super) fn paths(&mut self) -> Vec<PathBuf> {
        self.parts.sort_by(|a, b| a.at().cmp(b.at()));
        self.parts.iter().map(|p| p.at().to_path_buf()).collect()
    }
}

type Entry = RusticResult<ReadSourceEntry<Open>>;

impl ReadSource for Items {
    type Open = Open;
    type Iter = Box<dyn Iterator<Item = Entry> + Send>;

    fn size(&self) -> RusticResult<Option<u64>> {
        Ok(None)
    }

    fn entries(&self) -> Self::Iter {
        let now = jiff::Timestamp::now();
        let mut all: Vec<Self::Iter> = Vec::new();
        for part in &self.parts {
            match part {
                Part::Folder {
                    real,
                    at,
                    source,
                    tally,
                } => {
                    let (real, at, tally) = (real.clone(), at.clone(), tally.clone());
                    all.push(Box::new(source.entries().map(move |entry| {
                        let entry = entry?;
                        if entry.node.is_file() {
                            tally.count(entry.node.meta.size);
                        }
                        let inside = entry.path.strip_prefix(&real).unwrap_or(Path::new(""));
                        Ok(ReadSourceEntry {
                            path: at.join(inside),
                            node: entry.node,
                            open: entry.open.map(Open::File),
                        })
                    })));
                }
                Part::Stream {
                    name,
                    at,
                    opener,
                    tally,
                } => {
                    let opener = opener.lock().ok().and_then(|mut o| o.take());
                    let file_name = at.file_name().unwrap_or_default();
                    // A fresh time: the parent snapshot's copy is never taken for it.
                    let meta = Metadata {
                        mode: Some(0o100_600),
                        mtime: Some(now),
                        ctime: Some(now),
                        ..Default::default()
                    };
                    let node = Node::new_node(file_name, NodeType::File, meta);
                    let open = opener.map(|opener| Open::Stream {
                        name: name.clone(),
                        opener,
                        tally: tally.clone(),
                        failures: self.failures.clone(),
                    });
                    all.push(Box::new(std::iter::once(Ok(ReadSourceEntry {
                        path: at.clone(),
                        node,
                        open,
                    }))));
                }
            }
        }
        Box::new(all.into_iter().flatten())
    }
}
