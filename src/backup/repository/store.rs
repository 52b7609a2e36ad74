//! A repository on an S3-compatible store (`backup.repository.s3`):
//! rustic_core's backend traits over the S3 client the copies use, in
//! restic's own layout (`config`, `keys/ID`, `snapshots/ID`, `index/ID`,
//! `data/ab/ID` under the prefix), so the real restic reads it as
//! `s3:ENDPOINT/BUCKET/PREFIX`. rustic calls from its own threads and
//! waits: each call runs the async request on the runtime through a kept
//! handle. Every request has the store's deadline, every read a cap.

use std::sync::Arc;

use bytes::Bytes;
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend,
};

use crate::backup::copies::s3::S3;

/// The most of one repository file read whole: a pack grows with the
/// repository, restic's to a few hundred MiB at most.
pub(super) const WHOLE: u64 = 1024 * 1024 * 1024;

/// The repository's files as the store's objects.
pub(super) struct Store {
    s3: Arc<S3>,
    runtime: tokio::runtime::Handle,
}

impl Store {
    /// Must be made inside the runtime (its handle is kept).
    pub(super) fn new(s3: Arc<S3>) -> Store {
        Store {
            s3,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    fn wait<T>(&self, work: impl Future<Output = Result<T, String>>) -> RusticResult<T> {
        self.runtime
            .block_on(work)
            .map_err(|why| RusticError::new(ErrorKind::Backend, why))
    }
}

/// The object's name under the prefix, as restic lays a repository out.
pub(super) fn name(tpe: FileType, id: &Id) -> String {
    let hex = id.to_hex();
    match tpe {
        FileType::Config => "config".to_string(),
        FileType::Pack => format!("data/{}/{}", &hex.as_str()[..2], hex.as_str()),
        _ => format!("{}/{}", tpe.dirname(), hex.as_str()),
    }
}

impl ReadBackend for Store {
    fn location(&self) -> String {
        self.s3.location()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        let folder = match tpe {
            FileType::Config => "config".to_string(),
            _ => format!("{}/", tpe.dirname()),
        };
        let objects = self.wait(self.s3.objects(&folder))?;
        Ok(objects
            .into_iter()
            .filter_map(|(name, size)| {
                let size = u32::try_from(size).ok()?;
                if tpe == FileType::Config {
                    return (name == "config").then(|| (Id::default(), size));
                }
                let file = name.rsplit('/').next()?;
                Some((Id::parse_some(file, tpe)?, size))
            })
            .collect())
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        self.wait(self.s3.object(&name(tpe, id), WHOLE))
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        self.wait(
            self.s3
                .part(&name(tpe, id), u64::from(offset), u64::from(length)),
        )
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        name(tpe, id)
    }
}

impl WriteBackend for Store {
    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        let parts = content.into_vec();
        let body = match parts.as_slice() {
            [one] => one.clone(),
            _ => Bytes::from(parts.concat()),
        };
        self.wait(self.s3.put_object(&name(tpe, id), body))
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        self.wait(self.s3.delete_object(&name(tpe, id)))
    }
}
