//! Backups as snapshots of a restic repository (`backup.repository`):
//! deduplicated, compressed with zstd and encrypted, in restic's format 2,
//! through rustic_core. One opsbook backup is one snapshot tagged `opsbook`,
//! `project=NAME` and `backup=ID`; its manifest is the snapshot's
//! description. The password comes from `password_file` or
//! `password: "${VAR}"`, never from the runbook's text, and is masked
//! everywhere. rustic_core is blocking: every call runs on a blocking
//! thread.

mod ahead;
mod bridge;
pub(crate) mod care;
pub(crate) mod copy;
pub(crate) mod export;
mod heed;
pub(crate) mod list;
pub(crate) mod lock;
mod sftp;
mod source;
mod store;
pub(crate) mod take;

use std::path::PathBuf;
use std::sync::Arc;

use rustic_backend::BackendOptions;
use rustic_core::repofile::ConfigFile;
use rustic_core::{
    ConfigOptions, Credentials, KeyOptions, OpenStatus, Progress, ProgressBars, ProgressType,
    Repository, RepositoryBackends, RepositoryOptions, RusticError,
};

use crate::backup::copies::RepositorySpot;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::Runbook;
use crate::runbook::interpolate::{self, Vars};
use crate::runbook::model::{Backup, Repository as Settings};

/// The tag every opsbook snapshot carries.
pub(crate) const TAG: &str = "opsbook";

/// rustic's progress, silent: opsbook reports itself.
#[derive(Debug, Clone, Copy)]
struct Quiet;

impl ProgressBars for Quiet {
    fn progress(&self, _: ProgressType, _: &str) -> Progress {
        Progress::hidden()
    }
}

/// An open repository.
pub(crate) type Opened = Repository<OpenStatus>;

/// Where the runbook's repository is, and its password.
pub(crate) struct Place {
    pub at: At,
    password: String,
    /// A signal heard stops the reads (`heed`).
    interrupt: Option<crate::interrupt::Interrupt>,
    /// The copy target it is on, for a copy of the runbook's repository.
    copy_of: Option<String>,
}

/// A folder on this host (or a mounted disk), an S3-compatible store, or
/// a folder on another machine over SFTP.
pub(crate) enum At {
    Folder(PathBuf),
    Store(Arc<crate::backup::copies::s3::S3>),
    Sftp(Arc<crate::backup::copies::sftp::Sftp>),
}

/// How long a request to a repository's store may go without progress.
const STORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// The same for an SFTP server (connecting, and each request).
const SFTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Place {
    /// `backup.repository` of the runbook, its password read; None when the
    /// runbook has none.
    pub(crate) fn of(runbook: &Runbook, backup: &Backup) -> Result<Option<Place>, Error> {
        let Some(settings) = &backup.repository else {
            return Ok(None);
        };
        let vars = Vars::load(&runbook.dir);
        let value = |name: &crate::runbook::model::Name, key: &str| {
            interpolate::located(
                name,
                &vars,
                &runbook.display,
                &format!("backup.repository.{key}"),
            )
        };
        let at = match (&settings.folder, &settings.s3, &settings.sftp) {
            (Some(folder), _, _) => {
                At::Folder(runbook.resolve(value(folder, "folder").map_err(Error::Usage)?))
            }
            (None, Some(s3), _) => {
                let timeout = settings.timeout.map_or(STORE_TIMEOUT, |t| t.std());
                let s3 = crate::backup::copies::s3::S3::connect(runbook, s3, timeout, &value)
                    .map_err(Error::Usage)?;
                At::Store(Arc::new(s3))
            }
            (None, None, Some(sftp)) => {
                let timeout = settings.timeout.map_or(SFTP_TIMEOUT, |t| t.std());
                let sftp = crate::backup::copies::sftp::Sftp::new(runbook, sftp, timeout, &value)
                    .map_err(Error::Usage)?;
                At::Sftp(Arc::new(sftp))
            }
            (None, None, None) => {
                return Err(Error::Usage(
                    "backup.repository needs its place: `folder`, `s3` or `sftp`".to_string(),
                ));
            }
        };
        let password = password(runbook, settings, &|name, key| {
            value(name, key).map_err(Error::Usage)
        })?;
        Ok(Some(Place {
            at,
            password,
            interrupt: None,
            copy_of: None,
        }))
    }

    /// The copy of the runbook's repository on copy target `target` (its
    /// folder `restic`), with the repository's password.
    pub(crate) fn on_copy(
        runbook: &Runbook,
        target: crate::backup::copies::Target,
    ) -> Result<Place, Error> {
        let backup = super::settings(runbook)?;
        let Some(main) = Place::of(runbook, backup)? else {
            return Err(Error::Usage(
                "the runbook has no backup.repository to copy".to_string(),
            ));
        };
        let copy_of = Some(target.name.clone());
        let at = match target.repository_spot().map_err(Error::Usage)? {
            RepositorySpot::Folder(path) => At::Folder(path),
            RepositorySpot::S3(s3) => At::Store(Arc::new(*s3)),
            RepositorySpot::Sftp(sftp) => At::Sftp(Arc::new(*sftp)),
        };
        Ok(Place {
            at,
            copy_of,
            ..main
        })
    }

    /// From now on, a signal fails the repository's next read: a copy out
    /// of it stops there, before its snapshot is written.
    pub(crate) fn heed(&mut self, interrupt: &crate::interrupt::Interrupt) {
        self.interrupt = Some(interrupt.clone());
    }

    /// The folder's path, or the store's `s3://bucket/prefix`.
    pub(crate) fn location(&self) -> String {
        match &self.at {
            At::Folder(folder) => folder.display().to_string(),
            At::Store(s3) => s3.location(),
            At::Sftp(sftp) => sftp.location(),
        }
    }

    /// The folder, for a repository on this host's disks.
    pub(crate) fn folder(&self) -> Option<&std::path::Path> {
        match &self.at {
            At::Folder(folder) => Some(folder),
            At::Store(_) | At::Sftp(_) => None,
        }
    }

    /// rustic's backend: its own for a folder, ours over the S3 or SFTP
    /// client for a store or server (made inside the runtime).
    fn backends(&self) -> Result<RepositoryBackends, Error> {
        let backends = match &self.at {
            At::Folder(folder) => BackendOptions::default()
                .repository(folder.to_string_lossy())
                .to_backends()
                .map_err(|e| self.refused(&e))?,
            At::Store(s3) => RepositoryBackends::new(Arc::new(store::Store::new(s3.clone())), None),
            At::Sftp(sftp) => {
                RepositoryBackends::new(Arc::new(sftp::Files::new(sftp.clone())), None)
            }
        };
        Ok(match &self.interrupt {
            Some(interrupt) => heed::Heeding::wrap(backends, interrupt.clone()),
            None => backends,
        })
    }

    fn refused(&self, e: &RusticError) -> Error {
        Error::Usage(format!("repository {}: {}", self.location(), said(e)))
    }

    /// Opens the repository (on a blocking thread): a wrong password, or no
    /// repository there, is a refusal.
    pub(crate) async fn open(&self) -> Result<Opened, Error> {
        let (backends, password) = (self.backends()?, self.password.clone());
        let missing = match &self.copy_of {
            None => format!(
                "no restic repository at {}: make one with `opsbook backup init-repository`",
                self.location()
            ),
            Some(name) => format!(
                "no copy of the repository at {} yet: `opsbook backup copy --to {name}` makes it",
                self.location()
            ),
        };
        let opened = tokio::task::spawn_blocking(move || {
            let repository = Repository::new_with_progress(&options(), &backends, Quiet)?;
            if repository.config_id()?.is_none() {
                return Ok(Err(missing));
            }
            repository.open(&Credentials::password(password)).map(Ok)
        })
        .await
        .map_err(|e| Error::Usage(format!("repository: {e}")))?;
        match opened {
            Ok(Ok(repository)) => Ok(repository),
            Ok(Err(why)) => Err(Error::Usage(why)),
            Err(e) => Err(self.not_opened(&e)),
        }
    }

    /// Whether a repository is there (its config file); no password needed.
    pub(crate) async fn made(&self) -> Result<bool, Error> {
        let backends = self.backends()?;
        let made = tokio::task::spawn_blocking(move || {
            Repository::new_with_progress(&options(), &backends, Quiet)?
                .config_id()
                .map(|id| id.is_some())
        })
        .await
        .map_err(|e| Error::Usage(format!("repository: {e}")))?;
        made.map_err(|e| self.refused(&e))
    }

    /// Opens the repository or, where there is none yet, makes it like
    /// `like`: its chunker (the same data makes the same chunks, so a copy
    /// adds only what it lacks), pack sizes and compression, with this
    /// place's password. Whether it was made.
    pub(crate) async fn open_or_make(&self, like: &ConfigFile) -> Result<(Opened, bool), Error> {
        let (backends, password) = (self.backends()?, self.password.clone());
        let mut config = like.clone();
        config.id = rustic_core::Id::random().into();
        config.is_hot = None;
        let opened = tokio::task::spawn_blocking(move || -> rustic_core::RusticResult<_> {
            let repository = Repository::new_with_progress(&options(), &backends, Quiet)?;
            let credentials = Credentials::password(password);
            if repository.config_id()?.is_some() {
                return Ok((repository.open(&credentials)?, false));
            }
            let made = repository.init_with_config(&credentials, &KeyOptions::default(), config)?;
            Ok((made, true))
        })
        .await
        .map_err(|e| Error::Usage(format!("repository: {e}")))?;
        opened.map_err(|e| self.not_opened(&e))
    }

    /// Why the repository did not open: a wrong password said as such.
    fn not_opened(&self, e: &RusticError) -> Error {
        match e.is_incorrect_password() {
            true => Error::Usage(format!(
                "repository {}: the password is wrong (backup.repository's password or password_file)",
                self.location()
            )),
            false => self.refused(e),
        }
    }
}

/// No local cache: the repository is on this host (rustic would keep
/// one under the home folder).
fn options() -> RepositoryOptions {
    RepositoryOptions::default().no_cache(true)
}

/// rustic's error on one line: what failed and, when a cause says it,
/// why (its full display has a backtrace and advice for rustic's users).
fn said(e: &RusticError) -> String {
    let text = e.display_log();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let first = first.strip_prefix("Error: ").unwrap_or(first);
    let what = first.split(" (kind: ").next().unwrap_or(first);
    let why = lines
        .skip_while(|l| l.trim() != "Message:")
        .skip(1)
        .find(|l| !l.trim().is_empty());
    match why {
        Some(why) => format!("{what}: {}", why.trim()),
        None => what.to_string(),
    }
}

/// The password: `password_file`'s first line, or `password` (as `${VAR}`).
fn password(
    runbook: &Runbook,
    settings: &Settings,
    value: &dyn Fn(&crate::runbook::model::Name, &str) -> Result<String, Error>,
) -> Result<String, Error> {
    let password = match (&settings.password, &settings.password_file) {
        (Some(password), _) => value(password, "password")?,
        (None, Some(file)) => {
            let path = runbook.resolve(value(file, "password_file")?);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::Usage(format!(
                    "backup.repository.password_file {}: {e}",
                    path.display()
                ))
            })?;
            text.lines().next().unwrap_or_default().to_string()
        }
        (None, None) => String::new(),
    };
    if password.is_empty() {
        return Err(Error::Usage(
            "backup.repository has no password: set `password_file` or `password: \"${VAR}\"`"
                .to_string(),
        ));
    }
    Ok(password)
}

/// `backup init-repository`: a new repository (format 2, zstd at the
/// backup's level), refused where one is already.
pub(crate) async fn init(runbook: &Runbook, report: &mut Report) -> Result<(), Error> {
    let backup = super::settings(runbook)?;
    let place = Place::of(runbook, backup)?.ok_or_else(|| {
        Error::Usage(
            "the runbook has no backup.repository: add `repository: { folder: …, password_file: … }` under backup"
                .to_string(),
        )
    })?;
    let level = backup.level.as_ref().map_or(3, |l| l.value);
    let (backends, password) = (place.backends()?, place.password.clone());
    // Private as the backup folder is: its key files are the password's
    // only guard against a guess.
    if let Some(folder) = place.folder() {
        crate::state::files::create_private_dir(folder).map_err(|e| Error::State {
            path: folder.to_path_buf(),
            action: "create",
            source: e,
        })?;
    }
    let made = tokio::task::spawn_blocking(move || -> rustic_core::RusticResult<Option<String>> {
        let repository = Repository::new_with_progress(&options(), &backends, Quiet)?;
        if repository.config_id()?.is_some() {
            return Ok(None);
        }
        // restic's own pack size, not rustic's 32 MiB: a pack is held in
        // memory until written, one per packer.
        let config = ConfigOptions::default()
            .set_version(2u32)
            .set_compression(level)
            .set_datapack_size(bytesize::ByteSize::mib(16));
        let made = repository.init(
            &Credentials::password(password),
            &KeyOptions::default(),
            &config,
        )?;
        Ok(Some(made.config().id.to_string()))
    })
    .await
    .map_err(|e| Error::Usage(format!("repository: {e}")))?;
    match made {
        Ok(Some(id)) => {
            report.results.push(CheckResult::new(
                "backup",
                "repository",
                Status::Ok,
                format!(
                    "made restic repository {} (id {}, format 2, zstd level {level})",
                    place.location(),
                    &id[..id.len().min(8)]
                ),
            ));
            Ok(())
        }
        Ok(None) => Err(Error::Usage(format!(
            "{} is already a restic repository: nothing was changed",
            place.location()
        ))),
        Err(e) => Err(place.refused(&e)),
    }
}
