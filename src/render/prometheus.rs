//! Prometheus text exposition format, for node_exporter's textfile collector:
//! `opsbook … --format prometheus > /var/lib/node_exporter/opsbook.prom.tmp && mv …`.

use std::fmt::Write;

use super::Report;

pub(super) fn render(report: &Report) -> String {
    let base = format!(
        "command=\"{}\",runbook=\"{}\"",
        escape(&report.command),
        escape(&report.runbook)
    );
    let mut out = String::new();
    header(
        &mut out,
        "opsbook_status",
        "Overall status of the run: 0 ok, 1 warn, 2 crit, 3 unknown.",
    );
    let _ = writeln!(
        out,
        "opsbook_status{{{base}}} {}",
        report.status().exit_code()
    );
    section(
        &mut out,
        "opsbook_check_status",
        "Status of each result: 0 ok, 1 warn, 2 crit, 3 unknown.",
        report
            .results
            .iter()
            .map(|r| (r, f64::from(r.status.exit_code()))),
        &base,
    );
    section(
        &mut out,
        "opsbook_check_value",
        "The figure each result measured, in the unit of its `unit` label.",
        report
            .results
            .iter()
            .filter_map(|r| r.value.map(|v| (r, v))),
        &base,
    );
    header(
        &mut out,
        "opsbook_duration_seconds",
        "How long the run took.",
    );
    let _ = writeln!(
        out,
        "opsbook_duration_seconds{{{base}}} {}",
        report.duration.as_secs_f64()
    );
    header(
        &mut out,
        "opsbook_last_run_timestamp_seconds",
        "When the run started, in Unix seconds.",
    );
    let _ = writeln!(
        out,
        "opsbook_last_run_timestamp_seconds{{{base}}} {}",
        report.started_at.as_second()
    );
    out
}

fn section<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (&'a crate::grade::CheckResult, f64)>,
    base: &str,
) {
    let mut samples = samples.peekable();
    if samples.peek().is_some() {
        header(out, name, help);
    }
    for (result, value) in samples {
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
