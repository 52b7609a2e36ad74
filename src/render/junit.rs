//! JUnit XML for CI: one test suite per section, one test case per result;
//! warn and crit are failures, unknown is an error.

use std::collections::BTreeMap;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::Report;
use crate::grade::Status;

pub(super) fn render(report: &Report) -> String {
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for result in &report.results {
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
        case.set_classname(format!("opsbook.{}.{}", report.command, result.section));
        if let Some(ms) = result.duration_ms {
            case.set_time(std::time::Duration::from_millis(ms));
        }
        if result.status == Status::Ok {
            case.set_system_out(result.message.clone());
        }
        suites
            .entry(result.section.as_str())
            .or_insert_with(|| TestSuite::new(format!("{} {}", report.command, result.section)))
            .add_test_case(case);
    }
    let mut junit =
        quick_junit::Report::new(format!("opsbook {} ({})", report.command, report.runbook));
    junit.set_time(report.duration);
    junit.add_test_suites(suites.into_values());
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
