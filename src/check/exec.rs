//! Command checks: a command run in the first running container of a
//! service (`exec`: `docker exec db pg_isready`) or on the host (`command`:
//! `certbot renew --dry-run`), judged on its exit code, its output, and the
//! number it prints (`value`).

use std::path::Path;
use std::time::Instant;

use crate::docker::{self, ContainerRef, Deployment};
use crate::grade::{CheckResult, Status};
use crate::host::command;
use crate::runbook::model::{ExecCheck, HostCheck, ValueSpec};
use crate::runbook::units;

use super::value::{self, Graded};
use super::{DEFAULT_TIMEOUT, Probe};

/// What a command left: how it ended and what it printed.
struct Ran<'a> {
    shown: String,
    code: Option<i64>,
    stdout: &'a [u8],
    stderr: &'a [u8],
}

impl Probe<'_> {
    /// Runs an exec check in the first running container of its service.
    pub(crate) async fn exec(
        &self,
        deployment: &Deployment,
        containers: &[ContainerRef],
        name: &str,
        check: &ExecCheck,
        value: Option<&ValueSpec>,
        hint: Option<&str>,
    ) -> CheckResult {
        let started = Instant::now();
        let service = &check.service.value;
        let timeout = check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
        let graded = match docker::running_of(containers, service) {
            None => failed(format!("no running container of service `{service}`")),
            // A swarm task on a node opsbook cannot reach: the check
            // could not run, which says nothing about the service.
            Some(container) => match on_its_node(deployment, container).await {
                Err(why) => Graded {
                    status: Status::Unknown,
                    message: format!("not run: {why}"),
                    figure: None,
                },
                Ok(engine) => {
                    let deployment = engine.as_deref().unwrap_or(deployment);
                    let argv = check.command.argv();
                    match tokio::time::timeout(timeout, deployment.exec(&container.id, &argv)).await
                    {
                        Err(_) => failed(format!(
                            "`{}` gave no answer within {}",
                            check.command,
                            units::Duration(timeout)
                        )),
                        Ok(Err(e)) => failed(format!("cannot run `{}`: {e}", check.command)),
                        Ok(Ok(output)) => {
                            let ran = Ran {
                                shown: check.command.to_string(),
                                code: output.exit_code,
                                stdout: &output.stdout,
                                stderr: &output.stderr,
                            };
                            self.verdict(&ran, check.stdout_contains.as_deref(), value)
                        }
                    }
                }
            },
        };
        tracing::debug!(check = name, "exec check done");
        self.finish(name, graded, hint, started)
    }

    /// Runs a `command` check on the host, in the runbook's folder.
    pub(crate) async fn command(
        &self,
        dir: &Path,
        name: &str,
        check: &HostCheck,
        value: Option<&ValueSpec>,
        hint: Option<&str>,
    ) -> CheckResult {
        let started = Instant::now();
        let timeout = check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
        let graded = match command::run_split(&check.run.argv(), dir, timeout).await {
            command::Split::Exited {
                code,
                stdout,
                stderr,
            } => {
                let ran = Ran {
                    shown: check.run.to_string(),
                    code: code.map(i64::from),
                    stdout: &stdout,
                    stderr: &stderr,
                };
                self.verdict(&ran, check.stdout_contains.as_deref(), value)
            }
            command::Split::TimedOut => failed(format!(
                "`{}` did not finish within {}: killed",
                check.run,
                units::Duration(timeout)
            )),
            command::Split::Failed(reason) => failed(reason),
        };
        self.finish(name, graded, hint, started)
    }

    /// Exit 0, the expected text, then the number (when the check reads one).
    fn verdict(&self, ran: &Ran, contains: Option<&str>, value: Option<&ValueSpec>) -> Graded {
        let stdout = String::from_utf8_lossy(ran.stdout);
        match ran.code {
            Some(0) => {}
            Some(code) => {
                let printed = if ran.stderr.is_empty() {
                    ran.stdout
                } else {
                    ran.stderr
                };
                return failed(format!(
                    "`{}` exited {code}{}",
                    ran.shown,
                    self.quote_body(printed)
                ));
            }
            None => {
                return Graded {
                    status: Status::Unknown,
                    message: format!("`{}` ended without an exit code", ran.shown),
                    figure: None,
                };
            }
        }
        if let Some(needle) = contains
            && !stdout.contains(needle)
        {
            return failed(format!(
                "output of `{}` does not contain `{needle}`{}",
                ran.shown,
                self.quote_body(ran.stdout)
            ));
        }
        if let Some(spec) = value {
            let graded = value::grade(spec, &stdout, None);
            return Graded {
                message: format!("`{}`: {}", ran.shown, graded.message),
                ..graded
            };
        }
        let first = stdout.lines().next().unwrap_or("").trim();
        let said = if first.is_empty() {
            String::new()
        } else {
            format!(": {}", self.quote(first))
        };
        Graded {
            status: Status::Ok,
            message: format!("`{}` succeeded{said}", ran.shown),
            figure: None,
        }
    }
}

/// The first running container of `service` and the engine of its node
/// (`None`: this one), or the verdict why there is none to look in.
pub(super) async fn container_of<'c>(
    deployment: &Deployment,
    containers: &'c [ContainerRef],
    service: &str,
) -> Result<(Option<std::sync::Arc<Deployment>>, &'c ContainerRef), Graded> {
    let Some(container) = docker::running_of(containers, service) else {
        return Err(failed(format!(
            "no running container of service `{service}`"
        )));
    };
    match on_its_node(deployment, container).await {
        Ok(engine) => Ok((engine, container)),
        Err(why) => Err(unknown(format!("not run: {why}"))),
    }
}

/// An unknown verdict without a figure: the check could not look.
pub(super) fn unknown(message: String) -> Graded {
    Graded {
        status: Status::Unknown,
        message,
        figure: None,
    }
}

/// The engine of the node `container` runs on: `None` for this one.
async fn on_its_node(
    deployment: &Deployment,
    container: &ContainerRef,
) -> Result<Option<std::sync::Arc<Deployment>>, String> {
    match &container.node {
        None => Ok(None),
        Some(node) => deployment.on_node(node).await.map(Some),
    }
}

/// A crit verdict without a figure.
pub(super) fn failed(message: String) -> Graded {
    Graded {
        status: Status::Crit,
        message,
        figure: None,
    }
}
