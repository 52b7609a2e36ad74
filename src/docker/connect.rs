//! Connecting to an engine: over its socket, over TCP with TLS, or
//! through an ssh login, the API version negotiated, within a time limit;
//! a failure names the endpoint it tried.

use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;

use super::labels::Labels;
use super::{Deployment, Engine, ssh};
use crate::error::Error;

/// How long a command waits for the engine to answer at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Over ssh: the first answer also waits for `docker system dial-stdio`
/// to start on the host, after the login (which has `CONNECT_TIMEOUT`).
const SSH_ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

impl Deployment {
    /// Connects to the engine `$DOCKER_HOST` names (else the local socket),
    /// as the docker CLI would (`Engine::from_env`).
    pub(crate) async fn connect(project: Option<String>) -> Result<Deployment, Error> {
        Deployment::connect_to(&Engine::from_env(), project).await
    }

    /// Connects to `engine`, negotiating the API version, within 5
    /// seconds. A failure names the endpoint it tried. `tcp://` with TLS
    /// verifies the engine against the CA; `ssh://` logs in with the
    /// system's ssh (`ssh`).
    pub(crate) async fn connect_to(
        engine: &Engine,
        project: Option<String>,
    ) -> Result<Deployment, Error> {
        let endpoint = engine.host.clone();
        let unreachable = |reason: String| Error::DockerUnreachable {
            endpoint: endpoint.clone(),
            reason,
        };
        let (docker, login) = if endpoint.starts_with("ssh://") {
            let engine = ssh::login(&endpoint, engine.ssh_config.as_deref(), CONNECT_TIMEOUT)
                .await
                .map_err(unreachable)?;
            (engine.docker.clone(), Some(engine))
        } else if let (Some(certs), true) = (&engine.tls, endpoint.starts_with("tcp://")) {
            let docker = Docker::connect_with_ssl(
                &endpoint,
                &certs.join("key.pem"),
                &certs.join("cert.pem"),
                &certs.join("ca.pem"),
                120,
                bollard::API_DEFAULT_VERSION,
            )
            .map_err(|e| unreachable(crate::error::one_line(&e)))?;
            (docker, None)
        } else {
            let docker = Docker::connect_with_host(&endpoint)
                .map_err(|e| unreachable(crate::error::one_line(&e)))?;
            (docker, None)
        };
        let answer_within = if login.is_some() {
            SSH_ANSWER_TIMEOUT
        } else {
            CONNECT_TIMEOUT
        };
        let docker = match tokio::time::timeout(answer_within, docker.negotiate_version()).await {
            Ok(Ok(docker)) => docker,
            Ok(Err(e)) => {
                let mut reason = crate::error::one_line(&e);
                if let Some(why) = match &login {
                    Some(login) => login.why_not().await,
                    None => None,
                } {
                    reason = format!("{reason}; {why}");
                }
                return Err(unreachable(reason));
            }
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {}s",
                    answer_within.as_secs()
                )));
            }
        };
        Ok(Deployment {
            docker,
            endpoint,
            project,
            labels: Labels::Compose,
            nodes: Arc::default(),
            _login: login,
        })
    }
}
