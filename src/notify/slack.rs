//! `notify.webhook`: a Slack-compatible JSON summary of each daily-check
//! POSTed when its status is one the runbook asks for (default warn and
//! crit; held in a maintenance window), and the messages of `notify`
//! steps. A failed notification is the caller's to report on stderr; it
//! never changes the exit code, which is the check's verdict, not the
//! messenger's.

use std::time::Duration;

use serde_json::json;

use crate::grade::Status;
use crate::redact::Redactor;
use crate::render::Report;

const TIMEOUT: Duration = Duration::from_secs(5);
/// How many failing results the message lists.
const LISTED: usize = 10;

/// The webhook's URL with `${VAR}` filled in, or why it cannot be.
pub(crate) fn webhook_url(runbook: &crate::runbook::Runbook) -> Option<Result<String, String>> {
    let webhook = runbook.model.notify.as_ref()?.webhook.as_ref()?;
    let vars = crate::runbook::interpolate::Vars::load(&runbook.dir);
    Some(
        crate::runbook::interpolate::interpolate(&webhook.url.value, &vars)
            .map(|(url, _)| url)
            .map_err(|e| format!("notify.webhook.url: {e}")),
    )
}

/// Whether a run with `status` should be sent, given the runbook's `on` list.
pub(crate) fn wanted(status: Status, on: Option<&[String]>) -> bool {
    match on {
        Some(levels) => levels.iter().any(|level| level == status.as_str()),
        None => matches!(status, Status::Warn | Status::Crit),
    }
}

/// POSTs the summary; the error says what went wrong, for stderr.
pub(crate) async fn send(
    url: &str,
    report: &Report,
    host: Option<&str>,
    redactor: &Redactor,
) -> Result<(), String> {
    let status = report.status();
    let failing: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.status != Status::Ok)
        .take(LISTED)
        .map(|r| format!("• {} {}/{}: {}", r.status, r.section, r.name, r.message))
        .collect();
    let more = report
        .results
        .iter()
        .filter(|r| r.status != Status::Ok)
        .count()
        .saturating_sub(LISTED);
    let mut text = format!(
        "opsbook {} of `{}`{}: *{}*",
        report.command,
        report.runbook,
        host.map(|h| format!(" on {h}")).unwrap_or_default(),
        status.as_str().to_uppercase()
    );
    for line in failing {
        text.push('\n');
        text.push_str(&line);
    }
    if more > 0 {
        text.push_str(&format!("\n… and {more} more"));
    }
    let body = json!({
        "text": redactor.redact(&text),
        "status": status,
        "command": report.command,
        "runbook": report.runbook,
    });
    post(url, &body, redactor).await
}

/// POSTs one message of a playbook or procedure (a `notify` step), in the
/// same shape as the summary: `what` names the steps, `status` is theirs so far.
pub(crate) async fn message(
    url: &str,
    what: &str,
    text: &str,
    status: Status,
    redactor: &Redactor,
) -> Result<(), String> {
    let body = json!({
        "text": redactor.redact(&format!("opsbook {what}: {text} (so far: {status})")),
        "status": status,
        "command": "run",
    });
    post(url, &body, redactor).await
}

/// POSTs `body` as JSON; the error, masked, for stderr or a step's result.
async fn post(url: &str, body: &serde_json::Value, redactor: &Redactor) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let response = client.post(url).json(body).send().await.map_err(|e| {
        format!(
            "notification to the webhook failed: {}",
            redactor.redact(&e.without_url().to_string())
        )
    })?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_only_warn_and_crit_are_sent() {
        assert!(!wanted(Status::Ok, None));
        assert!(wanted(Status::Warn, None));
        assert!(wanted(Status::Crit, None));
        assert!(!wanted(Status::Unknown, None));
        let on = ["crit".to_string(), "unknown".to_string()];
        assert!(!wanted(Status::Warn, Some(&on)));
        assert!(wanted(Status::Unknown, Some(&on)));
    }
}
