//! Dependency order of services: startup tiers (a service comes after all it
//! depends on; the services of one tier can start together), and the cycle
//! that makes an order impossible.

use indexmap::IndexMap;

/// `deps` maps each service to the services it depends on, in file order.
/// Returns the tiers in startup order, each tier in file order, or the
/// services of one dependency cycle in the order they depend on each other.
/// Dependencies on unknown services are ignored here (the validator reports them).
pub(super) fn startup_tiers(
    deps: &IndexMap<String, Vec<String>>,
) -> Result<Vec<Vec<String>>, Vec<String>> {
    let mut placed: IndexMap<&str, usize> = IndexMap::new();
    let mut tiers: Vec<Vec<String>> = Vec::new();
    while placed.len() < deps.len() {
        let tier: Vec<&str> = deps
            .iter()
            .filter(|(name, _)| !placed.contains_key(name.as_str()))
            .filter(|(_, needs)| {
                needs
                    .iter()
                    .all(|need| placed.contains_key(need.as_str()) || !deps.contains_key(need))
            })
            .map(|(name, _)| name.as_str())
            .collect();
        if tier.is_empty() {
            return Err(find_cycle(deps, &placed));
        }
        for name in &tier {
            placed.insert(name, tiers.len());
        }
        tiers.push(tier.into_iter().map(String::from).collect());
    }
    Ok(tiers)
}

/// Shutdown order: the startup tiers reversed, so a service stops only after
/// everything that depends on it has stopped.
pub(super) fn shutdown_tiers(startup: &[Vec<String>]) -> Vec<Vec<String>> {
    startup.iter().rev().cloned().collect()
}

/// Walks dependencies from an unplaced service until a service repeats; the
/// stretch from its first visit is the cycle. Every unplaced service has an
/// unplaced dependency (else it would have been placed), so the walk never ends
/// anywhere else.
fn find_cycle(deps: &IndexMap<String, Vec<String>>, placed: &IndexMap<&str, usize>) -> Vec<String> {
    let unplaced = |name: &str| deps.contains_key(name) && !placed.contains_key(name);
    let Some(start) = deps.keys().find(|name| unplaced(name)) else {
        return Vec::new();
    };
    let mut path: Vec<&str> = vec![start];
    loop {
        let Some(current) = path.last() else {
            return Vec::new();
        };
        let next = deps
            .get(*current)
            .and_then(|needs| needs.iter().find(|need| unplaced(need)));
        let Some(next) = next else {
            return path.iter().map(|s| s.to_string()).collect();
        };
        if let Some(at) = path.iter().position(|seen| *seen == next) {
            return path[at..].iter().map(|s| s.to_string()).collect();
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(pairs: &[(&str, &[&str])]) -> IndexMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(name, needs)| {
                (
                    name.to_string(),
                    needs.iter().map(|n| n.to_string()).collect(),
                )
            })
            .collect()
    }

    fn names(tiers: &[&[&str]]) -> Vec<Vec<String>> {
        tiers
            .iter()
            .map(|tier| tier.iter().map(|n| n.to_string()).collect())
            .collect()
    }

    #[test]
    fn reference_runbook_tiers() {
        let shop = deps(&[
            ("db", &[]),
            ("cache", &[]),
            ("api", &["db", "cache"]),
            ("web", &["api"]),
        ]);
        let tiers = startup_tiers(&shop);
        assert_eq!(tiers, Ok(names(&[&["db", "cache"], &["api"], &["web"]])));
        assert_eq!(
            shutdown_tiers(&names(&[&["db", "cache"], &["api"], &["web"]])),
            names(&[&["web"], &["api"], &["db", "cache"]])
        );
    }

    #[test]
    fn declaration_order_does_not_matter() {
        let shop = deps(&[("web", &["api"]), ("api", &["db"]), ("db", &[])]);
        assert_eq!(
            startup_tiers(&shop),
            Ok(names(&[&["db"], &["api"], &["web"]]))
        );
    }

    #[test]
    fn a_service_waits_for_its_deepest_dependency() {
        let graph = deps(&[("a", &[]), ("b", &["a"]), ("c", &["a", "b"]), ("d", &[])]);
        assert_eq!(
            startup_tiers(&graph),
            Ok(names(&[&["a", "d"], &["b"], &["c"]]))
        );
    }

    #[test]
    fn cycles_name_every_service_on_them() {
        let graph = deps(&[
            ("db", &[]),
            ("api", &["worker"]),
            ("worker", &["queue"]),
            ("queue", &["api"]),
            ("web", &["api"]),
        ]);
        assert_eq!(
            startup_tiers(&graph),
            Err(vec![
                "api".to_string(),
                "worker".to_string(),
                "queue".to_string()
            ])
        );
        let selfish = deps(&[("a", &["a"])]);
        assert_eq!(startup_tiers(&selfish), Err(vec!["a".to_string()]));
    }

    #[test]
    fn unknown_dependencies_are_left_to_the_validator() {
        let graph = deps(&[("api", &["ghost"])]);
        assert_eq!(startup_tiers(&graph), Ok(names(&[&["api"]])));
    }

    #[test]
    fn no_services_no_tiers() {
        assert_eq!(startup_tiers(&IndexMap::new()), Ok(Vec::new()));
    }
}
