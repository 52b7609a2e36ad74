//! The services' problems: dependencies on services that exist, and no
//! dependency cycle; what is left is the services' startup tiers.

use indexmap::IndexMap;

use super::Validator;
use crate::runbook::order;

impl Validator<'_> {
    pub(super) fn services(&mut self) -> Vec<Vec<String>> {
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
}
