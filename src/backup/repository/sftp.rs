//! A repository on another machine over SFTP (`backup.repository.sftp`,
//! or a copy target's `sftp`): rustic_core's backend traits over the SFTP
//! client the copies use (key login, strict host keys), in restic's own
//! layout (`config`, `keys/`, `snapshots/`, `index/`, `data/ab/`), so the
//! real restic reads it as `sftp:user@host:/path`. Each file is written to
//! a hidden temporary name, fsynced, its size checked and renamed; every
//! read is capped, and a link on the server is never followed. rustic
//! calls from its own threads and waits: each call runs the async request
//! on the runtime through a kept handle.

use std::sync::Arc;

use bytes::Bytes;
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend,
};

use super::store::{WHOLE, name};
use crate::backup::copies::sftp::Sftp;

/// The repository's files on the server.
pub(super) struct Files {
    sftp: Arc<Sftp>,
    runtime: tokio::runtime::Handle,
}

impl Files {
    /// Must be made inside the runtime (its handle is kept).
    pub(super) fn new(sftp: Arc<Sftp>) -> Files {
        Files {
            sftp,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    fn wait<T>(&self, work: impl Future<Output = Result<T, String>>) -> RusticResult<T> {
        self.runtime
            .block_on(work)
            .map_err(|why| RusticError::new(ErrorKind::Backend, why))
    }

    /// The files of one folder as ids and sizes.
    async fn listed(&self, folder: &str, tpe: FileType) -> Result<Vec<(Id, u32)>, String> {
        Ok(self
            .sftp
            .files(folder)
            .await?
            .into_iter()
            .filter_map(|(file, size)| {
                Some((Id::parse_some(&file, tpe)?, u32::try_from(size).ok()?))
            })
            .collect())
    }
}

impl ReadBackend for Files {
    fn location(&self) -> String {
        self.sftp.location()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.wait(async {
            match tpe {
                FileType::Config => Ok(self
                    .sftp
                    .files("")
                    .await?
                    .into_iter()
                    .filter(|(file, _)| file == "config")
                    .filter_map(|(_, size)| Some((Id::default(), u32::try_from(size).ok()?)))
                    .collect()),
                // Packs are spread over data/00 … data/ff.
                FileType::Pack => {
                    let mut all = Vec::new();
                    for n in 0..=255u8 {
                        all.extend(self.listed(&format!("data/{n:02x}"), tpe).await?);
                    }
                    Ok(all)
                }
                _ => self.listed(tpe.dirname(), tpe).await,
            }
        })
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        self.wait(self.sftp.read_file(&name(tpe, id), None, WHOLE))
            .map(Bytes::from)
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        let range = Some((u64::from(offset), u64::from(length)));
        self.wait(self.sftp.read_file(&name(tpe, id), range, WHOLE))
            .map(Bytes::from)
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        name(tpe, id)
    }
}

impl WriteBackend for Files {
    /// restic's folders, as its own init makes them (restic lists them
    /// and expects them there).
    fn create(&self) -> RusticResult<()> {
        self.wait(async {
            for folder in ["keys", "locks", "snapshots", "index"] {
                self.sftp.make_dir(folder).await?;
            }
            for n in 0..=255u8 {
                self.sftp.make_dir(&format!("data/{n:02x}")).await?;
            }
            Ok(())
        })
    }

    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        let body = content.into_vec().concat();
        self.wait(self.sftp.write_file(&name(tpe, id), &body))
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        self.wait(self.sftp.remove_file(&name(tpe, id)))
    }
}
