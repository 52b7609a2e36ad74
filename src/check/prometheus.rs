//! `prometheus` checks: an instant PromQL query against a Prometheus
//! server's HTTP API (`GET /api/v1/query`), its answer graded by the
//! check's `value` thresholds as any other number (the ERP page's "p95
//! under 1 s", "error rate under 1 %"). A query answering several series is
//! graded by its worst one, named by its labels; an answer with no number
//! in it (no series, a range, NaN) is crit and says why, since a missing
//! metric is not a healthy one.

use std::time::Instant;

use serde_json::Value;

use crate::grade::CheckResult;
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
        let graded = match self.ask(check, timeout).await {
            Err(reason) => failed(reason),
            Ok(series) => worst(spec, &series),
        };
        self.finish(name, graded, hint, started)
    }

    /// The query's series: each one's labels (`{job="api"}`) and value text.
    async fn ask(
        &self,
        check: &PrometheusCheck,
        timeout: std::time::Duration,
    ) -> Result<Vec<(String, String)>, String> {
        let base = check.url.value.trim_end_matches('/');
        let request = self
            .client()
            .get(format!("{base}/api/v1/query"))
            .query(&[("query", check.query.value.as_str())])
            .timeout(timeout);
        let (response, body, _) = fetch(request, timeout)
            .await
            .map_err(|(_, reason)| format!("cannot reach Prometheus at {base}: {reason}"))?;
        let code = response.status();
        let answer: Value = serde_json::from_slice(&body).map_err(|_| {
            format!(
                "{base} answered {code} with no Prometheus JSON{}",
                self.quote_body(&body)
            )
        })?;
        if answer["status"] != "success" {
            return Err(format!(
                "Prometheus refused the query ({}): {}",
                answer["errorType"].as_str().unwrap_or("error"),
                answer["error"].as_str().unwrap_or("no reason given")
            ));
        }
        series(&answer["data"])
    }
}

/// The series of an instant query's `data`: a scalar is one unnamed series.
fn series(data: &Value) -> Result<Vec<(String, String)>, String> {
    let number = |sample: &Value| sample[1].as_str().map(str::to_string);
    match data["resultType"].as_str() {
        Some("scalar") => number(&data["result"])
            .map(|n| vec![(String::new(), n)])
            .ok_or_else(|| "Prometheus's scalar has no value".into()),
        Some("vector") => {
            let result = data["result"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if result.is_empty() {
                return Err(
                    "the query returned no series (if none means zero, add `or vector(0)`)".into(),
                );
            }
            Ok(result
                .iter()
                .filter_map(|s| Some((labels(&s["metric"]), number(&s["value"])?)))
                .collect())
        }
        Some(other) => Err(format!(
            "the query answers a {other}, not a number: write an instant query (no `[5m]` range at its end)"
        )),
        None => Err("Prometheus's answer has no resultType".into()),
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
fn worst(spec: &ValueSpec, series: &[(String, String)]) -> Graded {
    let upward = spec.above.is_some();
    let mut graded: Vec<(&str, Graded)> = series
        .iter()
        .map(|(labels, text)| (labels.as_str(), value::grade(spec, text, None)))
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
        assert!(series(&empty).expect_err("empty").contains("no series"));
        let matrix: Value =
            serde_json::from_str(r#"{"resultType":"matrix","result":[]}"#).expect("json");
        assert!(
            series(&matrix)
                .expect_err("matrix")
                .contains("instant query")
        );
        let scalar: Value =
            serde_json::from_str(r#"{"resultType":"scalar","result":[1,"42"]}"#).expect("json");
        assert_eq!(series(&scalar), Ok(vec![(String::new(), "42".to_string())]));
    }
}
