//! Each service's image history, in the state folder
//! (`images/<project key>.json`): the images a service ran, oldest first,
//! as `update` and `rollback` left them, so `rollback` knows what ran
//! before even after the tag moved on. Written whole through a file beside
//! it and renamed: a crash leaves the old history or the new one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::docker::ImageRef;
use crate::error::Error;
use crate::state::files::write_private;

/// How many images of a service are remembered.
const KEEP: usize = 20;

/// One image a service ran, from `since`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ran {
    pub image: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digests: Vec<String>,
    pub since: jiff::Timestamp,
    /// What put it there: `update`, `rollback`, or `seen` (running when
    /// opsbook first looked).
    pub by: String,
}

pub(crate) struct ImageHistory {
    path: PathBuf,
    services: BTreeMap<String, Vec<Ran>>,
}

impl ImageHistory {
    /// The history of `key`'s services; none yet is an empty one.
    pub(crate) fn open(state_dir: &Path, key: &str) -> Result<ImageHistory, Error> {
        let path = state_dir.join("images").join(format!("{key}.json"));
        let services = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Usage(format!(
                    "image history `{}` is damaged ({e}): move it away to start a new one",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(Error::State {
                    path,
                    action: "read",
                    source,
                });
            }
        };
        Ok(ImageHistory { path, services })
    }

    /// Every service with a history, and the images it ran, oldest first.
    pub(crate) fn services(&self) -> impl Iterator<Item = (&String, &Vec<Ran>)> {
        self.services.iter()
    }

    /// The images `service` ran, oldest first.
    pub(crate) fn of(&self, service: &str) -> &[Ran] {
        self.services
            .get(service)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The newest image `service` ran that is not `current` (an id): what
    /// `rollback` goes back to.
    pub(crate) fn previous(&self, service: &str, current: &str) -> Option<&Ran> {
        let ran = self.of(service);
        // Skip the run of `current` at the end, then the newest other one.
        ran.iter().rev().find(|r| r.id != current)
    }

    /// Notes that `service` runs `image` from now on (`by`: what did it).
    /// An image already at the end is not written twice.
    pub(crate) fn record(&mut self, service: &str, image: &ImageRef, by: &str) {
        let ran = self.services.entry(service.to_string()).or_default();
        if ran.last().is_some_and(|r| r.id == image.id) {
            return;
        }
        ran.push(Ran {
            image: image.name.clone(),
            id: image.id.clone(),
            digests: image.digests.clone(),
            since: jiff::Timestamp::now(),
            by: by.to_string(),
        });
        let extra = ran.len().saturating_sub(KEEP);
        ran.drain(..extra);
    }

    /// Writes the history down.
    pub(crate) fn save(&self) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(&self.services)
            .map_err(|e| Error::Usage(format!("image history: {e}")))?;
        write_private(&self.path, &bytes).map_err(|source| Error::State {
            path: self.path.clone(),
            action: "write",
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str, id: &str) -> ImageRef {
        ImageRef {
            name: name.into(),
            id: id.into(),
            digests: Vec::new(),
        }
    }

    #[test]
    fn previous_is_the_newest_other_image_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut history = ImageHistory::open(dir.path(), "shop").unwrap_or_else(|e| panic!("{e}"));
        history.record("api", &image("api:1", "sha256:a"), "seen");
        history.record("api", &image("api:1", "sha256:a"), "seen");
        history.record("api", &image("api:2", "sha256:b"), "update");
        history.save().unwrap_or_else(|e| panic!("{e}"));
        let history = ImageHistory::open(dir.path(), "shop").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(history.of("api").len(), 2);
        let previous = history.previous("api", "sha256:b").map(|r| r.image.clone());
        assert_eq!(previous.as_deref(), Some("api:1"));
        assert!(history.previous("web", "sha256:b").is_none());
    }

    #[test]
    fn only_the_last_twenty_are_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut history = ImageHistory::open(dir.path(), "shop").unwrap_or_else(|e| panic!("{e}"));
        for i in 0..25 {
            history.record(
                "api",
                &image(&format!("api:{i}"), &format!("sha256:{i}")),
                "update",
            );
        }
        assert_eq!(history.of("api").len(), KEEP);
        assert_eq!(history.of("api")[0].image, "api:5");
    }

    #[test]
    fn a_damaged_history_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.path().join("images")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("images/shop.json"), "{not json")
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = ImageHistory::open(dir.path(), "shop")
            .err()
            .map(|e| e.to_string());
        assert!(refused.is_some_and(|m| m.contains("images/shop.json") && m.contains("damaged")));
    }
}
