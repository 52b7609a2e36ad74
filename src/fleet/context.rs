//! A host given as a Docker context (`context: NAME`): read from the docker
//! CLI's own store, as `docker --context NAME` would, so the endpoint and
//! TLS files the operator set up with `docker context create` are used as
//! they are. The store is `$DOCKER_CONFIG/contexts`, else
//! `~/.docker/contexts`: `meta/<sha256 of the name>/meta.json` holds the
//! endpoint, `tls/<sha256>/docker/` its certificates.

use std::path::PathBuf;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Endpoint;

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "Endpoints")]
    endpoints: std::collections::HashMap<String, MetaEndpoint>,
}

#[derive(Deserialize)]
struct MetaEndpoint {
    #[serde(rename = "Host")]
    host: Option<String>,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// The docker CLI's configuration folder.
fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".docker"))
}

/// The endpoint of the context `name`, or why there is none.
pub(super) fn resolve(name: &str) -> Result<Endpoint, String> {
    if name == "default" {
        // The engine this process's own variables name, TLS included.
        let engine = crate::docker::Engine::from_env();
        return super::endpoint(&engine.host, engine.tls);
    }
    let Some(config) = config_dir() else {
        return Err("no docker config folder: set $DOCKER_CONFIG or $HOME".into());
    };
    // The folder is named by the sha256 of the context's name, in hex.
    let digest: String = Sha256::digest(name.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let meta_path = config.join("contexts/meta").join(&digest).join("meta.json");
    let text = match std::fs::read(&meta_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "no Docker context `{name}` in {} (`docker context ls` lists them)",
                config.join("contexts").display()
            ));
        }
        Err(e) => return Err(format!("cannot read {}: {e}", meta_path.display())),
    };
    let meta: Meta = serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not a context's meta.json: {e}", meta_path.display()))?;
    let Some(docker) = meta.endpoints.get("docker") else {
        return Err(format!(
            "the Docker context `{name}` has no docker endpoint"
        ));
    };
    let Some(host) = docker.host.as_deref().filter(|h| !h.is_empty()) else {
        return Err(format!("the Docker context `{name}` names no host"));
    };
    let tls = config.join("contexts/tls").join(&digest).join("docker");
    let certs = tls.join("ca.pem").is_file().then_some(tls);
    if docker.skip_tls_verify && host.starts_with("tcp://") {
        return Err(format!(
            "the Docker context `{name}` skips verifying the engine's certificate (SkipTLSVerify): opsbook verifies it; give the context its CA"
        ));
    }
    super::endpoint(host, certs).map_err(|e| format!("the Docker context `{name}`: {e}"))
}
