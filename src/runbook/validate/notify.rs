//! The problems of `notify:`: the webhook's URL and statuses, each target
//! one kind with its fields well formed, the commands it hears ones that
//! exist, its streak rule one that can fire, and the maintenance window
//! one that can open.

use crate::runbook::interpolate;
use crate::runbook::model::{
    DEFAULT_COMMANDS, Email, KINDS, Maintenance, Name, OTHER_COMMANDS, Target, ntfy_priority,
};

use super::Validator;

const STATUSES: [&str; 4] = ["ok", "warn", "crit", "unknown"];

impl Validator<'_> {
    pub(super) fn notify(&mut self) {
        let Some(notify) = &self.model.notify else {
            return;
        };
        if let Some(webhook) = &notify.webhook {
            self.target_url(&webhook.url, "notify.webhook.url");
            self.statuses(webhook.on.iter().flatten(), "notify.webhook.on");
        }
        for (name, target) in &notify.targets {
            self.target(target, &format!("notify.targets.{name}"));
        }
        if let Some(window) = &notify.maintenance {
            self.maintenance(window);
        }
    }

    fn target(&mut self, target: &Target, field: &str) {
        let kinds = [
            target.healthchecks.is_some(),
            target.ntfy.is_some(),
            target.discord.is_some(),
            target.teams.is_some(),
            target.webhook.is_some(),
            target.email.is_some(),
            target.pagerduty.is_some(),
        ];
        match kinds.iter().filter(|&&given| given).count() {
            1 => {}
            0 => self.at_key(
                field,
                format!("a target needs its kind: one of {}", KINDS.join(", ")),
            ),
            _ => self.at_key(field, "a target is one kind, not several: split it"),
        }
        for (key, url) in [
            (
                "healthchecks.url",
                target.healthchecks.as_ref().map(|t| &t.url),
            ),
            ("ntfy.url", target.ntfy.as_ref().map(|t| &t.url)),
            ("discord.url", target.discord.as_ref().map(|t| &t.url)),
            ("teams.url", target.teams.as_ref().map(|t| &t.url)),
            ("webhook.url", target.webhook.as_ref().map(|t| &t.url)),
            (
                "pagerduty.url",
                target.pagerduty.as_ref().and_then(|t| t.url.as_ref()),
            ),
        ] {
            if let Some(url) = url {
                self.target_url(url, &format!("{field}.{key}"));
            }
        }
        if let Some(ntfy) = &target.ntfy {
            self.interpolated_opt(ntfy.token.as_ref(), &format!("{field}.ntfy.token"));
            if let Some(priority) = &ntfy.priority
                && ntfy_priority(&priority.value).is_none()
            {
                self.at(
                    priority,
                    format!("{field}.ntfy.priority"),
                    format!(
                        "`{}` is not an ntfy priority: 1 to 5, or min, low, default, high, urgent",
                        priority.value
                    ),
                );
            }
        }
        if let Some(hook) = &target.webhook {
            for (header, value) in &hook.headers {
                if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                    self.at_key(
                        &format!("{field}.webhook.headers"),
                        format!("`{header}` is not an HTTP header name"),
                    );
                }
                self.interpolated_opt(Some(value), &format!("{field}.webhook.headers.{header}"));
            }
        }
        if let Some(pd) = &target.pagerduty {
            self.interpolated_opt(
                Some(&pd.routing_key),
                &format!("{field}.pagerduty.routing_key"),
            );
        }
        if let Some(email) = &target.email {
            self.email(email, &format!("{field}.email"));
        }
        self.commands(target, field);
        self.streak_rule(target, field);
    }

    fn commands(&mut self, target: &Target, field: &str) {
        let model = self.model;
        for command in target.commands.iter().flatten() {
            let known = DEFAULT_COMMANDS
                .iter()
                .chain(OTHER_COMMANDS)
                .any(|c| *c == command.value);
            let procedure = command
                .value
                .strip_prefix("run ")
                .map(|name| model.procedures.contains_key(name.trim()));
            match (known, procedure) {
                (true, _) | (_, Some(true)) => {}
                (false, Some(false)) => self.at(
                    command,
                    format!("{field}.commands"),
                    format!("`{}`: no such procedure", command.value),
                ),
                (false, None) => self.at(
                    command,
                    format!("{field}.commands"),
                    format!(
                        "`{}` is not a command a target hears (use {}, or `run NAME`)",
                        command.value,
                        [DEFAULT_COMMANDS, OTHER_COMMANDS].concat().join(", ")
                    ),
                ),
            }
        }
    }

    fn streak_rule(&mut self, target: &Target, field: &str) {
        self.statuses(target.on.iter().flatten(), &format!("{field}.on"));
        let digest = target.on.iter().flatten().any(|s| s.value == "ok");
        let rule_given =
            target.on.is_some() || target.after.is_some() || target.resolve_after.is_some();
        if target.healthchecks.is_some() && rule_given {
            self.at_key(
                field,
                "a healthchecks target pings every run and lets the service alert: `on`, `after` and `resolve_after` do not apply",
            );
            return;
        }
        if target.pagerduty.is_some()
            && let Some(ok) = target.on.iter().flatten().find(|s| s.value == "ok")
        {
            self.at(
                ok,
                format!("{field}.on"),
                "a pagerduty target raises an alert per failing check and resolves it when it is ok again: `ok` in `on` (a digest of every run) does not apply; leave it out",
            );
        }
        for (key, count) in [
            ("after", &target.after),
            ("resolve_after", &target.resolve_after),
        ] {
            let Some(count) = count else {
                continue;
            };
            if count.value == 0 {
                self.at(count, format!("{field}.{key}"), "0 runs: give 1 or more");
            } else if digest {
                self.at(
                    count,
                    format!("{field}.{key}"),
                    "with `ok` in `on` every run is sent as it is: there is no streak to count",
                );
            }
        }
    }

    fn statuses<'a>(&mut self, levels: impl Iterator<Item = &'a Name>, field: &str) {
        for level in levels {
            if !STATUSES.contains(&level.value.as_str()) {
                self.at(
                    level,
                    field,
                    format!(
                        "unknown status `{}` (use ok, warn, crit, unknown)",
                        level.value
                    ),
                );
            }
        }
    }

    fn email(&mut self, email: &Email, field: &str) {
        let smtp = &email.smtp;
        if smtp.value.contains("${") {
            self.interpolated_opt(Some(smtp), &format!("{field}.smtp"));
        } else if !(smtp.value.starts_with("smtp://") || smtp.value.starts_with("smtps://")) {
            self.at(
                smtp,
                format!("{field}.smtp"),
                format!(
                    "`{}` is not an smtp:// or smtps:// address (`smtp://mail.example.com:587`)",
                    smtp.value
                ),
            );
        }
        if let Some(starttls) = &email.starttls {
            if !["required", "opportunistic", "never"].contains(&starttls.value.as_str()) {
                self.at(
                    starttls,
                    format!("{field}.starttls"),
                    format!("`{}`: use required, opportunistic or never", starttls.value),
                );
            } else if smtp.value.starts_with("smtps://") {
                self.at(
                    starttls,
                    format!("{field}.starttls"),
                    "smtps:// is TLS from the first byte: starttls does not apply",
                );
            }
        }
        if email.to.is_empty() {
            self.at_key(
                &format!("{field}.to"),
                "no recipient: list at least one address",
            );
        }
        for address in std::iter::once(&email.from).chain(&email.to) {
            if !address.value.contains("${") && !address.value.contains('@') {
                self.at(
                    address,
                    format!("{field}.to"),
                    format!("`{}` is not a mail address", address.value),
                );
            }
        }
        if email.password.is_some() && email.user.is_none() {
            self.at_key(&format!("{field}.password"), "a password needs its `user`");
        }
        for (key, value) in [
            ("user", email.user.as_ref()),
            ("password", email.password.as_ref()),
            ("ca_file", email.ca_file.as_ref()),
        ] {
            self.interpolated_opt(value, &format!("{field}.{key}"));
        }
    }

    fn maintenance(&mut self, window: &Maintenance) {
        let field = "notify.maintenance";
        match (&window.cron, &window.lasts) {
            (Some(cron), Some(_)) => {
                if let Err(problem) = crate::runbook::cron::parse(&cron.value) {
                    self.at(cron, format!("{field}.cron"), problem);
                }
            }
            (Some(cron), None) => self.at(
                cron,
                format!("{field}.cron"),
                "a recurring window needs its length: `for: 2h`",
            ),
            (None, Some(lasts)) => self.at(
                lasts,
                format!("{field}.for"),
                "`for` needs the `cron` expression of when the window opens",
            ),
            (None, None) if window.file.is_none() => self.at_key(
                field,
                "a maintenance window needs `cron` and `for`, or a `file`",
            ),
            (None, None) => {}
        }
    }

    /// A URL, or a value built from `${VAR}` (checked for its form only:
    /// its value is read when the notification goes out).
    fn target_url(&mut self, url: &Name, field: &str) {
        if url.value.contains("${") {
            self.interpolated_opt(Some(url), field);
        } else {
            self.url(url, field);
        }
    }

    fn interpolated_opt(&mut self, value: Option<&Name>, field: &str) {
        if let Some(value) = value
            && let Err(problem) = interpolate::check(&value.value)
        {
            self.at(value, field, problem);
        }
    }
}
