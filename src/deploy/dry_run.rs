//! How a dry run of an operation on the deployment shows its plan: one
//! table of the tiers (tier, service, action), the plan in the JSON, and a
//! result saying nothing was changed.

use serde_json::json;

use crate::grade::CheckResult;
use crate::render::{Block, Report};

/// One row per service: its tier (from 1), its name, what would happen.
pub(super) fn rows(tiers: &[Vec<String>], action: impl Fn(&str) -> String) -> Vec<Vec<String>> {
    tiers
        .iter()
        .enumerate()
        .flat_map(|(n, tier)| {
            let action = &action;
            tier.iter()
                .map(move |s| vec![(n + 1).to_string(), s.clone(), action(s)])
        })
        .collect()
}

/// The table of `rows`.
pub(super) fn table(rows: Vec<Vec<String>>) -> Block {
    Block::Table {
        header: vec!["tier", "service", "action"],
        rows,
    }
}

/// A stack's dry run: its table and plan, and the result saying nothing
/// changed.
pub(super) fn stack_plan(
    report: &mut Report,
    section: &str,
    tiers: &[Vec<String>],
    rows: Vec<Vec<String>>,
) {
    report
        .extra
        .insert("plan".into(), json!({"tiers": tiers, "mode": "swarm"}));
    report.blocks.push(table(rows));
    report.results.push(CheckResult::dry_run(section));
}
