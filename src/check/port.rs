//! Port checks (the FDTS and Fulsk netstat audits): the TCP ports in LISTEN
//! on the host, or in a service's container (its `/proc/net/tcp` and
//! `tcp6`, read through an exec), against the ports expected. An expected
//! port not listening is crit; a listener nobody expected is a warn.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::docker::{ContainerRef, Deployment};
use crate::grade::{CheckResult, Status};
use crate::host::listeners;
use crate::runbook::model::PortCheck;
use crate::runbook::units;

use super::exec::{container_of, failed, unknown};
use super::value::Graded;
use super::{DEFAULT_TIMEOUT, Probe};

impl Probe<'_> {
    /// Runs a port check; one with `service:` needs Docker and the containers.
    pub(crate) async fn port(
        &self,
        name: &str,
        check: &PortCheck,
        docker: Option<(&Deployment, &[ContainerRef])>,
        hint: Option<&str>,
    ) -> CheckResult {
        let started = Instant::now();
        let listening = match (&check.service, docker) {
            (None, _) => tokio::task::spawn_blocking(listeners::listening)
                .await
                .map_err(|e| e.to_string())
                .and_then(|read| read.map_err(|e| e.to_string()))
                .map_err(|e| unknown(format!("cannot read /proc/net/tcp: {e}"))),
            (Some(_), None) => Err(unknown("Docker is unreachable".into())),
            (Some(service), Some((deployment, containers))) => {
                let timeout = check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
                in_container(deployment, containers, &service.value, timeout).await
            }
        };
        let expected: BTreeSet<u16> = check
            .expect
            .value
            .iter()
            .filter_map(|p| u16::try_from(p.value).ok())
            .collect();
        let graded = match listening {
            Ok(listening) => grade(&expected, &listening),
            Err(graded) => graded,
        };
        self.finish(name, graded, hint, started)
    }
}

/// The ports listening in the service's first running container.
async fn in_container(
    deployment: &Deployment,
    containers: &[ContainerRef],
    service: &str,
    timeout: std::time::Duration,
) -> Result<BTreeSet<u16>, Graded> {
    let (engine, container) = container_of(deployment, containers, service).await?;
    let deployment = engine.as_deref().unwrap_or(deployment);
    // One exec a table: each lists its listeners first, so a busy table
    // cut at the exec's output cap still holds them all.
    let read = |table: &'static str| async move {
        let argv = ["cat".to_string(), format!("/proc/net/{table}")];
        match tokio::time::timeout(timeout, deployment.exec(&container.id, &argv)).await {
            Err(_) => Err(failed(format!(
                "`cat /proc/net/{table}` in `{service}` gave no answer within {}",
                units::Duration(timeout)
            ))),
            Ok(Err(e)) => Err(failed(format!(
                "cannot read the listeners of `{service}`: {e}"
            ))),
            Ok(Ok(output)) if output.exit_code == Some(0) => Ok(Some(listeners::parse(
                &String::from_utf8_lossy(&output.stdout),
            ))),
            // No IPv6 in the container: its IPv4 table is the whole story.
            Ok(Ok(_)) if table == "tcp6" => Ok(None),
            Ok(Ok(output)) => Err(failed(format!(
                "cannot read the listeners of `{service}`: `cat /proc/net/{table}` exited {}: {}",
                output.exit_code.unwrap_or(-1),
                String::from_utf8_lossy(&output.stderr).trim()
            ))),
        }
    };
    let (v4, v6) = tokio::join!(read("tcp"), read("tcp6"));
    let mut ports = v4?.unwrap_or_default();
    ports.extend(v6?.unwrap_or_default());
    Ok(ports)
}

/// Missing ports crit, unexpected ones a warn; the message names them.
fn grade(expected: &BTreeSet<u16>, listening: &BTreeSet<u16>) -> Graded {
    let missing: Vec<u16> = expected.difference(listening).copied().collect();
    let extra: Vec<u16> = listening.difference(expected).copied().collect();
    let list = |ports: &[u16]| {
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("not listening: {}", list(&missing)));
    }
    if !extra.is_empty() {
        parts.push(format!("listening, not expected: {}", list(&extra)));
    }
    let status = if !missing.is_empty() {
        Status::Crit
    } else if !extra.is_empty() {
        Status::Warn
    } else {
        Status::Ok
    };
    let expected: Vec<u16> = expected.iter().copied().collect();
    let message = if parts.is_empty() {
        format!("listening: {}", list(&expected))
    } else {
        parts.join("; ")
    };
    Graded {
        status,
        message,
        figure: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ports_are_crit_and_strangers_a_warn() {
        let set = |ports: &[u16]| ports.iter().copied().collect::<BTreeSet<u16>>();
        let ok = grade(&set(&[80, 443]), &set(&[443, 80]));
        assert_eq!(
            (ok.status, ok.message.as_str()),
            (Status::Ok, "listening: 80, 443")
        );
        let both = grade(&set(&[80, 5432]), &set(&[80, 9000, 22]));
        assert_eq!(
            (both.status, both.message.as_str()),
            (
                Status::Crit,
                "not listening: 5432; listening, not expected: 22, 9000"
            )
        );
        let extra = grade(&set(&[80]), &set(&[80, 8080]));
        assert_eq!(extra.status, Status::Warn);
    }
}
