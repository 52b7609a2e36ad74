//! `logs:` as written (and a service's own `logs`): the patterns counted
//! in containers' logs over a window, host log files and systemd units'
//! journals read the same way, and JSON lines graded on a field.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Name;
use super::thresholds::PercentLimits;
use crate::runbook::units::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Logs {
    pub since: Option<Duration>,
    #[serde(rename = "match", default, deserialize_with = "super::lists::names")]
    pub patterns: Vec<Name>,
    /// Matching lines per service above which the result is warn / crit.
    pub warn: Option<Spanned<u64>>,
    pub crit: Option<Spanned<u64>>,
    /// Matching lines as a share of all the window's lines ("error rate > 10%").
    pub rate: Option<PercentLimits>,
    /// JSON lines graded on a numeric field ("requests slower than 1000 ms").
    pub json_field: Option<JsonField>,
    /// Host log files by path (nginx's access log), each with these same
    /// settings, read from where the last check stopped.
    #[serde(default)]
    pub files: IndexMap<String, Logs>,
    /// systemd units by name (`nginx.service`), each with these same
    /// settings, their journal read over the window (`journalctl -u`).
    #[serde(default)]
    pub units: IndexMap<String, Logs>,
    /// The journal folder to read instead of the system's (a journal
    /// mounted from elsewhere: `journalctl -D`).
    pub journal_dir: Option<String>,
}

/// Lines whose JSON `field` is above a number, counted against warn / crit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonField {
    /// A dotted path into each line's JSON object.
    pub field: String,
    pub above: f64,
    pub warn: Option<Spanned<u64>>,
    pub crit: Option<Spanned<u64>>,
}
