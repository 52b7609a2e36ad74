//! `incident bundle ID`: the incident's folder packed into one `.tar.zst`
//! (0600, written beside and renamed) to hand to someone else.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::incident::Store;
use crate::render::{Block, Report};
use crate::state::files::{open_private, remove_if_present};

/// Packs the incident's folder into `<incident.dir>/<ID>.tar.zst` (0600),
/// written beside and renamed.
pub(crate) fn bundle(store: &Store, id: &str, report: &mut Report) -> Result<(), Error> {
    let (_, folder) = store.open(id)?;
    let path = store.dir.join(format!("{id}.tar.zst"));
    let partial = store.dir.join(format!(".{id}.tar.zst.partial"));
    let packed = pack(&folder, id, &partial).and_then(|()| std::fs::rename(&partial, &path));
    if let Err(source) = packed {
        let _ = remove_if_present(&partial);
        return Err(Error::File {
            path,
            action: "write",
            source,
        });
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    report.blocks.push(Block::Line(format!(
        "{} ({})",
        path.display(),
        crate::ui::human::bytes(size)
    )));
    report.results.push(CheckResult::new(
        "incident",
        "bundle",
        Status::Ok,
        format!("{} ({})", path.display(), crate::ui::human::bytes(size)),
    ));
    report
        .extra
        .insert("bundle".into(), json!(path.display().to_string()));
    Ok(())
}

fn pack(folder: &Path, id: &str, into: &Path) -> std::io::Result<()> {
    // A leftover (or a planted link) is removed, never written through.
    remove_if_present(into)?;
    let file = open_private(into, OpenOptions::new().write(true).create_new(true))?;
    let encoder = zstd::stream::write::Encoder::new(file, 3)?;
    let mut archive = tar::Builder::new(encoder);
    archive.follow_symlinks(false);
    archive.append_dir_all(id, folder)?;
    let mut file = archive.into_inner()?.finish()?;
    file.flush()?;
    file.sync_all()
}
