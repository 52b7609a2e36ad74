//! `backup:` as written: what a backup holds (volumes, files, dumps), the
//! services stopped while it is taken, compression, encryption, how
//! volumes are read, retention, the off-site copies (folder, S3, SFTP) and
//! the drill that proves a backup restores.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Name;
use super::checks::Check;
use super::steps::Step;
use crate::runbook::command::Command;
use crate::runbook::units::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Backup {
    pub dir: String,
    #[serde(default, deserialize_with = "super::lists::names")]
    pub volumes: Vec<Name>,
    #[serde(default, deserialize_with = "super::lists::strings")]
    pub files: Vec<String>,
    #[serde(default)]
    pub dumps: IndexMap<String, Dump>,
    /// Services stopped while copying, always started again.
    #[serde(default, deserialize_with = "super::lists::names")]
    pub stop: Vec<Name>,
    #[serde(default)]
    pub compression: Compression,
    pub level: Option<Spanned<i32>>,
    pub keep: Option<Keep>,
    /// daily-check warns when the newest backup is older than this.
    pub max_age: Option<Duration>,
    pub encrypt: Option<Encrypt>,
    /// An image already on the host to read volumes with, when no service mounts them.
    pub helper_image: Option<String>,
    /// How volumes are read (and written back by a restore): at their
    /// mountpoint on this host, or through Docker's archive endpoint;
    /// `auto` takes the mountpoint when it can.
    #[serde(default)]
    pub read: VolumeRead,
    /// Where each backup is copied after it is made: off the host.
    #[serde(default)]
    pub copies: IndexMap<String, CopyTarget>,
    /// `backup drill`: what proves a restored backup works.
    pub drill: Option<Drill>,
    /// The backups as snapshots of a restic repository (deduplicated,
    /// compressed, encrypted) rather than archives in `dir`.
    pub repository: Option<Repository>,
    #[serde(default)]
    pub before: Vec<Step>,
    #[serde(default)]
    pub after: Vec<Step>,
}

/// `backup.drill`: the checks run against the scratch twins of the
/// services, restored from a backup.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Drill {
    /// Exec checks run in the service's twin; an http check's host that
    /// names a service is that twin's address on the drill's network.
    #[serde(default)]
    pub checks: IndexMap<String, Check>,
    /// How long each tier of twins may take to become ready, and the
    /// checks to answer (else `startup.timeout`).
    pub timeout: Option<Duration>,
    /// How long each item may take to be restored into the scratch
    /// resources: a volume filled, a file written, a dump streamed into its
    /// `restore` command (else an hour).
    pub restore_timeout: Option<Duration>,
    /// daily-check warns when the newest passed drill is older than this.
    pub max_age: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Dump {
    pub service: Name,
    pub command: Command,
    /// Reads the dump on stdin to put it back.
    pub restore: Option<Command>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Compression {
    #[default]
    Zstd,
    Gzip,
    /// Stored as read: for data that does not compress (media, archives),
    /// and for a snapshot read out of a repository to restore at once.
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum VolumeRead {
    #[default]
    Auto,
    Direct,
    Archive,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Keep {
    pub last: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
}

/// One place backups are copied to: exactly one of `folder`, `s3` or
/// `sftp`. Values may use `${VAR}` (the environment, then `.env`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CopyTarget {
    /// A folder on a mounted disk or NAS.
    pub folder: Option<Name>,
    /// An S3-compatible object store.
    pub s3: Option<S3Target>,
    /// A folder on another machine, over SFTP.
    pub sftp: Option<SftpTarget>,
    /// This target's own retention (else the backup's `keep`).
    pub keep: Option<Keep>,
    /// How long a request to an `s3` or `sftp` target may go without
    /// progress (default 60s for s3, 30s for sftp).
    pub timeout: Option<Duration>,
}

/// `s3: { endpoint, bucket, prefix, region, path_style, access_key_id, secret_access_key }`;
/// credentials as `${VAR}` or from files, never written out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct S3Target {
    /// `https://s3.eu-central-1.amazonaws.com`, `http://127.0.0.1:9000`.
    pub endpoint: Name,
    pub bucket: Name,
    /// Keys start with this (`opsbook/shop/`).
    pub prefix: Option<Name>,
    pub region: Option<Name>,
    /// `endpoint/bucket/key` (the default: MinIO, rclone, Ceph) rather
    /// than `bucket.endpoint/key`.
    pub path_style: Option<bool>,
    /// Else `$AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<Name>,
    /// Else `$AWS_SECRET_ACCESS_KEY`; only as `${VAR}`, never written out.
    pub secret_access_key: Option<Name>,
    pub access_key_id_file: Option<Name>,
    pub secret_access_key_file: Option<Name>,
}

/// `sftp: { host, port, user, key_file, known_hosts, path }`: key
/// authentication only, and the server's host key must be in `known_hosts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SftpTarget {
    pub host: Name,
    /// 22 unless given.
    pub port: Option<u16>,
    pub user: Name,
    /// A private key (OpenSSH format, no passphrase), relative to the runbook.
    pub key_file: Name,
    /// The host keys to trust (OpenSSH's `known_hosts` format); an
    /// unknown or changed key refuses the connection.
    pub known_hosts: Name,
    /// The folder on the server the backups go in (relative: to the
    /// user's home).
    pub path: Name,
}

/// `repository: { folder | s3, password_file | password }`: a restic
/// repository (format 2) in a folder on this host or a mounted disk, or
/// on an S3-compatible store. The password is read from a file or given
/// as `${VAR}`, never written in the runbook.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Repository {
    pub folder: Option<Name>,
    /// The store, as a copy target's `s3`; `prefix` is the repository's
    /// folder in the bucket.
    pub s3: Option<S3Target>,
    /// A folder on another machine, as a copy target's `sftp`; `path` is
    /// the repository's folder there.
    pub sftp: Option<SftpTarget>,
    /// How long a request to the store or server may go without progress
    /// (60s for s3, 30s for sftp).
    pub timeout: Option<Duration>,
    pub password_file: Option<Name>,
    pub password: Option<Name>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Encrypt {
    /// age public keys (`age1…`).
    pub recipients: Vec<Name>,
}
