//! A copy target that is an S3-compatible object store, spoken through
//! rusty-s3's presigned requests over the reqwest client already in the
//! tree. Objects are `<prefix><id>/<file>`. Files up to one part are one
//! PUT; larger ones a multipart upload of 8 MiB parts, four in flight, so
//! memory stays near 32 MiB whatever the size. Each object's ETag must be
//! the MD5 of what was sent (for multipart, the MD5 of the parts' MD5s and
//! `-N`): the store holds exactly those bytes.

use std::collections::VecDeque;
use std::io::Read;
use std::time::Duration;

use md5::{Digest as _, Md5};
use rusty_s3::actions::{CompleteMultipartUpload, CreateMultipartUpload, ListObjectsV2};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use sha2::Sha256;
use tokio::io::AsyncReadExt;

use super::{Expected, RemoteBackup};
use crate::backup::manifest;
use crate::backup::writer::hex;
use crate::runbook::Runbook;
use crate::runbook::model::{Name, S3Target};

/// The size of one part of a multipart upload.
const PART: usize = 8 * 1024 * 1024;
/// Parts uploading at once.
const IN_FLIGHT: usize = 4;
/// How long a presigned request stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// The most of an object read whole (a manifest, an error body).
const SMALL: usize = 4 * 1024 * 1024;

pub(super) struct S3 {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    client: reqwest::Client,
}

impl S3 {
    pub(super) fn connect(
        runbook: &Runbook,
        target: &S3Target,
        value: &dyn Fn(&Name, &str) -> Result<String, String>,
    ) -> Result<S3, String> {
        let endpoint = value(&target.endpoint, "s3.endpoint")?;
        let bucket_name = value(&target.bucket, "s3.bucket")?;
        let region = match &target.region {
            Some(region) => value(region, "s3.region")?,
            None => "us-east-1".to_string(),
        };
        let mut prefix = match &target.prefix {
            Some(prefix) => value(prefix, "s3.prefix")?,
            None => String::new(),
        };
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let url: url::Url = endpoint
            .parse()
            .map_err(|e| format!("s3.endpoint `{endpoint}`: {e}"))?;
        let style = if target.path_style.unwrap_or(true) {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(url, style, bucket_name.clone(), region)
            .map_err(|e| format!("s3 bucket `{bucket_name}` at `{endpoint}`: {e}"))?;
        let credential = |field: &Option<Name>, file: &Option<Name>, env: &str, key: &str| {
            if let Some(field) = field {
                return value(field, &format!("s3.{key}"));
            }
            if let Some(file) = file {
                let path = runbook.resolve(value(file, &format!("s3.{key}_file"))?);
                return std::fs::read_to_string(&path)
                    .map(|text| text.trim().to_string())
                    .map_err(|e| format!("s3.{key}_file `{}`: {e}", path.display()));
            }
            std::env::var(env)
                .map_err(|_| format!("no S3 {key}: set `{key}: ${{VAR}}`, `{key}_file`, or ${env}"))
        };
        let key_id = credential(
            &target.access_key_id,
            &target.access_key_id_file,
            "AWS_ACCESS_KEY_ID",
            "access_key_id",
        )?;
        let secret = credential(
            &target.secret_access_key,
            &target.secret_access_key_file,
            "AWS_SECRET_ACCESS_KEY",
            "secret_access_key",
        )?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(S3 {
            bucket,
            credentials: Credentials::new(key_id, secret),
            prefix,
            client,
        })
    }

    pub(super) fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket.name(), self.prefix)
    }

    /// Keys one folder further down: `<prefix><folder>/`.
    pub(super) fn descend(&mut self, folder: &str) {
        self.prefix = format!("{}{folder}/", self.prefix);
    }

    fn key(&self, id: &str, file: &str) -> String {
        format!("{}{id}/{file}", self.prefix)
    }

    /// Uploads one item and checks what the store says it holds.
    pub(super) async fn put_file(
        &self,
        id: &str,
        file: &str,
        source: &std::path::Path,
        expected: &Expected,
    ) -> Result<(), String> {
        let key = self.key(id, file);
        let mut input = tokio::fs::File::open(source)
            .await
            .map_err(|e| format!("cannot open the local {id}/{file}: {e}"))?;
        let mut sha = Sha256::new();
        let first = read_part(&mut input, &mut sha)
            .await
            .map_err(|e| format!("cannot read the local {id}/{file}: {e}"))?;
        let sent = if first.len() < PART {
            let md5 = hex(&Md5::digest(&first));
            let size = first.len() as u64;
            check_local(&mut sha, expected, size, id, file)?;
            let etag = self.put(&key, first).await?;
            (etag, md5)
        } else {
            self.multipart(&key, first, &mut input, &mut sha, expected, id, file)
                .await?
        };
        let (etag, md5) = sent;
        if !etag.is_empty() && etag != md5 {
            return Err(format!(
                "{key}: the store's ETag {etag} is not the MD5 of what was sent ({md5})"
            ));
        }
        Ok(())
    }

    /// A multipart upload of `input` (its first part already read); the
    /// store's ETag and the one expected for what was sent.
    #[allow(clippy::too_many_arguments)]
    async fn multipart(
        &self,
        key: &str,
        first: Vec<u8>,
        input: &mut tokio::fs::File,
        sha: &mut Sha256,
        expected: &Expected,
        id: &str,
        file: &str,
    ) -> Result<(String, String), String> {
        let create = CreateMultipartUpload::new(&self.bucket, Some(&self.credentials), key);
        let body = self
            .send(
                self.client.post(create.sign(SIGNED_FOR)),
                key,
                "create upload",
            )
            .await?
            .text()
            .await
            .map_err(|e| format!("{key}: {}", e.without_url()))?;
        // Read leniently: servers differ in the answer's root element.
        let upload_id = tag_of(&body, "UploadId")
            .ok_or_else(|| format!("{key}: create upload answer has no UploadId"))?;
        let done = self
            .parts(key, &upload_id, first, input, sha, expected, id, file)
            .await;
        let (etags, md5s) = match done {
            Ok(parts) => parts,
            Err(e) => {
                self.abort(key, &upload_id).await;
                return Err(e);
            }
        };
        let complete = CompleteMultipartUpload::new(
            &self.bucket,
            Some(&self.credentials),
            key,
            &upload_id,
            etags.iter().map(String::as_str),
        );
        let url = complete.sign(SIGNED_FOR);
        let body = complete.body();
        let answer = self
            .send(self.client.post(url).body(body), key, "complete upload")
            .await;
        let answer = match answer {
            Ok(answer) => answer.text().await.unwrap_or_default(),
            Err(e) => {
                self.abort(key, &upload_id).await;
                return Err(e);
            }
        };
        // S3 may answer 200 with an error inside.
        if answer.contains("<Error>") {
            self.abort(key, &upload_id).await;
            return Err(format!("{key}: complete upload: {}", error_text(&answer)));
        }
        let etag = tag_of(&answer, "ETag").unwrap_or_default();
        let mut joined = Md5::new();
        for md5 in &md5s {
            joined.update(md5);
        }
        let wanted = format!("{}-{}", hex(&joined.finalize()), md5s.len());
        Ok((etag.trim_matches('"').to_string(), wanted))
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
        id: &str,
        file: &str,
    ) -> Result<(Vec<String>, Vec<[u8; 16]>), String> {
        let mut in_flight = VecDeque::new();
        let mut etags = Vec::new();
        let mut md5s = Vec::new();
        let mut size = 0u64;
        let mut next = Some(first);
        let mut number: u16 = 0;
        while let Some(part) = next.take() {
            if part.is_empty() {
                break;
            }
            number = number
                .checked_add(1)
                .ok_or_else(|| format!("{key}: more than 65535 parts"))?;
            size += part.len() as u64;
            md5s.push(<[u8; 16]>::from(Md5::digest(&part)));
            let url = self
                .bucket
                .upload_part(Some(&self.credentials), key, number, upload_id)
                .sign(SIGNED_FOR);
            let request = self.client.put(url).body(part);
            in_flight.push_back(tokio::spawn(send_part(request, key.to_string(), number)));
            if in_flight.len() >= IN_FLIGHT
                && let Some(oldest) = in_flight.pop_front()
            {
                etags.push(joined(oldest.await)?);
            }
            let more = read_part(input, sha)
                .await
                .map_err(|e| format!("cannot read the local {id}/{file}: {e}"))?;
            next = Some(more);
        }
        while let Some(part) = in_flight.pop_front() {
            etags.push(joined(part.await)?);
        }
        check_local(sha, expected, size, id, file)?;
        Ok((etags, md5s))
    }

    async fn abort(&self, key: &str, upload_id: &str) {
        let url = self
            .bucket
            .abort_multipart_upload(Some(&self.credentials), key, upload_id)
            .sign(SIGNED_FOR);
        let _ = self.client.delete(url).send().await;
    }

    /// One PUT of `body`; the ETag the store gave, unquoted.
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<String, String> {
        let url = self
            .bucket
            .put_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let response = self
            .send(self.client.put(url).body(body), key, "PUT")
            .await?;
        Ok(etag_of(&response))
    }

    /// Writes the manifest: after it the backup is complete on the store.
    pub(super) async fn put_manifest(&self, id: &str, bytes: Vec<u8>) -> Result<(), String> {
        let key = self.key(id, manifest::FILE);
        let md5 = hex(&Md5::digest(&bytes));
        let etag = self.put(&key, bytes).await?;
        if !etag.is_empty() && etag != md5 {
            return Err(format!(
                "{key}: the store's ETag {etag} is not the MD5 of what was sent"
            ));
        }
        Ok(())
    }

    /// Every complete backup under the prefix (its manifest read for its time).
    pub(super) async fn list(&self) -> Result<Vec<RemoteBackup>, String> {
        let mut ids = Vec::new();
        for key in self.keys(&self.prefix).await? {
            let Some(rest) = key.strip_prefix(&self.prefix) else {
                continue;
            };
            if let Some((id, file)) = rest.split_once('/')
                && file == manifest::FILE
                && !id.is_empty()
            {
                ids.push(id.to_string());
            }
        }
        let mut listed = Vec::new();
        for id in ids {
            let bytes = self.get_small(&format!("{id}/{}", manifest::FILE)).await?;
            listed.extend(super::listed(id, &bytes));
        }
        Ok(listed)
    }

    /// Every key under `prefix`, page by page.
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut list = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
            if !prefix.is_empty() {
                list.with_prefix(prefix);
            }
            if let Some(token) = &token {
                list.with_continuation_token(token.clone());
            }
            let url = list.sign(SIGNED_FOR);
            let text = self
                .send(self.client.get(url), prefix, "list")
                .await?
                .text()
                .await
                .map_err(|e| format!("list {prefix}: {}", e.without_url()))?;
            let page = ListObjectsV2::parse_response(&text)
                .map_err(|e| format!("list {}: {e}", self.location()))?;
            keys.extend(page.contents.into_iter().map(|c| c.key));
            match page.next_continuation_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(keys)
    }

    /// A small object (`id/file`) read whole.
    pub(super) async fn get_small(&self, name: &str) -> Result<Vec<u8>, String> {
        let key = format!("{}{name}", self.prefix);
        let url = self
            .bucket
            .get_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let response = self.send(self.client.get(url), &key, "GET").await?;
        if response.content_length().is_some_and(|n| n > SMALL as u64) {
            return Err(format!("{key} is larger than {SMALL} bytes"));
        }
        response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| format!("GET {key}: {}", e.without_url()))
    }

    /// An object (`id/file`) as a blocking stream.
    pub(super) async fn read(&self, name: &str) -> Result<Box<dyn Read + Send>, String> {
        let key = format!("{}{name}", self.prefix);
        let url = self
            .bucket
            .get_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let response = self.send(self.client.get(url), &key, "GET").await?;
        Ok(Box::new(super::bridge::reader(Box::pin(
            futures_util::StreamExt::map(response.bytes_stream(), |chunk| {
                chunk.map_err(|e| e.to_string())
            }),
        ))))
    }

    /// Deletes a backup's objects, the manifest first.
    pub(super) async fn remove(&self, id: &str, files: &[String]) -> Result<(), String> {
        let manifest_key = self.key(id, manifest::FILE);
        let mut keys = vec![manifest_key.clone()];
        keys.extend(files.iter().map(|f| self.key(id, f)));
        for key in self.keys(&format!("{}{id}/", self.prefix)).await? {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        for key in keys {
            let url = self
                .bucket
                .delete_object(Some(&self.credentials), &key)
                .sign(SIGNED_FOR);
            self.send(self.client.delete(url), &key, "DELETE").await?;
        }
        Ok(())
    }

    /// Sends a request; a status other than 2xx is an error with the
    /// store's own code and message. Never the URL: it carries the signature.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        key: &str,
        what: &str,
    ) -> Result<reqwest::Response, String> {
        send_checked(request, key, what).await
    }
}

async fn send_checked(
    request: reqwest::RequestBuilder,
    key: &str,
    what: &str,
) -> Result<reqwest::Response, String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("{what} {key}: {}", e.without_url()))?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Err(format!("{what} {key}: {status}: {}", error_text(&body)))
}

async fn send_part(
    request: reqwest::RequestBuilder,
    key: String,
    number: u16,
) -> Result<String, String> {
    let response = send_checked(request, &key, &format!("part {number} of")).await?;
    Ok(etag_of(&response))
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
fn check_local(
    sha: &mut Sha256,
    expected: &Expected,
    size: u64,
    id: &str,
    file: &str,
) -> Result<(), String> {
    let sent = hex(&sha2::Digest::finalize_reset(sha));
    if sent != expected.sha256 || size != expected.size {
        return Err(format!(
            "the local {id}/{file} changed since the backup was made: not copied"
        ));
    }
    Ok(())
}

fn etag_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

/// `<Tag>text</Tag>` of a small XML answer.
fn tag_of(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&#34;", "\""),
    )
}

/// The store's error: its `Code` and `Message`, or the start of the body.
fn error_text(body: &str) -> String {
    match (tag_of(body, "Code"), tag_of(body, "Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => crate::redact::quote(body.chars().take(200).collect::<String>().trim()),
    }
}
