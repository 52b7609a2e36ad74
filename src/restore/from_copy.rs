//! `restore --from NAME [ID|latest]`: a backup brought back from a copy
//! target when the local one is gone or damaged. Each file is streamed into
//! `.<id>.download/` in the backup folder and hashed as it lands (it must
//! be what its manifest says); the manifest is written last and the folder
//! renamed to `<id>`, so a download cut short is never taken for a backup.
//! A damaged local copy of the same id is set aside first and removed once
//! the download is in place. Then the normal restore runs on it. The
//! download is private as a local backup is (folder 0700, files 0600, never
//! through a link), and no item is read past the size its manifest gives.
//! A backup on the target whose manifest does not read is never passed
//! over: naming it, or asking for the latest while one is there, is refused.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use crate::backup::copies::{Listing, Target};
use crate::backup::{LATEST, LATEST_SAFETY};
use crate::error::Error;
use crate::runbook::Runbook;
use crate::state::files::create_new_file;
use crate::ui::progress::Progress;

/// Downloads backup `id` (or the newest) of copy target `name` into `dir`;
/// its id.
pub(super) async fn fetch(
    runbook: &Runbook,
    dir: &Path,
    name: &str,
    id: Option<&str>,
    progress: Progress<'_>,
) -> Result<String, Error> {
    let target = Target::named(runbook, name)?;
    let remote = target
        .list()
        .await
        .map_err(|problem| Error::Usage(format!("cannot list {}: {problem}", target.location())))?;
    let id = chosen(&target, remote, id)?;
    let manifest = target.manifest(&id).await.map_err(Error::Usage)?;
    let partial = dir.join(format!(".{id}.download"));
    let failed = |what: String| Error::Usage(format!("{what}: nothing was changed"));
    let made = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::File {
            path,
            action: "create",
            source,
        }
    };
    crate::state::files::create_private_dir(dir).map_err(made(dir))?;
    // Left by a download cut short: removed (a link in it is removed, not
    // followed), then made anew, private.
    let _ = fs::remove_dir_all(&partial);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&partial)
        .map_err(made(&partial))?;
    for item in &manifest.items {
        progress.say(format!("downloading {id}/{} from {name}", item.file));
        let raw = match target.open(&id, &item.file, item.stored_size).await {
            Ok(raw) => raw,
            Err(problem) => {
                let _ = fs::remove_dir_all(&partial);
                return Err(failed(problem));
            }
        };
        let path = partial.join(&item.file);
        let (sha, size) = (item.sha256.clone(), item.stored_size);
        let file = item.file.clone();
        let landed = tokio::task::spawn_blocking(move || save(raw, &path))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        let problem = match landed {
            Ok((got, got_size)) if got == sha && got_size == size => None,
            Ok((_, got_size)) => Some(format!(
                "{id}/{file} from {name} does not match its manifest ({got_size} bytes): the copy is damaged"
            )),
            Err(e) => Some(format!("{id}/{file} from {name}: {e}")),
        };
        if let Some(problem) = problem {
            let _ = fs::remove_dir_all(&partial);
            return Err(failed(problem));
        }
    }
    crate::backup::staging::put_in_place(dir, &partial, &id, &manifest)?;
    progress.say(format!("{id}: downloaded from {name} and checked"));
    Ok(id)
}

/// The id of the backup `id` names on `target` (the newest when none):
/// refused when it, or any backup while the latest is asked for, has a
/// manifest that does not read.
fn chosen(target: &Target, remote: Listing, id: Option<&str>) -> Result<String, Error> {
    let wanted = id.unwrap_or(LATEST);
    let latest = wanted == LATEST || wanted == LATEST_SAFETY;
    if let Some(damaged) = remote.damaged.iter().find(|d| latest || d.id == wanted) {
        let why = target.damaged(damaged);
        return Err(Error::Usage(if latest {
            format!(
                "cannot tell which backup on {} is the latest: {why}. Name the backup to restore by its id (`opsbook backup list --copy {}`); nothing was changed",
                target.location(),
                target.name
            )
        } else {
            format!("{why}; nothing was changed")
        }));
    }
    let backups = remote.backups;
    let chosen = match wanted {
        LATEST => backups.into_iter().rfind(|b| !b.safety),
        LATEST_SAFETY => backups.into_iter().rfind(|b| b.safety),
        wanted => backups.into_iter().find(|b| b.id == wanted),
    };
    chosen.map(|b| b.id).ok_or_else(|| {
        Error::Usage(format!(
            "no backup {} on {}: nothing was changed",
            id.map_or("at all".to_string(), |i| format!("`{i}`")),
            target.location()
        ))
    })
}

/// Writes a download to `path` (fsynced); its sha256 and size.
fn save(mut raw: Box<dyn Read + Send>, path: &Path) -> io::Result<(String, u64)> {
    let mut out = create_new_file(path)?;
    crate::backup::copies::hashed_copy(&mut raw, Some(&mut out))
}

/// `--from NAME`: the backup downloaded from copy target `name` and
/// checked, said in `report`; the options that restore it from here.
pub(super) async fn fetched(
    runbook: &Runbook,
    options: &super::Options,
    name: &str,
    progress: Progress<'_>,
    report: &mut crate::render::Report,
) -> Result<super::Options, Error> {
    let dir = runbook.backup_dir(crate::backup::settings(runbook)?);
    let id = fetch(runbook, &dir, name, options.id.as_deref(), progress).await?;
    report.results.push(crate::grade::CheckResult::new(
        "restore",
        "download",
        crate::grade::Status::Ok,
        format!("{id} downloaded from copy target `{name}` and checked"),
    ));
    Ok(options.of_backup(id))
}
