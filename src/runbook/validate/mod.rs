//! What parsing cannot see: references to services and checks that do not
//! exist, dependency cycles, warn above crit, regexes that do not compile,
//! steps without an action. Every problem is collected (not just the first),
//! each with its file, line, column and field; a clean runbook yields its `Plan`.

mod checks;
mod copies;
mod heal;
mod logs;
mod notify;
mod schedule;
mod steps;

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use crate::error::Problem;

use super::model::Model;
use super::order;
use super::plan::Plan;

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
        self.at(
            name,
            field,
            format!("unknown service `{}` (services are: {known})", name.value),
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
            self.at(
                name,
                field,
                format!("unknown check `{}` ({known})", name.value),
            );
        }
    }

    fn services(&mut self) -> Vec<Vec<String>> {
        let model = self.model;
        for (name, service) in &model.services {
            let field = format!("services.{name}.depends_on");
            for dependency in &service.depends_on {
                if dependency.value == *name {
                    self.at(
                        dependency,
                        &field,
                        format!("service `{name}` depends on itself"),
                    );
                } else {
                    self.service_ref(dependency, &field);
                }
            }
        }
        let deps: IndexMap<String, Vec<String>> = model
            .services
            .iter()
            .map(|(name, s)| {
                (
                    name.clone(),
                    s.depends_on.iter().map(|d| d.value.clone()).collect(),
                )
            })
            .collect();
        match order::startup_tiers(&deps) {
            Ok(tiers) => tiers,
            Err(cycle) if cycle.len() > 1 => {
                let mut ring = cycle.clone();
                ring.push(cycle[0].clone());
                let first = &model.services[&cycle[0]];
                let link = first.depends_on.iter().find(|d| d.value == cycle[1]);
                let message = format!("dependency cycle: {}", ring.join(" → "));
                match link {
                    Some(link) => {
                        self.at(link, format!("services.{}.depends_on", cycle[0]), message)
                    }
                    None => self.at_key(&format!("services.{}", cycle[0]), message),
                }
                Vec::new()
            }
            // A one-service cycle depends on itself: reported above.
            Err(_) => Vec::new(),
        }
    }

    fn thresholds(&mut self) {
        let t = &self.model.thresholds;
        let pairs = [
            (
                "memory",
                t.memory
                    .as_ref()
                    .map(|l| (&l.warn, l.warn.value.0, l.crit.value.0)),
            ),
            (
                "swap",
                t.swap
                    .as_ref()
                    .map(|l| (&l.warn, l.warn.value.0, l.crit.value.0)),
            ),
            (
                "disk",
                t.disk
                    .as_ref()
                    .map(|l| (&l.warn, l.warn.value.0, l.crit.value.0)),
            ),
            (
                "inodes",
                t.inodes
                    .as_ref()
                    .map(|l| (&l.warn, l.warn.value.0, l.crit.value.0)),
            ),
        ];
        for (name, pair) in pairs {
            if let Some((at, warn, crit)) = pair
                && warn > crit
            {
                self.at(
                    at,
                    format!("thresholds.{name}.warn"),
                    format!("warn {warn}% is above crit {crit}%"),
                );
            }
        }
        let mut resources: Vec<(String, &super::model::ContainerLimits)> = Vec::new();
        if let Some(containers) = &t.containers {
            resources.push(("thresholds.containers".into(), containers));
        }
        for (name, service) in &self.model.services {
            if let Some(own) = &service.thresholds {
                resources.push((format!("services.{name}.thresholds"), own));
            }
        }
        for (field, limits) in resources {
            for (kind, pair) in [("memory", &limits.memory), ("cpu", &limits.cpu)] {
                if let Some(pair) = pair
                    && pair.warn.value.0 > pair.crit.value.0
                {
                    let (warn, crit) = (pair.warn.value.0, pair.crit.value.0);
                    self.at(
                        &pair.warn,
                        format!("{field}.{kind}.warn"),
                        format!("warn {warn}% is above crit {crit}%"),
                    );
                }
            }
        }
        if let Some(docker) = &t.docker_disk {
            self.docker_disk(docker);
        }
        for (name, load) in [
            ("load", &t.load),
            ("load5", &t.load5),
            ("load15", &t.load15),
        ] {
            let Some(load) = load else { continue };
            let (warn, crit) = (load.warn.value, load.crit.value);
            if warn < 0.0 || crit < 0.0 {
                self.at(
                    &load.warn,
                    format!("thresholds.{name}"),
                    "load per core cannot be negative",
                );
            } else if warn > crit {
                self.at(
                    &load.warn,
                    format!("thresholds.{name}.warn"),
                    format!("warn {warn} is above crit {crit}"),
                );
            }
        }
        if let Some(disk) = &t.disk {
            for path in &disk.paths {
                if !path.starts_with('/') {
                    self.at_key(
                        "thresholds.disk.paths",
                        format!("disk path `{path}` must be absolute"),
                    );
                }
            }
        }
    }

    /// Each size pair of `thresholds.docker_disk`, warn before crit.
    fn docker_disk(&mut self, limits: &super::model::DockerDiskLimits) {
        let field = "thresholds.docker_disk";
        let mut pairs = vec![(
            field.to_string(),
            limits.warn.as_ref(),
            limits.crit.as_ref(),
        )];
        for (kind, pair) in [
            ("images", &limits.images),
            ("containers", &limits.containers),
            ("volumes", &limits.volumes),
            ("build_cache", &limits.build_cache),
        ] {
            if let Some(pair) = pair {
                pairs.push((
                    format!("{field}.{kind}"),
                    Some(&pair.warn),
                    Some(&pair.crit),
                ));
            }
        }
        for (at, warn, crit) in pairs {
            if let (Some(warn), Some(crit)) = (warn, crit)
                && warn.value > crit.value
            {
                self.at(
                    warn,
                    format!("{at}.warn"),
                    format!("warn {} is above crit {}", warn.value, crit.value),
                );
            }
        }
        let kinds = [
            &limits.images,
            &limits.containers,
            &limits.volumes,
            &limits.build_cache,
        ];
        if limits.warn.is_none() && limits.crit.is_none() && kinds.iter().all(|k| k.is_none()) {
            self.at_key(
                field,
                "`docker_disk` needs `warn` or `crit` (the total), or one of `images`, `containers`, `volumes`, `build_cache`",
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
    }

    fn backup(&mut self) {
        let Some(backup) = &self.model.backup else {
            return;
        };
        if backup.dir.trim().is_empty() {
            self.at_key("backup.dir", "`backup.dir` is empty");
        }
        for (name, dump) in &backup.dumps {
            self.service_ref(&dump.service, &format!("backup.dumps.{name}.service"));
        }
        for name in &backup.stop {
            self.service_ref(name, "backup.stop");
        }
        for volume in &backup.volumes {
            if volume.value.trim().is_empty() {
                self.at(volume, "backup.volumes", "volume name is empty");
            }
        }
        if let Some(level) = &backup.level {
            let range = match backup.compression {
                super::model::Compression::Zstd => 1..=22,
                super::model::Compression::Gzip => 0..=9,
            };
            if !range.contains(&level.value) {
                self.at(
                    level,
                    "backup.level",
                    format!(
                        "level {} is outside {}..={} for this compression",
                        level.value,
                        range.start(),
                        range.end()
                    ),
                );
            }
        }
        if let Some(keep) = &backup.keep
            && [keep.last, keep.daily, keep.weekly, keep.monthly]
                .iter()
                .all(|rule| rule.unwrap_or(0) == 0)
        {
            self.at_key(
                "backup.keep",
                "this keep policy keeps nothing: set one of last, daily, weekly or monthly above 0 (or leave `keep` out to keep every backup)",
            );
        }
        if let Some(encrypt) = &backup.encrypt {
            for recipient in &encrypt.recipients {
                if !recipient.value.starts_with("age1") {
                    self.at(
                        recipient,
                        "backup.encrypt.recipients",
                        "recipient is not an age public key (`age1…`)",
                    );
                }
            }
        }
        self.copies(&backup.copies);
        if let Some(drill) = &backup.drill {
            self.drill_checks(&drill.checks);
        }
        self.steps(&backup.before, "backup.before");
        self.steps(&backup.after, "backup.after");
        for (hook, steps) in [
            ("backup.before", &backup.before),
            ("backup.after", &backup.after),
        ] {
            for (index, step) in steps.iter().enumerate() {
                if step.backup.is_some() {
                    self.at_key(
                        &format!("{hook}[{index}]"),
                        "a backup hook cannot run a `backup` step: it would run itself",
                    );
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

/// Finds the line and column of a key path (`checks`, `web`) in block-style
/// YAML: each key is looked for after its parent, indented deeper. Sequence
/// indexes (`0]`) step over `- ` items. Good enough to point a reader at the
/// right line for fields that carry no span of their own.
fn locate_key(text: &str, path: &[&str]) -> Option<(u64, u64)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut parent_indent: i64 = -1;
    let mut found = None;
    for segment in path {
        if let Some(index) = segment
            .strip_suffix(']')
            .and_then(|i| i.parse::<usize>().ok())
        {
            let mut seen = 0;
            let hit = (from..lines.len()).find(|&n| {
                let trimmed = lines[n].trim_start();
                let indent = (lines[n].len() - trimmed.len()) as i64;
                if indent > parent_indent && trimmed.starts_with("- ") {
                    seen += 1;
                    return seen == index + 1;
                }
                false
            })?;
            let indent = lines[hit].len() - lines[hit].trim_start().len();
            found = Some((hit as u64 + 1, indent as u64 + 1));
            from = hit;
            parent_indent = indent as i64;
            continue;
        }
        let hit = (from..lines.len()).find_map(|n| {
            let line = lines[n];
            let content = line.trim_start_matches([' ', '-']);
            let indent = (line.len() - content.len()) as i64;
            if indent <= parent_indent && n > from {
                return None;
            }
            let key = content.strip_prefix(segment)?;
            key.trim_start().starts_with(':').then_some((n, indent))
        })?;
        found = Some((hit.0 as u64 + 1, hit.1 as u64 + 1));
        from = hit.0 + 1;
        parent_indent = hit.1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::locate_key;

    fn problems(text: &str) -> Vec<String> {
        match crate::runbook::parse(text.as_bytes(), None, "opsbook.yaml") {
            Ok(_) => Vec::new(),
            Err(e) => e.lines(),
        }
    }

    #[test]
    fn container_thresholds_with_warn_above_crit_are_refused_with_their_place() {
        let text = "version: 1\nthresholds:\n  containers:\n    cpu: { warn: 96%, crit: 95% }\n";
        assert_eq!(
            problems(text),
            ["opsbook.yaml:4:18: thresholds.containers.cpu.warn: warn 96% is above crit 95%"]
        );
        let fine = "version: 1\nservices:\n  db:\n    thresholds: { cpu: { warn: 50%, crit: 60% } }\nthresholds:\n  containers: { memory: { warn: 70%, crit: 75% } }\n";
        assert!(problems(fine).is_empty());
        let plan = crate::runbook::parse(fine.as_bytes(), None, "opsbook.yaml").map(|r| r.plan);
        let plan = plan.unwrap_or_else(|e| panic!("{:?}", e.lines()));
        let db = plan.resource_limits("db");
        assert_eq!((db.cpu.warn, db.memory.warn), (50.0, 70.0));
        let other = plan.resource_limits("web");
        assert_eq!((other.cpu.warn, other.cpu.crit), (80.0, 95.0));
    }

    #[test]
    fn a_keep_policy_that_keeps_nothing_is_refused() {
        for keep in ["{}", "{ last: 0, daily: 0 }", "{ weekly: 0, monthly: 0 }"] {
            let text = format!("version: 1\nbackup:\n  dir: ./b\n  keep: {keep}\n");
            assert_eq!(
                problems(&text).first().map(|p| p
                    .split(": this")
                    .next()
                    .unwrap_or_default()
                    .to_string()),
                Some("opsbook.yaml:4:3: backup.keep".to_string()),
                "{keep}"
            );
        }
        assert!(
            problems("version: 1\nbackup:\n  dir: ./b\n  keep: { last: 0, daily: 7 }\n").is_empty()
        );
    }

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

    #[test]
    fn keys_are_found_under_their_parent() {
        let text = "version: 1\nservices:\n  web: {}\nchecks:\n  web:\n    hint: x\n";
        assert_eq!(locate_key(text, &["checks", "web"]), Some((5, 3)));
        assert_eq!(locate_key(text, &["services", "web"]), Some((3, 3)));
        assert_eq!(locate_key(text, &["checks", "api"]), None);
    }

    #[test]
    fn sequence_items_are_counted() {
        let text = "procedures:\n  p:\n    steps:\n      - note: a\n      - wait: 1s\n";
        assert_eq!(
            locate_key(text, &["procedures", "p", "steps", "1]"]),
            Some((5, 7))
        );
    }
}
