//! The evidence bundle an incident opens with, captured concurrently under
//! one deadline: every container's state, the inspect of each one that is
//! not running or not healthy (env values masked), the last log lines of
//! each, the host figures with the ten processes using the most memory
//! (`ps aux --sort=-%mem`), and a fresh daily-check. On a Swarm stack: its
//! services and tasks, the inspect of each troubled task's container on its
//! node, and each service's last log lines from every node. Every text is masked
//! before it is written (JSON value by value, before it is serialised); a
//! part that cannot be captured (Docker down) is noted and the rest is
//! still written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use super::{EVIDENCE, write_private};
use crate::check::daily;
use crate::deploy::homes::Homes;
use crate::docker::{Container, Deployment, Health, State, Task, TaskState};
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::host::HostSnapshot;
use crate::redact::{MASK, Redactor};
use crate::render::{Format, Report, Style};
use crate::runbook::Runbook;

/// The deadline of the whole capture: an incident opens within seconds.
const DEADLINE: Duration = Duration::from_secs(15);
/// The daily-check inside the evidence gets less.
const CHECK_TIMEOUT: Duration = Duration::from_secs(8);
/// How many of the host's processes, by memory, the evidence lists.
const TOP_PROCESSES: usize = 10;
/// Bytes of log kept per container, whatever the line count.
const LOG_CAP: usize = 2 * 1024 * 1024;

/// What was written (paths relative to `evidence/`) and what could not be.
pub(crate) struct Captured {
    pub files: Vec<String>,
    pub problems: Vec<CheckResult>,
}

pub(crate) async fn capture(
    runbook: &Runbook,
    state_dir: &Path,
    folder: &Path,
    redactor: &Redactor,
    log_lines: u32,
) -> Captured {
    let dir = folder.join(EVIDENCE);
    let writer = Writer {
        dir: &dir,
        redactor,
    };
    let docker = tokio::time::timeout(DEADLINE, containers(runbook, &writer, log_lines));
    let host = tokio::time::timeout(DEADLINE, host(runbook, &writer));
    let check = tokio::time::timeout(DEADLINE, daily_check(runbook, state_dir, &writer));
    let (docker, host, check) = tokio::join!(docker, host, check);
    let mut captured = Captured {
        files: Vec::new(),
        problems: Vec::new(),
    };
    for (part, outcome) in [
        ("containers", docker),
        ("host", host),
        ("daily-check", check),
    ] {
        match outcome {
            Ok(Ok(files)) => captured.files.extend(files),
            Ok(Err(reason)) => captured.problems.push(not_captured(part, &reason)),
            Err(_) => captured.problems.push(not_captured(
                part,
                &format!("no answer within {}s", DEADLINE.as_secs()),
            )),
        }
    }
    captured.files.sort();
    captured
}

fn not_captured(part: &str, reason: &str) -> CheckResult {
    CheckResult::new(
        "evidence",
        part,
        Status::Warn,
        format!("not captured: {reason}"),
    )
}

/// Writes redacted evidence files.
struct Writer<'a> {
    dir: &'a Path,
    redactor: &'a Redactor,
}

impl Writer<'_> {
    /// A text file (a log), masked as it is.
    fn write(&self, name: &str, text: &str) -> Result<String, String> {
        self.store(name, &self.redactor.redact(text))
    }

    /// A JSON file, masked value by value before it is serialised: escaping
    /// first would hide `{"password":"x"}` in a container's Cmd from the rules.
    fn json(&self, name: &str, value: &Value) -> Result<String, String> {
        let mut value = value.clone();
        self.redactor.redact_json(&mut value);
        let text = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
        self.store(name, &text)
    }

    /// `inspect/NAME.json`, its env values masked, or why it could not be read.
    fn inspect(&self, name: &str, inspect: Result<Value, String>) -> Result<String, String> {
        let name = format!("inspect/{}", file_name(name));
        match inspect {
            Ok(mut inspect) => {
                mask_env(&mut inspect);
                self.json(&format!("{name}.json"), &inspect)
            }
            Err(why) => self.write(&format!("{name}.error.txt"), &why),
        }
    }

    /// `logs/NAME.log`, or why there is no log.
    fn log(&self, name: &str, tail: Result<Vec<u8>, Error>) -> Result<String, String> {
        let text = match tail {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => format!("(no log: {e})\n"),
        };
        self.write(&format!("logs/{}.log", file_name(name)), &text)
    }

    /// Text already masked (a rendered report).
    fn store(&self, name: &str, text: &str) -> Result<String, String> {
        let path: PathBuf = self.dir.join(name);
        write_private(&path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(name.to_string())
    }
}

/// States of every container, inspects of the troubled ones, logs of all.
async fn containers(
    runbook: &Runbook,
    writer: &Writer<'_>,
    log_lines: u32,
) -> Result<Vec<String>, String> {
    let deployment = crate::deploy::look(runbook)
        .await
        .map_err(|e| e.to_string())?;
    if deployment.is_stack() {
        return stack(&deployment, writer, log_lines).await;
    }
    let containers = deployment.containers().await.map_err(|e| e.to_string())?;
    // Their own secret-named variables' values are masked too: a log
    // line may print one.
    let met = writer
        .redactor
        .clone()
        .with_values(containers.iter().flat_map(|c| c.secrets.clone()));
    let writer = &Writer {
        dir: writer.dir,
        redactor: &met,
    };
    let mut files = vec![writer.json("containers.json", &json!(containers))?];
    let troubled = containers.iter().filter(|c| is_troubled(c));
    let deployment = &deployment;
    let inspects = join_all(troubled.map(|c| async move {
        let inspect = deployment.inspect_raw(&c.id).await;
        (c, inspect)
    }))
    .await;
    for (container, inspect) in inspects {
        let inspect = inspect.map_err(|e| e.to_string());
        files.push(writer.inspect(&container.name, inspect)?);
    }
    let logs = join_all(containers.iter().map(|c| async move {
        let tail = deployment.tail_logs(&c.id, log_lines, LOG_CAP).await;
        (c, tail)
    }))
    .await;
    for (container, tail) in logs {
        files.push(writer.log(&container.name, tail)?);
    }
    Ok(files)
}

/// A Swarm stack's: its services and every task Swarm keeps, the inspect
/// of each troubled task's container (through its node's engine), and the
/// last log lines of each service (every task, every node).
async fn stack(
    deployment: &Deployment,
    writer: &Writer<'_>,
    log_lines: u32,
) -> Result<Vec<String>, String> {
    let homes = Homes::read(deployment).await.map_err(|e| e.to_string())?;
    let stack = homes.stack();
    let mut files = vec![writer.json(
        "services.json",
        &json!({"services": stack.services, "tasks": stack.tasks}),
    )?];
    let troubled: Vec<(String, &Task)> = stack
        .services
        .iter()
        .flat_map(|s| {
            stack
                .tasks_of(s)
                .filter(|t| t.container_id.is_some() && is_troubled_task(t))
                .map(move |t| (format!("{}.{}", t.name(s), short(&t.id)), t))
        })
        .collect();
    let homes = &homes;
    let inspects = join_all(troubled.iter().map(|(name, task)| async move {
        let id = task.container_id.as_deref().unwrap_or_default();
        let inspect = match homes.home_of(task).await {
            Ok(home) => home
                .engine(deployment)
                .inspect_raw(id)
                .await
                .map_err(|e| e.to_string()),
            Err(why) => Err(why),
        };
        (name, inspect)
    }))
    .await;
    for (task, inspect) in inspects {
        files.push(writer.inspect(task, inspect)?);
    }
    let logs = join_all(stack.services.iter().map(|s| async move {
        let tail = deployment
            .tail_service_logs(&s.id, log_lines, LOG_CAP)
            .await;
        (s, tail)
    }))
    .await;
    for (service, tail) in logs {
        files.push(writer.log(&service.name, tail)?);
    }
    Ok(files)
}

/// A task Swarm wants running that does not run, or one that failed.
fn is_troubled_task(task: &Task) -> bool {
    task.state.is_failure() || (task.is_wanted() && task.state != TaskState::Running)
}

/// A task id's first 12 characters, as the docker CLI shows it.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Not running, or running but not healthy.
fn is_troubled(container: &Container) -> bool {
    container.state != State::Running
        || matches!(container.health, Health::Unhealthy | Health::Starting)
}

/// Every value of the container's environment masked (`KEY=****`): the keys
/// say what was configured, the values never leave.
fn mask_env(inspect: &mut Value) {
    if let Some(env) = inspect
        .get_mut("Config")
        .and_then(|c| c.get_mut("Env"))
        .and_then(Value::as_array_mut)
    {
        for entry in env.iter_mut() {
            if let Some(text) = entry.as_str() {
                let key = text.split_once('=').map_or(text, |(key, _)| key);
                *entry = Value::String(format!("{key}={MASK}"));
            }
        }
    }
}

fn file_name(name: &str) -> String {
    name.trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

async fn host(runbook: &Runbook, writer: &Writer<'_>) -> Result<Vec<String>, String> {
    let paths: Vec<PathBuf> = runbook
        .plan
        .thresholds
        .disk_paths
        .iter()
        .map(PathBuf::from)
        .collect();
    let gap = runbook
        .plan
        .thresholds
        .sampled()
        .then_some(crate::check::resources::CPU_SAMPLE_GAP);
    let snapshot = HostSnapshot::measure(paths, gap).await;
    let graded = crate::check::host::host(&snapshot, &runbook.plan.thresholds);
    let processes = tokio::task::spawn_blocking(|| {
        crate::host::processes::top_by_memory(TOP_PROCESSES).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|read| read);
    let processes = match processes {
        Ok(top) => json!(top),
        Err(why) => json!(format!("not read: {why}")),
    };
    let value = json!({"host": snapshot, "results": graded, "top_memory": processes});
    Ok(vec![writer.json("host.json", &value)?])
}

/// A daily-check now, not recorded as a run and holding no lock.
async fn daily_check(
    runbook: &Runbook,
    state_dir: &Path,
    writer: &Writer<'_>,
) -> Result<Vec<String>, String> {
    let options = daily::Options {
        only: Vec::new(),
        timeout: CHECK_TIMEOUT,
        wait: None,
        state_dir: state_dir.to_path_buf(),
        record: false,
    };
    let mut report = Report::new("daily-check", &runbook.display, jiff::Timestamp::now());
    let clock = std::time::Instant::now();
    let connect = || -> daily::Connected<'_> { Box::pin(crate::deploy::look(runbook)) };
    let backups = || crate::backup::copies::freshness::backups(runbook, state_dir);
    let above = daily::Above {
        connect: &connect,
        backups: &backups,
    };
    daily::run(runbook, &options, above, &mut report)
        .await
        .map_err(|e| e.to_string())?;
    report.duration = clock.elapsed();
    let style = Style {
        format: Format::Json,
        color: false,
        quiet: false,
    };
    // The renderer masks it, before the JSON is escaped.
    let text = report.render(style, writer.redactor).unwrap_or_default();
    Ok(vec![writer.store("daily-check.json", &text)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_are_masked_and_keys_kept() {
        let mut inspect =
            json!({"Config": {"Env": ["DB_PASSWORD=hunter2", "MODE=prod", "EMPTY="]}});
        mask_env(&mut inspect);
        assert_eq!(
            inspect["Config"]["Env"],
            json!(["DB_PASSWORD=****", "MODE=****", "EMPTY=****"])
        );
    }
}
