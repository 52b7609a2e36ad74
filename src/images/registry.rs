//! The Docker Registry HTTP API v2, as far as daily-check needs it: the
//! digest a tag points to now (a HEAD of its manifest, which costs no pull
//! and, on Docker Hub, no pull of the rate limit) and the repository's tags.
//! A registry that wants a login says so in its challenge: HTTP Basic
//! (distribution's htpasswd) is answered with the login, a Bearer challenge
//! (Docker Hub, GHCR, GitLab) with a token fetched from its realm, with the
//! login when there is one. Logins are the Docker CLI's (`auths` of
//! `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), never shown.
//! Every request has a deadline, every body a cap.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use reqwest::header::{ACCEPT, HeaderMap, WWW_AUTHENTICATE};

use super::reference::Reference;

/// The manifest kinds a tag may point to, as the engine asks for them.
const MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";
/// The most of a token or tag list read.
const BODY_CAP: usize = 1024 * 1024;

/// A login for one registry.
#[derive(Clone)]
struct Login {
    user: String,
    password: String,
}

/// Asks registries, with the logins the Docker CLI has.
pub(super) struct Registries {
    client: reqwest::Client,
    logins: BTreeMap<String, Login>,
}

impl Registries {
    /// With `timeout` per request and the CLI's logins (none readable: none).
    pub(super) fn new(timeout: Duration) -> Result<Registries, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("opsbook/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| crate::error::one_line(&e))?;
        Ok(Registries {
            client,
            logins: logins(),
        })
    }

    /// The digest `reference`'s tag points to in its registry now.
    pub(super) async fn digest(&self, reference: &Reference) -> Result<String, String> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            reference.api_base(),
            reference.repository,
            reference.tag
        );
        let response = self.send(reference, reqwest::Method::HEAD, &url).await?;
        let digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|d| d.starts_with("sha256:"))
            .map(str::to_string);
        digest.ok_or_else(|| format!("{url} gave no Docker-Content-Digest"))
    }

    /// The tags of `reference`'s repository.
    pub(super) async fn tags(&self, reference: &Reference) -> Result<Vec<String>, String> {
        let url = format!(
            "{}/v2/{}/tags/list?n=10000",
            reference.api_base(),
            reference.repository
        );
        let response = self.send(reference, reqwest::Method::GET, &url).await?;
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let body = capped(response).await?;
        let tags: Tags =
            serde_json::from_slice(&body).map_err(|e| format!("{url}: not a tag list: {e}"))?;
        Ok(tags.tags.unwrap_or_default())
    }

    /// `method` on `url`, answering the registry's login challenge once.
    async fn send(
        &self,
        reference: &Reference,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::Response, String> {
        let request = || {
            self.client
                .request(method.clone(), url)
                .header(ACCEPT, MANIFESTS)
        };
        let failed =
            |e: reqwest::Error| format!("{}: {}", reference.registry, crate::error::one_line(&e));
        let first = request().send().await.map_err(failed)?;
        let response = if first.status() == reqwest::StatusCode::UNAUTHORIZED {
            let login = self.logins.get(&reference.registry).cloned();
            match challenge(first.headers()) {
                Some(Challenge::Basic) => {
                    let Some(login) = login else {
                        return Err(no_login(reference));
                    };
                    request()
                        .basic_auth(login.user, Some(login.password))
                        .send()
                        .await
                        .map_err(failed)?
                }
                Some(Challenge::Bearer(params)) => {
                    let token = self.token(reference, &params, login).await?;
                    request().bearer_auth(token).send().await.map_err(failed)?
                }
                None => return Err(format!("{url}: 401 without a challenge opsbook can answer")),
            }
        } else {
            first
        };
        match response.status() {
            status if status.is_success() => Ok(response),
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => Err(format!(
                "{}: the login was refused ({})",
                reference.registry,
                response.status()
            )),
            reqwest::StatusCode::NOT_FOUND => Err(format!(
                "{} has no {}:{}",
                reference.registry, reference.repository, reference.tag
            )),
            status => Err(format!("{url}: {status}")),
        }
    }

    /// A Bearer token from the challenge's realm, for pulling the repository.
    async fn token(
        &self,
        reference: &Reference,
        params: &BTreeMap<String, String>,
        login: Option<Login>,
    ) -> Result<String, String> {
        let realm = params
            .get("realm")
            .ok_or_else(|| format!("{}: a Bearer challenge without a realm", reference.registry))?;
        let scope = params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("repository:{}:pull", reference.repository));
        let mut query = vec![("scope", scope)];
        if let Some(service) = params.get("service") {
            query.push(("service", service.clone()));
        }
        let mut request = self.client.get(realm).query(&query);
        if let Some(login) = login {
            request = request.basic_auth(login.user, Some(login.password));
        }
        let response = request.send().await.map_err(|e| {
            format!(
                "{}'s token service: {}",
                reference.registry,
                crate::error::one_line(&e)
            )
        })?;
        if !response.status().is_success() {
            return Err(match response.status() {
                reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => {
                    no_login(reference)
                }
                status => format!("{}'s token service: {status}", reference.registry),
            });
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = capped(response).await?;
        let token: Token = serde_json::from_slice(&body)
            .map_err(|e| format!("{}'s token service: {e}", reference.registry))?;
        token
            .token
            .or(token.access_token)
            .ok_or_else(|| format!("{}'s token service gave no token", reference.registry))
    }
}

/// What a refused request without a login says.
fn no_login(reference: &Reference) -> String {
    format!(
        "{} wants a login and the Docker CLI has none for it (`docker login {}`, or DOCKER_CONFIG)",
        reference.registry, reference.registry
    )
}

/// The challenge of a 401.
enum Challenge {
    Basic,
    Bearer(BTreeMap<String, String>),
}

fn challenge(headers: &HeaderMap) -> Option<Challenge> {
    let value = headers.get(WWW_AUTHENTICATE)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer(params(rest))),
        _ => None,
    }
}

/// `realm="…",service="…",scope="…"` as a map.
fn params(text: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((value, next)) => (value.to_string(), next),
                None => (quoted.to_string(), ""),
            },
            None => match after.split_once(',') {
                Some((value, next)) => (value.to_string(), next),
                None => (after.to_string(), ""),
            },
        };
        found.insert(key, value);
        rest = next.trim_start_matches(',').trim();
    }
    found
}

/// The body, up to `BODY_CAP` bytes (more is an error).
async fn capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| crate::error::one_line(&e))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > BODY_CAP {
            return Err(format!(
                "{}: an answer over {BODY_CAP} bytes",
                response.url()
            ));
        }
    }
    Ok(body)
}

/// The Docker CLI's logins by registry host (`auths` of its config.json:
/// `auth` as base64 `user:password`, or `username` and `password`).
fn logins() -> BTreeMap<String, Login> {
    let path = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => std::path::PathBuf::from(dir).join("config.json"),
        None => match std::env::var_os("HOME") {
            Some(home) => std::path::PathBuf::from(home).join(".docker/config.json"),
            None => return BTreeMap::new(),
        },
    };
    let Ok(text) = std::fs::read(&path) else {
        return BTreeMap::new();
    };
    read_logins(&text)
}

fn read_logins(text: &[u8]) -> BTreeMap<String, Login> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        auths: BTreeMap<String, Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        auth: Option<String>,
        username: Option<String>,
        password: Option<String>,
    }
    let Ok(config) = serde_json::from_slice::<Config>(text) else {
        return BTreeMap::new();
    };
    let mut logins = BTreeMap::new();
    for (key, entry) in config.auths {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        // Docker Hub's login is kept under its old index address.
        let host = match host {
            "index.docker.io" | "registry-1.docker.io" => "docker.io",
            other => other,
        };
        let login = match (entry.auth, entry.username, entry.password) {
            (Some(auth), _, _) => base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|text| {
                    let (user, password) = text.split_once(':')?;
                    Some(Login {
                        user: user.to_string(),
                        password: password.to_string(),
                    })
                }),
            (None, Some(user), Some(password)) => Some(Login { user, password }),
            _ => None,
        };
        if let Some(login) = login {
            logins.insert(host.to_string(), login);
        }
    }
    logins
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_challenge_is_read_whole() {
        let read = params(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(read["realm"], "https://auth.docker.io/token");
        assert_eq!(read["service"], "registry.docker.io");
        assert_eq!(read["scope"], "repository:library/nginx:pull");
    }

    #[test]
    fn the_docker_clis_logins_are_read_by_host() {
        let text = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpzM2NyM3Q="},
            "127.0.0.1:5000": {"username": "ci", "password": "pw"},
            "ghcr.io": {}
        }, "credsStore": "desktop"}"#;
        let logins = read_logins(text);
        assert_eq!(logins.len(), 2);
        assert_eq!(logins["docker.io"].user, "user");
        assert_eq!(logins["docker.io"].password, "s3cr3t");
        assert_eq!(logins["127.0.0.1:5000"].user, "ci");
    }
}
