//! daily-check's `images` part (`images: { check: true }`): for each
//! service, the digest its image's tag points to in the registry now
//! against the registry digests of the image it runs. A tag that moved is
//! an update available (warn, both digests named); with `newer: minor` or
//! `major`, newer semver tags are one too. A registry that does not answer
//! is unknown, never crit. Answers are kept in the state folder for
//! `interval` (6h), so a cron every 15 minutes asks a registry four times a
//! day, not a hundred; a failed answer is not kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use super::reference::Reference;
use super::registry::Registries;
use crate::docker::{ContainerRef, Deployment, ImageRef, short_id};
use crate::grade::{CheckResult, Status};
use crate::runbook::Runbook;
use crate::runbook::model::{Images, Newer};

/// Results are filed under this section.
pub(crate) const SECTION: &str = "images";
/// How long an answer is kept unless `images.interval` says.
const INTERVAL: Duration = Duration::from_secs(6 * 3600);
/// How long one request to a registry may take.
const REQUEST: Duration = Duration::from_secs(10);
/// The most newer tags named.
const SHOWN: usize = 5;

/// What a registry said of one image name, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Answer {
    digest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    newer: Vec<String>,
    at: jiff::Timestamp,
}

/// One result per service with a container: its image against its registry.
pub(crate) async fn check(
    runbook: &Runbook,
    deployment: &Deployment,
    refs: &[ContainerRef],
    settings: &Images,
    state_dir: &Path,
) -> Vec<CheckResult> {
    let mut running: BTreeMap<String, Result<ImageRef, String>> = BTreeMap::new();
    for container in refs.iter().filter(|c| c.node.is_none()) {
        if running.contains_key(&container.service) {
            continue;
        }
        let image = deployment
            .snapshot(&container.id)
            .await
            .map(|s| s.image)
            .map_err(|e| e.lines().join("; "));
        running.insert(container.service.clone(), image);
    }
    let registries = match Registries::new(REQUEST) {
        Ok(registries) => registries,
        Err(why) => {
            return vec![CheckResult::new(
                SECTION,
                "registries",
                Status::Unknown,
                why,
            )];
        }
    };
    let cache_path = cache_path(runbook, state_dir);
    let mut cache = read_cache(&cache_path);
    let interval = settings.interval.map_or(INTERVAL, |i| i.std());
    let names: Vec<String> = running
        .values()
        .filter_map(|image| image.as_ref().ok())
        .map(|image| image.name.clone())
        .filter(|name| !fresh(cache.get(name), interval))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let asked = join_all(
        names
            .iter()
            .map(|name| ask(&registries, name, settings.newer)),
    )
    .await;
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    for (name, answer) in names.into_iter().zip(asked) {
        match answer {
            Ok(Some(answer)) => {
                cache.insert(name, answer);
            }
            Ok(None) => {}
            Err(why) => {
                failed.insert(name, why);
            }
        }
    }
    write_cache(&cache_path, &cache);
    running
        .into_iter()
        .map(|(service, image)| match image {
            Err(why) => CheckResult::new(SECTION, &service, Status::Unknown, why),
            Ok(image) => grade(
                &service,
                &image,
                cache.get(&image.name),
                failed.get(&image.name),
            ),
        })
        .collect()
}

/// Whether a kept answer is young enough to use.
fn fresh(answer: Option<&Answer>, interval: Duration) -> bool {
    answer.is_some_and(|a| {
        let age = jiff::Timestamp::now().as_second() - a.at.as_second();
        age >= 0 && age.unsigned_abs() < interval.as_secs()
    })
}

/// The registry's answer for `name`: None for a name no registry is asked
/// of (an id, a pinned digest).
async fn ask(
    registries: &Registries,
    name: &str,
    newer: Option<Newer>,
) -> Result<Option<Answer>, String> {
    let Some(reference) = Reference::parse(name).filter(|r| !r.pinned) else {
        return Ok(None);
    };
    let digest = registries.digest(&reference).await?;
    let newer = match newer {
        Some(newer) => newer_tags(&reference.tag, &registries.tags(&reference).await?, newer),
        None => Vec::new(),
    };
    Ok(Some(Answer {
        digest,
        newer,
        at: jiff::Timestamp::now(),
    }))
}

/// One service's grade from its image and the registry's answer.
fn grade(
    service: &str,
    image: &ImageRef,
    answer: Option<&Answer>,
    failed: Option<&String>,
) -> CheckResult {
    let result = |status, message: String| CheckResult::new(SECTION, service, status, message);
    let Some(reference) = Reference::parse(&image.name) else {
        return result(
            Status::Ok,
            format!(
                "runs image {} by its id: no tag to compare",
                short_id(&image.id)
            ),
        );
    };
    if reference.pinned {
        return result(
            Status::Ok,
            format!("{} is pinned to its digest", image.name),
        );
    }
    if let Some(why) = failed {
        return result(
            Status::Unknown,
            format!(
                "cannot ask {} about {}: {why}",
                reference.registry, image.name
            ),
        );
    }
    let Some(answer) = answer else {
        return result(Status::Unknown, format!("no answer for {}", image.name));
    };
    let prefix = format!("{}@", reference.digest_name());
    let local: Vec<&str> = image
        .digests
        .iter()
        .filter_map(|d| d.strip_prefix(&prefix))
        .collect();
    let newer = match answer.newer.as_slice() {
        [] => String::new(),
        tags => format!("; newer tags: {}", tags.join(", ")),
    };
    let (status, available, message) = if local.is_empty() {
        (
            if newer.is_empty() {
                Status::Ok
            } else {
                Status::Warn
            },
            !newer.is_empty(),
            format!(
                "{} was built or loaded here (no digest from {}): the registry has {}{newer}",
                image.name,
                reference.registry,
                shown(&answer.digest)
            ),
        )
    } else if local.contains(&answer.digest.as_str()) {
        (
            if newer.is_empty() {
                Status::Ok
            } else {
                Status::Warn
            },
            !newer.is_empty(),
            format!(
                "{} is the registry's ({}){newer}",
                image.name,
                shown(&answer.digest)
            ),
        )
    } else {
        (
            Status::Warn,
            true,
            format!(
                "update available: {} runs {}, the registry has {}{newer}",
                image.name,
                shown(local[0]),
                shown(&answer.digest)
            ),
        )
    };
    result(status, message).with_value(if available { 1.0 } else { 0.0 }, "update")
}

/// `sha256:0123456789ab` (12 hex digits).
fn shown(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

/// A tag read as a version: its prefix (`v` or none), up to three numbers,
/// and its suffix (`-alpine`); None for a tag that is no version.
fn version(tag: &str) -> Option<(&str, Vec<u64>, &str)> {
    let (prefix, rest) = match tag.strip_prefix('v') {
        Some(rest) => ("v", rest),
        None => ("", tag),
    };
    let (numbers, suffix) = match rest.find('-') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    let parts: Vec<u64> = numbers
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    (!parts.is_empty() && parts.len() <= 3).then_some((prefix, parts, suffix))
}

/// The tags newer than `current` of the same form (prefix, suffix and
/// count of numbers), within its major for `minor`: newest first, at most
/// `SHOWN`.
fn newer_tags(current: &str, tags: &[String], newer: Newer) -> Vec<String> {
    let Some((prefix, now, suffix)) = version(current) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u64>, &String)> = tags
        .iter()
        .filter_map(|tag| {
            let (p, numbers, s) = version(tag)?;
            let same_form = p == prefix && s == suffix && numbers.len() == now.len();
            let in_reach = newer == Newer::Major || numbers[0] == now[0];
            (same_form && in_reach && numbers > now).then_some((numbers, tag))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found
        .into_iter()
        .take(SHOWN)
        .map(|(_, t)| t.clone())
        .collect()
}

fn cache_path(runbook: &Runbook, state_dir: &Path) -> PathBuf {
    state_dir
        .join("images")
        .join(format!("{}-registry.json", runbook.data_lock_key()))
}

/// The kept answers (none readable: none).
fn read_cache(path: &Path) -> BTreeMap<String, Answer> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Keeps the answers; a cache that cannot be written only costs a question.
fn write_cache(path: &Path, cache: &BTreeMap<String, Answer>) {
    if let (Some(dir), Ok(bytes)) = (path.parent(), serde_json::to_vec_pretty(cache)) {
        let _ = crate::state::files::create_private_dir(dir);
        let _ = crate::state::files::write_private(path, &bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn newer_tags_keep_the_form_and_the_reach() {
        let all = tags(&[
            "1.26.3",
            "1.27.0",
            "1.27.4",
            "1.28.1",
            "2.0.0",
            "1.28.1-alpine",
            "latest",
            "1.29",
        ]);
        assert_eq!(
            newer_tags("1.27.0", &all, Newer::Minor),
            ["1.28.1", "1.27.4"]
        );
        assert_eq!(
            newer_tags("1.27.0", &all, Newer::Major),
            ["2.0.0", "1.28.1", "1.27.4"]
        );
        assert_eq!(
            newer_tags("1.27-alpine", &all, Newer::Major),
            Vec::<String>::new()
        );
        assert_eq!(newer_tags("1.28", &all, Newer::Minor), ["1.29"]);
        assert_eq!(
            newer_tags("latest", &all, Newer::Major),
            Vec::<String>::new()
        );
        assert_eq!(
            newer_tags(
                "v1.2.3",
                &tags(&["v1.2.4", "1.9.9", "v2.0.0"]),
                Newer::Minor
            ),
            ["v1.2.4"]
        );
    }
}
