//! Docker's own disk use (the pages' `docker system df`) graded against
//! `thresholds.docker_disk`: one host result that gives every kind's size
//! and reclaimable part, and names each limit crossed.

use crate::docker::{DiskUse, KindUse};
use crate::grade::{CheckResult, Status};
use crate::runbook::model::DockerDiskLimits;
use crate::runbook::units::Size;
use crate::ui::human;

pub(crate) const NAME: &str = "docker disk";

/// The result for Docker's disk use, or why it could not be read.
pub(crate) fn grade(limits: &DockerDiskLimits, used: Result<DiskUse, String>) -> CheckResult {
    let used = match used {
        Ok(used) => used,
        Err(reason) => return CheckResult::new("host", NAME, Status::Unknown, reason),
    };
    let kinds = [
        ("images", used.images, &limits.images),
        ("containers", used.containers, &limits.containers),
        ("volumes", used.volumes, &limits.volumes),
        ("build cache", used.build_cache, &limits.build_cache),
    ];
    let mut status = Status::Ok;
    let mut crossed = Vec::new();
    let total = used.total();
    let (warn, crit) = (
        limits.warn.as_ref().map(|w| w.value),
        limits.crit.as_ref().map(|c| c.value),
    );
    if let Some(over) = judge("total", total, warn, crit) {
        status = status.max(over.0);
        crossed.push(over.1);
    }
    for (kind, usage, pair) in &kinds {
        let Some(pair) = pair else { continue };
        if let Some(over) = judge(
            kind,
            usage.bytes,
            Some(pair.warn.value),
            Some(pair.crit.value),
        ) {
            status = status.max(over.0);
            crossed.push(over.1);
        }
    }
    let parts: Vec<String> = kinds
        .iter()
        .map(|(kind, usage, _)| describe(kind, *usage))
        .collect();
    let mut message = format!("Docker uses {}: {}", human::bytes(total), parts.join(", "));
    if !crossed.is_empty() {
        message.push_str(&format!("; {}", crossed.join(", ")));
    }
    CheckResult::new("host", NAME, status, message).with_value(total as f64, "bytes")
}

/// `images 1.9 GiB (1.2 GiB reclaimable)`.
fn describe(kind: &str, usage: KindUse) -> String {
    if usage.reclaimable == 0 {
        format!("{kind} {}", human::bytes(usage.bytes))
    } else {
        format!(
            "{kind} {} ({} reclaimable)",
            human::bytes(usage.bytes),
            human::bytes(usage.reclaimable)
        )
    }
}

/// The status and wording of a size over its warn or crit.
fn judge(
    what: &str,
    bytes: u64,
    warn: Option<Size>,
    crit: Option<Size>,
) -> Option<(Status, String)> {
    if let Some(crit) = crit.filter(|c| bytes > c.0) {
        return Some((
            Status::Crit,
            format!("{what} above crit {}", human::bytes(crit.0)),
        ));
    }
    let warn = warn.filter(|w| bytes > w.0)?;
    Some((
        Status::Warn,
        format!("{what} above warn {}", human::bytes(warn.0)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(text: &str) -> DockerDiskLimits {
        serde_saphyr::from_str(text).expect("limits parse")
    }

    fn used() -> DiskUse {
        let usage = |bytes, reclaimable| KindUse {
            count: 1,
            bytes,
            reclaimable,
        };
        DiskUse {
            images: usage(3 << 30, 1 << 30),
            containers: usage(10 << 20, 0),
            volumes: usage(500 << 20, 0),
            build_cache: usage(0, 0),
        }
    }

    #[test]
    fn the_total_and_each_kind_are_graded_and_named() {
        let result = grade(
            &limits("warn: 2GiB\ncrit: 8GiB\nvolumes: { warn: 100MiB, crit: 400MiB }\n"),
            Ok(used()),
        );
        assert_eq!(result.status, Status::Crit);
        assert_eq!(
            result.message,
            "Docker uses 3.5G: images 3.0G (1.0G reclaimable), containers 10.0M, volumes 500.0M, build cache 0B; total above warn 2.0G, volumes above crit 400.0M"
        );
    }

    #[test]
    fn under_every_limit_is_ok_and_an_unreadable_answer_unknown() {
        let result = grade(&limits("crit: 100GB\n"), Ok(used()));
        assert_eq!(result.status, Status::Ok);
        let result = grade(&limits("crit: 100GB\n"), Err("no answer".into()));
        assert_eq!(
            (result.status, result.message.as_str()),
            (Status::Unknown, "no answer")
        );
    }
}
