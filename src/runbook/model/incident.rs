//! `incident:` as written: where incidents are kept, their severities,
//! contacts, checklist, playbooks, and the evidence gathered when one opens.

use indexmap::IndexMap;
use serde::Deserialize;

use super::steps::Step;
use crate::runbook::units::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Incident {
    pub dir: String,
    #[serde(default)]
    pub severities: IndexMap<String, Severity>,
    #[serde(default, deserialize_with = "super::lists::strings")]
    pub contacts: Vec<String>,
    #[serde(default, deserialize_with = "super::lists::strings")]
    pub checklist: Vec<String>,
    #[serde(default)]
    pub playbooks: IndexMap<String, Vec<Step>>,
    pub evidence: Option<Evidence>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Severity {
    pub respond_within: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Evidence {
    /// Log lines of each service kept in the evidence bundle (default 200).
    pub log_lines: Option<u32>,
}
