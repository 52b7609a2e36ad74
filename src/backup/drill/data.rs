//! A drill's data: the running container of each service as it was
//! created, the backup's volumes restored into scratch volumes and its
//! files into a scratch folder, and each dump streamed into its `restore`
//! command in its service's twin once that tier is ready.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backup::manifest::{Item, Kind};
use crate::backup::verify;
use crate::docker::{Remap, Snapshot};
use crate::grade::{CheckResult, Status};
use crate::runbook::units;

use super::{Drill, SECTION, Twin};

impl Drill<'_> {
    /// The running container of each service, as it was created.
    pub(super) async fn snapshots(
        &self,
        results: &mut Vec<CheckResult>,
    ) -> Result<Vec<(String, Snapshot)>, String> {
        let containers = self.deployment.list().await.map_err(|e| e.to_string())?;
        let deployed: Vec<String> = containers.iter().map(|c| c.service.clone()).collect();
        let mut snapshots = Vec::new();
        for service in self.runbook.plan.tiers_with(&deployed).concat() {
            match crate::docker::running_of(&containers, &service) {
                Some(container) => {
                    let snapshot = self
                        .deployment
                        .snapshot(&container.id)
                        .await
                        .map_err(|e| e.to_string())?;
                    snapshots.push((service, snapshot));
                }
                None => results.push(CheckResult::new(
                    SECTION,
                    format!("twin {service}"),
                    Status::Warn,
                    "not running: no twin (a twin copies a running container's configuration)",
                )),
            }
        }
        if snapshots.is_empty() {
            return Err(format!(
                "no container of project `{}` is running: nothing to copy",
                self.project
            ));
        }
        Ok(snapshots)
    }

    /// Scratch volumes filled from the volume items, host files written
    /// into the scratch folder: where the twins' mounts go instead.
    pub(super) async fn restore_data(
        &self,
        snapshots: &[(String, Snapshot)],
        results: &mut Vec<CheckResult>,
    ) -> Result<Remap, String> {
        let mut remap = Remap::default();
        for (index, item) in self.manifest.items.iter().enumerate() {
            let started = Instant::now();
            let restored = match item.kind {
                Kind::Volume => {
                    let scratch = format!("opsbook-drill-{}-{}", self.name, item.name);
                    let filling = self.fill_volume(&scratch, item, snapshots);
                    self.restore_within(item, format!("filling {scratch}"), filling, results)
                        .await?;
                    remap.volumes.insert(item.source.clone(), scratch.clone());
                    format!("volume {} into {scratch}", item.source)
                }
                Kind::File => {
                    let scratch = self.scratch.join(format!("file-{index}"));
                    let writing = self.write_file(&scratch, item);
                    let doing = format!("writing {}", scratch.display());
                    self.restore_within(item, doing, writing, results).await?;
                    remap
                        .paths
                        .insert(PathBuf::from(&item.source), scratch.clone());
                    format!("file {} into {}", item.source, scratch.display())
                }
                // Into the twin, once it runs.
                Kind::Dump => continue,
            };
            results.push(
                CheckResult::new(
                    SECTION,
                    format!("restore {}", item.name),
                    Status::Ok,
                    format!("{restored} ({})", crate::ui::human::bytes(item.size)),
                )
                .with_duration(started.elapsed()),
            );
        }
        Ok(remap)
    }

    /// Restoring `item` (`doing` says how) within the restore deadline. One
    /// that outlives it is left there (cleanup removes the twin or helper
    /// running it) and ends the drill, naming the step that hung.
    async fn restore_within<T>(
        &self,
        item: &Item,
        doing: String,
        restoring: impl Future<Output = Result<T, String>>,
        results: &mut Vec<CheckResult>,
    ) -> Result<T, String> {
        let limit = self.restore_timeout();
        let started = Instant::now();
        match tokio::time::timeout(limit, restoring).await {
            Ok(done) => done,
            Err(_) => {
                let hung = format!(
                    "{doing} did not finish within {} (`backup.drill.restore_timeout`)",
                    units::Duration(limit)
                );
                let step = format!("restore {}", item.name);
                results.push(
                    CheckResult::new(SECTION, &step, Status::Crit, hung.clone())
                        .with_duration(started.elapsed()),
                );
                Err(format!("{step} hung: {hung}"))
            }
        }
    }

    pub(super) async fn fill_volume(
        &self,
        scratch: &str,
        item: &Item,
        snapshots: &[(String, Snapshot)],
    ) -> Result<(), String> {
        let failed =
            |e: &dyn std::fmt::Display| format!("restoring {} into {scratch}: {e}", item.name);
        let root = item
            .archive_root
            .clone()
            .ok_or_else(|| failed(&"the manifest does not say the archive's top folder"))?;
        self.deployment
            .create_scratch_volume(scratch, &self.owner)
            .await
            .map_err(|e| failed(&e))?;
        // The helper is made from an image already here: the one of a
        // service mounting the volume, else the runbook's helper image.
        let image = snapshots
            .iter()
            .find(|(_, s)| s.mounts_volume(&item.source))
            .or(snapshots.first())
            .map(|(_, s)| s.image.id.clone())
            .or_else(|| self.backup.helper_image.clone())
            .unwrap_or_default();
        let helper = self
            .deployment
            .scratch_writer(scratch, &root, &image, &self.owner)
            .await
            .map_err(|e| failed(&e))?;
        let filled = async {
            self.deployment.empty_volume(&helper).await?;
            let meter = self.progress.meter(&item.name);
            let (chunks, reading) =
                verify::read_back(&self.entry.path, item, &self.identities, meter.counter());
            let uploaded = self
                .deployment
                .upload(&helper, crate::docker::RESTORE_ROOT, chunks)
                .await;
            let read = reading.await.map_err(|e| e.to_string())?;
            meter.done();
            uploaded.map_err(|e| e.to_string())?;
            read.map_err(|e| format!("reading `{}` back: {e}", item.file))
        }
        .await;
        let _ = self.deployment.remove(&helper).await;
        filled.map_err(|e| failed(&e))
    }

    pub(super) async fn write_file(&self, scratch: &Path, item: &Item) -> Result<(), String> {
        let path = self.entry.path.join(&item.file);
        let (item, identities, scratch) =
            (item.clone(), self.identities.clone(), scratch.to_path_buf());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::os::unix::fs::PermissionsExt;
            if let Some(parent) = scratch.parent() {
                crate::state::files::create_private_dir(parent)?;
            }
            let mut stream = verify::open_stream(&path, &item, &identities)?;
            let mut file = std::fs::File::create(&scratch)?;
            std::io::copy(&mut stream, &mut file)?;
            // A twin's process may not run as root: it must read it.
            file.set_permissions(std::fs::Permissions::from_mode(0o644))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("restoring a file into {}: {e}", self.scratch.display()))
    }

    /// The backup's dumps of `twin`'s service, each streamed into its
    /// `restore` command there.
    pub(super) async fn restore_dumps(
        &self,
        twin: &Twin,
        results: &mut Vec<CheckResult>,
    ) -> Result<(), String> {
        for item in self.manifest.items.iter().filter(|i| i.kind == Kind::Dump) {
            let Some(dump) = self.backup.dumps.get(&item.name) else {
                continue;
            };
            if dump.service.value != twin.service {
                continue;
            }
            let name = format!("restore {}", item.name);
            let Some(restore) = &dump.restore else {
                results.push(CheckResult::new(
                    SECTION,
                    name,
                    Status::Warn,
                    "no `restore` command in the runbook: not restored in the drill",
                ));
                continue;
            };
            let started = Instant::now();
            let argv = restore.argv();
            let meter = self.progress.meter(&item.name);
            let (chunks, reading) =
                verify::read_back(&self.entry.path, item, &self.identities, meter.counter());
            let streaming = async {
                let ran = self
                    .deployment
                    .exec_with_stdin(&twin.id, &argv, chunks)
                    .await;
                let read = reading.await.map_err(|e| e.to_string())?;
                Ok((ran, read))
            };
            let doing = format!("`{}` in the twin of `{}`", argv.join(" "), twin.service);
            let streamed = self.restore_within(item, doing, streaming, results).await;
            meter.done();
            let (ran, read) = streamed?;
            let (code, said) = ran.map_err(|e| e.to_string())?;
            if code != Some(0) {
                let said = String::from_utf8_lossy(&said);
                return Err(format!(
                    "dump {}: `{}` exited {} in the twin of `{}`: {}",
                    item.name,
                    argv.join(" "),
                    code.map_or("without a code".to_string(), |c| c.to_string()),
                    twin.service,
                    crate::redact::quote(said.trim())
                ));
            }
            read.map_err(|e| format!("dump {}: reading `{}` back: {e}", item.name, item.file))?;
            results.push(
                CheckResult::new(
                    SECTION,
                    name,
                    Status::Ok,
                    format!(
                        "{}: {} < dump ({})",
                        twin.service,
                        argv.join(" "),
                        crate::ui::human::bytes(item.size)
                    ),
                )
                .with_duration(started.elapsed()),
            );
        }
        Ok(())
    }
}
