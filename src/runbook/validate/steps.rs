//! The steps' problems (playbooks, procedures, hooks): exactly one action
//! each, and the services and checks they name must exist.

use serde_saphyr::Spanned;

use crate::runbook::model::{Rotate, Step};

use super::Validator;

impl Validator<'_> {
    /// A `maintenance` step's length: a duration, or `end`.
    fn maintenance_step(&mut self, step: &Step, field: &str) {
        if let Some(window) = &step.maintenance
            && window.value != "end"
            && window
                .value
                .parse::<crate::runbook::units::Duration>()
                .is_err()
        {
            self.at(
                window,
                format!("{field}.maintenance"),
                format!(
                    "`{}` is not a duration (`30m`, `2h`) or `end`",
                    window.value
                ),
            );
        }
    }

    pub(super) fn steps(&mut self, steps: &[Step], field: &str) {
        for (index, step) in steps.iter().enumerate() {
            let field = format!("{field}[{index}]");
            self.step(step, &field);
        }
    }

    /// One step's problems, in the order they are reported.
    fn step(&mut self, step: &Step, field: &str) {
        self.one_action(step, field);
        self.maintenance_step(step, field);
        self.target_services(step, field);
        self.step_checks(step, field);
        self.silence_step(step, field);
        self.notify_step(step, field);
        self.when_step(step, field);
        self.branches(step, field);
        self.scale_step(step, field);
        self.action_refs(step, field);
    }

    /// A step has exactly one action.
    fn one_action(&mut self, step: &Step, field: &str) {
        let actions = step_actions(step);
        if actions.len() != 1 {
            let message = if actions.is_empty() {
                "a step needs one action: start, stop, restart, pause, unpause, scale, update, rollback, images_prune, run, sh, exec, check, backup, wait, note, rotate, rotate_secret, http, silence, notify or maintenance".to_string()
            } else {
                format!(
                    "a step has one action, this one has {}: split it",
                    actions.join(", ")
                )
            };
            self.at_key(field, message);
        }
    }

    /// The services a lifecycle step (`start`, `stop`…) names: `all`, or
    /// services of the runbook.
    fn target_services(&mut self, step: &Step, field: &str) {
        for targets in [
            &step.start,
            &step.stop,
            &step.restart,
            &step.pause,
            &step.unpause,
            &step.update,
            &step.rollback,
        ]
        .into_iter()
        .flatten()
        {
            for name in &targets.value.0 {
                if name != "all"
                    && !self.model.services.is_empty()
                    && !self.model.services.contains_key(name)
                {
                    let known = self
                        .model
                        .services
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ");
                    let close = super::did_you_mean(name, self.model.services.keys());
                    self.at(
                        targets,
                        field,
                        format!(
                            "unknown service `{name}` (services are: {known}, or `all`){close}"
                        ),
                    );
                }
            }
        }
    }

    /// The checks a `check` step names must exist.
    fn step_checks(&mut self, step: &Step, field: &str) {
        if let Some(checks) = &step.check {
            for name in &checks.value.0 {
                if !self.model.checks.contains_key(name) {
                    let close = super::did_you_mean(name, self.model.checks.keys());
                    self.at(
                        checks,
                        format!("{field}.check"),
                        format!("unknown check `{name}`{close}"),
                    );
                }
            }
        }
    }

    /// A `silence` step: an http(s) URL and at least one matcher.
    fn silence_step(&mut self, step: &Step, field: &str) {
        if let Some(silence) = &step.silence {
            self.url(&silence.url, &format!("{field}.silence.url"));
            if silence.matchers.is_empty() {
                self.at_key(
                    &format!("{field}.silence.matchers"),
                    "a silence needs at least one matcher (`service: backend`): an empty one would silence every alert",
                );
            }
        }
    }

    /// A `notify` step needs the runbook's `notify.webhook`.
    fn notify_step(&mut self, step: &Step, field: &str) {
        if step.notify.is_some()
            && self
                .model
                .notify
                .as_ref()
                .and_then(|n| n.webhook.as_ref())
                .is_none()
        {
            self.at_key(
                &format!("{field}.notify"),
                "a notify step sends to `notify.webhook`: the runbook has none",
            );
        }
    }

    /// The check a `when` asks must exist.
    fn when_step(&mut self, step: &Step, field: &str) {
        if let Some(when) = &step.when
            && !self.model.checks.contains_key(&when.check.value)
        {
            let close = super::did_you_mean(&when.check.value, self.model.checks.keys());
            self.at(
                &when.check,
                format!("{field}.when.check"),
                format!("unknown check `{}`{close}", when.check.value),
            );
        }
    }

    /// `on_failure` and `on_timeout`: `on_timeout` needs a `timeout`, and
    /// the steps of both are steps like any.
    fn branches(&mut self, step: &Step, field: &str) {
        if !step.on_timeout.is_empty() && step.timeout.is_none() {
            self.at_key(
                &format!("{field}.on_timeout"),
                "`on_timeout` runs when the step outlives its `timeout`: give one",
            );
        }
        self.steps(&step.on_failure, &format!("{field}.on_failure"));
        self.steps(&step.on_timeout, &format!("{field}.on_timeout"));
    }

    /// A `scale` step: a service of the runbook, and a sane count.
    fn scale_step(&mut self, step: &Step, field: &str) {
        if let Some(scale) = &step.scale {
            self.service_ref(&scale.service, &format!("{field}.scale.service"));
            if scale.replicas.value > 100 {
                self.at(
                    &scale.replicas,
                    format!("{field}.scale.replicas"),
                    format!(
                        "{} replicas on one host? give 0 to 100",
                        scale.replicas.value
                    ),
                );
            }
        }
    }

    /// What the other actions name: `exec`'s service, a rotation's
    /// services and bytes, `http`'s URL.
    fn action_refs(&mut self, step: &Step, field: &str) {
        if let Some(exec) = &step.exec {
            self.service_ref(&exec.service, &format!("{field}.exec.service"));
        }
        if let Some(rotate) = &step.rotate {
            if let Some(apply) = &rotate.apply {
                self.service_ref(&apply.service, &format!("{field}.rotate.apply.service"));
            }
            for name in &rotate.restart {
                self.service_ref(name, &format!("{field}.rotate.restart"));
            }
            self.rotated_bytes(rotate.bytes.as_ref(), &format!("{field}.rotate.bytes"));
        }
        if let Some(rotate) = &step.rotate_secret {
            self.rotated_bytes(
                rotate.bytes.as_ref(),
                &format!("{field}.rotate_secret.bytes"),
            );
        }
        if let Some(http) = &step.http {
            self.url(&http.url, &format!("{field}.http.url"));
        }
    }
}

impl Validator<'_> {
    /// A rotated value's random bytes: at least `Rotate::MIN_BYTES`, at
    /// most `Rotate::MAX_BYTES`.
    fn rotated_bytes(&mut self, bytes: Option<&Spanned<u32>>, field: &str) {
        if let Some(bytes) = bytes
            && bytes.value > Rotate::MAX_BYTES
        {
            self.at(
                bytes,
                field.to_string(),
                format!(
                    "{} random bytes are more than a rotated value needs (at most {})",
                    bytes.value,
                    Rotate::MAX_BYTES
                ),
            );
        }
        if let Some(bytes) = bytes
            && bytes.value < Rotate::MIN_BYTES
        {
            self.at(
                bytes,
                field.to_string(),
                format!(
                    "{} random bytes are too few for a rotated value (use at least {}, or leave `bytes` out for 32)",
                    bytes.value,
                    Rotate::MIN_BYTES
                ),
            );
        }
    }
}

/// The action keys a step sets.
fn step_actions(step: &Step) -> Vec<&'static str> {
    [
        ("start", step.start.is_some()),
        ("stop", step.stop.is_some()),
        ("pause", step.pause.is_some()),
        ("unpause", step.unpause.is_some()),
        ("restart", step.restart.is_some()),
        ("run", step.run.is_some()),
        ("sh", step.sh.is_some()),
        ("exec", step.exec.is_some()),
        ("check", step.check.is_some()),
        ("backup", step.backup.is_some()),
        ("wait", step.wait.is_some()),
        ("note", step.note.is_some()),
        ("rotate", step.rotate.is_some()),
        ("rotate_secret", step.rotate_secret.is_some()),
        ("http", step.http.is_some()),
        ("silence", step.silence.is_some()),
        ("notify", step.notify.is_some()),
        ("maintenance", step.maintenance.is_some()),
        ("scale", step.scale.is_some()),
        ("update", step.update.is_some()),
        ("rollback", step.rollback.is_some()),
        ("images_prune", step.images_prune.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

#[cfg(test)]
mod tests {
    use crate::runbook::validate::problems;

    #[test]
    fn a_rotate_of_fewer_than_16_bytes_is_refused() {
        let text = |bytes: u32| {
            format!(
                "version: 1\nprocedures:\n  p:\n    steps:\n      - rotate: {{ file: .env, key: K, bytes: {bytes} }}\n"
            )
        };
        for bytes in [0, 15] {
            let found = problems(&text(bytes));
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(
                found[0].starts_with("opsbook.yaml:5:")
                    && found[0].contains("procedures.p.steps[0].rotate.bytes"),
                "{found:?}"
            );
        }
        assert!(problems(&text(16)).is_empty());
    }
}
