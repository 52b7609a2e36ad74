//! `opsbook images prune [--keep N] [--dry-run]`: what `docker system prune
//! -a --volumes` removes (images no container was made from, the unused
//! build cache, dangling volumes), but for the images `rollback` needs:
//! the last `keep` (default 2: the one running and the one before) each
//! service ran, from the image history. Asks first, holds the update lock
//! (no update pulls an image meanwhile), and reports what went, what was
//! kept and why, and the bytes reclaimed. An image a container still uses
//! is never removed (never forced).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde_json::json;

use super::image_history::ImageHistory;
use crate::docker::{Deployment, StoredImage, short_id};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::{Block, Report};
use crate::runbook::Runbook;
use crate::ui::human;

/// Results are filed under this section.
const SECTION: &str = "images";
/// How many of each service's images are kept unless told.
pub(crate) const KEEP: usize = 2;

/// How `images prune` was asked for.
pub(crate) struct Pruning<'a> {
    /// `--keep`, else `images.keep`, else `KEEP`.
    pub keep: Option<usize>,
    pub dry_run: bool,
    pub yes: bool,
    pub state_dir: &'a Path,
}

/// `images prune`.
pub(crate) async fn prune(
    runbook: &Runbook,
    asked: &Pruning<'_>,
    report: &mut Report,
) -> Result<(), Error> {
    let keep = asked
        .keep
        .or(runbook.model.images.as_ref().and_then(|i| i.keep))
        .unwrap_or(KEEP);
    let deployment = super::connect(runbook, "images prune").await?;
    let state = crate::state::StateDir::open(asked.state_dir)?;
    let _lock = state.lock(&super::gated::lock_key(runbook), "images prune")?;
    let history = ImageHistory::open(asked.state_dir, &runbook.data_lock_key())?;
    let for_rollback = rollback_needs(&history, keep);
    let in_use = deployment.images_in_use().await?;
    let (doomed, kept): (Vec<StoredImage>, Vec<StoredImage>) = deployment
        .stored_images()
        .await?
        .into_iter()
        .filter(|image| !in_use.contains(&image.id))
        .partition(|image| !for_rollback.contains_key(&image.id));
    for image in &kept {
        report.results.push(CheckResult::new(
            SECTION,
            shown(image),
            Status::Ok,
            format!("kept: {}", for_rollback[&image.id]),
        ));
    }
    if asked.dry_run {
        for image in &doomed {
            report.results.push(CheckResult::new(
                SECTION,
                shown(image),
                Status::Ok,
                format!("would be removed ({})", human::bytes(image.size)),
            ));
        }
        report.results.push(CheckResult::dry_run(SECTION));
        return Ok(());
    }
    let parts: Vec<String> = doomed.iter().map(shown).collect();
    let question = format!(
        "remove {} no container uses (keeping {} for rollback), the unused build cache and dangling volumes",
        human::count(doomed.len(), "image"),
        kept.len()
    );
    if !crate::ui::confirm::confirm_plan(&question, &parts, asked.yes)? {
        return Err(Error::Usage("prune cancelled: nothing was removed".into()));
    }
    let before = deployment.disk_use().await.ok();
    let removed = remove_all(&deployment, &doomed, report).await;
    let cache = deployment.prune_build_cache().await;
    let volumes = deployment.prune_dangling_volumes().await;
    let after = deployment.disk_use().await.ok();
    let images_freed = match (before, after) {
        (Some(before), Some(after)) => before.images.bytes.saturating_sub(after.images.bytes),
        _ => 0,
    };
    summary(report, removed, images_freed, cache, volumes);
    Ok(())
}

/// The ids of the images rollback needs, each with why: the last `keep`
/// each service of the image history ran.
fn rollback_needs(history: &ImageHistory, keep: usize) -> BTreeMap<String, String> {
    let mut needs = BTreeMap::new();
    for (service, ran) in history.services() {
        for (newest, image) in ran.iter().rev().take(keep).enumerate() {
            let why = match newest {
                0 => format!("{service} runs it (image history)"),
                _ => format!(
                    "{service}'s rollback needs it (ran until {})",
                    ran[ran.len() - newest].since.strftime("%Y-%m-%d %H:%M")
                ),
            };
            needs.entry(image.id.clone()).or_insert(why);
        }
    }
    needs
}

/// An image as a result names it: its first tag, else its short id.
fn shown(image: &StoredImage) -> String {
    image
        .tags
        .first()
        .cloned()
        .unwrap_or_else(|| short_id(&image.id).to_string())
}

/// Removes each image, by each of its tags (the last removal deletes it)
/// or by id; an image another needs as its parent goes in a later pass.
/// How many went.
async fn remove_all(deployment: &Deployment, doomed: &[StoredImage], report: &mut Report) -> usize {
    let mut left: Vec<&StoredImage> = doomed.iter().collect();
    let mut gone: HashSet<String> = HashSet::new();
    for pass in 0..3 {
        let mut failed = Vec::new();
        for image in left {
            let names: Vec<String> = match image.tags.as_slice() {
                [] => vec![image.id.clone()],
                tags => tags.to_vec(),
            };
            let mut outcome = Ok(false);
            for name in &names {
                match deployment.remove_image(name).await {
                    Ok(deleted) => outcome = outcome.map(|d| d || deleted),
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            match outcome {
                Ok(deleted) => {
                    gone.insert(image.id.clone());
                    let message = match deleted {
                        true => format!("removed ({})", human::bytes(image.size)),
                        false => "untagged: a kept image is built on it".to_string(),
                    };
                    report.results.push(CheckResult::new(
                        SECTION,
                        shown(image),
                        Status::Ok,
                        message,
                    ));
                }
                Err(e) => failed.push((image, e.lines().join("; "))),
            }
        }
        if failed.is_empty() {
            break;
        }
        left = failed.iter().map(|(image, _)| *image).collect();
        if pass == 2 {
            for (image, why) in failed {
                report.results.push(CheckResult::new(
                    SECTION,
                    shown(image),
                    Status::Warn,
                    format!("not removed: {why}"),
                ));
            }
            break;
        }
    }
    gone.len()
}

/// The reclaimed bytes, said as one line and in the JSON.
fn summary(
    report: &mut Report,
    removed: usize,
    images: u64,
    cache: Result<u64, Error>,
    volumes: Result<(Vec<String>, u64), Error>,
) {
    let cache = match cache {
        Ok(bytes) => bytes,
        Err(e) => {
            report.results.push(CheckResult::new(
                SECTION,
                "build cache",
                Status::Warn,
                e.lines().join("; "),
            ));
            0
        }
    };
    let (volume_names, volume_bytes) = match volumes {
        Ok(pruned) => pruned,
        Err(e) => {
            report.results.push(CheckResult::new(
                SECTION,
                "volumes",
                Status::Warn,
                e.lines().join("; "),
            ));
            (Vec::new(), 0)
        }
    };
    for name in &volume_names {
        report.results.push(CheckResult::new(
            SECTION,
            format!("volume {name}"),
            Status::Ok,
            "removed: dangling",
        ));
    }
    let total = images + cache + volume_bytes;
    report.blocks.push(Block::Line(format!(
        "{} removed, {} reclaimed (images {}, build cache {}, {} {})",
        human::count(removed, "image"),
        human::bytes(total),
        human::bytes(images),
        human::bytes(cache),
        human::count(volume_names.len(), "dangling volume"),
        human::bytes(volume_bytes)
    )));
    report.extra.insert(
        "reclaimed".into(),
        json!({"images": images, "build_cache": cache, "volumes": volume_bytes, "total": total}),
    );
}
