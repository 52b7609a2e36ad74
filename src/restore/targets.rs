//! What a restore will do, worked out before anything changes: where each
//! item of the backup goes back to, and which services must stop for it.
//! Anything that cannot be restored stops the command here (exit 3), and so
//! does any item that is not one of the runbook's own (`backup::scope`):
//! the manifest never chooses where data goes.

use std::path::PathBuf;

use crate::backup::collect::{self, Elsewhere, Route};
use crate::backup::manifest::{Item, Kind};
use crate::backup::scope;
use crate::deploy::homes::{Home, Homes};
use crate::docker::Deployment;
use crate::error::Error;
use crate::runbook::Runbook;
use crate::runbook::model::Backup;

/// Where an item goes back to.
#[derive(Clone)]
pub(super) enum Target {
    /// A Docker volume, emptied then filled from the archive.
    Volume {
        /// The full volume name.
        full: String,
        /// The archive's top folder.
        root: String,
        /// The services whose containers mount it.
        users: Vec<String>,
        /// The image the helper that writes the volume is made from.
        image: String,
        /// Its folder on this host, when it is restored there directly
        /// (staged beside it, then swapped in by rename).
        direct: Option<PathBuf>,
        /// A stack's volume: the node it lives on, and that node's engine.
        home: Option<Home>,
    },
    /// A host file, replaced atomically.
    File { path: PathBuf },
    /// A dump, streamed into the dump's `restore` command in its service.
    Dump {
        service: String,
        /// The restore command.
        restore: Vec<String>,
        /// The dump command (for the safety backup).
        dump: Vec<String>,
    },
}

pub(super) struct Planned {
    pub item: Item,
    pub target: Target,
}

impl Planned {
    pub(super) fn describe(&self) -> String {
        match &self.target {
            Target::Volume {
                full,
                direct: Some(_),
                ..
            } => format!("volume {full} (unpacked beside it, then swapped in)"),
            Target::Volume {
                full,
                home: Some(home),
                ..
            } => format!("volume {full} on node {} (emptied, then filled)", home.node),
            Target::Volume { full, .. } => format!("volume {full} (emptied, then filled)"),
            Target::File { path } => format!("file {}", path.display()),
            Target::Dump {
                service, restore, ..
            } => format!("{service}: {} < dump", restore.join(" ")),
        }
    }
}

/// The items of the manifest named by `--only` (all without it); an
/// unknown name is refused, naming the ones there are.
pub(super) fn select_items(items: &[Item], only: &[String]) -> Result<Vec<Item>, Error> {
    // Twice the same item would be replaced twice, the second time over
    // what the first put back: refused before anything is asked or stopped.
    // An item is its name; a volume or a file is also where it goes (a
    // dump's source is its command, which two dumps may share).
    let same_place =
        |a: &Item, b: &Item| a.kind == b.kind && a.kind != Kind::Dump && a.source == b.source;
    for (n, item) in items.iter().enumerate() {
        if let Some(first) = items[..n]
            .iter()
            .find(|o| o.name == item.name || same_place(o, item))
        {
            return Err(Error::Usage(format!(
                "the backup's manifest names the same item twice (`{}` and `{}`, both `{}`): it was damaged or edited, nothing was changed",
                first.name, item.name, item.source
            )));
        }
    }
    if only.is_empty() {
        return Ok(items.to_vec());
    }
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    if let Some(unknown) = only.iter().find(|o| !names.contains(&o.as_str())) {
        return Err(Error::Usage(format!(
            "--only: the backup has no item `{unknown}` (it has: {})",
            names.join(", ")
        )));
    }
    Ok(items
        .iter()
        .filter(|i| only.contains(&i.name))
        .cloned()
        .collect())
}

/// Where each item goes back to, checked against Docker and the runbook.
pub(super) async fn resolve(
    deployment: &Deployment,
    runbook: &Runbook,
    backup: &Backup,
    project: &str,
    items: Vec<Item>,
    homes: Option<&Homes<'_>>,
) -> Result<Vec<Planned>, Error> {
    // Every item first, before Docker is asked anything: one that is not the
    // runbook's own refuses the whole restore.
    for item in &items {
        if let Err(reason) = scope::check_item(runbook, backup, item) {
            return Err(refused(runbook, item, &reason));
        }
    }
    let mut planned = Vec::new();
    for item in items {
        let target = match item.kind {
            Kind::Volume => volume(deployment, runbook, backup, project, &item, homes).await?,
            Kind::File => Target::File {
                path: PathBuf::from(&item.source),
            },
            Kind::Dump => dump(runbook, backup, &item)?,
        };
        planned.push(Planned { item, target });
    }
    Ok(planned)
}

/// Where a volume item goes back to: the runbook's volume, found as
/// `backup` finds it (the manifest's full name must be that one), on its
/// node for a stack, mounted by nothing outside the project, written
/// directly or through the archive endpoint as `backup.read` and the host
/// decide.
async fn volume(
    deployment: &Deployment,
    runbook: &Runbook,
    backup: &Backup,
    project: &str,
    item: &Item,
    homes: Option<&Homes<'_>>,
) -> Result<Target, Error> {
    let nothing = "nothing was changed";
    let found = match homes {
        Some(homes) => homes
            .volume(&item.name, "restore")
            .await?
            .map(|v| (v.full, Some(v.home))),
        None => deployment.find_volume(&item.name).await?.map(|f| (f, None)),
    };
    let Some((full, home)) = found else {
        return Err(Error::Usage(format!(
            "volume `{}` (item `{}`) does not exist: create it (e.g. `docker compose up --no-start`) and restore again; {nothing}",
            item.source, item.name
        )));
    };
    if full != item.source {
        let reason = format!(
            "it names volume `{}`, but the runbook's volume `{}` is `{full}`",
            item.source, item.name
        );
        return Err(refused(runbook, item, &reason));
    }
    let Some(root) = item.archive_root.clone() else {
        return Err(Error::Usage(format!(
            "item `{}`: the manifest does not say the archive's top folder; {nothing}",
            item.name
        )));
    };
    // A stack's volume is on its node: that engine writes it.
    let engine = home.as_ref().map_or(deployment, |h| h.engine(deployment));
    let mounting = engine.volume_users(&full).await?;
    let users: Vec<String> = mounting
        .iter()
        .filter(|u| u.project.as_deref() == Some(project))
        .filter_map(|u| u.service.clone())
        .collect();
    if let Some(stranger) = mounting
        .iter()
        .find(|u| u.project.as_deref() != Some(project))
    {
        return Err(Error::Usage(format!(
            "volume `{full}` is also mounted by container {} outside project `{project}`, which restore would not stop; {nothing}",
            short_id(&stranger.container)
        )));
    }
    // `backup.read` and the host decide the way, as for a backup.
    let direct = match collect::route(engine, backup.read, &full).await? {
        Route::Direct(mountpoint) => Some(mountpoint),
        Route::Archive(why) => {
            tracing::info!("volume `{full}`: restored through Docker's archive endpoint ({why})");
            None
        }
    };
    let image = backup
        .helper_image
        .clone()
        .or_else(|| mounting.first().map(|u| u.image.clone()))
        .or_else(|| direct.as_ref().map(|_| String::new()))
        .ok_or_else(|| {
            Error::Usage(format!(
                "no container mounts volume `{full}` and no image to write it with: set `backup.helper_image`; {nothing}"
            ))
        })?;
    Ok(Target::Volume {
        full,
        root,
        users,
        image,
        direct,
        home,
    })
}

/// Where a dump item goes back to: its service, through the runbook's
/// `restore` command of that dump.
fn dump(runbook: &Runbook, backup: &Backup, item: &Item) -> Result<Target, Error> {
    let dump = backup.dumps.get(&item.name).ok_or_else(|| {
        Error::Usage(format!(
            "dump `{}` is not in the runbook's `backup.dumps` any more: nothing to restore it with",
            item.name
        ))
    })?;
    let restore = dump.restore.as_ref().ok_or_else(|| {
        Error::Usage(format!(
            "dump `{}` has no `restore` command in `{}` (backup.dumps.{}.restore): nothing was changed",
            item.name, runbook.display, item.name
        ))
    })?;
    Ok(Target::Dump {
        service: dump.service.value.clone(),
        restore: restore.argv(),
        dump: dump.command.argv(),
    })
}

/// The services a restore stops: every service that mounts a target
/// volume, and everything that depends on those or on a dump's service.
/// A dump's service itself keeps running (its restore command runs in it),
/// unless it also mounts a target volume.
pub(super) fn services_to_stop(
    planned: &[Planned],
    dependents_of: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let mut stop: Vec<String> = Vec::new();
    let mut add = |service: String| {
        if !stop.contains(&service) {
            stop.push(service);
        }
    };
    for p in planned {
        match &p.target {
            Target::Volume { users, .. } => {
                for user in users {
                    add(user.clone());
                    dependents_of(user).into_iter().for_each(&mut add);
                }
            }
            Target::Dump { service, .. } => dependents_of(service).into_iter().for_each(&mut add),
            Target::File { .. } => {}
        }
    }
    stop
}

/// The stopped services a dump's restore needs running: its service and
/// what that depends on, among `stopped`.
pub(super) fn needed_for_dumps(
    planned: &[Planned],
    stopped: &[String],
    dependents_of: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let services: Vec<&String> = planned
        .iter()
        .filter_map(|p| match &p.target {
            Target::Dump { service, .. } => Some(service),
            _ => None,
        })
        .collect();
    stopped
        .iter()
        .filter(|s| services.contains(s) || dependents_of(s).iter().any(|d| services.contains(&d)))
        .cloned()
        .collect()
}

/// A manifest item that is not the runbook's own: nothing is restored.
fn refused(runbook: &Runbook, item: &Item, reason: &str) -> Error {
    Error::Usage(format!(
        "item `{}` of the backup is not one of the runbook's own items (`{}`): {reason}; restore writes only to the runbook's volumes, files and dumps, nothing was changed",
        item.name, runbook.display
    ))
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The engines of the planned volumes that live on another node (a
/// stack's), by full name: where the safety backup reads them.
pub(super) fn elsewhere(planned: &[Planned]) -> Elsewhere {
    let mut elsewhere = Elsewhere::default();
    for p in planned {
        if let Target::Volume {
            full,
            home:
                Some(Home {
                    engine: Some(engine),
                    ..
                }),
            ..
        } = &p.target
        {
            elsewhere.volumes.insert(full.clone(), engine.clone());
        }
    }
    elsewhere
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::model::Compression;

    fn item(name: &str, kind: Kind) -> Item {
        Item {
            name: name.into(),
            kind,
            source: name.into(),
            archive_root: None,
            file: name.into(),
            compression: Compression::Zstd,
            encrypted: false,
            size: 0,
            stored_size: 0,
            sha256: String::new(),
            read: None,
        }
    }

    /// web → api → db, worker → db.
    fn dependents(service: &str) -> Vec<String> {
        match service {
            "db" => vec!["api".into(), "worker".into(), "web".into()],
            "api" => vec!["web".into()],
            _ => vec![],
        }
    }

    fn volume(users: &[&str]) -> Planned {
        Planned {
            item: item("data", Kind::Volume),
            target: Target::Volume {
                full: "shop_data".into(),
                root: "data".into(),
                users: users.iter().map(|s| s.to_string()).collect(),
                image: "busybox".into(),
                direct: None,
                home: None,
            },
        }
    }

    fn dump(service: &str) -> Planned {
        Planned {
            item: item("records", Kind::Dump),
            target: Target::Dump {
                service: service.into(),
                restore: vec!["psql".into()],
                dump: vec!["pg_dump".into()],
            },
        }
    }

    #[test]
    fn a_volume_stops_its_users_and_their_dependents() {
        assert_eq!(
            services_to_stop(&[volume(&["api"])], dependents),
            ["api", "web"]
        );
        assert!(services_to_stop(&[volume(&[])], dependents).is_empty());
    }

    #[test]
    fn a_dump_stops_the_dependents_but_not_its_service() {
        let stop = services_to_stop(&[dump("db")], dependents);
        assert_eq!(stop, ["api", "worker", "web"]);
        assert!(needed_for_dumps(&[dump("db")], &stop, dependents).is_empty());
    }

    #[test]
    fn a_dump_service_that_mounts_a_target_volume_is_started_for_its_dump() {
        let planned = [volume(&["db"]), dump("db")];
        let stop = services_to_stop(&planned, dependents);
        assert_eq!(stop, ["db", "api", "worker", "web"]);
        assert_eq!(needed_for_dumps(&planned, &stop, dependents), ["db"]);
    }

    #[test]
    fn only_names_items_of_the_backup() {
        let items = [item("data", Kind::Volume), item("records", Kind::Dump)];
        let chosen = select_items(&items, &["records".into()]).unwrap_or_default();
        assert_eq!(chosen.len(), 1);
        assert!(
            select_items(&items, &["nope".into()])
                .is_err_and(|e| e.to_string().contains("has: data, records"))
        );
        assert_eq!(select_items(&items, &[]).map(|i| i.len()).ok(), Some(2));
    }
}
