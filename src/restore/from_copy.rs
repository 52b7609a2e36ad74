//! `restore --from NAME [ID|latest]`: a backup brought back from a copy
//! target when the local one is gone or damaged. Each file is streamed into
//! `.<id>.download/` in the backup folder and hashed as it lands (it must
//! be what its manifest says); the manifest is written last and the folder
//! renamed to `<id>`, so a download cut short is never taken for a backup.
//! A damaged local copy of the same id is set aside first and removed once
//! the download is in place. Then the normal restore runs on it.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::backup::manifest;
use crate::backup::{LATEST, LATEST_SAFETY};
use crate::copies::Target;
use crate::error::Error;
use crate::runbook::Runbook;
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
    let chosen = match id.unwrap_or(LATEST) {
        LATEST => remote.iter().rev().find(|b| !b.safety),
        LATEST_SAFETY => remote.iter().rev().find(|b| b.safety),
        wanted => remote.iter().find(|b| b.id == wanted),
    };
    let Some(chosen) = chosen else {
        return Err(Error::Usage(format!(
            "no backup {} on {}: nothing was changed",
            id.map_or("at all".to_string(), |i| format!("`{i}`")),
            target.location()
        )));
    };
    let id = chosen.id.clone();
    let manifest = target.manifest(&id).await.map_err(Error::Usage)?;
    let partial = dir.join(format!(".{id}.download"));
    let failed = |what: String| Error::Usage(format!("{what}: nothing was changed"));
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(&partial).map_err(|source| Error::File {
        path: partial.clone(),
        action: "create",
        source,
    })?;
    for item in &manifest.items {
        progress.say(format!("downloading {id}/{} from {name}", item.file));
        let raw = match target.open(&id, &item.file).await {
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
    let bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::Usage(format!("manifest of {id}: {e}")))?;
    let put = || -> io::Result<PathBuf> {
        let mut file = File::create(partial.join(manifest::FILE))?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        let done = dir.join(&id);
        let aside = dir.join(format!(".{id}.replaced"));
        if done.exists() {
            let _ = fs::remove_dir_all(&aside);
            fs::rename(&done, &aside)?;
        }
        fs::rename(&partial, &done)?;
        let _ = fs::remove_dir_all(&aside);
        Ok(done)
    };
    put().map_err(|source| Error::File {
        path: dir.join(&id),
        action: "write",
        source,
    })?;
    progress.say(format!("{id}: downloaded from {name} and checked"));
    Ok(id)
}

/// Writes a download to `path` (fsynced); its sha256 and size.
fn save(mut raw: Box<dyn Read + Send>, path: &Path) -> io::Result<(String, u64)> {
    let mut out = File::create(path)?;
    crate::copies::hashed_copy(&mut raw, Some(&mut out))
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
    Ok(super::Options {
        id: Some(id),
        from: None,
        only: options.only.clone(),
        identity: options.identity.clone(),
        state_dir: options.state_dir.clone(),
        runbook_flag: options.runbook_flag.clone(),
        ..*options
    })
}
