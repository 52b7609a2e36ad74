//! Prometheus text exposition format, for node_exporter's textfile collector:
//! `opsbook … --format prometheus > /var/lib/node_exporter/opsbook.prom.tmp && mv …`.

use std::fmt::Write;

use super::Report;

pub(super) fn render(report: &Report) -> String {
    let base = |report: &Report| {
        format!(
            "command=\"{}\",runbook=\"{}\"",
            escape(&report.command),
            escape(&report.runbook)
        )
    };
    // Over a fleet each host's samples carry its `host` label; each family
    // still has its HELP and TYPE once.
    let subjects: Vec<(String, &Report)> = if report.hosts.is_empty() {
        vec![(base(report), report)]
    } else {
        report
            .hosts
            .iter()
            .map(|(host, own)| (format!("{},host=\"{}\"", base(own), escape(host)), own))
            .collect()
    };
    let mut out = String::new();
    header(
        &mut out,
        "opsbook_status",
        "Overall status of the run: 0 ok, 1 warn, 2 crit, 3 unknown.",
    );
    for (base, report) in &subjects {
        let _ = writeln!(
            out,
            "opsbook_status{{{base}}} {}",
            report.status().exit_code()
        );
    }
    section(
        &mut out,
        "opsbook_check_status",
        "Status of each result: 0 ok, 1 warn, 2 crit, 3 unknown.",
        subjects.iter().flat_map(|(base, report)| {
            report
                .results
                .iter()
                .map(move |r| (base.as_str(), r, f64::from(r.status.exit_code())))
        }),
    );
    section(
        &mut out,
        "opsbook_check_value",
        "The figure each result measured, in the unit of its `unit` label.",
        subjects.iter().flat_map(|(base, report)| {
            report
                .results
                .iter()
                .filter_map(move |r| r.value.map(|v| (base.as_str(), r, v)))
        }),
    );
    header(
        &mut out,
        "opsbook_duration_seconds",
        "How long the run took.",
    );
    for (base, report) in &subjects {
        let _ = writeln!(
            out,
            "opsbook_duration_seconds{{{base}}} {}",
            report.duration.as_secs_f64()
        );
    }
    header(
        &mut out,
        "opsbook_last_run_timestamp_seconds",
        "When the run started, in Unix seconds.",
    );
    for (base, report) in &subjects {
        let _ = writeln!(
            out,
            "opsbook_last_run_timestamp_seconds{{{base}}} {}",
            report.started_at.as_second()
        );
    }
    out
}

fn section<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (&'a str, &'a crate::grade::CheckResult, f64)>,
) {
    let mut samples = samples.peekable();
    if samples.peek().is_some() {
        header(out, name, help);
    }
    for (base, result, value) in samples {
        let unit = result
            .unit
            .map(|u| format!(",unit=\"{u}\""))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{name}{{{base},section=\"{}\",name=\"{}\"{unit}}} {value}",
            escape(&result.section),
            escape(&result.name)
        );
    }
}

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
