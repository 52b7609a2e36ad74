//! What parsing cannot see: references to services and checks that do not
//! exist, dependency cycles, warn above crit, regexes that do not compile,
//! steps without an action. Every problem is collected (not just the first),
//! each with its file, line, column and field; a clean runbook yields its `Plan`.

mod backup;
mod checks;
mod copies;
mod heal;
mod heartbeats;
mod images;
pub(crate) mod locate;
mod logs;
mod notify;
mod schedule;
mod services;
mod steps;
mod thresholds;

use serde_saphyr::Spanned;

use crate::error::Problem;

use super::model::Model;
use super::plan::Plan;
use locate::locate_key;

pub(super) fn validate(model: &Model, text: &str, file: &str) -> Result<Plan, Vec<Problem>> {
    let mut v = Validator {
        model,
        text,
        file,
        problems: Vec::new(),
    };
    v.version();
    if model.mode == super::model::Mode::Swarm && model.project.is_none() {
        v.at_key(
            "mode",
            "`mode: swarm` needs `project:`, the name of the stack (`docker stack deploy … NAME`)",
        );
    }
    let tiers = v.services();
    v.thresholds();
    v.checks();
    v.logs();
    v.startup();
    v.backup();
    v.incident();
    v.notify();
    v.heal();
    v.heartbeats();
    v.images();
    v.procedures();
    v.schedule();
    v.regexes(&model.redact, "redact");
    for (field, message) in super::bounds::check(model) {
        v.at_key(&field, message);
    }
    if v.problems.is_empty() {
        Ok(Plan::new(model, tiers))
    } else {
        Err(v.problems)
    }
}

struct Validator<'a> {
    model: &'a Model,
    text: &'a str,
    file: &'a str,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    /// A problem at a spanned value.
    fn at<T>(
        &mut self,
        spanned: &Spanned<T>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let (line, column) = (spanned.referenced.line(), spanned.referenced.column());
        self.push(line, column, field.into(), message.into());
    }

    /// A problem at a key found by its dotted path in the text (for fields
    /// that carry no span): `checks.web`, `procedures.p.steps[1]`.
    fn at_key(&mut self, field: &str, message: impl Into<String>) {
        let path: Vec<&str> = field.split(['.', '[']).collect();
        // A key inside a flow mapping (`http: { status: 0 }`) is not found on
        // a line of its own: point at the nearest parent that is.
        let (line, column) = (1..=path.len())
            .rev()
            .find_map(|len| locate_key(self.text, &path[..len]))
            .unwrap_or((0, 0));
        self.push(line, column, field.to_string(), message.into());
    }

    fn push(&mut self, line: u64, column: u64, field: String, message: String) {
        self.problems.push(Problem {
            file: self.file.to_string(),
            line,
            column,
            field,
            message,
        });
    }

    fn version(&mut self) {
        if self.model.version.value != 1 {
            let found = self.model.version.value;
            self.at(
                &self.model.version,
                "version",
                format!("unsupported version `{found}`: this opsbook reads version 1"),
            );
        }
    }

    /// Checks a reference to a service. Without a `services` section the
    /// deployment's services come from Docker, so any name may be right.
    fn service_ref(&mut self, name: &Spanned<String>, field: &str) {
        let services = &self.model.services;
        if services.is_empty() || services.contains_key(&name.value) {
            return;
        }
        let known = services.keys().cloned().collect::<Vec<_>>().join(", ");
        let close = did_you_mean(&name.value, services.keys());
        self.at(
            name,
            field,
            format!(
                "unknown service `{}` (services are: {known}){close}",
                name.value
            ),
        );
    }

    fn check_ref(&mut self, name: &Spanned<String>, field: &str) {
        if !self.model.checks.contains_key(&name.value) {
            let known = self.model.checks.keys().cloned().collect::<Vec<_>>();
            let known = if known.is_empty() {
                "the runbook has no `checks`".to_string()
            } else {
                format!("checks are: {}", known.join(", "))
            };
            let close = did_you_mean(&name.value, self.model.checks.keys());
            self.at(
                name,
                field,
                format!("unknown check `{}` ({known}){close}", name.value),
            );
        }
    }

    fn url(&mut self, url: &Spanned<String>, field: &str) {
        let value = url.value.trim();
        let rest = value
            .strip_prefix("http://")
            .or_else(|| value.strip_prefix("https://"));
        if rest.is_none_or(|host| host.is_empty() || host.starts_with('/')) {
            self.at(
                url,
                field,
                format!("`{value}` is not an http:// or https:// URL"),
            );
        }
    }

    fn regexes(&mut self, patterns: &[Spanned<String>], field: &str) {
        for pattern in patterns {
            if let Err(e) = regex::Regex::new(&pattern.value) {
                let reason = match &e {
                    regex::Error::Syntax(text) => text
                        .lines()
                        .last()
                        .unwrap_or("syntax error")
                        .trim()
                        .trim_start_matches("error: ")
                        .to_string(),
                    other => other.to_string(),
                };
                self.at(
                    pattern,
                    field,
                    format!("invalid regex `{}`: {reason}", pattern.value),
                );
            }
        }
    }

    fn startup(&mut self) {
        let Some(startup) = &self.model.startup else {
            return;
        };
        for name in &startup.verify {
            self.check_ref(name, "startup.verify");
        }
        self.steps(&startup.before, "startup.before");
        self.steps(&startup.after, "startup.after");
        if let Some(shutdown) = &self.model.shutdown {
            self.steps(&shutdown.before, "shutdown.before");
            self.steps(&shutdown.after, "shutdown.after");
        }
        if let Some(restore) = &self.model.restore {
            self.steps(&restore.before, "restore.before");
            self.steps(&restore.after, "restore.after");
        }
        if let Some(update) = &self.model.update {
            for (hook, steps) in [
                ("update.before", &update.before),
                ("update.after", &update.after),
            ] {
                self.steps(steps, hook);
                for (index, step) in steps.iter().enumerate() {
                    if step.update.is_some() || step.rollback.is_some() {
                        self.at_key(
                            &format!("{hook}[{index}]"),
                            "an update hook cannot run an `update` or `rollback` step: it would run itself",
                        );
                    }
                }
            }
        }
    }

    fn incident(&mut self) {
        let Some(incident) = &self.model.incident else {
            return;
        };
        if incident.dir.trim().is_empty() {
            self.at_key("incident.dir", "`incident.dir` is empty");
        }
        for (name, steps) in &incident.playbooks {
            self.steps(steps, &format!("incident.playbooks.{name}"));
        }
    }

    fn procedures(&mut self) {
        for (name, procedure) in &self.model.procedures {
            if procedure.steps.is_empty() {
                self.at_key(
                    &format!("procedures.{name}.steps"),
                    "a procedure needs at least one step",
                );
            }
            self.steps(&procedure.steps, &format!("procedures.{name}.steps"));
        }
    }
}

/// The problems of the runbook `text`, as lines: what the tests look at.
/// `: did you mean `x`?` when a known name is close to `word`, else nothing.
pub(super) fn did_you_mean<'k>(word: &str, known: impl IntoIterator<Item = &'k String>) -> String {
    crate::runbook::wording::suggestion(word, known.into_iter().map(String::as_str))
        .map_or_else(String::new, |close| format!(": did you mean `{close}`?"))
}

#[cfg(test)]
fn problems(text: &str) -> Vec<String> {
    match crate::runbook::parse(text.as_bytes(), None, "opsbook.yaml") {
        Ok(_) => Vec::new(),
        Err(e) => e.lines(),
    }
}
