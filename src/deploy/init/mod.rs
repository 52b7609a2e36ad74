//! `opsbook init`: a commented runbook written from the compose project (or
//! Swarm stack) running on the engine. Its services and their tiers, the
//! health waits their healthchecks give, a check for each published port
//! (`http` where a health path answers, else `tcp`), the databases and
//! servers it recognises with their dumps, restores and readiness checks,
//! the named volumes to back up, and the secret-named variables: what it
//! could not decide is said, per service. It reads names, never a
//! variable's value, and writes nothing but the runbook.

use std::path::{Path, PathBuf};

use futures_util::future::join_all;

use crate::docker::{Deployment, Mounted, Running, Surveyed};
use crate::error::Error;

mod compose;
mod draft;
mod endpoints;
mod recognise;

use draft::{Draft, ServiceDraft};
use endpoints::Endpoint;

/// What `opsbook init` was asked.
pub(crate) struct Options {
    pub project: Option<String>,
    pub output: PathBuf,
    pub force: bool,
    pub dry_run: bool,
}

/// The runbook written, and what init could not decide.
pub(crate) struct Written {
    pub project: String,
    pub text: String,
    /// Where it was written (none on a dry run).
    pub path: Option<PathBuf>,
    pub services: usize,
    pub checks: usize,
    /// One line per thing it could not decide.
    pub notes: Vec<String>,
}

/// Reads the deployment and writes its runbook (to `options.output`, never
/// over an existing file without `force`; nowhere on a dry run).
pub(crate) async fn init(options: &Options) -> Result<Written, Error> {
    if !options.dry_run && !options.force && exists(&options.output) {
        return Err(Error::Usage(format!(
            "`{}` exists: opsbook init never overwrites a runbook without --force (--dry-run prints the new one instead)",
            options.output.display()
        )));
    }
    let engine = Deployment::connect(None).await?;
    let running = engine.running_projects().await?;
    let chosen = choose(&running, options.project.as_deref(), engine.endpoint())?;
    let mut deployment = Deployment::connect(Some(chosen.name.clone())).await?;
    if chosen.stack {
        deployment = deployment.into_stack();
    }
    let surveyed = deployment.survey().await?;
    let (draft, notes) = understand(&chosen, surveyed).await;
    let text = draft.text();
    // What it writes loads as it is: a problem here is init's own.
    crate::runbook::parse(text.as_bytes(), None, "opsbook init's runbook")?;
    let path = if options.dry_run {
        None
    } else {
        write(&options.output, &text)?;
        Some(options.output.clone())
    };
    Ok(Written {
        project: chosen.name,
        services: draft.services.len(),
        checks: draft.check_count(),
        text,
        path,
        notes,
    })
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// The project named, else the only one running, else the one the
/// operator picks on a terminal.
fn choose(running: &[Running], named: Option<&str>, endpoint: &str) -> Result<Running, Error> {
    let listed = || {
        running
            .iter()
            .map(|r| {
                format!(
                    "{} ({}{})",
                    r.name,
                    crate::ui::human::count(r.containers, "container"),
                    if r.stack { ", Swarm stack" } else { "" }
                )
            })
            .collect::<Vec<_>>()
    };
    if let Some(name) = named {
        return running
            .iter()
            .find(|r| r.name == name)
            .cloned()
            .ok_or_else(|| {
                let known = if running.is_empty() {
                    "none runs".to_string()
                } else {
                    format!("running: {}", listed().join(", "))
                };
                Error::Usage(format!(
                    "no compose project or Swarm stack `{name}` runs on {endpoint} ({known})"
                ))
            });
    }
    match running {
        [] => Err(Error::Usage(format!(
            "no compose project or Swarm stack runs on {endpoint}: start it first (`docker compose up -d`), then run opsbook init"
        ))),
        [only] => Ok(only.clone()),
        several => crate::ui::confirm::choose("several projects run here", &listed())
            .map(|n| several[n].clone())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{} projects run on {endpoint}: {}; name one with --project",
                    several.len(),
                    listed().join(", ")
                ))
            }),
    }
}

/// Each service understood: its kind and recipe, its endpoints (asked
/// concurrently), its volumes, its dependencies; and the notes.
async fn understand(chosen: &Running, surveyed: Vec<Surveyed>) -> (Draft, Vec<String>) {
    let dependencies = if chosen.stack {
        compose::Dependencies {
            source: Err("a Swarm stack's containers do not name its stack file".into()),
            ..compose::Dependencies::default()
        }
    } else {
        compose::dependencies(&surveyed)
    };
    let kinds: Vec<_> = surveyed.iter().map(recognise::recognise).collect();
    let probes = surveyed.iter().zip(&kinds).map(|(s, kind)| {
        let http = kind.is_none_or(|(k, _)| k.speaks_http());
        endpoints::endpoints(&s.ports, http)
    });
    let endpoints = join_all(probes).await;
    let names: Vec<&str> = surveyed.iter().map(|s| s.service.as_str()).collect();
    let mut notes = Vec::new();
    let mut services = Vec::new();
    for ((s, kind), endpoints) in surveyed.iter().zip(kinds).zip(endpoints) {
        let mut depends_on = dependencies
            .by_service
            .get(&s.service)
            .cloned()
            .unwrap_or_default();
        depends_on.retain(|d| names.contains(&d.as_str()));
        let service = ServiceDraft {
            name: s.service.clone(),
            depends_on,
            healthcheck: shown_healthcheck(s.healthcheck.as_deref()),
            kind,
            recipe: kind
                .map(|(k, _)| recognise::recipe(k, &s.env_names))
                .unwrap_or_default(),
            endpoints,
            volumes: volumes(s),
            binds: binds(s),
            secret_names: s
                .env_names
                .iter()
                .filter(|n| crate::redact::looks_secret(n))
                .cloned()
                .collect(),
            critical: false,
        };
        notes.extend(undecided(&service, s));
        services.push(service);
    }
    for index in 0..services.len() {
        let name = services[index].name.clone();
        services[index].critical = services.iter().any(|s| s.depends_on.contains(&name));
    }
    in_tiers(&mut services);
    let source = match &dependencies.source {
        Ok(files) if !files.is_empty() => format!(
            "and {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Ok(_) => "and their labels".into(),
        Err(why) => {
            notes.push(format!(
                "no depends_on read: {why}; every service starts in one tier"
            ));
            "their compose files unread".into()
        }
    };
    let draft = Draft {
        project: chosen.name.clone(),
        stack: chosen.stack,
        source,
        services,
    };
    (draft, notes)
}

/// The services in startup order: each after what it depends on, by name
/// within a tier (a cycle, which compose refuses, is left as it is).
fn in_tiers(services: &mut [ServiceDraft]) {
    let mut tier: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for _ in 0..services.len() {
        for s in services.iter() {
            let depth = s
                .depends_on
                .iter()
                .map(|d| tier.get(d).map_or(1, |t| t + 1))
                .max()
                .unwrap_or(0);
            tier.insert(s.name.clone(), depth.min(services.len()));
        }
    }
    services.sort_by_key(|s| (tier.get(&s.name).copied().unwrap_or(0), s.name.clone()));
}

/// `["CMD-SHELL", "pg_isready"]` as `pg_isready`.
fn shown_healthcheck(test: Option<&[String]>) -> Option<String> {
    let test = test?;
    Some(match test.first().map(String::as_str) {
        Some("CMD-SHELL") => test[1..].join(" "),
        Some("CMD") => test[1..].join(" "),
        _ => test.join(" "),
    })
}

/// Named volumes as the runbook names them (the compose name within the
/// project, else the engine's) and where they are mounted.
fn volumes(s: &Surveyed) -> Vec<(String, String)> {
    s.mounts
        .iter()
        .filter_map(|m| match m {
            Mounted::Volume {
                name,
                compose_name,
                destination,
            } => Some((
                compose_name.clone().unwrap_or_else(|| name.clone()),
                destination.clone(),
            )),
            Mounted::Bind { .. } => None,
        })
        .collect()
}

fn binds(s: &Surveyed) -> Vec<(String, String)> {
    s.mounts
        .iter()
        .filter_map(|m| match m {
            Mounted::Bind {
                source,
                destination,
            } => Some((source.clone(), destination.clone())),
            Mounted::Volume { .. } => None,
        })
        .collect()
}

/// What init could not decide about `service`, one line each.
fn undecided(service: &ServiceDraft, s: &Surveyed) -> Vec<String> {
    let mut notes = Vec::new();
    let name = &service.name;
    let http_answer = service
        .endpoints
        .iter()
        .any(|e| matches!(e, Endpoint::Http { .. }));
    if service.healthcheck.is_none() {
        let endpoint = match (s.ports.is_empty(), http_answer) {
            (true, _) => ", no published port".to_string(),
            (false, true) => String::new(),
            (false, false) => ", no HTTP answer".to_string(),
        };
        notes.push(format!(
            "{name}: no healthcheck{endpoint} (startup counts it ready once it runs; add a healthcheck to its compose service)"
        ));
    }
    for endpoint in &service.endpoints {
        if let Endpoint::Tcp { why: Some(why), .. } = endpoint {
            notes.push(format!("{name}: {why}: a tcp check instead"));
        }
    }
    if service.kind.is_none() && !service.volumes.is_empty() {
        let volumes: Vec<&str> = service.volumes.iter().map(|(v, _)| v.as_str()).collect();
        notes.push(format!(
            "{name}: software not recognised ({}): its volumes {} are copied as files; if it is a database, add a dump (backup.dumps)",
            s.image,
            volumes.join(", ")
        ));
    }
    notes
}

/// Writes `text` to `path` whole or not at all: a file beside it, renamed
/// over it.
fn write(path: &Path, text: &str) -> Result<(), Error> {
    let failed = |source| Error::File {
        path: path.to_path_buf(),
        action: "write",
        source,
    };
    let name = path
        .file_name()
        .map_or("opsbook.yaml".into(), |n| n.to_string_lossy().into_owned());
    let staged = path.with_file_name(format!(".{name}.opsbook-init"));
    std::fs::write(&staged, text).map_err(failed)?;
    std::fs::rename(&staged, path).map_err(|e| {
        let _ = std::fs::remove_file(&staged);
        failed(e)
    })
}
