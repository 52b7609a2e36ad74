//! A repository's backend that hears a signal: once SIGINT or SIGTERM is
//! raised, every read fails, so what rustic reads from it (the blobs of a
//! copy of snapshots, whose snapshot files are written last) stops at its
//! next read and writes no snapshot. Writes go on: rustic's pack writer
//! waits forever once a write of its own fails (a copy hung on SIGTERM so),
//! and a read failing ends its work cleanly.

use std::sync::Arc;

use bytes::Bytes;
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RepositoryBackends, RusticError, RusticResult,
    WriteBackend,
};

use crate::backup::copies::INTERRUPTED;
use crate::interrupt::Interrupt;

/// The backend, and the signal it hears.
pub(super) struct Heeding {
    inner: Arc<dyn WriteBackend>,
    interrupt: Interrupt,
}

impl Heeding {
    /// `backends` with the repository's reads stopped by `interrupt`.
    pub(super) fn wrap(backends: RepositoryBackends, interrupt: Interrupt) -> RepositoryBackends {
        let inner = backends.repository();
        RepositoryBackends::new(Arc::new(Heeding { inner, interrupt }), backends.repo_hot())
    }

    fn unless_raised(&self) -> RusticResult<()> {
        match self.interrupt.is_raised() {
            true => Err(RusticError::new(ErrorKind::Backend, INTERRUPTED)),
            false => Ok(()),
        }
    }
}

impl ReadBackend for Heeding {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.inner.list_with_size(tpe)
    }

    fn list(&self, tpe: FileType) -> RusticResult<Vec<Id>> {
        self.inner.list(tpe)
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        self.unless_raised()?;
        self.inner.read_full(tpe, id)
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        self.unless_raised()?;
        self.inner.read_partial(tpe, id, cacheable, offset, length)
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.inner.warmup_path(tpe, id)
    }
}

impl WriteBackend for Heeding {
    fn create(&self) -> RusticResult<()> {
        self.inner.create()
    }

    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        self.inner.write_bytes(tpe, id, cacheable, content)
    }

    fn remove(&self, tpe: FileType, id: &Id, cacheable: bool) -> RusticResult<()> {
        self.inner.remove(tpe, id, cacheable)
    }
}
