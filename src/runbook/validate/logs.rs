//! The log settings' problems, global, per service, per host file and unit:
//! something to grade, patterns that compile, warn before crit.

use super::Validator;

impl Validator<'_> {
    pub(super) fn logs(&mut self) {
        let model = self.model;
        if let Some(logs) = &model.logs {
            self.log_settings(logs, "logs");
            for (path, settings) in &logs.files {
                let field = format!("logs.files.{path}");
                if path.trim().is_empty() {
                    self.at_key("logs.files", "a log file's path is empty");
                }
                if settings.since.is_some() || !only_grading(settings) {
                    self.at_key(
                        &field,
                        "a log file takes `match`, `warn`, `crit`, `rate` and `json_field` (it is read from where the last check stopped)",
                    );
                }
                self.log_settings(settings, &field);
            }
            for (unit, settings) in &logs.units {
                let field = format!("logs.units.{unit}");
                if unit.trim().is_empty() {
                    self.at_key("logs.units", "a unit's name is empty");
                }
                if settings.since.is_some() || !only_grading(settings) {
                    self.at_key(
                        &field,
                        "a unit takes `match`, `warn`, `crit`, `rate` and `json_field` (its journal is read over the global window)",
                    );
                }
                self.log_settings(settings, &field);
            }
            if let Some(dir) = &logs.journal_dir
                && dir.trim().is_empty()
            {
                self.at_key("logs.journal_dir", "`journal_dir` is empty");
            }
        }
        for (name, service) in &model.services {
            if let Some(logs) = &service.logs {
                let field = format!("services.{name}.logs");
                if !only_grading(logs) {
                    self.at_key(
                        &field,
                        "log `files`, `units` and `journal_dir` belong to the global `logs`",
                    );
                }
                self.log_settings(logs, &field);
            }
        }
    }

    fn log_settings(&mut self, logs: &crate::runbook::model::Logs, field: &str) {
        // A `logs` of files alone grades no container log.
        let elsewhere = !logs.files.is_empty() || !logs.units.is_empty();
        if logs.patterns.is_empty() && logs.json_field.is_none() && !elsewhere {
            self.at_key(
                &format!("{field}.match"),
                format!("`{field}.match` needs at least one pattern (or give `json_field`)"),
            );
        }
        if logs.rate.is_some() && logs.patterns.is_empty() {
            self.at_key(
                &format!("{field}.rate"),
                "a `rate` is of the lines `match` finds",
            );
        }
        self.regexes(&logs.patterns, &format!("{field}.match"));
        let pairs = [
            ("", &logs.warn, &logs.crit),
            (
                ".json_field",
                &logs.json_field.as_ref().and_then(|j| j.warn.clone()),
                &logs.json_field.as_ref().and_then(|j| j.crit.clone()),
            ),
        ];
        for (part, warn, crit) in pairs {
            if let (Some(warn), Some(crit)) = (warn, crit)
                && warn.value > crit.value
            {
                self.at(
                    warn,
                    format!("{field}{part}.warn"),
                    format!("warn {} is above crit {}", warn.value, crit.value),
                );
            }
        }
        if let Some(rate) = &logs.rate
            && rate.warn.value.0 > rate.crit.value.0
        {
            self.at(
                &rate.warn,
                format!("{field}.rate.warn"),
                format!(
                    "warn {}% is above crit {}%",
                    rate.warn.value.0, rate.crit.value.0
                ),
            );
        }
        if let Some(json) = &logs.json_field
            && (json.field.trim().is_empty() || !json.above.is_finite())
        {
            self.at_key(
                &format!("{field}.json_field"),
                "`json_field` needs a `field` and a number `above`",
            );
        }
    }
}

/// Settings that grade lines and name no other source of them (what a
/// file, a unit or a service takes).
fn only_grading(logs: &crate::runbook::model::Logs) -> bool {
    logs.files.is_empty() && logs.units.is_empty() && logs.journal_dir.is_none()
}
