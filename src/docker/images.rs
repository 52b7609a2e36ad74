//! The engine's images, as `images prune` needs them: every stored image
//! with its tags and size, the images any container (running or not) was
//! made from, removing one, and pruning the build cache and the dangling
//! volumes as `docker system prune --volumes` would.

use std::collections::HashSet;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};

use super::Deployment;
use crate::error::Error;

/// One image the engine stores.
#[derive(Debug, Clone)]
pub(crate) struct StoredImage {
    /// `sha256:…`
    pub id: String,
    /// `name:tag`, none for an untagged image.
    pub tags: Vec<String>,
    pub size: u64,
}

impl Deployment {
    /// Every top-level image the engine stores.
    pub(crate) async fn stored_images(&self) -> Result<Vec<StoredImage>, Error> {
        let options = ListImagesOptionsBuilder::new().all(false).build();
        let listed = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(|e| self.failed("listing images", e))?;
        Ok(listed
            .into_iter()
            .map(|image| StoredImage {
                id: image.id,
                tags: image
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect(),
                size: u64::try_from(image.size).unwrap_or(0),
            })
            .collect())
    }

    /// The ids of the images any container on the engine was made from,
    /// whatever its project or state.
    pub(crate) async fn images_in_use(&self) -> Result<HashSet<String>, Error> {
        let options = ListContainersOptionsBuilder::new().all(true).build();
        let listed = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.failed("listing containers", e))?;
        Ok(listed.into_iter().filter_map(|c| c.image_id).collect())
    }

    /// Removes `image` (a `name:tag` only untags it while another tag
    /// names the same image, or a kept image is built on it); never
    /// forced, so an image a container uses stays. Whether any layer or
    /// image was deleted, not only a tag.
    pub(crate) async fn remove_image(&self, image: &str) -> Result<bool, Error> {
        let options = RemoveImageOptionsBuilder::new().force(false).build();
        self.docker
            .remove_image(image, Some(options), None)
            .await
            .map(|items| items.iter().any(|item| item.deleted.is_some()))
            .map_err(|e| self.failed(&format!("removing image `{image}`"), e))
    }

    /// Prunes the build cache no image uses; the bytes reclaimed.
    pub(crate) async fn prune_build_cache(&self) -> Result<u64, Error> {
        let pruned = self
            .docker
            .prune_build(None::<bollard::query_parameters::PruneBuildOptions>)
            .await
            .map_err(|e| self.failed("pruning the build cache", e))?;
        Ok(pruned
            .space_reclaimed
            .and_then(|b| u64::try_from(b).ok())
            .unwrap_or(0))
    }

    /// Removes the dangling volumes (anonymous, used by no container);
    /// their names and the bytes reclaimed.
    pub(crate) async fn prune_dangling_volumes(&self) -> Result<(Vec<String>, u64), Error> {
        let pruned = self
            .docker
            .prune_volumes(None::<bollard::query_parameters::PruneVolumesOptions>)
            .await
            .map_err(|e| self.failed("pruning dangling volumes", e))?;
        let bytes = pruned
            .space_reclaimed
            .and_then(|b| u64::try_from(b).ok())
            .unwrap_or(0);
        Ok((pruned.volumes_deleted.unwrap_or_default(), bytes))
    }
}
