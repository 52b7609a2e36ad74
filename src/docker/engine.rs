//! Which engine a deployment is on: as the docker CLI's variables name it
//! (`DOCKER_HOST`, `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`), or as a fleet
//! host gives it, and the variables that hand it on to a run of its own.

use std::ffi::OsString;
use std::path::PathBuf;

use super::ssh::CONFIG_VARIABLE;

/// The local engine, when nothing names another.
const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Engine {
    /// `unix:///…`, `tcp://host:port`, `ssh://user@host[:port]`.
    pub host: String,
    /// For tcp: TLS, verified with the `ca.pem`, `cert.pem` and `key.pem` here.
    pub tls: Option<PathBuf>,
    /// For ssh: the ssh config file to use instead of `~/.ssh/config`.
    pub ssh_config: Option<PathBuf>,
}

impl Engine {
    /// The engine this process's variables name, else the local socket.
    pub(crate) fn from_env() -> Engine {
        let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let host = set("DOCKER_HOST")
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        // As the docker CLI: DOCKER_TLS_VERIFY turns TLS on, the files are
        // in DOCKER_CERT_PATH, else ~/.docker.
        let tls = set("DOCKER_TLS_VERIFY").map(|_| match set("DOCKER_CERT_PATH") {
            Some(dir) => PathBuf::from(dir),
            None => set("HOME")
                .map(|home| PathBuf::from(home).join(".docker"))
                .unwrap_or_else(|| PathBuf::from(".docker")),
        });
        Engine {
            host,
            tls,
            ssh_config: set(CONFIG_VARIABLE).map(PathBuf::from),
        }
    }

    /// Whether it runs on another machine (reached by ssh, or by tcp to
    /// other than loopback): its host's figures are then measured there,
    /// and this machine's files are not its host's.
    pub(crate) fn is_remote(&self) -> bool {
        if self.host.starts_with("unix://") {
            return false;
        }
        let Some(address) = ["tcp://", "http://", "https://"]
            .iter()
            .find_map(|scheme| self.host.strip_prefix(scheme))
        else {
            return true;
        };
        let name = match address.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => address.split([':', '/']).next().unwrap_or_default(),
        };
        let loopback = name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
        !(loopback || name == "localhost")
    }

    /// The variables a child process needs to reach it, and those of this
    /// process's own engine it must not inherit (`None`: removed).
    pub(crate) fn env(&self) -> Vec<(&'static str, Option<OsString>)> {
        vec![
            ("DOCKER_HOST", Some(self.host.clone().into())),
            ("DOCKER_TLS_VERIFY", self.tls.as_ref().map(|_| "1".into())),
            (
                "DOCKER_CERT_PATH",
                self.tls.as_ref().map(|d| d.clone().into_os_string()),
            ),
            ("DOCKER_CONTEXT", None),
            (
                CONFIG_VARIABLE,
                self.ssh_config.as_ref().map(|c| c.clone().into_os_string()),
            ),
        ]
    }
}

/// Whether the engine this process's variables name runs on another machine.
pub(crate) fn engine_is_remote() -> bool {
    Engine::from_env().is_remote()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_is_remote_unless_on_a_socket_or_loopback() {
        for (host, remote) in [
            ("unix:///var/run/docker.sock", false),
            ("tcp://127.0.0.1:2375", false),
            ("tcp://localhost:2376", false),
            ("tcp://[::1]:2376", false),
            ("tcp://10.0.0.5:2376", true),
            ("tcp://docker.example.com:2376", true),
            ("ssh://ops@erp.example.com", true),
        ] {
            let engine = Engine {
                host: host.into(),
                tls: None,
                ssh_config: None,
            };
            assert_eq!(engine.is_remote(), remote, "{host}");
        }
    }
}
