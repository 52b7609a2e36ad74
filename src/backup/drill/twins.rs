//! A drill's twins: each running service's twin (same image and
//! configuration, on the drill's internal network, no published ports)
//! started tier by tier behind the startup health gate, and
//! `backup.drill.checks` run against them, HTTP checks pointed at the
//! twins' addresses.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::time::timeout_at;

use crate::check::Probe;
use crate::docker::{ContainerRef, ImageRef, Remap, Snapshot, State};
use crate::grade::{CheckResult, Status};
use crate::runbook::model::Check;
use crate::runbook::units;

use super::{Drill, SECTION, Twin};

impl Drill<'_> {
    /// Each tier's twins created, started and gated together, then the
    /// dumps of that tier's services restored into them.
    pub(super) async fn start_twins(
        &self,
        snapshots: &[(String, Snapshot)],
        remap: &Remap,
        results: &mut Vec<CheckResult>,
    ) -> Result<Vec<Twin>, String> {
        let services: Vec<String> = snapshots.iter().map(|(s, _)| s.clone()).collect();
        let mut twins = Vec::new();
        for tier in self.runbook.plan.start_order(&services) {
            // Each tier its own wait: the dumps restored into the tier
            // before (under their own deadline) do not shorten it.
            let deadline = Instant::now() + self.timeout();
            let mut started = Vec::new();
            for service in &tier {
                let Some((_, snapshot)) = snapshots.iter().find(|(s, _)| s == service) else {
                    continue;
                };
                let twin = self.twin(service, snapshot, remap).await?;
                started.push(twin);
            }
            let gates = futures_util::future::join_all(
                started
                    .iter()
                    .map(|twin| self.lifecycle.gate(&twin.id, deadline)),
            )
            .await;
            for (twin, gate) in started.iter().zip(gates) {
                let (status, message) = match &gate {
                    Ok(()) => (Status::Ok, format!("{} ready", twin.name)),
                    Err(state) => (Status::Crit, format!("{} not ready: {state}", twin.name)),
                };
                results.push(CheckResult::new(
                    SECTION,
                    format!("twin {}", twin.service),
                    status,
                    message,
                ));
                if let Err(state) = gate {
                    return Err(format!(
                        "the twin of `{}` did not become ready: {state}",
                        twin.service
                    ));
                }
            }
            for twin in &started {
                self.restore_dumps(twin, results).await?;
            }
            twins.extend(started);
        }
        Ok(twins)
    }

    pub(super) async fn twin(
        &self,
        service: &str,
        snapshot: &Snapshot,
        remap: &Remap,
    ) -> Result<Twin, String> {
        let name = format!("opsbook-drill-{}-{service}", self.name);
        // The very image the service runs, by id: a tag may have moved since.
        let image = ImageRef {
            name: snapshot.image.id.clone(),
            ..snapshot.image.clone()
        };
        let id = self
            .deployment
            .create_twin(
                snapshot,
                &image,
                (&name, service),
                (&self.network, &self.owner),
                remap,
            )
            .await
            .map_err(|e| e.to_string())?;
        self.deployment
            .start(&id)
            .await
            .map_err(|e| format!("starting the twin of `{service}`: {e}"))?;
        Ok(Twin {
            service: service.to_string(),
            id,
            name,
        })
    }

    /// `backup.drill.checks` against the twins: exec checks in a service's
    /// twin, http checks with a service's name for the host at its twin.
    pub(super) async fn checks(&self, twins: &[Twin], results: &mut Vec<CheckResult>) {
        let Some(checks) = self.backup.drill.as_ref().map(|d| &d.checks) else {
            return;
        };
        let refs: Vec<ContainerRef> = twins
            .iter()
            .map(|t| ContainerRef {
                id: t.id.clone(),
                name: t.name.clone(),
                project: self.project.clone(),
                service: t.service.clone(),
                state: State::Running,
                node: None,
            })
            .collect();
        // The drill's timeout, or what the slowest check's own timeout and
        // retries allow, if longer: never less than the runbook gives one.
        let limit = checks
            .values()
            .map(crate::check::allowance)
            .fold(self.timeout(), Duration::max);
        let deadline = tokio::time::Instant::now() + limit;
        let addresses = timeout_at(deadline, self.addresses(twins))
            .await
            .unwrap_or_default();
        let probe = Probe::new(self.runbook.redactor());
        let docker = Some((self.deployment, refs.as_slice()));
        let (probe, addresses) = (&probe, &addresses);
        let runs = checks.iter().map(|(name, check)| async move {
            let rewritten = at_twins(check, addresses);
            let check = rewritten.as_ref().unwrap_or(check);
            let checked = probe.check(&self.runbook.dir, name, check, docker);
            let mut result = timeout_at(deadline, checked).await.unwrap_or_else(|_| {
                CheckResult::new(
                    SECTION,
                    name,
                    Status::Crit,
                    format!(
                        "no answer within {}, the drill's deadline for its checks",
                        units::Duration(limit)
                    ),
                )
            });
            result.section = SECTION.to_string();
            result.name = format!("check {name}");
            result
        });
        results.extend(futures_util::future::join_all(runs).await);
    }

    /// Each twin's address on the drill's network, by its service.
    async fn addresses(&self, twins: &[Twin]) -> HashMap<String, String> {
        let mut addresses = HashMap::new();
        for twin in twins {
            if let Ok(Some(ip)) = self.deployment.address_on(&twin.id, &self.network).await {
                addresses.insert(twin.service.clone(), ip);
            }
        }
        addresses
    }
}

/// An http check whose host names a service, pointed at that service's
/// twin; `None` for any other check.
fn at_twins(check: &Check, addresses: &HashMap<String, String>) -> Option<Check> {
    let http = check.http.as_ref()?;
    let mut url: url::Url = http.url.value.parse().ok()?;
    let ip = addresses.get(url.host_str()?)?;
    url.set_host(Some(ip)).ok()?;
    let mut http = http.clone();
    http.url.value = url.to_string();
    Some(Check {
        http: Some(http),
        exec: None,
        command: None,
        file: None,
        tcp: None,
        unit: None,
        prometheus: None,
        port: None,
        process: None,
        websocket: None,
        value: check.value.clone(),
        failing_for: None,
        retry: check.retry.clone(),
        hint: check.hint.clone(),
    })
}
