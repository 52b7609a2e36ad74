//! `--limit PATTERN`: the hosts to work on. A pattern is a list separated
//! by commas or colons (as Ansible writes it); each part is a host name, a
//! group name or a glob over host names (`web-*`); a part starting with
//! `!` takes hosts away. A pattern that matches nothing is an error naming
//! the hosts and groups there are: a typo must not turn into "all fine".

use super::{Fleet, Host};
use crate::error::Error;

pub(crate) fn select<'a>(fleet: &'a Fleet, limit: Option<&str>) -> Result<Vec<&'a Host>, Error> {
    let Some(limit) = limit.map(str::trim).filter(|l| !l.is_empty()) else {
        return Ok(fleet.hosts.iter().collect());
    };
    let parts: Vec<&str> = limit
        .split([',', ':'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let (removed, added): (Vec<&str>, Vec<&str>) = parts.iter().partition(|p| p.starts_with('!'));
    let mut unknown = Vec::new();
    for part in added.iter().chain(&removed) {
        let part = part.trim_start_matches('!');
        if !fleet.hosts.iter().any(|h| matches(h, part)) {
            unknown.push(part.to_string());
        }
    }
    if !unknown.is_empty() {
        let hosts: Vec<&str> = fleet.hosts.iter().map(|h| h.name.as_str()).collect();
        let mut groups: Vec<&str> = fleet
            .hosts
            .iter()
            .flat_map(|h| h.groups.iter().map(String::as_str))
            .collect();
        groups.sort_unstable();
        groups.dedup();
        return Err(Error::Usage(format!(
            "--limit {limit}: `{}` matches no host of {} (hosts: {}; groups: {})",
            unknown.join("`, `"),
            fleet.display,
            hosts.join(", "),
            if groups.is_empty() {
                "none".to_string()
            } else {
                groups.join(", ")
            }
        )));
    }
    Ok(fleet
        .hosts
        .iter()
        .filter(|h| added.is_empty() || added.iter().any(|p| matches(h, p)))
        .filter(|h| {
            !removed
                .iter()
                .any(|p| matches(h, p.trim_start_matches('!')))
        })
        .collect())
}

fn matches(host: &Host, part: &str) -> bool {
    host.name == part
        || host.groups.iter().any(|g| g == part)
        || glob::Pattern::new(part).is_ok_and(|p| p.matches(&host.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Endpoint;

    fn fleet() -> Fleet {
        let host = |name: &str, groups: &[&str]| Host {
            name: name.into(),
            docker: Endpoint::Plain("unix:///run/docker.sock".into()),
            context: None,
            ssh_config: None,
            fleet_file: "/fleet.yaml".into(),
            runbook: "opsbook.yaml".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        Fleet {
            display: "fleet.yaml".into(),
            hosts: vec![
                host("web-1", &["prod", "eu"]),
                host("web-2", &["prod"]),
                host("erp", &["prod", "eu"]),
                host("lab", &[]),
            ],
        }
    }

    fn names(limit: &str) -> Vec<String> {
        let fleet = fleet();
        select(&fleet, Some(limit))
            .map(|hosts| hosts.iter().map(|h| h.name.clone()).collect())
            .unwrap_or_else(|e| vec![e.to_string()])
    }

    #[test]
    fn hosts_are_picked_by_name_group_and_glob_and_taken_away_with_a_bang() {
        assert_eq!(names("lab"), ["lab"]);
        assert_eq!(names("eu"), ["web-1", "erp"]);
        assert_eq!(names("web-*"), ["web-1", "web-2"]);
        assert_eq!(names("prod,!web-2"), ["web-1", "erp"]);
        assert_eq!(names("!prod"), ["lab"]);
        assert_eq!(names("lab:erp"), ["erp", "lab"]);
    }

    #[test]
    fn a_pattern_that_matches_nothing_is_refused_with_what_there_is() {
        let said = names("wbe-1").join("");
        assert!(
            said.contains("`wbe-1` matches no host of fleet.yaml (hosts: web-1, web-2, erp, lab; groups: eu, prod)"),
            "{said}"
        );
    }
}
