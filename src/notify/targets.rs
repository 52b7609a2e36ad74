//! `notify.targets` made ready to send: `${VAR}` filled in, each kind's
//! options read, which commands a target hears and the rule of its streak.
//! A target that cannot be made ready (an unset variable, an unreadable
//! `ca_file`) is reported and left out; the others still send.

use super::email::{self, Email, Security};
use super::ntfy::Ntfy;
use super::pagerduty::{self, PagerDuty};
use super::streak::Rule;
use super::webhook::Webhook;
use crate::grade::Status;
use crate::runbook::Runbook;
use crate::runbook::interpolate::{self, Vars};
use crate::runbook::model::{self, DEFAULT_COMMANDS, KINDS, Name};

#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub name: String,
    pub kind: Kind,
    pub rule: Rule,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Healthchecks(String),
    Ntfy(Ntfy),
    Discord(String),
    Teams(String),
    Webhook(Webhook),
    Email(Email),
    PagerDuty(PagerDuty),
}

impl Target {
    /// `` `phone` (ntfy at ntfy.sh) ``: for messages, never the URL itself.
    pub(crate) fn label(&self) -> String {
        let (kind, host) = match &self.kind {
            Kind::Healthchecks(url) => ("healthchecks", host_of(url)),
            Kind::Ntfy(n) => ("ntfy", host_of(&n.url)),
            Kind::Discord(url) => ("discord", host_of(url)),
            Kind::Teams(url) => ("teams", host_of(url)),
            Kind::Webhook(w) => ("webhook", host_of(&w.url)),
            Kind::Email(e) => ("email", e.host.clone()),
            Kind::PagerDuty(p) => ("pagerduty", host_of(&p.url)),
        };
        format!("`{}` ({kind} at {host})", self.name)
    }
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "an unreadable URL".to_string())
}

/// The runbook's targets that hear a run of `event` (`backup prune`,
/// `run deploy`), each ready or the reason it is not.
pub(crate) fn resolve(runbook: &Runbook, event: &str) -> Vec<Result<Target, String>> {
    let Some(notify) = &runbook.model.notify else {
        return Vec::new();
    };
    let vars = Vars::load(&runbook.dir);
    notify
        .targets
        .iter()
        .filter(|(_, target)| hears(target, event))
        .map(|(name, target)| ready(runbook, &vars, name, target))
        .collect()
}

fn hears(target: &model::Target, event: &str) -> bool {
    let hears = |c: &str| {
        c == event
            || (c == "run" && event.starts_with("run "))
            || (c == "incident" && event.starts_with("incident "))
    };
    match &target.commands {
        Some(list) => list.iter().any(|c| hears(&c.value)),
        None => DEFAULT_COMMANDS.iter().any(|c| hears(c)),
    }
}

fn ready(
    runbook: &Runbook,
    vars: &Vars,
    name: &str,
    target: &model::Target,
) -> Result<Target, String> {
    let field = format!("notify.targets.{name}");
    let value = |value: &Name, key: &str| {
        interpolate::located(value, vars, &runbook.display, &format!("{field}.{key}"))
    };
    let optional = |v: &Option<Name>, key: &str| v.as_ref().map(|v| value(v, key)).transpose();
    let kind = if let Some(hc) = &target.healthchecks {
        Kind::Healthchecks(value(&hc.url, "healthchecks.url")?)
    } else if let Some(n) = &target.ntfy {
        Kind::Ntfy(Ntfy {
            url: value(&n.url, "ntfy.url")?,
            token: optional(&n.token, "ntfy.token")?,
            priority: n
                .priority
                .as_ref()
                .and_then(|p| model::ntfy_priority(&p.value)),
            tags: n.tags.iter().map(|t| t.value.clone()).collect(),
        })
    } else if let Some(d) = &target.discord {
        Kind::Discord(value(&d.url, "discord.url")?)
    } else if let Some(t) = &target.teams {
        Kind::Teams(value(&t.url, "teams.url")?)
    } else if let Some(w) = &target.webhook {
        let mut headers = Vec::new();
        for (header, v) in &w.headers {
            headers.push((
                header.clone(),
                value(v, &format!("webhook.headers.{header}"))?,
            ));
        }
        Kind::Webhook(Webhook {
            url: value(&w.url, "webhook.url")?,
            headers,
        })
    } else if let Some(e) = &target.email {
        Kind::Email(email_target(runbook, e, &value, &optional)?)
    } else if let Some(p) = &target.pagerduty {
        Kind::PagerDuty(PagerDuty {
            routing_key: value(&p.routing_key, "pagerduty.routing_key")?,
            url: optional(&p.url, "pagerduty.url")?
                .unwrap_or_else(|| pagerduty::EVENTS_URL.to_string()),
        })
    } else {
        return Err(format!("{field}: no kind ({})", KINDS.join(", ")));
    };
    Ok(Target {
        name: name.to_string(),
        kind,
        rule: rule(target),
    })
}

type Value<'a> = dyn Fn(&Name, &str) -> Result<String, String> + 'a;
type Optional<'a> = dyn Fn(&Option<Name>, &str) -> Result<Option<String>, String> + 'a;

fn email_target(
    runbook: &Runbook,
    e: &model::Email,
    value: &Value,
    optional: &Optional,
) -> Result<Email, String> {
    let starttls = match &e.starttls {
        Some(s) => Security::starttls(&s.value).unwrap_or(Security::StartTlsRequired),
        None => Security::StartTlsRequired,
    };
    let (security, host, port) = email::server(&value(&e.smtp, "email.smtp")?, starttls)?;
    let login = match (
        optional(&e.user, "email.user")?,
        optional(&e.password, "email.password")?,
    ) {
        (Some(user), Some(password)) => Some((user, password)),
        (Some(user), None) => Some((user, String::new())),
        _ => None,
    };
    let ca_pem = match &e.ca_file {
        Some(file) => {
            let path = runbook.resolve(value(file, "email.ca_file")?);
            Some(
                std::fs::read(&path)
                    .map_err(|err| format!("notify email ca_file {}: {err}", path.display()))?,
            )
        }
        None => None,
    };
    Ok(Email {
        security,
        host,
        port,
        from: value(&e.from, "email.from")?,
        to: e
            .to
            .iter()
            .map(|to| value(to, "email.to"))
            .collect::<Result<_, _>>()?,
        login,
        ca_pem,
    })
}

fn rule(target: &model::Target) -> Rule {
    let on = match &target.on {
        Some(levels) => levels
            .iter()
            .filter_map(|l| status_named(&l.value))
            .collect(),
        None => vec![Status::Warn, Status::Crit],
    };
    Rule {
        on,
        after: target.after.as_ref().map_or(1, |a| a.value.max(1)),
        resolve_after: target.resolve_after.as_ref().map_or(1, |a| a.value.max(1)),
    }
}

pub(crate) fn status_named(name: &str) -> Option<Status> {
    match name {
        "ok" => Some(Status::Ok),
        "warn" => Some(Status::Warn),
        "crit" => Some(Status::Crit),
        "unknown" => Some(Status::Unknown),
        _ => None,
    }
}
