//! A copy target that is an S3-compatible object store, spoken through
//! rusty-s3's presigned requests over the reqwest client already in the
//! tree. Objects are `<prefix><id>/<file>`; the upload is `upload.rs`,
//! every request is bounded in time and size by `wire.rs`. A listing is
//! read page by page, and a store whose listing never ends (a token given
//! twice, more pages than any target holds) is refused, not followed.

mod objects;
mod upload;
mod wire;

use std::collections::HashSet;
use std::io::Read;
use std::time::Duration;

use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::{Listing, SMALL, Small};
use crate::backup::manifest;
use crate::interrupt::Interrupt;
use crate::runbook::Runbook;
use crate::runbook::model::{Name, S3Target};

use wire::Wire;

/// How long a presigned request stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// The most pages a listing may take: a thousand keys each, a million
/// objects, more than any backup target holds.
const MAX_PAGES: usize = 1000;
/// The most of one listing page read (a thousand keys of 1 KiB at most).
const PAGE: u64 = 4 * 1024 * 1024;

pub(crate) struct S3 {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    wire: Wire,
}

impl S3 {
    pub(crate) fn connect(
        runbook: &Runbook,
        target: &S3Target,
        timeout: Duration,
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
        Ok(S3 {
            bucket,
            credentials: Credentials::new(key_id, secret),
            prefix,
            wire: Wire::new(timeout)?,
        })
    }

    pub(crate) fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket.name(), self.prefix)
    }

    /// Keys one folder further down: `<prefix><folder>/`.
    pub(super) fn descend(&mut self, folder: &str) {
        self.prefix = format!("{}{folder}/", self.prefix);
    }

    fn key(&self, id: &str, file: &str) -> String {
        format!("{}{id}/{file}", self.prefix)
    }

    /// Every request from now on ends at once when `interrupt` is raised.
    pub(super) fn heed(&mut self, interrupt: &Interrupt) {
        self.wire.heed(interrupt);
    }

    /// Every backup under the prefix whose manifest is there: complete,
    /// or damaged when its manifest does not read.
    pub(super) async fn list(&self) -> Result<Listing, String> {
        let prefix = self.prefix.clone();
        let manifests = self
            .keys(&self.prefix, |key| {
                key.strip_prefix(&prefix)
                    .and_then(|rest| rest.split_once('/'))
                    .is_some_and(|(id, file)| file == manifest::FILE && !id.is_empty())
            })
            .await?;
        let mut listing = Listing::default();
        for (key, _) in manifests {
            let Some((id, _)) = key
                .strip_prefix(&self.prefix)
                .and_then(|rest| rest.split_once('/'))
            else {
                continue;
            };
            let read = self.get_small(&format!("{id}/{}", manifest::FILE)).await?;
            listing.add(id.to_string(), read, &key);
        }
        Ok(listing)
    }

    /// Every key under `prefix` that `wanted` keeps, with its size, page
    /// by page.
    async fn keys(
        &self,
        prefix: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, u64)>, String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        let mut seen = HashSet::new();
        for page in 1..=MAX_PAGES {
            let mut list = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
            if !prefix.is_empty() {
                list.with_prefix(prefix);
            }
            if let Some(token) = &token {
                list.with_continuation_token(token.clone());
            }
            let url = list.sign(SIGNED_FOR);
            let response = self
                .wire
                .ask(self.wire.client().get(url), prefix, "list")
                .await?;
            let text = match self.wire.small(response, PAGE, prefix, "list").await? {
                Small::Whole(text) => String::from_utf8_lossy(&text).into_owned(),
                Small::Over => {
                    return Err(format!(
                        "list {prefix}: page {page} of the listing is larger than {}: not a listing",
                        crate::ui::human::bytes(PAGE)
                    ));
                }
            };
            let page_read = ListObjectsV2::parse_response(&text)
                .map_err(|e| format!("list {}: {e}", self.location()))?;
            keys.extend(
                page_read
                    .contents
                    .into_iter()
                    .filter(|c| wanted(&c.key))
                    .map(|c| (c.key, c.size.unwrap_or_default())),
            );
            match page_read.next_continuation_token {
                None => return Ok(keys),
                Some(next) if !seen.insert(next.clone()) => {
                    return Err(format!(
                        "list {prefix}: the store gave the same continuation token again after {page} pages: its listing never ends (a broken store or gateway)"
                    ));
                }
                Some(next) => token = Some(next),
            }
        }
        Err(format!(
            "list {prefix}: the listing did not end after {MAX_PAGES} pages: more than any backup target holds (a broken store or gateway)"
        ))
    }

    /// A signed GET of the full `key`: of bytes `from..=to` only, when
    /// given. The answer, its status checked.
    pub(super) async fn get(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<reqwest::Response, String> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let mut request = self.wire.client().get(url);
        if let Some((from, to)) = range {
            request = request.header(reqwest::header::RANGE, format!("bytes={from}-{to}"));
        }
        self.wire.ask(request, key, "GET").await
    }

    /// A small object (`id/file`) read whole, up to `SMALL` bytes.
    pub(super) async fn get_small(&self, name: &str) -> Result<Small, String> {
        let key = format!("{}{name}", self.prefix);
        let response = self.get(&key, None).await?;
        self.wire.small(response, SMALL, &key, "GET").await
    }

    /// An object (`id/file`) as a blocking stream, which fails past `size`
    /// bytes (what its manifest says it holds).
    pub(super) async fn read(&self, name: &str, size: u64) -> Result<Box<dyn Read + Send>, String> {
        let key = format!("{}{name}", self.prefix);
        let response = self.get(&key, None).await?;
        if let Some(length) = response.content_length()
            && length > size
        {
            return Err(super::too_large(name, length, size));
        }
        let chunks = self.wire.stream(response, &key);
        Ok(Box::new(super::bridge::reader(chunks, name, size)))
    }

    /// Deletes a backup's objects, the manifest first.
    pub(super) async fn remove(&self, id: &str, files: &[String]) -> Result<(), String> {
        let manifest_key = self.key(id, manifest::FILE);
        let mut keys = vec![manifest_key.clone()];
        keys.extend(files.iter().map(|f| self.key(id, f)));
        for (key, _) in self
            .keys(&format!("{}{id}/", self.prefix), |_| true)
            .await?
        {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        for key in keys {
            self.delete(&self.wire, &key).await?;
        }
        Ok(())
    }

    async fn delete(&self, wire: &Wire, key: &str) -> Result<(), String> {
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        wire.ask(wire.client().delete(url), key, "DELETE").await?;
        Ok(())
    }
}
