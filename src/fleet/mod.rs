//! The fleet: every Docker host an operator looks after, in one file
//! (`--fleet FILE`, else `$OPSBOOK_FLEET`), each with its Docker endpoint,
//! its runbook (relative to the fleet file) and its groups. Read like a
//! runbook: every problem at once, each with its line, column and field,
//! exit 3. `--limit` picks hosts by name, group or glob (`select`).

mod context;
pub(crate) mod fanout;
pub(crate) mod list;
pub(crate) mod over;
pub(crate) mod rollout;
mod select;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::error::{Error, Problem};

pub(crate) use select::select;

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
pub(crate) struct Fleet {
    /// As given, for messages.
    pub display: String,
    pub hosts: Vec<Host>,
}

#[derive(Debug, Clone)]
pub(crate) struct Host {
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
    pub(crate) fn engine(&self) -> crate::docker::Engine {
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
    pub(crate) fn reached(&self) -> String {
        match &self.context {
            Some(context) => format!("{} (context {context})", self.docker),
            None => self.docker.to_string(),
        }
    }
}

/// How a host's engine is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
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
pub(crate) fn discover(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| {
        std::env::var_os("OPSBOOK_FLEET")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// The fleet a command runs over: `--fleet`, or `$OPSBOOK_FLEET` when no
/// `--runbook` names one host's runbook.
pub(crate) fn for_command(flag: Option<PathBuf>, runbook_flag: bool) -> Option<PathBuf> {
    match flag {
        Some(path) => Some(path),
        None if runbook_flag => None,
        None => discover(None),
    }
}

/// Reads and checks the fleet file: every problem at once.
pub(crate) fn load(path: &Path) -> Result<Fleet, Error> {
    let display = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Usage(format!("cannot read the fleet file {display}: {e}")))?;
    let text = String::from_utf8_lossy(&bytes);
    let (written, _, problems) = crate::runbook::collect::<Written>(&text, &display);
    let Some(written) = written else {
        return Err(Error::RunbookInvalid { problems });
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut problems = Problems {
        file: display.clone(),
        text: text.to_string(),
        found: problems,
    };
    problems.version(&written.version);
    if written.hosts.is_empty() {
        problems.at(None, "hosts".into(), "the fleet has no host".into());
    }
    let fleet_file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut hosts = Vec::new();
    for (name, host) in &written.hosts {
        if let Some(host) = problems.host(name, host, dir, &fleet_file) {
            hosts.push(host);
        }
    }
    let mut problems = problems.found;
    if !problems.is_empty() {
        problems.sort_by_key(|p| (p.line, p.column));
        return Err(Error::RunbookInvalid { problems });
    }
    Ok(Fleet { display, hosts })
}

/// Where a spanned value is written: its line and column.
fn place(name: &Name) -> Option<(u64, u64)> {
    Some((name.referenced.line(), name.referenced.column()))
}

/// The problems found in the fleet file so far, each with its place.
struct Problems {
    /// The fleet file, as given.
    file: String,
    /// Its text, where a key (a host's name) is looked for.
    text: String,
    found: Vec<Problem>,
}

impl Problems {
    /// A problem at `value`'s line and column (`None`: no place).
    fn at(&mut self, value: Option<(u64, u64)>, field: String, message: String) {
        let (line, column) = value.unwrap_or((0, 0));
        self.found.push(Problem {
            file: self.file.clone(),
            line,
            column,
            field,
            message,
        });
    }

    fn version(&mut self, version: &Spanned<u32>) {
        if version.value != 1 {
            let v = version;
            self.at(
                Some((v.referenced.line(), v.referenced.column())),
                "version".into(),
                format!(
                    "unsupported version `{}`: this opsbook reads version 1",
                    v.value
                ),
            );
        }
    }

    /// One host as written, checked: the host, unless its engine is not
    /// one (its problems are found then too).
    fn host(
        &mut self,
        name: &str,
        host: &WrittenHost,
        dir: &Path,
        fleet_file: &Path,
    ) -> Option<Host> {
        let field = format!("hosts.{name}");
        self.names(name, &host.groups, &field);
        let runbook = self.runbook(&host.runbook, dir, &field);
        let docker = self.engine(host, dir, &field);
        if let (Some(tls), Some(docker)) = (&host.tls, &host.docker)
            && !docker.value.starts_with("tcp://")
        {
            self.at(
                place(tls),
                format!("{field}.tls"),
                "TLS files are for a tcp:// engine".into(),
            );
        }
        let ssh_config = self.ssh_config(host, docker.as_ref(), dir, &field);
        let docker = docker?;
        Some(Host {
            name: name.to_string(),
            fleet_file: fleet_file.to_path_buf(),
            docker,
            context: host.context.as_ref().map(|c| c.value.clone()),
            ssh_config,
            runbook,
            groups: host.groups.iter().map(|g| g.value.clone()).collect(),
        })
    }

    /// The host's name and its groups' names: plain, as folders' names.
    fn names(&mut self, name: &str, groups: &[Name], field: &str) {
        let at = crate::runbook::locate_key(&self.text, &["hosts", name]);
        let shown = crate::ui::human::printable(name);
        if name.chars().count() > MAX_NAME {
            let start: String = shown.chars().take(20).collect();
            self.at(
                at,
                format!("hosts.{start}…"),
                format!(
                    "`{start}…` is {} characters long: a host name is at most {MAX_NAME} (it names a folder of the state folder)",
                    name.chars().count()
                ),
            );
        } else if !plain_name(name) {
            self.at(
                at,
                field.to_string(),
                format!(
                    "`{shown}`: a host name is letters, digits, `.`, `_` and `-` (not `.` or `..`)"
                ),
            );
        }
        for group in groups {
            if !plain_name(&group.value) {
                self.at(
                    place(group),
                    format!("{field}.groups"),
                    format!(
                        "`{}`: a group name is letters, digits, `.`, `_` and `-`",
                        group.value
                    ),
                );
            }
        }
    }

    /// The host's runbook, resolved against the fleet file's folder; it
    /// must be there.
    fn runbook(&mut self, written: &Name, dir: &Path, field: &str) -> PathBuf {
        // `./shop/opsbook.yaml` reads better without its `.` in every message.
        let runbook: PathBuf = dir
            .join(&written.value)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        if !runbook.is_file() {
            self.at(
                place(written),
                format!("{field}.runbook"),
                format!("no runbook at {}", runbook.display()),
            );
        }
        runbook
    }

    /// The host's engine: its `docker` endpoint or its `context`, exactly
    /// one of them.
    fn engine(&mut self, host: &WrittenHost, dir: &Path, field: &str) -> Option<Endpoint> {
        match (&host.docker, &host.context) {
            (Some(_), Some(context)) => {
                self.at(
                    place(context),
                    format!("{field}.context"),
                    "a host is reached by `docker` or by `context`, not both".into(),
                );
                None
            }
            (None, None) => {
                self.at(None, field.to_string(), "no engine: give `docker: unix:///var/run/docker.sock` (or tcp://, ssh://) or `context: NAME`".into());
                None
            }
            (None, Some(context)) => match context::resolve(&context.value) {
                Ok(endpoint) => Some(endpoint),
                Err(message) => {
                    self.at(place(context), format!("{field}.context"), message);
                    None
                }
            },
            (Some(docker), None) => {
                match endpoint(&docker.value, host.tls.as_ref().map(|t| dir.join(&t.value))) {
                    Ok(endpoint) => Some(endpoint),
                    Err(message) => {
                        self.at(place(docker), format!("{field}.docker"), message);
                        None
                    }
                }
            }
        }
    }

    /// The host's ssh config, resolved: only for an ssh:// engine, and it
    /// must be there.
    fn ssh_config(
        &mut self,
        host: &WrittenHost,
        docker: Option<&Endpoint>,
        dir: &Path,
        field: &str,
    ) -> Option<PathBuf> {
        let ssh_config = host.ssh_config.as_ref().map(|c| dir.join(&c.value));
        if let Some(config) = &host.ssh_config {
            if !matches!(docker, Some(Endpoint::Ssh(_)) | None) {
                self.at(
                    place(config),
                    format!("{field}.ssh_config"),
                    "an ssh config is for an ssh:// engine".into(),
                );
            } else if ssh_config.as_ref().is_some_and(|c| !c.is_file()) {
                self.at(
                    place(config),
                    format!("{field}.ssh_config"),
                    format!("no ssh config at {}", dir.join(&config.value).display()),
                );
            }
        }
        ssh_config
    }
}

/// The longest host name: it becomes a folder's (`<state>/hosts/<name>`).
const MAX_NAME: usize = 100;

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
