//! A look at the engine's own host when that host is another machine (an
//! engine reached by tcp or ssh): a short-lived helper container, made
//! from an image already on that host, runs a shell script with the host's
//! `/` mounted read-only at `/host`, no network, and is removed. Nothing is
//! installed there. The engine's `/info` adds the host's name and cores.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{
    ListImagesOptionsBuilder, LogsOptionsBuilder, WaitContainerOptions,
};
use futures_util::StreamExt;

use super::{Deployment, PROJECT_LABEL};
use crate::error::Error;

/// Where the helper sees the host's `/` (and `$HOST_ROOT` says so).
const HOST_ROOT: &str = "/host";
/// Images tried before giving up (one without a shell fails at once).
const TRIES: usize = 4;
/// How long the helper may take.
const WITHIN: Duration = Duration::from_secs(30);

/// Marks a look's helper (besides the helper label), for removing one a
/// killed run left.
const LOOK_LABEL: &str = "opsbook.host-look";

/// Why a helper gave no figures.
enum Failed {
    /// It could not run from this image (no shell): another may.
    Image(String),
    /// It did not end in time.
    Hung,
}

/// What the helper printed, and what the engine says of its host.
#[derive(Debug, Clone)]
pub(crate) struct HostLook {
    pub output: String,
    pub hostname: Option<String>,
    pub cores: Option<usize>,
}

impl Deployment {
    /// Runs `script` under `/bin/sh -c` (with `args` as `$1`…, the host's
    /// `/` at `$HOST_ROOT`) on the engine's host, in a helper from the first image there that has a shell.
    pub(crate) async fn look_at_host(
        &self,
        script: &str,
        args: &[String],
    ) -> Result<HostLook, Error> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| self.failed("reading the engine's host", e))?;
        tracing::debug!("host look: engine info read");
        let images = self.helper_images().await?;
        tracing::debug!(images = images.len(), "host look: images listed");
        if images.is_empty() {
            return Err(Error::Usage(
                "no image on the engine's host to run a helper from".into(),
            ));
        }
        self.remove_stale_looks().await;
        tracing::debug!("host look: stale looks removed");
        let mut tried = Vec::new();
        for image in images.iter().take(TRIES) {
            match self.run_helper(image, script, args).await {
                Ok(output) => {
                    return Ok(HostLook {
                        output,
                        hostname: info.name.filter(|n| !n.is_empty()),
                        cores: info.ncpu.and_then(|n| usize::try_from(n).ok()),
                    });
                }
                Err(Failed::Image(why)) => tried.push(format!("{image}: {why}")),
                // Not the image's fault (a hung filesystem): another would hang too.
                Err(Failed::Hung) => {
                    tried.push(format!("{image}: no answer within {} s", WITHIN.as_secs()));
                    break;
                }
            }
        }
        Err(Error::Usage(format!(
            "no helper could run on the engine's host ({})",
            tried.join("; ")
        )))
    }

    /// Looks a killed run left behind (its helper outlived it): removed
    /// once they are older than any look can be.
    async fn remove_stale_looks(&self) {
        let filters = HashMap::from([("label".to_string(), vec![LOOK_LABEL.to_string()])]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let Ok(found) = self.docker.list_containers(Some(options)).await else {
            return;
        };
        let now = jiff::Timestamp::now().as_second();
        for container in found {
            let old = container
                .created
                .is_some_and(|created| now.saturating_sub(created) > 2 * WITHIN.as_secs() as i64);
            if old && let Some(id) = container.id {
                let _ = self.remove(&id).await;
            }
        }
    }

    /// The images to try: the project's own first (they are surely there
    /// and wanted), then the rest, smallest first.
    async fn helper_images(&self) -> Result<Vec<String>, Error> {
        let mut images: Vec<String> = Vec::new();
        let label = match &self.project {
            Some(project) => format!("{PROJECT_LABEL}={project}"),
            None => PROJECT_LABEL.to_string(),
        };
        let filters = HashMap::from([("label".to_string(), vec![label])]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.failed("listing containers", e))?;
        for id in containers.into_iter().filter_map(|c| c.image_id) {
            if !images.contains(&id) {
                images.push(id);
            }
        }
        let mut rest = self
            .docker
            .list_images(Some(ListImagesOptionsBuilder::new().build()))
            .await
            .map_err(|e| self.failed("listing images", e))?;
        rest.sort_by_key(|i| i.size);
        for image in rest {
            if !images.contains(&image.id) {
                images.push(image.id);
            }
        }
        Ok(images)
    }

    /// One helper from `image`: created, started, waited for (at most
    /// `WITHIN`), read, and removed whatever happened.
    async fn run_helper(
        &self,
        image: &str,
        script: &str,
        args: &[String],
    ) -> Result<String, Failed> {
        let mut cmd = vec![script.to_string(), "sh".to_string()];
        cmd.extend(args.iter().cloned());
        let body = bollard::models::ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
            cmd: Some(cmd),
            user: Some("0".into()),
            env: Some(vec![format!("HOST_ROOT={HOST_ROOT}")]),
            labels: Some(HashMap::from([
                (super::volume::HELPER_LABEL.to_string(), "true".to_string()),
                (LOOK_LABEL.to_string(), "true".to_string()),
            ])),
            network_disabled: Some(true),
            host_config: Some(bollard::models::HostConfig {
                binds: Some(vec![format!("/:{HOST_ROOT}:ro")]),
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                body,
            )
            .await
            .map_err(|e| Failed::Image(crate::error::one_line(&e)))?;
        tracing::debug!(image, "host look: helper created");
        let read = tokio::time::timeout(WITHIN, self.read_helper(&created.id)).await;
        tracing::debug!("host look: helper read");
        // Removed whatever happened; a failure to remove is not the figures' problem.
        let _ = self.remove(&created.id).await;
        match read {
            Ok(read) => read.map_err(Failed::Image),
            Err(_) => Err(Failed::Hung),
        }
    }

    async fn read_helper(&self, id: &str) -> Result<String, String> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| crate::error::one_line(&e))?;
        let mut waited = self.docker.wait_container(id, None::<WaitContainerOptions>);
        let code = match waited.next().await {
            Some(Ok(exit)) => exit.status_code,
            // A non-zero exit arrives as this error.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(crate::error::one_line(&e)),
            None => return Err("the engine stopped answering".into()),
        };
        let options = LogsOptionsBuilder::new().stdout(true).stderr(true).build();
        let mut logs = self.docker.logs(id, Some(options));
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        while let Some(chunk) = logs.next().await {
            match chunk.map_err(|e| crate::error::one_line(&e))? {
                bollard::container::LogOutput::StdOut { message } => {
                    super::exec::append_capped(&mut stdout, &message)
                }
                bollard::container::LogOutput::StdErr { message } => {
                    super::exec::append_capped(&mut stderr, &message)
                }
                _ => {}
            }
        }
        if code != 0 && stdout.is_empty() {
            let said = String::from_utf8_lossy(&stderr);
            return Err(format!(
                "exit code {code}: {}",
                said.lines().last().unwrap_or("no output").trim()
            ));
        }
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    }
}
