//! The problems of `heartbeats:`: names a URL path and a file name can
//! carry (and no check's), one of `period` or `cron`, a cron expression
//! that parses.

use super::Validator;

/// The longest name of a heartbeat.
const MAX_NAME: usize = 64;

impl Validator<'_> {
    pub(super) fn heartbeats(&mut self) {
        let model = self.model;
        for (name, heartbeat) in &model.heartbeats {
            let field = format!("heartbeats.{name}");
            if let Some(problem) = name_problem(name) {
                self.at_key(&field, problem);
            }
            if model.checks.contains_key(name) {
                self.at_key(
                    &field,
                    format!("`{name}` is a check's name too: results are found by name, so give the heartbeat another"),
                );
            }
            match (&heartbeat.period, &heartbeat.cron) {
                (Some(_), Some(cron)) => self.at(
                    cron,
                    format!("{field}.cron"),
                    "give `period` or `cron`, not both",
                ),
                (None, None) => self.at_key(
                    &field,
                    "when is it due? give `period: 1d` (after its last ping) or `cron: \"0 3 * * *\"` (at those times)",
                ),
                (None, Some(cron)) => {
                    if let Err(problem) = crate::runbook::cron::parse(&cron.value) {
                        self.at(cron, format!("{field}.cron"), problem);
                    }
                }
                (Some(_), None) => {}
            }
        }
    }
}

/// What is wrong with a heartbeat's name: it is a path segment of
/// `/ping/NAME` and a file name in the state folder.
fn name_problem(name: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() {
        return Some("a heartbeat's name is empty".into());
    }
    if name.len() > MAX_NAME {
        return Some(format!(
            "a heartbeat's name is at most {MAX_NAME} characters (it is a URL path and a file name)"
        ));
    }
    if !name.chars().all(allowed) || name.starts_with(['.', '-']) {
        return Some(format!(
            "`{name}` is not a heartbeat name: letters, digits, `-`, `_` and `.`, not first `.` or `-` (it is a URL path and a file name)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::name_problem;

    #[test]
    fn names_fit_a_path_and_a_file() {
        for good in ["nightly-export", "certbot", "db_dump.v2", "a"] {
            assert_eq!(name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "..",
            ".hidden",
            "-x",
            "a/b",
            "a b",
            "ü",
            &"x".repeat(65),
        ] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
    }
}
