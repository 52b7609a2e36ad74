//! The problems of `schedule:`: every expression a cron expression, the
//! time zone a real one, each job something this runbook can run.

use crate::runbook::model::Name;

use super::Validator;

impl Validator<'_> {
    pub(super) fn schedule(&mut self) {
        let model = self.model;
        let Some(schedule) = &model.schedule else {
            return;
        };
        if let Some(zone) = &schedule.timezone
            && let Err(problem) = crate::runbook::cron::zone(&zone.value)
        {
            self.at(zone, "schedule.timezone", problem);
        }
        let jobs: [(&str, Option<&Name>); 4] = [
            ("daily-check", schedule.daily_check.as_ref()),
            ("backup", schedule.backup.as_ref()),
            ("backup-prune", schedule.backup_prune.as_ref()),
            ("backup-drill", schedule.backup_drill.as_ref()),
        ];
        for (key, expression) in jobs {
            let Some(expression) = expression else {
                continue;
            };
            self.cron(expression, &format!("schedule.{key}"));
            if key.starts_with("backup") && model.backup.is_none() {
                self.at(
                    expression,
                    format!("schedule.{key}"),
                    "the runbook has no `backup` section to run",
                );
            }
        }
        for (name, expression) in &schedule.procedures {
            let field = format!("schedule.procedures.{name}");
            self.cron(expression, &field);
            if !model.procedures.contains_key(name) {
                let known: Vec<&str> = model.procedures.keys().map(String::as_str).collect();
                self.at(
                    expression,
                    field,
                    format!(
                        "no procedure `{name}` (procedures are: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
        }
    }

    fn cron(&mut self, expression: &Name, field: &str) {
        if let Err(problem) = crate::runbook::cron::parse(&expression.value) {
            self.at(expression, field, problem);
        }
    }
}
