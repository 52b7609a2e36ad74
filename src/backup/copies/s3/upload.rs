//! A backup sent to the object store: each item in one PUT or, above one
//! part, a multipart upload of 8 MiB parts, four in flight (memory stays
//! near 32 MiB whatever the size), then the manifest last. What the store
//! says it holds is checked, never taken on trust: each object's ETag must
//! be the MD5 of what was sent (for multipart, the MD5 of the parts' MD5s
//! and `-N`), an answer without one is refused, its size read back (HEAD)
//! must be what was sent, and the manifest is read back whole. A copy that
//! fails or is interrupted by a signal is removed again (an unfinished
//! multipart upload aborted), within a short deadline.

use std::collections::VecDeque;

use bytes::Bytes;
use md5::{Digest as _, Md5};
use rusty_s3::S3Action;
use rusty_s3::actions::{CompleteMultipartUpload, CreateMultipartUpload};
use sha2::Sha256;
use tokio::io::AsyncReadExt;

use super::wire::{Progress, Wire, etag_of, tag_of};
use super::{S3, SIGNED_FOR};
use crate::backup::copies::{Expected, Outgoing, SMALL, Small};
use crate::backup::manifest;
use crate::backup::writer::hex;

/// The size of one part of a multipart upload.
const PART: usize = 8 * 1024 * 1024;
/// Parts uploading at once.
const IN_FLIGHT: usize = 4;

impl S3 {
    /// Uploads every item, each checked, then the manifest; a copy that
    /// does not finish is removed again.
    pub(in crate::backup::copies) async fn upload(
        &self,
        id: &str,
        items: &[Outgoing],
        manifest: Vec<u8>,
    ) -> Result<(), String> {
        let mut sent = Vec::new();
        let done = self.send_all(id, items, manifest, &mut sent).await;
        if done.is_err() {
            let wire = self.wire.cleanup();
            for key in sent.iter().rev() {
                if self.delete(&wire, key).await.is_err() {
                    break;
                }
            }
        }
        done
    }

    /// Sends the items and the manifest, noting in `sent` each key it
    /// began (a PUT cut short may still have landed).
    async fn send_all(
        &self,
        id: &str,
        items: &[Outgoing],
        manifest_bytes: Vec<u8>,
        sent: &mut Vec<String>,
    ) -> Result<(), String> {
        for item in items {
            let key = self.key(id, &item.file);
            sent.push(key.clone());
            self.put_file(&key, item, &format!("{id}/{}", item.file))
                .await?;
        }
        let key = self.key(id, manifest::FILE);
        sent.push(key.clone());
        self.put_manifest(&key, manifest_bytes).await
    }

    /// Uploads one item and checks what the store says it holds.
    async fn put_file(&self, key: &str, item: &Outgoing, name: &str) -> Result<(), String> {
        let mut input = tokio::fs::File::open(&item.path)
            .await
            .map_err(|e| format!("cannot open the local {name}: {e}"))?;
        let mut sha = Sha256::new();
        let first = read_part(&mut input, &mut sha)
            .await
            .map_err(|e| format!("cannot read the local {name}: {e}"))?;
        let (etag, wanted) = if first.len() < PART {
            let md5 = hex(&Md5::digest(&first));
            check_local(&mut sha, &item.expected, first.len() as u64, name)?;
            (self.put(key, first).await?, md5)
        } else {
            self.multipart(key, first, &mut input, &mut sha, &item.expected, name)
                .await?
        };
        check_etag(key, etag.as_deref(), &wanted)?;
        self.check_size(key, item.expected.size).await
    }

    /// A multipart upload of `input` (its first part already read); the
    /// store's ETag and the one expected for what was sent.
    async fn multipart(
        &self,
        key: &str,
        first: Vec<u8>,
        input: &mut tokio::fs::File,
        sha: &mut Sha256,
        expected: &Expected,
        name: &str,
    ) -> Result<(Option<String>, String), String> {
        let create = CreateMultipartUpload::new(&self.bucket, Some(&self.credentials), key);
        let client = self.wire.client();
        let answer = self
            .wire
            .ask(client.post(create.sign(SIGNED_FOR)), key, "create upload")
            .await?;
        let body = self.answer_text(answer, key, "create upload").await?;
        // Read leniently: servers differ in the answer's root element.
        let upload_id = tag_of(&body, "UploadId")
            .ok_or_else(|| format!("{key}: create upload answer has no UploadId"))?;
        let done = async {
            let (etags, md5s) = self
                .parts(key, &upload_id, first, input, sha, expected, name)
                .await?;
            let etag = self.complete(key, &upload_id, &etags).await?;
            Ok::<_, String>((etag, md5s))
        }
        .await;
        let (etag, md5s) = match done {
            Ok(done) => done,
            Err(e) => {
                self.abort(key, &upload_id).await;
                return Err(e);
            }
        };
        let mut joined = Md5::new();
        for md5 in &md5s {
            joined.update(md5);
        }
        let wanted = format!("{}-{}", hex(&joined.finalize()), md5s.len());
        Ok((etag, wanted))
    }

    /// Completes the upload from its parts' ETags; the ETag the store gave.
    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<Option<String>, String> {
        let complete = CompleteMultipartUpload::new(
            &self.bucket,
            Some(&self.credentials),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = complete.sign(SIGNED_FOR);
        let progress = Progress::new();
        let request = Wire::body(
            self.wire.client().post(url),
            Bytes::from(complete.body()),
            &progress,
        );
        let answer = self
            .wire
            .send(request, &progress, key, "complete upload")
            .await?;
        let answer = self.answer_text(answer, key, "complete upload").await?;
        // S3 may answer 200 with an error inside.
        if answer.contains("<Error>") {
            return Err(format!(
                "{key}: complete upload: {}",
                super::wire::error_text(&answer)
            ));
        }
        Ok(tag_of(&answer, "ETag")
            .map(|etag| etag.trim_matches('"').to_string())
            .filter(|etag| !etag.is_empty()))
    }

    /// Uploads the parts, `IN_FLIGHT` at a time, reading the file in order
    /// (so the sha256 is of the whole file); the parts' ETags and MD5s.
    #[allow(clippy::too_many_arguments)]
    async fn parts(
        &self,
        key: &str,
        upload_id: &str,
        first: Vec<u8>,
        input: &mut tokio::fs::File,
        sha: &mut Sha256,
        expected: &Expected,
        name: &str,
    ) -> Result<(Vec<String>, Vec<[u8; 16]>), String> {
        let mut in_flight = VecDeque::new();
        let mut etags = Vec::new();
        let mut md5s = Vec::new();
        let mut size = 0u64;
        let mut next = Some(first);
        let mut number: u16 = 0;
        let done = async {
            while let Some(part) = next.take() {
                if part.is_empty() {
                    break;
                }
                number = number
                    .checked_add(1)
                    .ok_or_else(|| format!("{key}: more than 65535 parts"))?;
                size += part.len() as u64;
                let md5 = <[u8; 16]>::from(Md5::digest(&part));
                md5s.push(md5);
                let url = self
                    .bucket
                    .upload_part(Some(&self.credentials), key, number, upload_id)
                    .sign(SIGNED_FOR);
                let wire = self.wire.clone();
                let request = wire.client().put(url);
                in_flight.push_back(tokio::spawn(send_part(
                    wire,
                    request,
                    Bytes::from(part),
                    (key.to_string(), number),
                    hex(&md5),
                )));
                if in_flight.len() >= IN_FLIGHT
                    && let Some(oldest) = in_flight.pop_front()
                {
                    etags.push(joined(oldest.await)?);
                }
                let more = read_part(input, sha)
                    .await
                    .map_err(|e| format!("cannot read the local {name}: {e}"))?;
                next = Some(more);
            }
            while let Some(part) = in_flight.pop_front() {
                etags.push(joined(part.await)?);
            }
            Ok::<(), String>(())
        }
        .await;
        if let Err(e) = done {
            for part in in_flight {
                part.abort();
            }
            return Err(e);
        }
        check_local(sha, expected, size, name)?;
        Ok((etags, md5s))
    }

    async fn abort(&self, key: &str, upload_id: &str) {
        let url = self
            .bucket
            .abort_multipart_upload(Some(&self.credentials), key, upload_id)
            .sign(SIGNED_FOR);
        let wire = self.wire.cleanup();
        let _ = wire
            .ask(wire.client().delete(url), key, "abort upload")
            .await;
    }

    /// One PUT of `body`; the ETag the store gave, unquoted.
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<Option<String>, String> {
        let url = self
            .bucket
            .put_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let progress = Progress::new();
        let request = Wire::body(self.wire.client().put(url), Bytes::from(body), &progress);
        let response = self.wire.send(request, &progress, key, "PUT").await?;
        Ok(etag_of(&response))
    }

    /// Writes the manifest, then reads it back whole: after it the backup
    /// is complete on the store.
    async fn put_manifest(&self, key: &str, bytes: Vec<u8>) -> Result<(), String> {
        let md5 = hex(&Md5::digest(&bytes));
        let etag = self.put(key, bytes.clone()).await?;
        check_etag(key, etag.as_deref(), &md5)?;
        let answer = self.get(key, None).await?;
        match self.wire.small(answer, SMALL, key, "GET").await? {
            Small::Whole(stored) if stored == bytes => Ok(()),
            Small::Whole(stored) => Err(format!(
                "{key}: the store gives back {} bytes that are not the manifest sent ({} bytes): not copied",
                stored.len(),
                bytes.len()
            )),
            Small::Over => Err(format!(
                "{key}: the store gives back more than the manifest sent: not copied"
            )),
        }
    }

    /// The object's size, read back (HEAD), must be what was sent.
    async fn check_size(&self, key: &str, size: u64) -> Result<(), String> {
        let url = self
            .bucket
            .head_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let answer = self
            .wire
            .ask(self.wire.client().head(url), key, "HEAD")
            .await?;
        let stored = answer
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match stored {
            Some(stored) if stored == size => Ok(()),
            Some(stored) => Err(format!(
                "{key}: the store holds {stored} bytes of the {size} sent, whatever its ETag said: not copied"
            )),
            None => Err(format!(
                "{key}: the store does not say how large the object is (no Content-Length): what it holds cannot be checked"
            )),
        }
    }

    /// A small XML answer as text (capped like a manifest).
    async fn answer_text(
        &self,
        answer: reqwest::Response,
        key: &str,
        what: &str,
    ) -> Result<String, String> {
        match self.wire.small(answer, SMALL, key, what).await? {
            Small::Whole(text) => Ok(String::from_utf8_lossy(&text).into_owned()),
            Small::Over => Err(format!(
                "{what} {key}: the answer is larger than {}: not an S3 answer",
                crate::ui::human::bytes(SMALL)
            )),
        }
    }
}

/// The ETag the store gave must be the one for what was sent; none at
/// all is refused too: what the store holds could not be checked.
pub(super) fn check_etag(key: &str, etag: Option<&str>, wanted: &str) -> Result<(), String> {
    match etag {
        Some(etag) if etag == wanted => Ok(()),
        Some(etag) => Err(format!(
            "{key}: the store's ETag {etag} is not the MD5 of what was sent ({wanted}): not copied"
        )),
        None => Err(format!(
            "{key}: the store answered without an ETag, so what it holds cannot be checked: not copied (a gateway in between that drops the header?)"
        )),
    }
}

/// Part `number` of `key`; its ETag, which must be the part's `md5`.
async fn send_part(
    wire: Wire,
    request: reqwest::RequestBuilder,
    body: Bytes,
    (key, number): (String, u16),
    md5: String,
) -> Result<String, String> {
    let progress = Progress::new();
    let request = Wire::body(request, body, &progress);
    let what = format!("part {number} of");
    let response = wire.send(request, &progress, &key, &what).await?;
    check_etag(
        &format!("{what} {key}"),
        etag_of(&response).as_deref(),
        &md5,
    )?;
    Ok(md5)
}

fn joined(part: Result<Result<String, String>, tokio::task::JoinError>) -> Result<String, String> {
    part.map_err(|e| format!("upload task: {e}"))?
}

/// Reads up to one part, hashing it into `sha`.
async fn read_part(input: &mut tokio::fs::File, sha: &mut Sha256) -> std::io::Result<Vec<u8>> {
    let mut part = vec![0u8; PART];
    let mut filled = 0;
    while filled < PART {
        let n = input.read(&mut part[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    part.truncate(filled);
    sha2::Digest::update(sha, &part);
    Ok(part)
}

/// The local file must still be what the manifest says.
fn check_local(sha: &mut Sha256, expected: &Expected, size: u64, name: &str) -> Result<(), String> {
    let sent = hex(&sha2::Digest::finalize_reset(sha));
    if sent != expected.sha256 || size != expected.size {
        return Err(format!(
            "the local {name} changed since the backup was made: not copied"
        ));
    }
    Ok(())
}
