//! The backup's problems: a folder, dumps and stops of services that
//! exist, a compression level in range, a keep policy that keeps
//! something, age recipients, its copies and drill, and hooks that do not
//! run a backup themselves.

use super::Validator;

impl Validator<'_> {
    pub(super) fn backup(&mut self) {
        let Some(backup) = &self.model.backup else {
            return;
        };
        if backup.dir.trim().is_empty() {
            self.at_key("backup.dir", "`backup.dir` is empty");
        }
        for (name, dump) in &backup.dumps {
            self.service_ref(&dump.service, &format!("backup.dumps.{name}.service"));
        }
        for name in &backup.stop {
            self.service_ref(name, "backup.stop");
        }
        for volume in &backup.volumes {
            if volume.value.trim().is_empty() {
                self.at(volume, "backup.volumes", "volume name is empty");
            }
        }
        if let Some(level) = &backup.level {
            let range = match backup.compression {
                crate::runbook::model::Compression::Zstd => 1..=22,
                crate::runbook::model::Compression::Gzip => 0..=9,
                crate::runbook::model::Compression::None => {
                    self.at(
                        level,
                        "backup.level",
                        "`compression: none` has no level: leave `level` out",
                    );
                    return;
                }
            };
            if !range.contains(&level.value) {
                self.at(
                    level,
                    "backup.level",
                    format!(
                        "level {} is outside {}..={} for this compression",
                        level.value,
                        range.start(),
                        range.end()
                    ),
                );
            }
        }
        if let Some(keep) = &backup.keep
            && [keep.last, keep.daily, keep.weekly, keep.monthly]
                .iter()
                .all(|rule| rule.unwrap_or(0) == 0)
        {
            self.at_key(
                "backup.keep",
                "this keep policy keeps nothing: set one of last, daily, weekly or monthly above 0 (or leave `keep` out to keep every backup)",
            );
        }
        if let Some(encrypt) = &backup.encrypt {
            for recipient in &encrypt.recipients {
                if !recipient.value.starts_with("age1") {
                    self.at(
                        recipient,
                        "backup.encrypt.recipients",
                        "recipient is not an age public key (`age1…`)",
                    );
                }
            }
        }
        if let Some(repository) = &backup.repository {
            self.repository(backup, repository);
        }
        self.copies(&backup.copies);
        if let Some(drill) = &backup.drill {
            self.drill_checks(&drill.checks);
        }
        self.steps(&backup.before, "backup.before");
        self.steps(&backup.after, "backup.after");
        for (hook, steps) in [
            ("backup.before", &backup.before),
            ("backup.after", &backup.after),
        ] {
            for (index, step) in steps.iter().enumerate() {
                if step.backup.is_some() {
                    self.at_key(
                        &format!("{hook}[{index}]"),
                        "a backup hook cannot run a `backup` step: it would run itself",
                    );
                }
            }
        }
    }
}

impl Validator<'_> {
    /// `backup.repository`: a folder or a store, one password source, never the
    /// password itself, and nothing of the archive format's own.
    fn repository(
        &mut self,
        backup: &crate::runbook::model::Backup,
        repository: &crate::runbook::model::Repository,
    ) {
        let places = [
            repository.folder.is_some(),
            repository.s3.is_some(),
            repository.sftp.is_some(),
        ];
        match places.iter().filter(|p| **p).count() {
            0 => self.at_key(
                "backup.repository",
                "a repository needs its place: `folder: /var/backups/restic`, `s3: { endpoint, bucket, prefix }` or `sftp: { host, user, key_file, known_hosts, path }`",
            ),
            1 => {}
            _ => self.at_key(
                "backup.repository",
                "a repository is in one place: `folder`, `s3` or `sftp`, not more",
            ),
        }
        if let Some(folder) = &repository.folder {
            self.interpolated(folder, "backup.repository.folder");
        }
        if let Some(s3) = &repository.s3 {
            self.s3(s3, "backup.repository.s3");
        }
        if let Some(sftp) = &repository.sftp {
            self.sftp(sftp, "backup.repository.sftp");
        }
        if let Some(timeout) = repository.timeout {
            if repository.folder.is_some() {
                self.at_key(
                    "backup.repository.timeout",
                    "`timeout` is for a repository on `s3` or `sftp`: a folder is read and written as a local disk is",
                );
            } else if timeout.std().is_zero() {
                self.at_key(
                    "backup.repository.timeout",
                    "a timeout of 0 would end every request at once: give one like `60s`",
                );
            }
        }
        match (&repository.password, &repository.password_file) {
            (Some(_), Some(_)) => self.at_key(
                "backup.repository.password_file",
                "`password` and `password_file` both given: keep one",
            ),
            (None, None) => self.at_key(
                "backup.repository",
                "a repository needs its password: `password_file: /etc/opsbook/restic-password` or `password: \"${RESTIC_PASSWORD}\"`",
            ),
            (Some(password), None) if !password.value.contains("${") => self.at(
                password,
                "backup.repository.password",
                "a secret is never written in the runbook: write `${RESTIC_PASSWORD}` (from the environment or .env) or use `password_file`",
            ),
            (Some(password), None) => {
                self.interpolated(password, "backup.repository.password");
            }
            (None, Some(file)) => self.interpolated(file, "backup.repository.password_file"),
        }
        if backup.encrypt.is_some() {
            self.at_key(
                "backup.encrypt",
                "a repository is always encrypted (with its password): leave `encrypt` out",
            );
        }
        if backup.compression != crate::runbook::model::Compression::Zstd {
            self.at_key(
                "backup.compression",
                "a restic repository compresses with zstd: leave `compression` out (`level` sets zstd's level)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::runbook::validate::problems;

    #[test]
    fn a_keep_policy_that_keeps_nothing_is_refused() {
        for keep in ["{}", "{ last: 0, daily: 0 }", "{ weekly: 0, monthly: 0 }"] {
            let text = format!("version: 1\nbackup:\n  dir: ./b\n  keep: {keep}\n");
            assert_eq!(
                problems(&text).first().map(|p| p
                    .split(": this")
                    .next()
                    .unwrap_or_default()
                    .to_string()),
                Some("opsbook.yaml:4:3: backup.keep".to_string()),
                "{keep}"
            );
        }
        assert!(
            problems("version: 1\nbackup:\n  dir: ./b\n  keep: { last: 0, daily: 7 }\n").is_empty()
        );
    }

    #[test]
    fn a_repository_is_in_one_place_and_only_a_store_has_a_timeout() {
        let said = |repository: &str| {
            problems(&format!(
                "version: 1\nbackup:\n  dir: ./b\n  repository: {{ password_file: pw, {repository} }}\n"
            ))
        };
        let s3 = "s3: { endpoint: \"http://127.0.0.1:9000\", bucket: backups }";
        assert_eq!(
            said("timeout: 5s"),
            [
                "opsbook.yaml:4:3: backup.repository: a repository needs its place: `folder: /var/backups/restic`, `s3: { endpoint, bucket, prefix }` or `sftp: { host, user, key_file, known_hosts, path }`"
            ]
        );
        assert_eq!(
            said(&format!("folder: ./repo, {s3}")),
            [
                "opsbook.yaml:4:3: backup.repository: a repository is in one place: `folder`, `s3` or `sftp`, not more"
            ]
        );
        assert_eq!(
            said("folder: ./repo, timeout: 5s"),
            [
                "opsbook.yaml:4:3: backup.repository.timeout: `timeout` is for a repository on `s3` or `sftp`: a folder is read and written as a local disk is"
            ]
        );
        assert_eq!(
            said(&format!("{s3}, timeout: 0s")),
            [
                "opsbook.yaml:4:3: backup.repository.timeout: a timeout of 0 would end every request at once: give one like `60s`"
            ]
        );
        assert!(said(&format!("{s3}, timeout: 20s")).is_empty());
        assert_eq!(
            said("s3: { endpoint: \"http://127.0.0.1:9000\", bucket: b, secret_access_key: abc }"),
            [
                "opsbook.yaml:4:107: backup.repository.s3.secret_access_key: a secret is never written in the runbook: write `${S3_SECRET_ACCESS_KEY}` (from the environment or .env) or use `secret_access_key_file`"
            ]
        );
    }
}
