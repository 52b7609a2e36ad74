//! Volumes: finding one by its compose name, the containers that mount it,
//! where its data lies on this host (for reading it directly), reading it
//! as a tar stream and writing one back, through Docker's archive endpoint
//! of a container that mounts it or of a short-lived helper container made
//! from an image already on the host.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::query_parameters::ListContainersOptionsBuilder;
use futures_util::StreamExt;

use super::{Deployment, PROJECT_LABEL, VOLUME_LABEL};
use crate::error::Error;

/// Marks the short-lived containers opsbook makes to read or write a volume.
pub(super) const HELPER_LABEL: &str = "opsbook.helper";
/// Where a restore helper mounts the volume it fills (below its archive's top folder).
pub(crate) const RESTORE_ROOT: &str = "/opsbook-restore";

/// Where a volume can be read: a container that mounts it, at a path.
#[derive(Debug, Clone)]
pub(crate) struct VolumeReader {
    pub container: String,
    pub path: String,
    /// A helper opsbook created for this; remove it when done.
    pub helper: bool,
}

/// A container that mounts a volume.
#[derive(Debug, Clone)]
pub(crate) struct VolumeUser {
    pub container: String,
    pub project: Option<String>,
    pub service: Option<String>,
    pub image: String,
    /// Where it mounts the volume.
    pub path: String,
}

impl Deployment {
    /// The full name of a volume named by its compose name (label
    /// `com.docker.compose.volume` within the project) or by its full name;
    /// `None` when there is no such volume.
    pub(crate) async fn find_volume(&self, name: &str) -> Result<Option<String>, Error> {
        if let Some(project) = &self.project {
            let filters = HashMap::from([(
                "label".to_string(),
                vec![
                    format!("{PROJECT_LABEL}={project}"),
                    format!("{VOLUME_LABEL}={name}"),
                ],
            )]);
            let options = bollard::query_parameters::ListVolumesOptionsBuilder::new()
                .filters(&filters)
                .build();
            let listed = self
                .docker
                .list_volumes(Some(options))
                .await
                .map_err(|e| self.failed("listing volumes", e))?;
            if let Some(volume) = listed.volumes.unwrap_or_default().into_iter().next() {
                return Ok(Some(volume.name));
            }
        }
        match self.docker.inspect_volume(name).await {
            Ok(volume) => Ok(Some(volume.name)),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.failed("inspecting a volume", e)),
        }
    }

    /// The folder holding `volume`'s data on this host, when opsbook can read
    /// it there exactly as the engine sees it; otherwise why not (the archive
    /// endpoint is the way then). Direct needs a local engine (a unix
    /// socket), neither rootless nor remapping users (owners would differ),
    /// the `local` driver without options (an NFS or bind volume's folder is
    /// only filled while a container mounts it), and root.
    pub(crate) async fn volume_mountpoint(
        &self,
        volume: &str,
    ) -> Result<Result<PathBuf, String>, Error> {
        if !self.endpoint.starts_with("unix://") {
            return Ok(Err(format!("the engine is remote ({})", self.endpoint)));
        }
        if !rustix::process::geteuid().is_root() {
            return Ok(Err("opsbook does not run as root".to_string()));
        }
        if let Some(why) = elsewhere_mounted(&self.endpoint).await {
            return Ok(Err(why));
        }
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| self.failed("reading the engine's settings", e))?;
        let options = info.security_options.unwrap_or_default();
        if let Some(o) = options
            .iter()
            .find(|o| o.contains("name=rootless") || o.contains("name=userns"))
        {
            return Ok(Err(format!("the engine maps users ({o})")));
        }
        let inspected = self
            .docker
            .inspect_volume(volume)
            .await
            .map_err(|e| self.failed("inspecting a volume", e))?;
        if inspected.driver != "local" {
            return Ok(Err(format!("its driver is `{}`", inspected.driver)));
        }
        if !inspected.options.is_empty() {
            return Ok(Err("it has driver options (a mount)".to_string()));
        }
        if inspected.mountpoint.is_empty() {
            return Ok(Err("the engine gives no mountpoint".to_string()));
        }
        let path = PathBuf::from(&inspected.mountpoint);
        // The engine's folder must be here, a real folder (not a link) opsbook can open.
        let flags = rustix::fs::OFlags::RDONLY
            | rustix::fs::OFlags::DIRECTORY
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::CLOEXEC;
        match rustix::fs::open(&path, flags, rustix::fs::Mode::empty()) {
            Ok(_) => Ok(Ok(path)),
            Err(e) => Ok(Err(format!(
                "its mountpoint {} cannot be opened here: {e}",
                path.display()
            ))),
        }
    }

    /// The containers that mount `volume` (running or not), with the path
    /// each mounts it at and its compose service.
    pub(crate) async fn volume_users(&self, volume: &str) -> Result<Vec<VolumeUser>, Error> {
        let filters = HashMap::from([("volume".to_string(), vec![volume.to_string()])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.failed("listing containers", e))?;
        // The list carries mounts, labels and image: no inspect per container.
        let users = listed
            .into_iter()
            .filter_map(|summary| {
                let path = summary
                    .mounts
                    .unwrap_or_default()
                    .into_iter()
                    .find(|m| m.name.as_deref() == Some(volume))?
                    .destination?;
                let labels = summary.labels.unwrap_or_default();
                let (project, service) = self.labels.read(&labels);
                let given = |s: String| Some(s).filter(|s| !s.is_empty());
                Some(VolumeUser {
                    container: summary.id?,
                    project: given(project),
                    service: given(service),
                    image: summary.image.unwrap_or_default(),
                    path,
                })
            })
            .collect();
        Ok(users)
    }

    /// A container that mounts `volume` (running or not) and the path it is
    /// mounted at; without one, a helper container created (never started)
    /// from `image`, an image already on the host, with the volume at `/volume`.
    pub(crate) async fn volume_reader(
        &self,
        volume: &str,
        image: Option<&str>,
    ) -> Result<VolumeReader, Error> {
        if let Some(user) = self.volume_users(volume).await?.into_iter().next() {
            return Ok(VolumeReader {
                container: user.container,
                path: user.path,
                helper: false,
            });
        }
        let Some(image) = image else {
            return Err(Error::Usage(format!(
                "no container mounts volume `{volume}` and no image to read it with: set `backup.helper_image`"
            )));
        };
        let id = self
            .create_helper(image, None, format!("{volume}:/volume:ro"), HashMap::new())
            .await?;
        Ok(VolumeReader {
            container: id,
            path: "/volume".to_string(),
            helper: true,
        })
    }

    /// Creates (does not start) a helper container from `image`, an image
    /// already on the host, with one volume bound; `script` runs under
    /// `/bin/sh -c` when it is started.
    async fn create_helper(
        &self,
        image: &str,
        script: Option<&str>,
        bind: String,
        mut labels: HashMap<String, String>,
    ) -> Result<String, Error> {
        labels.insert(HELPER_LABEL.to_string(), "true".to_string());
        let (entrypoint, cmd) = match script {
            Some(script) => (
                Some(vec!["/bin/sh".to_string(), "-c".to_string()]),
                vec![script.to_string()],
            ),
            None => (None, vec!["true".to_string()]),
        };
        let body = bollard::models::ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint,
            cmd: Some(cmd),
            user: Some("0".to_string()),
            labels: Some(labels),
            host_config: Some(bollard::models::HostConfig {
                binds: Some(vec![bind]),
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
            .map_err(|e| self.failed("creating a helper container", e))?;
        Ok(created.id)
    }

    /// A helper to put an archive back into `volume`: the volume bound at
    /// `RESTORE_ROOT/<root>` (`root`: the archive's top folder), ready to be
    /// emptied (`empty_volume`) and filled (`upload` to `RESTORE_ROOT`).
    pub(crate) async fn volume_writer(
        &self,
        volume: &str,
        root: &str,
        image: &str,
    ) -> Result<String, Error> {
        self.volume_writer_labelled(volume, root, image, HashMap::new())
            .await
    }

    /// `volume_writer`, the helper carrying `labels` too (a drill's, so
    /// that a drill killed mid-way has it cleaned up with the rest).
    pub(super) async fn volume_writer_labelled(
        &self,
        volume: &str,
        root: &str,
        image: &str,
        labels: HashMap<String, String>,
    ) -> Result<String, Error> {
        let target = format!("{RESTORE_ROOT}/{root}");
        // Every entry of the top folder, dot files too; a pattern that matches
        // nothing stays literal and `rm -f` ignores it.
        let script = format!("rm -rf -- {target}/* {target}/.[!.]* {target}/..?*");
        self.create_helper(image, Some(&script), format!("{volume}:{target}"), labels)
            .await
    }

    /// Runs a helper made by `volume_writer` to empty its volume, waiting
    /// for it to end; its exit code must be 0.
    pub(crate) async fn empty_volume(&self, helper: &str) -> Result<(), String> {
        self.docker
            .start_container(helper, None)
            .await
            .map_err(|e| format!("starting the helper: {}", crate::error::one_line(&e)))?;
        let mut waited = self.docker.wait_container(
            helper,
            None::<bollard::query_parameters::WaitContainerOptions>,
        );
        while let Some(outcome) = waited.next().await {
            match outcome {
                Ok(_) => {}
                Err(bollard::errors::Error::DockerContainerWaitError { code, error }) => {
                    return Err(format!(
                        "emptying the volume failed (exit {code}{}): does the helper image have /bin/sh and rm? (`backup.helper_image`)",
                        if error.is_empty() {
                            String::new()
                        } else {
                            format!(": {error}")
                        }
                    ));
                }
                Err(e) => {
                    return Err(format!(
                        "waiting for the helper: {}",
                        crate::error::one_line(&e)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Streams a tar archive, chunk by chunk from `chunks`, into `path` of a
    /// container (Docker extracts it there, keeping owners, modes and times).
    pub(crate) async fn upload(
        &self,
        id: &str,
        path: &str,
        chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    ) -> Result<(), Error> {
        let options = bollard::query_parameters::UploadToContainerOptionsBuilder::new()
            .path(path)
            .build();
        let stream = futures_util::stream::unfold(chunks, |mut chunks| async move {
            chunks
                .recv()
                .await
                .map(|chunk| (bytes::Bytes::from(chunk), chunks))
        });
        self.docker
            .upload_to_container(id, Some(options), bollard::body_stream(stream))
            .await
            .map_err(|e| self.failed("writing a volume", e))
    }

    /// Removes a container (a helper), with its anonymous volumes.
    pub(crate) async fn remove(&self, id: &str) -> Result<(), Error> {
        let options = bollard::query_parameters::RemoveContainerOptionsBuilder::new()
            .force(true)
            .build();
        self.docker
            .remove_container(id, Some(options))
            .await
            .map_err(|e| self.failed("removing a helper container", e))
    }

    /// Streams the tar archive of `path` in a container into `sink`, chunk by chunk.
    pub(crate) async fn download(
        &self,
        id: &str,
        path: &str,
        sink: &tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> Result<(), Error> {
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let mut stream = self.docker.download_from_container(id, Some(options));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failed("reading a volume", e))?;
            if sink.send(chunk.to_vec()).await.is_err() {
                break; // the writer gave up; its error is the one to report
            }
        }
        Ok(())
    }
}

/// Why the engine behind the unix socket `endpoint` does not see this
/// host's files at the paths it names: its process is in another mount
/// namespace (a dockerd in a container, a Swarm node's engine whose socket
/// was shared out). The socket's peer tells the process; one this process
/// cannot see (another pid namespace) is taken to share the paths, as a
/// socket handed in beside the volumes' folder does.
async fn elsewhere_mounted(endpoint: &str) -> Option<String> {
    let path = endpoint.strip_prefix("unix://")?;
    let socket = tokio::net::UnixStream::connect(path).await.ok()?;
    let pid = socket.peer_cred().ok()?.pid()?;
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
    let ours = std::fs::read_link("/proc/self/ns/mnt").ok()?;
    (theirs != ours).then(|| {
        format!(
            "the engine (process {pid}) is in another mount namespace: the paths it names are not this host's"
        )
    })
}
