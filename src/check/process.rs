//! Process checks: a process of a command name (`node`, `postgres`) runs in
//! a service's container (`docker top`) or on the host (/proc). None is
//! crit; the message counts them.

use std::time::Instant;

use crate::docker::{ContainerRef, Deployment};
use crate::grade::{CheckResult, Status};
use crate::host::processes;
use crate::runbook::model::ProcessCheck;
use crate::runbook::units;

use super::exec::{container_of, failed, unknown};
use super::value::Graded;
use super::{DEFAULT_TIMEOUT, Probe};

impl Probe<'_> {
    /// Runs a process check; one with `service:` needs Docker and the containers.
    pub(crate) async fn process(
        &self,
        name: &str,
        check: &ProcessCheck,
        docker: Option<(&Deployment, &[ContainerRef])>,
        hint: Option<&str>,
    ) -> CheckResult {
        let started = Instant::now();
        let wanted = check.name.value.clone();
        let graded = match (&check.service, docker) {
            (None, _) => {
                let looked = wanted.clone();
                match tokio::task::spawn_blocking(move || processes::pids_named(&looked)).await {
                    Ok(Ok(pids)) => grade(&wanted, "on the host", pids.len()),
                    Ok(Err(e)) => unknown(format!("cannot read /proc: {e}")),
                    Err(e) => unknown(format!("cannot read /proc: {e}")),
                }
            }
            (Some(_), None) => unknown("Docker is unreachable".into()),
            (Some(service), Some((deployment, containers))) => {
                let timeout = check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
                let service = &service.value;
                match container_of(deployment, containers, service).await {
                    Err(graded) => graded,
                    Ok((engine, container)) => {
                        let deployment = engine.as_deref().unwrap_or(deployment);
                        let listed = deployment.processes_of(&container.id);
                        match tokio::time::timeout(timeout, listed).await {
                            Err(_) => failed(format!(
                                "`docker top` of `{service}` gave no answer within {}",
                                units::Duration(timeout)
                            )),
                            Ok(Err(e)) => unknown(format!("cannot list the processes: {e}")),
                            Ok(Ok(running)) => {
                                let count = running
                                    .iter()
                                    .filter(|p| processes::is_named(&p.name, &wanted))
                                    .count();
                                grade(&wanted, &format!("in `{service}`"), count)
                            }
                        }
                    }
                }
            }
        };
        self.finish(name, graded, hint, started)
    }
}

/// None running is crit; the message says how many do, and where.
fn grade(name: &str, place: &str, count: usize) -> Graded {
    let (status, message) = match count {
        0 => (Status::Crit, format!("no `{name}` process runs {place}")),
        1 => (Status::Ok, format!("`{name}` runs {place}: 1 process")),
        n => (Status::Ok, format!("`{name}` runs {place}: {n} processes")),
    };
    Graded {
        status,
        message,
        figure: Some((count as f64, "count")),
    }
}
