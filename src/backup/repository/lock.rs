//! restic's locks, so that opsbook and restic (or another host's opsbook)
//! never prune under each other's feet: a lock is a small JSON file in
//! `locks/`, encrypted with the repository's key and named by its
//! SHA-256, as restic writes one. A backup, a restore's read and a verify
//! take a shared lock; a prune an exclusive one. The lock is written, then
//! the others are read: an exclusive lock (or, for a prune, any lock) that
//! is not stale refuses the run, and ours is taken back. A lock is stale,
//! as restic says, when it is older than 30 minutes, or when it was taken
//! on this host by a process that is gone (a killed run): a stale one is
//! removed and named. Ours is written again every 5 minutes while the
//! work goes on, and removed when it ends, whatever the outcome.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes256ctr_poly1305aes::Aes256CtrPoly1305Aes;
use aes256ctr_poly1305aes::aead::Aead;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{At, Opened, Place};
use crate::error::Error;

/// Older than this, a lock is stale (restic's own figure).
const STALE: Duration = Duration::from_secs(30 * 60);
/// How often a held lock is written again (restic's own figure).
const REFRESH: Duration = Duration::from_secs(5 * 60);
/// The most of one lock file read.
const LOCK_CAP: u64 = 64 * 1024;

/// A lock file's content, field for field as restic writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Content {
    time: jiff::Timestamp,
    exclusive: bool,
    hostname: String,
    username: String,
    pid: i64,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
}

impl Content {
    fn ours(exclusive: bool) -> Content {
        Content {
            time: jiff::Timestamp::now(),
            exclusive,
            hostname: crate::host::hostname(),
            username: std::env::var("USER").unwrap_or_else(|_| "root".to_string()),
            pid: i64::from(std::process::id()),
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
        }
    }

    /// Stale as restic judges it: old, or this host's and its process gone.
    fn stale(&self) -> bool {
        let age = jiff::Timestamp::now().duration_since(self.time);
        if age.as_secs() > STALE.as_secs() as i64 {
            return true;
        }
        self.hostname == crate::host::hostname() && !alive(self.pid)
    }

    fn shown(&self) -> String {
        format!(
            "{} lock of pid {} on {} (user {}) since {}",
            if self.exclusive {
                "an exclusive"
            } else {
                "a shared"
            },
            self.pid,
            self.hostname,
            self.username,
            self.time.strftime("%Y-%m-%d %H:%M:%SZ")
        )
    }
}

fn alive(pid: i64) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    // EPERM: it is there, someone else's.
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Where lock files are kept: the folder's `locks/`, or the store's.
#[derive(Clone)]
enum Files {
    Folder(PathBuf),
    Store(Arc<crate::backup::copies::s3::S3>),
    Sftp(Arc<crate::backup::copies::sftp::Sftp>),
}

impl Files {
    fn of(place: &Place) -> Files {
        match &place.at {
            At::Folder(folder) => Files::Folder(folder.join("locks")),
            At::Store(s3) => Files::Store(s3.clone()),
            At::Sftp(sftp) => Files::Sftp(sftp.clone()),
        }
    }

    async fn list(&self) -> Result<Vec<String>, String> {
        match self {
            Files::Folder(dir) => {
                let entries = match std::fs::read_dir(dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(format!("{}: {e}", dir.display())),
                };
                Ok(entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| !name.starts_with('.'))
                    .collect())
            }
            Files::Store(s3) => Ok(s3
                .objects("locks/")
                .await?
                .into_iter()
                .filter_map(|(name, _)| Some(name.strip_prefix("locks/")?.to_string()))
                .collect()),
            Files::Sftp(sftp) => Ok(sftp
                .files("locks")
                .await?
                .into_iter()
                .map(|(name, _)| name)
                .collect()),
        }
    }

    async fn read(&self, id: &str) -> Result<Vec<u8>, String> {
        match self {
            Files::Folder(dir) => {
                let path = dir.join(id);
                let file = crate::state::files::open_private(
                    &path,
                    std::fs::OpenOptions::new().read(true),
                )
                .map_err(|e| format!("{}: {e}", path.display()))?;
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::Read::take(file, LOCK_CAP), &mut bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(bytes)
            }
            Files::Store(s3) => Ok(s3.object(&format!("locks/{id}"), LOCK_CAP).await?.to_vec()),
            Files::Sftp(sftp) => sftp.read_file(&format!("locks/{id}"), None, LOCK_CAP).await,
        }
    }

    async fn write(&self, id: &str, bytes: Vec<u8>) -> Result<(), String> {
        match self {
            Files::Folder(dir) => {
                let path = dir.join(id);
                crate::state::files::write_private(&path, &bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
            Files::Store(s3) => s3.put_object(&format!("locks/{id}"), bytes.into()).await,
            Files::Sftp(sftp) => sftp.write_file(&format!("locks/{id}"), &bytes).await,
        }
    }

    async fn remove(&self, id: &str) -> Result<(), String> {
        match self {
            Files::Folder(dir) => crate::state::files::remove_if_present(&dir.join(id))
                .map_err(|e| format!("{}: {e}", dir.join(id).display())),
            Files::Store(s3) => s3.delete_object(&format!("locks/{id}")).await,
            Files::Sftp(sftp) => sftp.remove_file(&format!("locks/{id}")).await,
        }
    }
}

/// The repository's key, for lock files (restic's AES-256-CTR with
/// Poly1305-AES: nonce, ciphertext, tag).
#[derive(Clone)]
struct Sealer(Aes256CtrPoly1305Aes);

impl Sealer {
    fn of(opened: &Opened) -> Sealer {
        let master = opened.key();
        let mut key = aes256ctr_poly1305aes::Key::default();
        key[0..32].copy_from_slice(&master.encrypt);
        key[32..48].copy_from_slice(&master.mac.k);
        key[48..64].copy_from_slice(&master.mac.r);
        Sealer(Aes256CtrPoly1305Aes::new(&key))
    }

    /// The sealed file and its name (the SHA-256 of what is stored).
    fn seal(&self, content: &Content) -> Result<(String, Vec<u8>), String> {
        let json = serde_json::to_vec(content).map_err(|e| e.to_string())?;
        let mut nonce = aes256ctr_poly1305aes::aead::Nonce::<Aes256CtrPoly1305Aes>::default();
        getrandom::fill(&mut nonce).map_err(|e| format!("random nonce: {e}"))?;
        let sealed = self
            .0
            .encrypt(&nonce, json.as_slice())
            .map_err(|_| "a lock file could not be encrypted".to_string())?;
        let stored = [nonce.as_slice(), &sealed].concat();
        Ok((crate::backup::writer::hex(&Sha256::digest(&stored)), stored))
    }

    /// A lock file read back: None when it does not open with this key or
    /// is not a lock (a repository's version 2 may compress it).
    fn open(&self, stored: &[u8]) -> Option<Content> {
        if stored.len() < 32 {
            return None;
        }
        let nonce =
            aes256ctr_poly1305aes::aead::Nonce::<Aes256CtrPoly1305Aes>::from_slice(&stored[..16]);
        let plain = self.0.decrypt(nonce, &stored[16..]).ok()?;
        let json = match plain.first() {
            Some(2) => zstd::decode_all(&plain[1..]).ok()?,
            _ => plain,
        };
        serde_json::from_slice(&json).ok()
    }
}

/// Our lock, held until released or dropped (then removed), written
/// again every 5 minutes meanwhile.
pub(crate) struct Held {
    files: Files,
    id: Arc<Mutex<String>>,
    refresh: tokio::task::JoinHandle<()>,
    /// The stale locks removed on the way in, as shown.
    pub removed: Vec<String>,
}

impl Place {
    /// Takes a restic lock on the repository for `what` (`backup`,
    /// `prune`…): refused, with nothing changed, while another run holds
    /// one that conflicts.
    pub(crate) async fn lock(
        &self,
        opened: &Opened,
        exclusive: bool,
        what: &str,
    ) -> Result<Held, Error> {
        let (files, sealer) = (Files::of(self), Sealer::of(opened));
        let refused = |why: String| Error::Usage(format!("repository {}: {why}", self.location()));
        let (id, stored) = sealer.seal(&Content::ours(exclusive)).map_err(refused)?;
        files.write(&id, stored).await.map_err(&refused)?;
        let others = match others(&files, &sealer, &id).await {
            Ok(others) => others,
            Err(why) => {
                let _ = files.remove(&id).await;
                return Err(refused(format!("its locks cannot be read: {why}")));
            }
        };
        let mut removed = Vec::new();
        for (other, content) in others {
            if content.stale() {
                if files.remove(&other).await.is_ok() {
                    removed.push(format!("removed a stale {}", &content.shown()[2..]));
                }
            } else if exclusive || content.exclusive {
                let _ = files.remove(&id).await;
                return Err(refused(format!(
                    "locked by {} (restic or opsbook on that host): {what} not started, nothing was changed; run it again once that run ends (a lock left by a run that died is stale after 30 minutes)",
                    content.shown()
                )));
            }
        }
        let id = Arc::new(Mutex::new(id));
        let refresh = tokio::spawn(refreshed(files.clone(), sealer, exclusive, id.clone()));
        Ok(Held {
            files,
            id,
            refresh,
            removed,
        })
    }
}

/// Every other lock that opens with the key, by file name.
async fn others(
    files: &Files,
    sealer: &Sealer,
    ours: &str,
) -> Result<Vec<(String, Content)>, String> {
    let mut found = Vec::new();
    for name in files.list().await? {
        if name == ours {
            continue;
        }
        // Gone meanwhile (released): not a lock any more.
        let Ok(stored) = files.read(&name).await else {
            continue;
        };
        if let Some(content) = sealer.open(&stored) {
            found.push((name, content));
        }
    }
    Ok(found)
}

/// Writes the lock again every `REFRESH`, then removes the one before.
async fn refreshed(files: Files, sealer: Sealer, exclusive: bool, id: Arc<Mutex<String>>) {
    loop {
        tokio::time::sleep(REFRESH).await;
        let Ok((fresh, stored)) = sealer.seal(&Content::ours(exclusive)) else {
            continue;
        };
        if files.write(&fresh, stored).await.is_err() {
            continue;
        }
        let old = match id.lock() {
            Ok(mut id) => std::mem::replace(&mut *id, fresh),
            Err(_) => continue,
        };
        let _ = files.remove(&old).await;
    }
}

/// The stale locks removed on the way in, as results of `section`.
pub(crate) fn removed(held: &Held, section: &str) -> Vec<crate::grade::CheckResult> {
    held.removed
        .iter()
        .map(|said| {
            crate::grade::CheckResult::new(section, "lock", crate::grade::Status::Ok, said.clone())
        })
        .collect()
}

impl Held {
    /// Removes our lock (and stops refreshing it), waiting for the store.
    pub(crate) async fn release(self) {
        self.refresh.abort();
        let id = std::mem::take(&mut *self.id.lock().unwrap_or_else(|e| e.into_inner()));
        if !id.is_empty() {
            let _ = self.files.remove(&id).await;
        }
    }
}

/// A lock not released (an early return): removed at once from a folder,
/// in the background from a store; one left behind when the process is
/// gone is stale to the next run on this host.
impl Drop for Held {
    fn drop(&mut self) {
        self.refresh.abort();
        let id = std::mem::take(&mut *self.id.lock().unwrap_or_else(|e| e.into_inner()));
        if id.is_empty() {
            return;
        }
        match &self.files {
            Files::Folder(dir) => {
                let _ = crate::state::files::remove_if_present(&dir.join(&id));
            }
            Files::Store(_) | Files::Sftp(_) => {
                let files = self.files.clone();
                tokio::spawn(async move {
                    let _ = files.remove(&id).await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Content;

    #[test]
    fn a_lock_is_stale_when_old_or_when_its_process_on_this_host_is_gone() {
        let ours = Content::ours(false);
        assert!(!ours.stale(), "our own, now");
        let old = Content {
            time: jiff::Timestamp::now() - jiff::SignedDuration::from_secs(31 * 60),
            ..ours.clone()
        };
        assert!(old.stale(), "31 minutes old");
        // No process has pid 2^22 + 1 (above Linux's pid_max).
        let gone = Content {
            pid: 4_194_305,
            ..ours.clone()
        };
        assert!(gone.stale(), "this host's, its process gone");
        let elsewhere = Content {
            hostname: format!("{}-elsewhere", ours.hostname),
            ..gone
        };
        assert!(!elsewhere.stale(), "another host's, recent");
    }
}
