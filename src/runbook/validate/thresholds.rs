//! The thresholds' problems: warn above crit (host figures, containers'
//! own and default limits, Docker's disk use, load per core), negative
//! loads, and disk paths that are not absolute.

use super::Validator;

impl Validator<'_> {
    pub(super) fn thresholds(&mut self) {
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
        let mut resources: Vec<(String, &crate::runbook::model::ContainerLimits)> = Vec::new();
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
    fn docker_disk(&mut self, limits: &crate::runbook::model::DockerDiskLimits) {
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
}

#[cfg(test)]
mod tests {
    use crate::runbook::validate::problems;

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
}
