//! JUnit XML for CI: one test suite per section (over a fleet: per host),
//! one test case per result; warn and crit are failures, unknown is an error.

use std::collections::BTreeMap;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::Report;
use crate::grade::{CheckResult, Status};

pub(super) fn render(report: &Report) -> String {
    let suites: Vec<TestSuite> = if report.hosts.is_empty() {
        section_suites(report).into_values().collect()
    } else {
        report
            .hosts
            .iter()
            .map(|(host, own)| host_suite(&report.command, host, own))
            .collect()
    };
    let mut junit =
        quick_junit::Report::new(format!("opsbook {} ({})", report.command, report.runbook));
    junit.set_time(report.duration);
    junit.add_test_suites(suites);
    match junit.to_string() {
        Ok(mut xml) => {
            if !xml.ends_with('\n') {
                xml.push('\n');
            }
            xml
        }
        // Serialising to a String cannot fail on I/O; keep the output well-formed anyway.
        Err(e) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"opsbook\" errors=\"1\"><!-- {e} --></testsuites>\n"
        ),
    }
}

/// One test suite per section of a report.
fn section_suites(report: &Report) -> BTreeMap<&str, TestSuite> {
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for result in &report.results {
        let case = test_case(
            result,
            format!("opsbook.{}.{}", report.command, result.section),
        );
        suites
            .entry(result.section.as_str())
            .or_insert_with(|| TestSuite::new(format!("{} {}", report.command, result.section)))
            .add_test_case(case);
    }
    suites
}

/// One host's results as one test suite, its cases classed by host and section.
fn host_suite(command: &str, host: &str, report: &Report) -> TestSuite {
    let mut suite = TestSuite::new(format!("{host}: {command}"));
    suite.set_time(report.duration);
    for result in &report.results {
        suite.add_test_case(test_case(
            result,
            format!("opsbook.{command}.{host}.{}", result.section),
        ));
    }
    suite
}

fn test_case(result: &CheckResult, classname: String) -> TestCase {
    let status = match result.status {
        Status::Ok => TestCaseStatus::success(),
        Status::Warn | Status::Crit => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(format!("{}: {}", result.status, result.message));
            status.set_type(result.status.as_str());
            status
        }
        Status::Unknown => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(result.message.clone());
            status.set_type("unknown");
            status
        }
    };
    let mut case = TestCase::new(result.name.clone(), status);
    case.set_classname(classname);
    if let Some(ms) = result.duration_ms {
        case.set_time(std::time::Duration::from_millis(ms));
    }
    if result.status == Status::Ok {
        case.set_system_out(result.message.clone());
    }
    case
}
