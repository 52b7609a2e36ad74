//! The problems of `heal:`: services that exist in a named compose
//! project, counts that can be reached, and a severity for its incident.

use super::Validator;

impl Validator<'_> {
    pub(super) fn heal(&mut self) {
        let model = self.model;
        let Some(heal) = &model.heal else {
            return;
        };
        if heal.services.is_empty() {
            self.at_key(
                "heal.services",
                "heal watches no service: list at least one",
            );
        }
        if model.project.is_none() {
            self.at_key(
                "heal",
                "heal restarts services of one compose project: set `project`",
            );
        }
        for service in &heal.services {
            self.service_ref(service, "heal.services");
        }
        for (key, count) in [("after", &heal.after), ("max_restarts", &heal.max_restarts)] {
            if let Some(count) = count
                && count.value == 0
            {
                self.at(count, format!("heal.{key}"), "0: give 1 or more");
            }
        }
        if let Some(severity) = &heal.severity {
            let known: Vec<String> = match &model.incident {
                Some(incident) if !incident.severities.is_empty() => {
                    incident.severities.keys().cloned().collect()
                }
                _ => ["P1", "P2", "P3", "P4"].map(String::from).to_vec(),
            };
            if !known.contains(&severity.value) {
                self.at(
                    severity,
                    "heal.severity",
                    format!(
                        "unknown severity `{}` (severities are: {})",
                        severity.value,
                        known.join(", ")
                    ),
                );
            }
        }
    }
}
