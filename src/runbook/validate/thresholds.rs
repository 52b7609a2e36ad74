//! The thresholds' problems: warn above crit (host figures, containers'
//! own and default limits, network rates, Docker's disk use, load), free
//! space whose warn is below its crit, negative loads, and disk paths that
//! are not absolute.

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
            (
                "cpu",
                t.cpu
                    .as_ref()
                    .map(|l| (&l.warn, l.warn.value.0, l.crit.value.0)),
            ),
            (
                "iowait",
                t.iowait
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
            if let Some(network) = &limits.network {
                self.rates(&network.warn, &network.crit, &format!("{field}.network"));
            }
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
        self.loads();
        self.disks_and_network();
    }

    /// The load limits: not negative, warn not above crit.
    fn loads(&mut self) {
        let t = &self.model.thresholds;
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
    }

    /// Free space, disk paths and the network rate.
    fn disks_and_network(&mut self) {
        let t = &self.model.thresholds;
        if let Some(network) = &t.network {
            self.rates(&network.warn, &network.crit, "thresholds.network");
        }
        if let Some(free) = t.disk.as_ref().and_then(|d| d.free.as_ref())
            && free.warn.value < free.crit.value
        {
            self.at(
                &free.warn,
                "thresholds.disk.free.warn",
                format!(
                    "free warn {} is below free crit {}: warn comes first, with more space free",
                    crate::runbook::units::size_as_written(free.warn.value.0),
                    crate::runbook::units::size_as_written(free.crit.value.0)
                ),
            );
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

    /// A rate pair, warn not above crit.
    fn rates(
        &mut self,
        warn: &serde_saphyr::Spanned<crate::runbook::units::Rate>,
        crit: &serde_saphyr::Spanned<crate::runbook::units::Rate>,
        field: &str,
    ) {
        if warn.value > crit.value {
            self.at(
                warn,
                format!("{field}.warn"),
                format!("warn {} is above crit {}", warn.value, crit.value),
            );
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

    #[test]
    fn host_figures_new_keys_are_refused_with_their_place() {
        let rate = "version: 1\nthresholds:\n  network: { warn: 80 parsecs, crit: 110MB/s }\n";
        let said = problems(rate);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with("opsbook.yaml:3:")
                && said[0].contains("invalid rate `80 parsecs` (write e.g. `80MB/s`, `10MiB/s`)"),
            "{said:?}"
        );
        let order = "version: 1\nthresholds:\n  disk: { warn: 85%, crit: 90%, free: { warn: 50GB, crit: 100GB } }\n  network: { warn: 2MB/s, crit: 1MB/s }\n";
        assert_eq!(
            problems(order),
            [
                "opsbook.yaml:3:47: thresholds.disk.free.warn: free warn 50GB is below free crit 100GB: warn comes first, with more space free",
                "opsbook.yaml:4:20: thresholds.network.warn: warn 2MB/s is above crit 1MB/s",
            ]
        );
    }
}
