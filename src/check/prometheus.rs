//! `prometheus` checks: an instant PromQL query against a Prometheus
//! server's HTTP API (`GET /api/v1/query`), its answer graded by the
//! check's `value` thresholds as any other number (the ERP page's "p95
//! under 1 s", "error rate under 1 %"). A query answering several series is
//! graded by its worst one, named by its labels. An answer without data
//! (no series, NaN as a 0/0 rate gives with no traffic, ±Inf) grades as the
//! check's `no_data` says, crit unless it says otherwise (a missing metric
//! is not a healthy one), and the message says which of the three it was.
//! A range or a refused query is crit and says why.

use std::time::Instant;

use serde_json::Value;

use crate::grade::{CheckResult, Status};
use crate::runbook::model::{PrometheusCheck, ValueSpec};

use super::exec::failed;
use super::http::fetch;
use super::value::{self, Graded};
use super::{DEFAULT_TIMEOUT, Probe};

impl Probe<'_> {
    pub(crate) async fn prometheus(
        &self,
        name: &str,
        check: &PrometheusCheck,
        spec: &ValueSpec,
        hint: Option<&str>,
    ) -> CheckResult {
        let started = Instant::now();
        let timeout = check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
        let no_data = check.no_data.unwrap_or(Status::Crit);
        let graded = match self.ask(check, timeout).await {
            Err(Unanswered::NoData(reason)) => without_data(no_data, reason),
            Err(Unanswered::Failed(reason)) => failed(reason),
            Ok(series) => worst(spec, &series, no_data),
        };
        self.finish(name, graded, hint, started)
    }

    /// The query's series: each one's labels (`{job="api"}`) and value text.
    async fn ask(
        &self,
        check: &PrometheusCheck,
        timeout: std::time::Duration,
    ) -> Result<Vec<(String, String)>, Unanswered> {
        let base = check.url.value.trim_end_matches('/');
        let request = self
            .client()
            .get(format!("{base}/api/v1/query"))
            .query(&[("query", check.query.value.as_str())])
            .timeout(timeout);
        let (response, body, _) = fetch(request, timeout).await.map_err(|(_, reason)| {
            Unanswered::Failed(format!("cannot reach Prometheus at {base}: {reason}"))
        })?;
        let code = response.status();
        let answer: Value = serde_json::from_slice(&body).map_err(|_| {
            Unanswered::Failed(format!(
                "{base} answered {code} with no Prometheus JSON{}",
                self.quote_body(&body)
            ))
        })?;
        if answer["status"] != "success" {
            return Err(Unanswered::Failed(format!(
                "Prometheus refused the query ({}): {}",
                answer["errorType"].as_str().unwrap_or("error"),
                answer["error"].as_str().unwrap_or("no reason given")
            )));
        }
        series(&answer["data"])
    }
}

/// Why a query gave no number: no data (graded by `no_data`), or a failure.
#[derive(Debug)]
enum Unanswered {
    NoData(String),
    Failed(String),
}

/// An answer without data, graded as `no_data` says; the message says
/// what it was, and that `no_data` graded it when that is not crit.
fn without_data(no_data: Status, what: String) -> Graded {
    // `or vector(0)` fills in an absent series, never a NaN one.
    let way = if what.contains("no series") {
        "if none means zero, add `or vector(0)`, or set `no_data`"
    } else {
        "if that means no traffic, set `no_data: ok`"
    };
    let message = match no_data {
        Status::Crit => format!("no data: {what} ({way})"),
        other => format!("no data: {what} (no_data: {other})"),
    };
    Graded {
        status: no_data,
        message,
        figure: None,
    }
}

/// What a value text without a number is: NaN, +Inf or -Inf (Prometheus
/// writes them so), or `None` for a number.
fn no_number(text: &str) -> Option<&'static str> {
    match text {
        "NaN" => Some("the value is NaN (0/0, as a rate over no traffic gives)"),
        "+Inf" => Some("the value is +Inf"),
        "-Inf" => Some("the value is -Inf"),
        _ => None,
    }
}

/// The series of an instant query's `data`: a scalar is one unnamed series.
fn series(data: &Value) -> Result<Vec<(String, String)>, Unanswered> {
    let number = |sample: &Value| sample[1].as_str().map(str::to_string);
    let failed = |reason: &str| Unanswered::Failed(reason.to_string());
    match data["resultType"].as_str() {
        Some("scalar") => number(&data["result"])
            .map(|n| vec![(String::new(), n)])
            .ok_or_else(|| failed("Prometheus's scalar has no value")),
        Some("vector") => {
            let result = data["result"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if result.is_empty() {
                return Err(Unanswered::NoData("the query returned no series".into()));
            }
            Ok(result
                .iter()
                .filter_map(|s| Some((labels(&s["metric"]), number(&s["value"])?)))
                .collect())
        }
        Some(other) => Err(Unanswered::Failed(format!(
            "the query answers a {other}, not a number: write an instant query (no `[5m]` range at its end)"
        ))),
        None => Err(failed("Prometheus's answer has no resultType")),
    }
}

/// `{job="api",status="500"}`, or nothing for a series without labels.
fn labels(metric: &Value) -> String {
    let Some(map) = metric.as_object().filter(|m| !m.is_empty()) else {
        return String::new();
    };
    let pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or_default()))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

/// Each series graded; the worst named when there are several: the
/// highest status, then the furthest value in the thresholds' direction.
fn worst(spec: &ValueSpec, series: &[(String, String)], no_data: Status) -> Graded {
    let upward = spec.above.is_some();
    let mut graded: Vec<(&str, Graded)> = series
        .iter()
        .map(|(labels, text)| {
            let graded = match no_number(text) {
                Some(what) => without_data(no_data, what.to_string()),
                None => value::grade(spec, text, None),
            };
            (labels.as_str(), graded)
        })
        .collect();
    let count = graded.len();
    let rank = |g: &Graded| {
        let figure = g
            .figure
            .map_or(f64::NAN, |(v, _)| if upward { v } else { -v });
        (
            g.status.severity(),
            if figure.is_nan() { f64::MIN } else { figure },
        )
    };
    let Some(index) = (0..count).max_by(|&a, &b| {
        let (sa, fa) = rank(&graded[a].1);
        let (sb, fb) = rank(&graded[b].1);
        sa.cmp(&sb).then(fa.total_cmp(&fb)).then(b.cmp(&a))
    }) else {
        return failed("the query returned no series with a value".into());
    };
    let (labels, mut picked) = graded.swap_remove(index);
    let named = if labels.is_empty() {
        String::new()
    } else {
        format!("{labels}: ")
    };
    let of = if count > 1 {
        format!(" (worst of {count} series)")
    } else {
        String::new()
    };
    picked.message = format!("{named}{}{of}", picked.message);
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::Status;

    fn spec(yaml: &str) -> ValueSpec {
        serde_saphyr::from_str(yaml).expect("spec parses")
    }

    #[test]
    fn the_worst_series_is_graded_and_named() {
        let data: Value = serde_json::from_str(
            r#"{"resultType":"vector","result":[
                {"metric":{"job":"a"},"value":[1,"0.2"]},
                {"metric":{"job":"b"},"value":[1,"1.5"]},
                {"metric":{"job":"c"},"value":[1,"0.9"]}]}"#,
        )
        .expect("json");
        let graded = worst(
            &spec("above: { warn: 800ms, crit: 1s }"),
            &series(&data).expect("series"),
            Status::Crit,
        );
        assert_eq!(graded.status, Status::Crit);
        assert_eq!(
            graded.message,
            "{job=\"b\"}: value 1.5s, above crit 1s (worst of 3 series)"
        );
    }

    #[test]
    fn no_number_in_the_answer_says_why() {
        let empty: Value =
            serde_json::from_str(r#"{"resultType":"vector","result":[]}"#).expect("json");
        assert!(matches!(series(&empty), Err(Unanswered::NoData(r)) if r.contains("no series")));
        let matrix: Value =
            serde_json::from_str(r#"{"resultType":"matrix","result":[]}"#).expect("json");
        assert!(
            matches!(series(&matrix), Err(Unanswered::Failed(r)) if r.contains("instant query"))
        );
        let scalar: Value =
            serde_json::from_str(r#"{"resultType":"scalar","result":[1,"42"]}"#).expect("json");
        assert_eq!(
            series(&scalar).expect("scalar"),
            vec![(String::new(), "42".to_string())]
        );
    }

    #[test]
    fn nan_and_infinities_are_no_data_graded_by_no_data() {
        let series = |text: &str| vec![(String::new(), text.to_string())];
        let spec = spec("above: { warn: 800ms, crit: 1s }");
        let nan = worst(&spec, &series("NaN"), Status::Crit);
        assert_eq!(nan.status, Status::Crit);
        assert!(
            nan.message.starts_with("no data: the value is NaN"),
            "{}",
            nan.message
        );
        let quiet = worst(&spec, &series("NaN"), Status::Ok);
        assert_eq!(quiet.status, Status::Ok);
        assert!(
            quiet.message.ends_with("(no_data: ok)"),
            "{}",
            quiet.message
        );
        assert_eq!(
            worst(&spec, &series("+Inf"), Status::Warn).status,
            Status::Warn
        );
        assert_eq!(
            worst(&spec, &series("-Inf"), Status::Unknown).status,
            Status::Unknown
        );
    }
}
