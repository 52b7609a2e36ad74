//! A number a check reads (`value:`): from a command's output (all of it,
//! or a regex's first group), a dotted JSON path of a body or an output, or
//! a request's response time; graded against `above` and `below` warn and
//! crit, in the unit the thresholds are written in. "Fewer than 150
//! connections" is `above: { crit: 150 }`, not a query that prints `t`.

use std::time::Duration;

use serde_json::Value;

use crate::grade::Status;
use crate::runbook::model::{Bounds, ValueSpec};
use crate::runbook::units::Quantity;

use super::http::lookup;

/// A number read and graded: its status, the message, and the figure with
/// its unit for the result (and so the history).
pub(super) struct Graded {
    pub status: Status,
    pub message: String,
    pub figure: Option<(f64, &'static str)>,
}

/// Reads the check's number from `text` (a body or an output) or the
/// response time, and grades it.
pub(super) fn grade(spec: &ValueSpec, text: &str, response_time: Option<Duration>) -> Graded {
    let Some(kind) = threshold_kind(spec) else {
        return Graded {
            status: Status::Unknown,
            message: "the value has no thresholds".into(),
            figure: None,
        };
    };
    let reading = match read(spec, kind, text, response_time) {
        Ok(reading) => reading,
        Err(reason) => {
            return Graded {
                status: Status::Crit,
                message: format!("cannot read the value: {reason}"),
                figure: None,
            };
        }
    };
    let value = reading.amount();
    let crossed = [(&spec.above, "above", true), (&spec.below, "below", false)]
        .into_iter()
        .filter_map(|(bounds, word, upward)| Some((bounds.as_ref()?, word, upward)))
        .find_map(|(bounds, word, upward)| crossing(bounds, word, upward, value));
    let (status, message) = match crossed {
        Some((status, word, limit)) => (
            status,
            format!("value {reading}, {word} {status} {}", kind.with(limit)),
        ),
        None => (Status::Ok, format!("value {reading}")),
    };
    Graded {
        status,
        message,
        figure: Some((value, kind.unit())),
    }
}

/// The thresholds' kind (validation makes them all one kind).
fn threshold_kind(spec: &ValueSpec) -> Option<Quantity> {
    [&spec.above, &spec.below]
        .into_iter()
        .flatten()
        .flat_map(|b| [&b.crit, &b.warn])
        .flatten()
        .map(|q| q.value)
        .next()
}

/// The worst threshold `value` is past, with its word and amount.
fn crossing(
    bounds: &Bounds,
    word: &'static str,
    upward: bool,
    value: f64,
) -> Option<(Status, &'static str, f64)> {
    let past = |limit: f64| if upward { value > limit } else { value < limit };
    for (status, limit) in [(Status::Crit, &bounds.crit), (Status::Warn, &bounds.warn)] {
        if let Some(limit) = limit
            && past(limit.value.amount())
        {
            return Some((status, word, limit.value.amount()));
        }
    }
    None
}

/// The number, in the thresholds' kind.
fn read(
    spec: &ValueSpec,
    kind: Quantity,
    text: &str,
    response_time: Option<Duration>,
) -> Result<Quantity, String> {
    if spec.response_time {
        let took = response_time.ok_or("this check has no response time")?;
        return Ok(Quantity::Seconds(took.as_secs_f64()));
    }
    if let Some(path) = &spec.json {
        let parsed: Value =
            serde_json::from_str(text).map_err(|_| "the answer is not JSON".to_string())?;
        let found = lookup(&parsed, path).ok_or_else(|| format!("`{path}` is missing"))?;
        let found = match found {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        return kind.read_as(&found);
    }
    if let Some(regex) = &spec.regex {
        // Validation compiled it; a failure here names it anyway.
        let pattern = regex::Regex::new(&regex.value).map_err(|e| e.to_string())?;
        let captures = pattern
            .captures(text)
            .ok_or_else(|| format!("`{}` does not match the output", regex.value))?;
        let found = captures
            .get(1)
            .or_else(|| captures.get(0))
            .map_or("", |m| m.as_str());
        return kind.read_as(found);
    }
    kind.read_as(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> ValueSpec {
        serde_saphyr::from_str(yaml).expect("a value spec")
    }

    #[test]
    fn above_and_below_grade_in_the_thresholds_unit() {
        let connections = spec("above: { warn: 120, crit: 150 }");
        assert_eq!(grade(&connections, "97\n", None).status, Status::Ok);
        assert_eq!(grade(&connections, "130", None).status, Status::Warn);
        let crit = grade(&connections, "152", None);
        assert_eq!(
            (crit.status, crit.message.as_str()),
            (Status::Crit, "value 152, above crit 150")
        );
        let hits = spec("json: stats.hit_rate\nbelow: { warn: 95%, crit: 90% }");
        let low = grade(&hits, r#"{"stats": {"hit_rate": 93.5}}"#, None);
        assert_eq!(
            (low.status, low.message.as_str()),
            (Status::Warn, "value 93.5%, below warn 95%")
        );
        let memory = spec(
            r"regex: 'used_memory:(\d+)'
above: { warn: 400MiB, crit: 512MiB }",
        );
        let used = grade(&memory, "# Memory\nused_memory:471859200\n", None);
        assert_eq!(
            (used.status, used.message.as_str()),
            (Status::Warn, "value 450.0 MiB, above warn 400.0 MiB")
        );
        assert_eq!(used.figure, Some((471_859_200.0, "bytes")));
        let slow = spec("response_time: true\nabove: { warn: 500ms, crit: 1s }");
        let took = grade(&slow, "", Some(Duration::from_millis(700)));
        assert_eq!(
            (took.status, took.message.as_str()),
            (Status::Warn, "value 700ms, above warn 500ms")
        );
    }

    #[test]
    fn an_unreadable_value_is_crit_and_says_why() {
        let connections = spec("above: { crit: 150 }");
        let bad = grade(&connections, "ERROR: relation does not exist", None);
        assert_eq!(bad.status, Status::Crit);
        assert_eq!(
            bad.message,
            "cannot read the value: `ERROR: relation does not exist` is not a number"
        );
    }
}
