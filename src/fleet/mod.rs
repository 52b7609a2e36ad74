//! The fleet: every Docker host an operator looks after, in one file
//! (`--fleet FILE`, else `$OPSBOOK_FLEET`), each with its Docker endpoint,
//! its runbook (relative to the fleet file) and its groups. Read like a
//! runbook: every problem at once, each with its line, column and field,
//! exit 3. `--limit` picks hosts by name, group or glob (`select`).

mod context;
pub mod fanout;
pub mod list;
pub mod over;
pub mod rollout;
mod select;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::error::{Error, Problem};

pub use select::select;

type Name = Spanned<String>;

/// The fleet file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    version: Spanned<u32>,
    hosts: IndexMap<String, WrittenHost>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrittenHost {
    /// `unix:///var/run/docker.sock`, `tcp://host:2376`, `ssh://user@host[:port]`.
    docker: Option<Name>,
    /// For `tcp://`: the folder of `ca.pem`, `cert.pem` and `key.pem`, as Docker keeps them.
    tls: Option<Name>,
    /// A Docker context by name, instead of `docker`.
    context: Option<Name>,
    /// For `ssh://`: an ssh config file to use instead of `~/.ssh/config`.
    ssh_config: Option<Name>,
    runbook: Name,
    #[serde(default)]
    groups: Vec<Name>,
}

/// The fleet, checked.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// As given, for messages.
    pub display: String,
    pub hosts: Vec<Host>,
}

#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub docker: Endpoint,
    /// The Docker context it was given as, when it was.
    pub context: Option<String>,
    /// For an `ssh://` engine: the ssh config file to use.
    pub ssh_config: Option<PathBuf>,
    /// The fleet file it is listed in (absolute): a swarm manager's run
    /// finds the other nodes' engines there.
    pub fleet_file: PathBuf,
    /// The runbook's path, resolved against the fleet file's folder.
    pub runbook: PathBuf,
    pub groups: Vec<String>,
}

impl Host {
    /// Its engine, as the docker module reaches one.
    pub fn engine(&self) -> crate::docker::Engine {
        let (host, tls) = match &self.docker {
            Endpoint::Plain(url) | Endpoint::Ssh(url) => (url.clone(), None),
            Endpoint::Tls { url, certs } => (url.clone(), Some(certs.clone())),
        };
        crate::docker::Engine {
            host,
            tls,
            ssh_config: self.ssh_config.clone(),
        }
    }

    /// How its engine is reached, for the inventory: the endpoint, and the
    /// context it came from.
    pub fn reached(&self) -> String {
        match &self.context {
            Some(context) => format!("{} (context {context})", self.docker),
            None => self.docker.to_string(),
        }
    }
}

/// How a host's engine is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix://PATH`: `DOCKER_HOST` as it is.
    Plain(String),
    /// `tcp://…` with Docker's TLS files.
    Tls {
        url: String,
        certs: PathBuf,
    },
    Ssh(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Plain(url) | Endpoint::Ssh(url) => f.write_str(url),
            Endpoint::Tls { url, .. } => write!(f, "{url} (TLS)"),
        }
    }
}

/// The fleet file named by `--fleet`, else `$OPSBOOK_FLEET`; None when neither.
pub fn discover(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| {
        std::env::var_os("OPSBOOK_FLEET")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// The fleet a command runs over: `--fleet`, or `$OPSBOOK_FLEET` when no
/// `--runbook` names one host's runbook.
pub fn for_command(flag: Option<PathBuf>, runbook_flag: bool) -> Option<PathBuf> {
    match flag {
        Some(path) => Some(path),
        None if runbook_flag => None,
        None => discover(None),
    }
}

/// Reads and checks the fleet file: every problem at once.
pub fn load(path: &Path) -> Result<Fleet, Error> {
    let display = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Usage(format!("cannot read the fleet file {display}: {e}")))?;
    let text = String::from_utf8_lossy(&bytes);
    let (written, _, mut problems) = crate::runbook::collect::<Written>(&text, &display);
    let Some(written) = written else {
        return Err(Error::RunbookInvalid { problems });
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut at = |value: Option<(u64, u64)>, field: String, message: String| {
        let (line, column) = value.unwrap_or((0, 0));
        problems.push(Problem {
            file: display.clone(),
            line,
            column,
            field,
            message,
        });
    };
    let place = |name: &Name| Some((name.referenced.line(), name.referenced.column()));
    if written.version.value != 1 {
        let v = &written.version;
        at(
            Some((v.referenced.line(), v.referenced.column())),
            "version".into(),
            format!(
                "unsupported version `{}`: this opsbook reads version 1",
                v.value
            ),
        );
    }
    if written.hosts.is_empty() {
        at(None, "hosts".into(), "the fleet has no host".into());
    }
    let fleet_file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut hosts = Vec::new();
    for (name, host) in &written.hosts {
        let field = format!("hosts.{name}");
        if !plain_name(name) {
            at(
                None,
                field.clone(),
                format!(
                    "`{name}`: a host name is letters, digits, `.`, `_` and `-` (not `.` or `..`)"
                ),
            );
        }
        for group in &host.groups {
            if !plain_name(&group.value) {
                at(
                    place(group),
                    format!("{field}.groups"),
                    format!(
                        "`{}`: a group name is letters, digits, `.`, `_` and `-`",
                        group.value
                    ),
                );
            }
        }
        // `./shop/opsbook.yaml` reads better without its `.` in every message.
        let runbook: PathBuf = dir
            .join(&host.runbook.value)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        if !runbook.is_file() {
            at(
                place(&host.runbook),
                format!("{field}.runbook"),
                format!("no runbook at {}", runbook.display()),
            );
        }
        let docker = match (&host.docker, &host.context) {
            (Some(_), Some(context)) => {
                at(
                    place(context),
                    format!("{field}.context"),
                    "a host is reached by `docker` or by `context`, not both".into(),
                );
                None
            }
            (None, None) => {
                at(None, field.clone(), "no engine: give `docker: unix:///var/run/docker.sock` (or tcp://, ssh://) or `context: NAME`".into());
                None
            }
            (None, Some(context)) => match context::resolve(&context.value) {
                Ok(endpoint) => Some(endpoint),
                Err(message) => {
                    at(place(context), format!("{field}.context"), message);
                    None
                }
            },
            (Some(docker), None) => {
                match endpoint(&docker.value, host.tls.as_ref().map(|t| dir.join(&t.value))) {
                    Ok(endpoint) => Some(endpoint),
                    Err(message) => {
                        at(place(docker), format!("{field}.docker"), message);
                        None
                    }
                }
            }
        };
        if let (Some(tls), Some(docker)) = (&host.tls, &host.docker)
            && !docker.value.starts_with("tcp://")
        {
            at(
                place(tls),
                format!("{field}.tls"),
                "TLS files are for a tcp:// engine".into(),
            );
        }
        let ssh_config = host.ssh_config.as_ref().map(|c| dir.join(&c.value));
        if let Some(config) = &host.ssh_config {
            if !matches!(docker, Some(Endpoint::Ssh(_)) | None) {
                at(
                    place(config),
                    format!("{field}.ssh_config"),
                    "an ssh config is for an ssh:// engine".into(),
                );
            } else if ssh_config.as_ref().is_some_and(|c| !c.is_file()) {
                at(
                    place(config),
                    format!("{field}.ssh_config"),
                    format!("no ssh config at {}", dir.join(&config.value).display()),
                );
            }
        }
        if let Some(docker) = docker {
            hosts.push(Host {
                name: name.clone(),
                fleet_file: fleet_file.clone(),
                docker,
                context: host.context.as_ref().map(|c| c.value.clone()),
                ssh_config,
                runbook,
                groups: host.groups.iter().map(|g| g.value.clone()).collect(),
            });
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| (p.line, p.column));
        return Err(Error::RunbookInvalid { problems });
    }
    Ok(Fleet { display, hosts })
}

fn plain_name(name: &str) -> bool {
    // A host's name becomes a folder's (`<state>/hosts/<name>`).
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A `docker:` value as an endpoint, or why it is not one.
pub(super) fn endpoint(url: &str, certs: Option<PathBuf>) -> Result<Endpoint, String> {
    if let Some(path) = url.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(format!(
                "`{url}`: a unix:// socket is an absolute path (unix:///var/run/docker.sock)"
            ));
        }
        return Ok(Endpoint::Plain(url.to_string()));
    }
    if let Some(rest) = url.strip_prefix("tcp://") {
        if rest.is_empty() || !rest.contains(':') {
            return Err(format!("`{url}`: give the host and port (tcp://host:2376)"));
        }
        return Ok(match certs {
            Some(certs) => {
                let missing: Vec<&str> = ["ca.pem", "cert.pem", "key.pem"]
                    .into_iter()
                    .filter(|f| !certs.join(f).is_file())
                    .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "`{url}`: the tls folder {} lacks {}",
                        certs.display(),
                        missing.join(", ")
                    ));
                }
                Endpoint::Tls {
                    url: url.to_string(),
                    certs,
                }
            }
            None => {
                return Err(format!(
                    "`{url}`: a tcp:// engine needs `tls:` (the folder of its ca.pem, cert.pem and key.pem): plain tcp gives root on that host to whoever reaches the port"
                ));
            }
        });
    }
    if url
        .strip_prefix("ssh://")
        .is_some_and(|rest| !rest.is_empty())
    {
        return Ok(Endpoint::Ssh(url.to_string()));
    }
    Err(format!(
        "`{url}` is not a Docker endpoint: unix:///PATH, tcp://HOST:PORT or ssh://USER@HOST[:PORT]"
    ))
}
