//! The problems of `backup.copies`: one kind per target, its fields given, `${VAR}` written
//! correctly, and no credential written out in the runbook.

use crate::runbook::interpolate;
use crate::runbook::model::{CopyTarget, Name, S3Target, SftpTarget};

use super::Validator;

impl Validator<'_> {
    pub(super) fn copies(&mut self, copies: &indexmap::IndexMap<String, CopyTarget>) {
        for (name, target) in copies {
            let field = format!("backup.copies.{name}");
            let kinds = [
                target.folder.is_some(),
                target.s3.is_some(),
                target.sftp.is_some(),
            ];
            match kinds.iter().filter(|&&given| given).count() {
                0 => self.at_key(
                    &field,
                    "a copy target needs its kind: `folder: /mnt/nas/backups`, `s3: { endpoint, bucket }` or `sftp: { host, user, key_file, known_hosts, path }`",
                ),
                1 => {}
                _ => self.at_key(
                    &field,
                    "a copy target is one kind: `folder`, `s3` or `sftp`, not several",
                ),
            }
            if let Some(sftp) = &target.sftp {
                self.sftp(sftp, &format!("{field}.sftp"));
            }
            if let Some(folder) = &target.folder {
                self.interpolated(folder, &format!("{field}.folder"));
            }
            if let Some(timeout) = target.timeout {
                if target.folder.is_some() {
                    self.at_key(
                        &format!("{field}.timeout"),
                        "`timeout` is for `s3` and `sftp` targets: a folder is read and written as a local disk is",
                    );
                } else if timeout.std().is_zero() {
                    self.at_key(
                        &format!("{field}.timeout"),
                        "a timeout of 0 would end every request at once: give one like `60s`",
                    );
                }
            }
            if let Some(keep) = &target.keep
                && [keep.last, keep.daily, keep.weekly, keep.monthly]
                    .iter()
                    .all(|rule| rule.unwrap_or(0) == 0)
            {
                self.at_key(
                    &format!("{field}.keep"),
                    "this keep policy keeps nothing: set one of last, daily, weekly or monthly above 0",
                );
            }
            if let Some(s3) = &target.s3 {
                self.s3(s3, &format!("{field}.s3"));
            }
        }
    }

    /// An `s3:` store (a copy target's, or a repository's): its values
    /// written correctly, its secret never written out.
    pub(super) fn s3(&mut self, s3: &S3Target, field: &str) {
        for (key, value) in [
            ("endpoint", Some(&s3.endpoint)),
            ("bucket", Some(&s3.bucket)),
            ("prefix", s3.prefix.as_ref()),
            ("region", s3.region.as_ref()),
            ("access_key_id", s3.access_key_id.as_ref()),
            ("secret_access_key", s3.secret_access_key.as_ref()),
            ("access_key_id_file", s3.access_key_id_file.as_ref()),
            ("secret_access_key_file", s3.secret_access_key_file.as_ref()),
        ] {
            if let Some(value) = value {
                self.interpolated(value, &format!("{field}.{key}"));
            }
        }
        if !s3.endpoint.value.contains("${") {
            self.url(&s3.endpoint, &format!("{field}.endpoint"));
        }
        if s3.bucket.value.trim().is_empty() {
            self.at(&s3.bucket, format!("{field}.bucket"), "the bucket is empty");
        }
        if let Some(secret) = &s3.secret_access_key
            && !secret.value.contains("${")
        {
            self.at(
                secret,
                format!("{field}.secret_access_key"),
                "a secret is never written in the runbook: write `${S3_SECRET_ACCESS_KEY}` (from the environment or .env) or use `secret_access_key_file`",
            );
        }
        for (key, both) in [
            (
                "access_key_id",
                s3.access_key_id.is_some() && s3.access_key_id_file.is_some(),
            ),
            (
                "secret_access_key",
                s3.secret_access_key.is_some() && s3.secret_access_key_file.is_some(),
            ),
        ] {
            if both {
                self.at_key(
                    &format!("{field}.{key}_file"),
                    format!("`{key}` and `{key}_file` both given: keep one"),
                );
            }
        }
    }

    pub(super) fn sftp(&mut self, sftp: &SftpTarget, field: &str) {
        for (key, value) in [
            ("host", &sftp.host),
            ("user", &sftp.user),
            ("key_file", &sftp.key_file),
            ("known_hosts", &sftp.known_hosts),
            ("path", &sftp.path),
        ] {
            self.interpolated(value, &format!("{field}.{key}"));
            if value.value.trim().is_empty() {
                self.at(
                    value,
                    format!("{field}.{key}"),
                    format!("the {key} is empty"),
                );
            }
        }
        if sftp.port == Some(0) {
            self.at_key(&format!("{field}.port"), "port 0 is not a port");
        }
    }

    /// A value's `${VAR}` forms are well written (their values are looked
    /// up when the copy is made: a cron job's environment may differ).
    pub(super) fn interpolated(&mut self, value: &Name, field: &str) {
        if let Err(problem) = interpolate::check(&value.value) {
            self.at(value, field, problem);
        }
    }
}
