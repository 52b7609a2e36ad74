//! Whose scratch resources are whose: every resource a drill makes is
//! labelled with the drill's id, its project and the process running it
//! (pid, start time, boot), and a drill first removes what drills of its
//! project left when they were killed. A drill is gone when its boot is
//! over, its pid is free, or its pid now belongs to a process that started
//! at another time (the pid was reused); only then are its resources
//! removed.

use std::path::Path;

use crate::docker::{Deployment, ScratchDrill};
use crate::grade::{CheckResult, Status};
use crate::host::process::{self, Seen};
use crate::render::Report;
use crate::runbook::units;

use super::SECTION;
use super::cleanup::{CLEANUP_TIMEOUT, problems, removed_counts};

/// How the resources of drill `drill` of `project`, run by this process,
/// are labelled.
pub(super) fn this_drill(drill: &str, project: &str) -> ScratchDrill {
    let me = process::own();
    ScratchDrill {
        drill: drill.to_string(),
        project: project.to_string(),
        pid: i32::try_from(me.pid).ok(),
        started: me.started,
        boot: me.boot,
    }
}

/// The scratch resources of drills that were killed before they cleaned up.
pub(super) async fn clean_leftovers(
    deployment: &Deployment,
    project: &str,
    state_dir: &Path,
    report: &mut Report,
) {
    let Ok(drills) = deployment.scratch_drills().await else {
        return;
    };
    let boot = process::boot_id();
    let gone = |d: &ScratchDrill| {
        d.project == project && is_gone(d, boot.as_deref(), d.pid.map(process::look))
    };
    for old in drills.into_iter().filter(gone) {
        let old = old.drill;
        let name = format!("leftovers {old}");
        let Ok(removed) =
            tokio::time::timeout(CLEANUP_TIMEOUT, deployment.remove_scratch(&old)).await
        else {
            report.results.push(CheckResult::new(
                SECTION,
                name,
                Status::Warn,
                format!(
                    "the engine did not finish removing what drill {old} left behind within {}",
                    units::Duration(CLEANUP_TIMEOUT)
                ),
            ));
            continue;
        };
        let _ = std::fs::remove_dir_all(state_dir.join("drills").join(&old));
        let status = if removed.problems.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        };
        report.results.push(CheckResult::new(
            SECTION,
            name,
            status,
            format!(
                "removed what drill {old} left behind ({}){}",
                removed_counts(&removed),
                problems(&removed.problems)
            ),
        ));
    }
}

/// Whether the process that ran `drill` is gone, given the current boot and
/// what a look at its pid found (None: it has no pid label). Anything that
/// may still be the drill under way is kept: a resource an older opsbook
/// labelled with its pid only is kept while that pid runs, as before.
fn is_gone(drill: &ScratchDrill, boot: Option<&str>, seen: Option<Seen>) -> bool {
    if let (Some(theirs), Some(ours)) = (drill.boot.as_deref(), boot)
        && theirs != ours
    {
        return true;
    }
    match seen {
        None | Some(Seen::Gone) => true,
        Some(Seen::Running { started }) => match (drill.started, started) {
            (Some(labelled), Some(now)) => labelled != now,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill(started: Option<u64>, boot: Option<&str>) -> ScratchDrill {
        ScratchDrill {
            drill: "c62ae78f".to_string(),
            project: "shop".to_string(),
            pid: Some(4242),
            started,
            boot: boot.map(str::to_string),
        }
    }

    const THEN: Option<u64> = Some(987_654);
    const RUNNING_SINCE_THEN: Option<Seen> = Some(Seen::Running { started: THEN });

    #[test]
    fn a_drill_whose_process_runs_since_it_began_is_kept() {
        assert!(!is_gone(
            &drill(THEN, Some("b1")),
            Some("b1"),
            RUNNING_SINCE_THEN
        ));
        assert!(!is_gone(&drill(THEN, None), Some("b1"), RUNNING_SINCE_THEN));
    }

    #[test]
    fn a_reused_pid_or_another_boot_is_not_the_drill() {
        let later = Some(Seen::Running {
            started: Some(1_000_000),
        });
        assert!(is_gone(&drill(THEN, Some("b1")), Some("b1"), later));
        // After a reboot even the same pid and start time are another process.
        assert!(is_gone(
            &drill(THEN, Some("b0")),
            Some("b1"),
            RUNNING_SINCE_THEN
        ));
        assert!(is_gone(
            &drill(THEN, Some("b1")),
            Some("b1"),
            Some(Seen::Gone)
        ));
        assert!(is_gone(&drill(THEN, Some("b1")), Some("b1"), None));
    }

    #[test]
    fn a_pid_only_label_is_judged_by_the_pid_and_an_unreadable_start_keeps_it() {
        assert!(!is_gone(&drill(None, None), Some("b1"), RUNNING_SINCE_THEN));
        assert!(is_gone(&drill(None, None), Some("b1"), Some(Seen::Gone)));
        let unreadable = Some(Seen::Running { started: None });
        assert!(!is_gone(&drill(THEN, Some("b1")), Some("b1"), unreadable));
        // Our own boot unreadable: the start time still decides.
        assert!(!is_gone(&drill(THEN, Some("b1")), None, RUNNING_SINCE_THEN));
    }
}
