//! A copy target on another machine, over SFTP (russh and russh-sftp: SSH
//! in Rust, no `ssh` binary needed). Key authentication only, and the
//! server's host key must already be in the target's `known_hosts`: an
//! unknown key or a changed one refuses the connection, never trusted on
//! first use. The layout is the folder target's: each backup is written
//! into `.<id>.partial/`, every file fsynced and read back against the
//! manifest, the manifest last, then the folder renamed to `<id>`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use russh::client;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey};
use russh_sftp::client::SftpSession;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OnceCell;

use super::{Damaged, Expected, INTERRUPTED, Listing, Outgoing, SMALL, Small};
use crate::backup::manifest;
use crate::backup::writer::hex;
use crate::interrupt::Interrupt;
use crate::runbook::Runbook;
use crate::runbook::model::{Name, SftpTarget};

/// Each read and write, in bytes (SFTP servers take up to 255 KiB).
const CHUNK: usize = 128 * 1024;

pub(crate) struct Sftp {
    host: String,
    port: u16,
    user: String,
    key_file: PathBuf,
    known_hosts: PathBuf,
    root: String,
    /// How long connecting and each request may take.
    timeout: Duration,
    interrupt: Interrupt,
    connection: OnceCell<Arc<Connection>>,
}

/// One SSH connection and its SFTP session, opened at first use.
struct Connection {
    sftp: SftpSession,
    // The session ends when its handle is dropped.
    _ssh: client::Handle<HostKeyCheck>,
}

impl Sftp {
    pub(in crate::backup) fn new(
        runbook: &Runbook,
        target: &SftpTarget,
        timeout: Duration,
        value: &dyn Fn(&Name, &str) -> Result<String, String>,
    ) -> Result<Sftp, String> {
        let mut root = value(&target.path, "sftp.path")?;
        while root.len() > 1 && root.ends_with('/') {
            root.pop();
        }
        Ok(Sftp {
            host: value(&target.host, "sftp.host")?,
            port: target.port.unwrap_or(22),
            user: value(&target.user, "sftp.user")?,
            key_file: runbook.resolve(value(&target.key_file, "sftp.key_file")?),
            known_hosts: runbook.resolve(value(&target.known_hosts, "sftp.known_hosts")?),
            root,
            timeout,
            interrupt: Interrupt::never(),
            connection: OnceCell::new(),
        })
    }

    pub(super) fn heed(&mut self, interrupt: &Interrupt) {
        self.interrupt = interrupt.clone();
    }

    pub(in crate::backup) fn location(&self) -> String {
        format!(
            "sftp://{}@{}:{}/{}",
            self.user,
            self.host,
            self.port,
            self.root.trim_start_matches('/')
        )
    }

    /// Files one folder further down.
    pub(super) fn descend(&mut self, folder: &str) {
        self.root = format!("{}/{folder}", self.root.trim_end_matches('/'));
    }

    fn path(&self, rest: &str) -> String {
        format!("{}/{rest}", self.root)
    }

    async fn connected(&self) -> Result<Arc<Connection>, String> {
        self.connection
            .get_or_try_init(|| async {
                tokio::time::timeout(self.timeout, self.connect())
                    .await
                    .map_err(|_| {
                        format!(
                            "{}: no answer within {}s",
                            self.location(),
                            self.timeout.as_secs()
                        )
                    })?
                    .map(Arc::new)
            })
            .await
            .cloned()
    }

    async fn connect(&self) -> Result<Connection, String> {
        let at = format!("{}:{}", self.host, self.port);
        let key = russh::keys::load_secret_key(&self.key_file, None).map_err(|e| {
            format!(
                "cannot load the key_file `{}`: {e} (an OpenSSH private key without a passphrase)",
                self.key_file.display()
            )
        })?;
        let verdict = Arc::new(Mutex::new(None));
        let check = HostKeyCheck {
            host: self.host.clone(),
            port: self.port,
            known_hosts: self.known_hosts.clone(),
            verdict: verdict.clone(),
        };
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(Duration::from_secs(300)),
            ..client::Config::default()
        });
        let mut ssh = match client::connect(config, at.as_str(), check).await {
            Ok(ssh) => ssh,
            Err(e) => {
                let refused = verdict.lock().ok().and_then(|mut v| v.take());
                return Err(refused.unwrap_or_else(|| format!("cannot connect to {at}: {e}")));
            }
        };
        let hash = ssh
            .best_supported_rsa_hash()
            .await
            .map_err(|e| format!("{at}: {e}"))?
            .flatten();
        let auth = ssh
            .authenticate_publickey(
                self.user.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), hash),
            )
            .await
            .map_err(|e| format!("{at}: authentication failed: {e}"))?;
        if !auth.success() {
            return Err(format!(
                "{at} refused the key `{}` for user `{}`",
                self.key_file.display(),
                self.user
            ));
        }
        let channel = ssh
            .channel_open_session()
            .await
            .map_err(|e| format!("{at}: cannot open a session: {e}"))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| format!("{at}: no sftp subsystem: {e}"))?;
        let sftp = SftpSession::new(channel.into_stream())
            .await
            .map_err(|e| format!("{at}: sftp: {e}"))?;
        sftp.set_timeout(self.timeout.as_secs().max(1));
        Ok(Connection { sftp, _ssh: ssh })
    }

    /// The folder and its parents, as `mkdir -p` makes them.
    async fn make_dirs(&self, sftp: &SftpSession, dir: &str) -> Result<(), String> {
        let mut made = String::new();
        for part in dir.split('/') {
            if !made.is_empty() || dir.starts_with('/') {
                made.push('/');
            }
            made.push_str(part);
            if part.is_empty() || part == "." || part == ".." {
                continue;
            }
            if !sftp.try_exists(made.as_str()).await.unwrap_or(false) {
                sftp.create_dir(made.as_str())
                    .await
                    .map_err(|e| format!("cannot create `{made}` on {}: {e}", self.host))?;
            }
        }
        Ok(())
    }

    /// Sends every item, then the manifest; a signal ends it at once (what
    /// was sent stays in the partial folder, never listed, replaced by the
    /// next copy of that backup).
    pub(super) async fn upload(
        &self,
        id: &str,
        items: &[Outgoing],
        manifest_bytes: &[u8],
    ) -> Result<(), String> {
        let work = async {
            for item in items {
                self.put_file(id, &item.file, &item.path, &item.expected)
                    .await?;
            }
            self.commit(id, manifest_bytes).await
        };
        tokio::select! {
            done = work => done,
            () = self.interrupt.raised() => Err(INTERRUPTED.to_string()),
        }
    }

    /// Sends one item into the backup's partial folder, hashing as it goes,
    /// then reads the copy back: both must match the manifest.
    async fn put_file(
        &self,
        id: &str,
        file: &str,
        source: &std::path::Path,
        expected: &Expected,
    ) -> Result<(), String> {
        let connection = self.connected().await?;
        let sftp = &connection.sftp;
        let partial = self.path(&format!(".{id}.partial"));
        self.make_dirs(sftp, &partial).await?;
        let target = format!("{partial}/{file}");
        let name = format!("{id}/{file}");
        let failed = |e: &dyn std::fmt::Display| format!("cannot write `{target}`: {e}");
        let mut input = tokio::fs::File::open(source)
            .await
            .map_err(|e| format!("cannot open the local {name}: {e}"))?;
        let mut output = sftp.create(target.as_str()).await.map_err(|e| failed(&e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buffer = vec![0u8; CHUNK];
        loop {
            let n = input
                .read(&mut buffer)
                .await
                .map_err(|e| format!("cannot read the local {name}: {e}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            output
                .write_all(&buffer[..n])
                .await
                .map_err(|e| failed(&e))?;
            size += n as u64;
        }
        output.flush().await.map_err(|e| failed(&e))?;
        output.sync_all().await.map_err(|e| failed(&e))?;
        output.shutdown().await.map_err(|e| failed(&e))?;
        if hex(&hasher.finalize()) != expected.sha256 || size != expected.size {
            return Err(format!(
                "the local {name} changed since the backup was made: not copied"
            ));
        }
        let (stored, stored_size) = self.hash(sftp, &target).await?;
        if stored != expected.sha256 || stored_size != expected.size {
            return Err(format!(
                "the copy of {name} does not read back as written ({stored_size} bytes)"
            ));
        }
        Ok(())
    }

    /// The sha256 and size of a file on the server, read through.
    async fn hash(&self, sftp: &SftpSession, path: &str) -> Result<(String, u64), String> {
        let failed = |e: &dyn std::fmt::Display| format!("cannot read back `{path}`: {e}");
        let mut file = sftp.open(path).await.map_err(|e| failed(&e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buffer = vec![0u8; CHUNK];
        loop {
            let n = file.read(&mut buffer).await.map_err(|e| failed(&e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            size += n as u64;
        }
        Ok((hex(&hasher.finalize()), size))
    }

    /// Writes the manifest last and gives the folder its final name.
    async fn commit(&self, id: &str, manifest_bytes: &[u8]) -> Result<(), String> {
        let connection = self.connected().await?;
        let sftp = &connection.sftp;
        let partial = self.path(&format!(".{id}.partial"));
        let failed = |e: &dyn std::fmt::Display| {
            format!(
                "cannot finish {id} in `{}` on {}: {e}",
                self.root, self.host
            )
        };
        self.make_dirs(sftp, &partial).await?;
        let mut file = sftp
            .create(format!("{partial}/{}", manifest::FILE))
            .await
            .map_err(|e| failed(&e))?;
        file.write_all(manifest_bytes)
            .await
            .map_err(|e| failed(&e))?;
        file.flush().await.map_err(|e| failed(&e))?;
        file.sync_all().await.map_err(|e| failed(&e))?;
        file.shutdown().await.map_err(|e| failed(&e))?;
        let done = self.path(id);
        // A folder of that name is an earlier copy that never finished, or
        // one whose manifest does not read (the listing did not count it):
        // it is replaced, never a complete one.
        if sftp.try_exists(done.as_str()).await.unwrap_or(false) {
            let manifest_path = format!("{done}/{}", manifest::FILE);
            let complete = sftp
                .try_exists(manifest_path.as_str())
                .await
                .unwrap_or(false)
                && matches!(
                    self.read_small(sftp, &manifest_path).await,
                    Ok(Small::Whole(bytes)) if super::listed(id, &bytes).is_ok()
                );
            if complete {
                return Err(format!(
                    "`{done}` on {} already holds a complete {id}: not replaced",
                    self.host
                ));
            }
            self.remove_folder(sftp, &done).await?;
        }
        sftp.rename(partial.as_str(), done.as_str())
            .await
            .map_err(|e| failed(&e))
    }

    /// The backups in the folder whose manifest is there.
    pub(super) async fn list(&self) -> Result<Listing, String> {
        let connection = self.connected().await?;
        let sftp = &connection.sftp;
        let mut listing = Listing::default();
        if !sftp.try_exists(self.root.as_str()).await.unwrap_or(false) {
            return Ok(listing);
        }
        let entries = sftp
            .read_dir(self.root.as_str())
            .await
            .map_err(|e| format!("cannot list `{}` on {}: {e}", self.root, self.host))?;
        for entry in entries {
            let id = entry.file_name();
            if id.starts_with('.') || !entry.file_type().is_dir() {
                continue;
            }
            let shown = format!("{id}/{}", manifest::FILE);
            let path = self.path(&shown);
            // No manifest: a copy that never finished.
            if !sftp.try_exists(path.as_str()).await.unwrap_or(false) {
                continue;
            }
            match self.read_small(sftp, &path).await {
                Ok(read) => listing.add(id, read, &shown),
                Err(why) => listing.damaged.push(Damaged { id, why }),
            }
        }
        Ok(listing)
    }

    pub(super) async fn get_small(&self, rest: &str) -> Result<Small, String> {
        let connection = self.connected().await?;
        self.read_small(&connection.sftp, &self.path(rest)).await
    }

    /// A small file read whole, up to `SMALL` bytes.
    async fn read_small(&self, sftp: &SftpSession, path: &str) -> Result<Small, String> {
        let failed = |e: &dyn std::fmt::Display| format!("cannot read `{path}`: {e}");
        let file = sftp.open(path).await.map_err(|e| failed(&e))?;
        let mut bytes = Vec::new();
        file.take(SMALL + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| failed(&e))?;
        Ok(if bytes.len() as u64 > SMALL {
            Small::Over
        } else {
            Small::Whole(bytes)
        })
    }

    /// One stored file as a blocking stream of chunks, which fails past
    /// `size` bytes (what its manifest says it holds).
    pub(super) async fn read(
        &self,
        rest: &str,
        size: u64,
    ) -> Result<Box<dyn std::io::Read + Send>, String> {
        let connection = self.connected().await?;
        let path = self.path(rest);
        let file = connection
            .sftp
            .open(path.as_str())
            .await
            .map_err(|e| format!("cannot open `{path}` on {}: {e}", self.host))?;
        // The connection rides along: it must outlive the reads.
        let chunks =
            futures_util::stream::unfold((file, connection), |(mut file, connection)| async move {
                let mut chunk = BytesMut::with_capacity(CHUNK);
                match file.read_buf(&mut chunk).await {
                    Ok(0) => None,
                    Ok(_) => Some((Ok::<Bytes, String>(chunk.freeze()), (file, connection))),
                    Err(e) => Some((Err(e.to_string()), (file, connection))),
                }
            });
        Ok(Box::new(super::bridge::reader(
            Box::pin(chunks),
            rest,
            size,
        )))
    }

    /// The manifest goes first (the backup is no longer listed), then the rest.
    pub(super) async fn remove(&self, id: &str) -> Result<(), String> {
        let connection = self.connected().await?;
        let sftp = &connection.sftp;
        let folder = self.path(id);
        let manifest_path = format!("{folder}/{}", manifest::FILE);
        if sftp
            .try_exists(manifest_path.as_str())
            .await
            .unwrap_or(false)
        {
            sftp.remove_file(manifest_path.as_str())
                .await
                .map_err(|e| format!("cannot remove `{manifest_path}`: {e}"))?;
        }
        self.remove_folder(sftp, &folder).await
    }

    /// A backup folder and the files in it (it holds no folders).
    async fn remove_folder(&self, sftp: &SftpSession, folder: &str) -> Result<(), String> {
        let gone = |e: &dyn std::fmt::Display| format!("cannot remove `{folder}`: {e}");
        for entry in sftp.read_dir(folder).await.map_err(|e| gone(&e))? {
            let path = format!("{folder}/{}", entry.file_name());
            sftp.remove_file(path.as_str())
                .await
                .map_err(|e| gone(&e))?;
        }
        sftp.remove_dir(folder).await.map_err(|e| gone(&e))
    }
}

/// A restic repository's files on the server (`backup.repository.sftp`,
/// or a copy of the repository on an SFTP target): each file written to a
/// hidden temporary name, fsynced, its size checked, then renamed, so a
/// write cut short never leaves a file under a repository name.
impl Sftp {
    /// The regular files in the folder `rest` and their sizes (none when
    /// the folder is not there); links and folders are passed over.
    pub(in crate::backup) async fn files(&self, rest: &str) -> Result<Vec<(String, u64)>, String> {
        let connection = self.connected().await?;
        let sftp = &connection.sftp;
        let dir = self.path(rest);
        if !sftp.try_exists(dir.as_str()).await.unwrap_or(false) {
            return Ok(Vec::new());
        }
        let entries = sftp
            .read_dir(dir.as_str())
            .await
            .map_err(|e| format!("cannot list `{dir}` on {}: {e}", self.host))?;
        Ok(entries
            .filter(|e| e.file_type().is_file() && !e.file_name().starts_with('.'))
            .map(|e| (e.file_name(), e.metadata().len()))
            .collect())
    }

    /// The file `rest`: `length` bytes from `offset`, or all of it up to
    /// `cap` bytes (more is an error). A link is refused, never followed.
    pub(in crate::backup) async fn read_file(
        &self,
        rest: &str,
        range: Option<(u64, u64)>,
        cap: u64,
    ) -> Result<Vec<u8>, String> {
        use tokio::io::AsyncSeekExt;
        let connection = self.connected().await?;
        let sftp = &connection.sftp;
        let path = self.path(rest);
        let failed =
            |e: &dyn std::fmt::Display| format!("cannot read `{path}` on {}: {e}", self.host);
        let kind = sftp
            .symlink_metadata(path.as_str())
            .await
            .map_err(|e| failed(&e))?;
        if !kind.file_type().is_file() {
            return Err(failed(&"not a regular file"));
        }
        let mut file = sftp.open(path.as_str()).await.map_err(|e| failed(&e))?;
        let mut bytes = Vec::new();
        match range {
            Some((offset, length)) => {
                file.seek(std::io::SeekFrom::Start(offset))
                    .await
                    .map_err(|e| failed(&e))?;
                bytes.resize(usize::try_from(length.min(cap)).unwrap_or(0), 0);
                file.read_exact(&mut bytes).await.map_err(|e| failed(&e))?;
            }
            None => {
                file.take(cap + 1)
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(|e| failed(&e))?;
                if bytes.len() as u64 > cap {
                    return Err(failed(&format!("larger than {cap} bytes")));
                }
            }
        }
        Ok(bytes)
    }

    /// Writes the file `rest` (its folder made): to `.NAME.partial` first,
    /// fsynced and its size checked, then renamed. A file already there
    /// under that name is kept (a repository's names are their content's
    /// hash, but for `config`, which is written once).
    pub(in crate::backup) async fn write_file(
        &self,
        rest: &str,
        bytes: &[u8],
    ) -> Result<(), String> {
        let connection = self.connected().await?;
        let sftp = &connection.sftp;
        let path = self.path(rest);
        let (dir, name) = path.rsplit_once('/').unwrap_or((".", path.as_str()));
        self.make_dirs(sftp, dir).await?;
        let partial = format!("{dir}/.{name}.partial");
        let failed =
            |e: &dyn std::fmt::Display| format!("cannot write `{path}` on {}: {e}", self.host);
        let mut file = sftp
            .create(partial.as_str())
            .await
            .map_err(|e| failed(&e))?;
        file.write_all(bytes).await.map_err(|e| failed(&e))?;
        file.flush().await.map_err(|e| failed(&e))?;
        file.sync_all().await.map_err(|e| failed(&e))?;
        file.shutdown().await.map_err(|e| failed(&e))?;
        let written = sftp
            .metadata(partial.as_str())
            .await
            .map_err(|e| failed(&e))?;
        if written.len() != bytes.len() as u64 {
            let _ = sftp.remove_file(partial.as_str()).await;
            return Err(failed(&format!(
                "{} bytes written, {} stored",
                bytes.len(),
                written.len()
            )));
        }
        if sftp.try_exists(path.as_str()).await.unwrap_or(false) {
            let _ = sftp.remove_file(partial.as_str()).await;
            return Ok(());
        }
        sftp.rename(partial.as_str(), path.as_str())
            .await
            .map_err(|e| failed(&e))
    }

    /// The folder `rest` and its parents, as `mkdir -p` makes them.
    pub(in crate::backup) async fn make_dir(&self, rest: &str) -> Result<(), String> {
        let connection = self.connected().await?;
        self.make_dirs(&connection.sftp, &self.path(rest)).await
    }

    /// Removes the file `rest` (gone already is fine).
    pub(in crate::backup) async fn remove_file(&self, rest: &str) -> Result<(), String> {
        let connection = self.connected().await?;
        let sftp = &connection.sftp;
        let path = self.path(rest);
        if !sftp.try_exists(path.as_str()).await.unwrap_or(false) {
            return Ok(());
        }
        sftp.remove_file(path.as_str())
            .await
            .map_err(|e| format!("cannot remove `{path}` on {}: {e}", self.host))
    }
}

/// Accepts the server only if its host key is in the target's
/// `known_hosts`; why not is kept for the error message.
struct HostKeyCheck {
    host: String,
    port: u16,
    known_hosts: PathBuf,
    verdict: Arc<Mutex<Option<String>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKey) -> Result<bool, Self::Error> {
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        let known = self.known_hosts.display();
        let (host, port) = (&self.host, self.port);
        let refused = match russh::keys::check_known_hosts_path(host, port, key, &self.known_hosts)
        {
            Ok(true) => return Ok(true),
            Ok(false) => format!(
                "the host key of {host}:{port} ({} {fingerprint}) is not in `{known}`: \
                 check its fingerprint with the server's owner, then add it \
                 (ssh-keyscan -p {port} {host} >> {known})",
                key.algorithm()
            ),
            Err(russh::keys::Error::KeyChanged { line }) => format!(
                "the host key of {host}:{port} ({fingerprint}) is not the one on line {line} \
                 of `{known}`: the key changed (a reinstalled server, or someone in between); \
                 not connecting"
            ),
            Err(e) => format!("cannot read the known_hosts `{known}`: {e}"),
        };
        if let Ok(mut verdict) = self.verdict.lock() {
            *verdict = Some(refused);
        }
        Ok(false)
    }
}
