//! Plain objects of the store, by key under the target's prefix: for a
//! restic repository kept on it (`backup.repository.s3`), whose files
//! are objects of their own (`config`, `keys/…`, `data/ab/…`). Every
//! request is bounded as the copies' are (`wire.rs`); a read never takes
//! more than asked for, a write is checked against the MD5 the store
//! gives back as its ETag.

use bytes::Bytes;
use md5::{Digest as _, Md5};
use rusty_s3::S3Action;

use super::wire::{Progress, Wire, etag_of};
use super::{S3, SIGNED_FOR};
use crate::backup::copies::Small;
use crate::backup::writer::hex;

impl S3 {
    /// Every object under `<prefix><folder>`, with its size.
    pub(crate) async fn objects(&self, folder: &str) -> Result<Vec<(String, u64)>, String> {
        let under = format!("{}{folder}", self.prefix);
        let found = self.keys(&under, |_| true).await?;
        Ok(found
            .into_iter()
            .filter_map(|(key, size)| Some((key.strip_prefix(&self.prefix)?.to_string(), size)))
            .collect())
    }

    /// Object `name` read whole; more than `cap` bytes is refused.
    pub(crate) async fn object(&self, name: &str, cap: u64) -> Result<Bytes, String> {
        let key = format!("{}{name}", self.prefix);
        let response = self.get(&key, None).await?;
        match self.wire.small(response, cap, &key, "GET").await? {
            Small::Whole(bytes) => Ok(bytes.into()),
            Small::Over => Err(format!(
                "GET {key}: larger than {}, not read (not a file of a restic repository)",
                crate::ui::human::bytes(cap)
            )),
        }
    }

    /// `length` bytes of object `name` from `offset` (a ranged GET); an
    /// answer of another length is an error.
    pub(crate) async fn part(&self, name: &str, offset: u64, length: u64) -> Result<Bytes, String> {
        let key = format!("{}{name}", self.prefix);
        let last = (offset + length).saturating_sub(1);
        let response = self.get(&key, Some((offset, last))).await?;
        match self.wire.small(response, length, &key, "GET").await? {
            Small::Whole(bytes) if bytes.len() as u64 == length => Ok(bytes.into()),
            Small::Whole(bytes) => Err(format!(
                "GET {key}: {} bytes from {offset} asked for, {} given (the object is shorter than the repository's index says)",
                length,
                bytes.len()
            )),
            Small::Over => Err(format!(
                "GET {key}: more than the {length} bytes asked for (the store ignored the range)"
            )),
        }
    }

    /// Writes object `name` in one PUT; the store's ETag must be the MD5
    /// of what was sent.
    pub(crate) async fn put_object(&self, name: &str, body: Bytes) -> Result<(), String> {
        let key = format!("{}{name}", self.prefix);
        let md5 = hex(&Md5::digest(&body));
        let url = self
            .bucket
            .put_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let progress = Progress::new();
        let request = Wire::body(self.wire.client().put(url), body, &progress);
        let response = self.wire.send(request, &progress, &key, "PUT").await?;
        super::upload::check_etag(&key, etag_of(&response).as_deref(), &md5)
    }

    /// Deletes object `name`.
    pub(crate) async fn delete_object(&self, name: &str) -> Result<(), String> {
        let key = format!("{}{name}", self.prefix);
        self.delete(&self.wire, &key).await
    }
}
