//! `notify:` as written: the Slack-compatible webhook of old, the named
//! targets (one kind each, with which commands and statuses they hear and
//! how many runs in a row make an alert) and the maintenance window that
//! holds them. String values take `${VAR}` from the environment or `.env`.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Name;
use crate::runbook::units::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Notify {
    pub webhook: Option<Webhook>,
    #[serde(default)]
    pub targets: IndexMap<String, Target>,
    /// While it lasts, targets hold their alerts and `heal` restarts nothing.
    pub maintenance: Option<Maintenance>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Webhook {
    pub url: Spanned<String>,
    /// Statuses that send a notification (default `[warn, crit]`).
    pub on: Option<Vec<Spanned<String>>>,
}

/// One named target: exactly one kind, then when it speaks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Target {
    pub healthchecks: Option<UrlOnly>,
    pub ntfy: Option<Ntfy>,
    pub discord: Option<UrlOnly>,
    pub teams: Option<UrlOnly>,
    pub webhook: Option<JsonWebhook>,
    pub email: Option<Email>,
    pub pagerduty: Option<PagerDuty>,
    /// The commands it hears, as typed (`backup`, `backup prune`, `run`,
    /// `run NAME`), plus `heal` and `escalation`; default every command
    /// that checks or changes something.
    pub commands: Option<Vec<Name>>,
    /// Statuses that count as failing (default `[warn, crit]`); with `ok`
    /// among them, every run is sent as it is (a digest, no streaks).
    pub on: Option<Vec<Name>>,
    /// Failing runs in a row before the alert goes out (default 1).
    pub after: Option<Spanned<u32>>,
    /// Good runs in a row before the one "resolved" message (default 1).
    pub resolve_after: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UrlOnly {
    pub url: Name,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ntfy {
    /// The topic's URL (`https://ntfy.sh/shop-ops`).
    pub url: Name,
    /// An access token, sent as a bearer token.
    pub token: Option<Name>,
    /// 1 to 5 or min, low, default, high, urgent; default by status.
    pub priority: Option<Name>,
    /// Tags (emoji short codes) added to the status' own.
    #[serde(default)]
    pub tags: Vec<Name>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonWebhook {
    pub url: Name,
    /// Extra request headers (`Authorization: "Bearer ${TOKEN}"`).
    #[serde(default)]
    pub headers: IndexMap<String, Name>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Email {
    /// `smtp://host[:port]` (default port 587) or `smtps://host[:port]`
    /// (TLS from the first byte, default 465).
    pub smtp: Name,
    /// For `smtp://`: `required` (the default), `opportunistic` or `never`.
    pub starttls: Option<Name>,
    pub from: Name,
    #[serde(deserialize_with = "super::lists::names")]
    pub to: Vec<Name>,
    pub user: Option<Name>,
    pub password: Option<Name>,
    /// A PEM file of certificates to trust beside the system's (an
    /// in-house CA).
    pub ca_file: Option<Name>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PagerDuty {
    pub routing_key: Name,
    /// The Events API v2 endpoint (default PagerDuty's own).
    pub url: Option<Name>,
}

/// `cron` and `for` make a recurring window; `file` is one while the file
/// exists (an RFC 3339 time in it ends it early). `opsbook serve` and every
/// command honour both, and the `maintenance` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Maintenance {
    pub cron: Option<Name>,
    #[serde(rename = "for")]
    pub lasts: Option<Spanned<Duration>>,
    pub file: Option<Name>,
}

/// The commands a target hears without a `commands:` list: every one that
/// checks or changes something (not `validate`, `status`, `report`,
/// `backup list` or `incident`, which a target may still name).
pub(crate) const DEFAULT_COMMANDS: &[&str] = &[
    "daily-check",
    "startup",
    "shutdown",
    "restart",
    "update",
    "rollback",
    "backup",
    "backup verify",
    "backup drill",
    "backup copy",
    "backup prune",
    "restore",
    "run",
    "heal",
];

/// The names `commands:` may hold beyond the defaults (and `run NAME`).
pub(crate) const OTHER_COMMANDS: &[&str] = &[
    "validate",
    "status",
    "report",
    "backup list",
    "incident",
    "escalation",
];

/// The kinds, as the runbook names them.
pub(crate) const KINDS: &[&str] = &[
    "healthchecks",
    "ntfy",
    "discord",
    "teams",
    "webhook",
    "email",
    "pagerduty",
];

/// ntfy's priority names, 1 to 5.
pub(crate) const NTFY_PRIORITIES: [&str; 5] = ["min", "low", "default", "high", "urgent"];

/// An ntfy priority as written (`4` or `high`), as ntfy's number.
pub(crate) fn ntfy_priority(text: &str) -> Option<u8> {
    match text.parse::<u8>() {
        Ok(n) if (1..=5).contains(&n) => Some(n),
        Ok(_) => None,
        Err(_) => NTFY_PRIORITIES
            .iter()
            .position(|p| *p == text)
            .and_then(|i| u8::try_from(i + 1).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntfy_priorities_are_read_as_numbers_or_names() {
        assert_eq!(ntfy_priority("5"), Some(5));
        assert_eq!(ntfy_priority("high"), Some(4));
        assert_eq!(ntfy_priority("min"), Some(1));
        assert_eq!(ntfy_priority("0"), None);
        assert_eq!(ntfy_priority("loud"), None);
    }
}
