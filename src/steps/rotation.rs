//! A `rotate` step run: the new value in the env file, then with `apply`
//! in the service that holds the secret too (through standard input only),
//! the services restarted, the verify checks, and everything put back when
//! any of it fails.

use crate::check::Probe;
use crate::docker;
use crate::grade::Status;
use crate::runbook::model::{ExecStep, Rotate, RotateEncoding};

use super::engine::{DEFAULT_TIMEOUT, Engine, summarize};
use super::rotate;

impl Engine<'_> {
    pub(super) async fn rotate(&self, rotate: &Rotate) -> (Status, String) {
        let path = self.setup.runbook.resolve(&rotate.file);
        let key = rotate.key.clone();
        let bytes = rotate
            .bytes
            .as_ref()
            .map_or(rotate::DEFAULT_BYTES, |b| b.value);
        let encoding = rotate.encoding.unwrap_or(RotateEncoding::Base64url);
        let at = jiff::Timestamp::now();
        let written = path.clone();
        let rotated = tokio::task::spawn_blocking(move || {
            rotate::rotate(&written, &key, bytes, encoding, at)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        let rotated = match rotated {
            Ok(rotated) => rotated,
            Err(reason) => return (Status::Crit, reason),
        };
        let kept_name = rotated
            .kept
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut done = format!(
            "{} in {}: a new {bytes}-byte value; the previous file is kept as {kept_name}",
            rotate.key, rotate.file
        );
        if let Some(apply) = &rotate.apply {
            if let Err(reason) = self.apply_secret(apply, &rotated.new_value).await {
                let back = rotate::replace_file(&path, &rotated.old_text).map_or_else(
                    |e| format!("and the file could not be put back: {e}"),
                    |()| "the file is as it was".into(),
                );
                return (
                    Status::Crit,
                    format!(
                        "{} in {}: applying it in {} failed: {reason}; {back}",
                        rotate.key, rotate.file, apply.service.value
                    ),
                );
            }
            done.push_str(&format!("; applied in {}", apply.service.value));
        }
        let (status, mut message) = if rotate.restart.is_empty() {
            (Status::Ok, done)
        } else {
            let services: Vec<String> = rotate.restart.iter().map(|s| s.value.clone()).collect();
            let (status, restarted) = self.lifecycle(&services, true, true).await;
            (status, format!("{done}; {restarted}"))
        };
        let Some(apply) = &rotate.apply else {
            return (status, message);
        };
        // Applied: what reads the secret must work with it, or it all goes back.
        let (checked, verdict) = self.verify().await;
        if status == Status::Ok && checked == Status::Ok {
            if !verdict.is_empty() {
                message.push_str(&format!("; {verdict}"));
            }
            return (Status::Ok, message);
        }
        let failure = if status == Status::Ok {
            verdict
        } else {
            message.clone()
        };
        let put_back = self.put_secret_back(rotate, apply, &path, &rotated).await;
        (
            Status::Crit,
            // "KEY in FILE", never "KEY: …": the redactor takes that for a value.
            format!("{} in {}: {failure}; {put_back}", rotate.key, rotate.file),
        )
    }

    /// Runs the `apply` command in its service's running container with the
    /// value on its standard input (never in its argv or environment).
    async fn apply_secret(&self, apply: &ExecStep, value: &str) -> Result<(), String> {
        let deployment = self.deployment().map_err(|(_, m)| m)?;
        let containers = deployment.list().await.map_err(|e| e.to_string())?;
        let container = docker::running_of(&containers, &apply.service.value)
            .ok_or_else(|| format!("no running container of service `{}`", apply.service.value))?;
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        let line = format!("{value}\n").into_bytes();
        let fed = async move {
            let _ = sender.send(line).await;
        };
        let argv = apply.command.argv();
        let ran = deployment.exec_with_stdin(&container.id, &argv, receiver);
        let ((), ran) = tokio::join!(fed, tokio::time::timeout(DEFAULT_TIMEOUT, ran));
        match ran {
            Err(_) => Err(format!("`{}` did not finish within 5m", apply.command)),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok((Some(0), _))) => Ok(()),
            Ok(Ok((code, output))) => {
                let text = String::from_utf8_lossy(&output).into_owned();
                let said: String = self
                    .redactor
                    .redact(text.trim())
                    .chars()
                    .take(200)
                    .collect();
                Err(format!(
                    "`{}` exited {}{}",
                    apply.command,
                    code.map_or("on a signal".into(), |c| c.to_string()),
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!(": {said}")
                    }
                ))
            }
        }
    }

    /// The runbook's verify checks (`startup.verify`): their status, and
    /// what failed (or how many passed).
    async fn verify(&self) -> (Status, String) {
        let runbook = self.setup.runbook;
        let names = runbook.verify_names();
        if names.is_empty() {
            return (Status::Ok, String::new());
        }
        let containers = match self.deployment {
            Some(deployment) => deployment.list().await.ok(),
            None => None,
        };
        let docker = self.deployment.zip(containers.as_deref());
        let results = Probe::new(self.redactor)
            .named(runbook, &names, docker)
            .await;
        summarize(&results, "verify checks")
    }

    /// The old value back in the service and the file, and the services
    /// restarted on it again; what was put back, in words.
    async fn put_secret_back(
        &self,
        rotate: &Rotate,
        apply: &ExecStep,
        path: &std::path::Path,
        rotated: &rotate::Rotated,
    ) -> String {
        let mut said = Vec::new();
        match &rotated.old_value {
            Some(old) => match self.apply_secret(apply, old).await {
                Ok(()) => said.push(format!("the old value is in {} again", apply.service.value)),
                Err(e) => said.push(format!(
                    "the old value could NOT be put back in {}: {e}",
                    apply.service.value
                )),
            },
            None => said.push("there was no old value to put back in the service".into()),
        }
        match rotate::replace_file(path, &rotated.old_text) {
            Ok(()) => said.push(format!("{} is as it was", rotate.file)),
            Err(e) => said.push(format!("{} could NOT be put back: {e}", rotate.file)),
        }
        if !rotate.restart.is_empty() {
            let services: Vec<String> = rotate.restart.iter().map(|s| s.value.clone()).collect();
            let (status, restarted) = self.lifecycle(&services, true, true).await;
            said.push(format!("restarted on it: {status}: {restarted}"));
        }
        format!("put back: {}", said.join("; "))
    }
}
