//! `/metrics`: the cache in Prometheus' text format, by its naming rules:
//! one `opsbook_` prefix, base units (seconds, bytes, ratios 0–1), `_total`
//! for counters, label values bounded by the runbook (check, heartbeat and
//! job names, disk paths). A scrape renders the cache (the heartbeats
//! graded at that moment); it never starts work.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::cache::{Cache, Outcome};
use crate::grade::Status;

/// The status as a number: 0 ok, 1 warn, 2 crit, 3 unknown (the exit codes).
fn code(status: Status) -> u8 {
    status.exit_code()
}

/// A label value, escaped as the format wants.
pub(super) fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out {
    text: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
            .collect();
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.join(","))
        };
        let _ = writeln!(self.text, "{name}{labels} {value}");
    }
}

pub(super) fn render(cache: &Cache) -> String {
    let mut out = Out {
        text: String::with_capacity(8 * 1024),
    };
    out.family(
        "opsbook_build_info",
        "gauge",
        "The opsbook version serving (always 1).",
    );
    out.sample(
        "opsbook_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    out.family(
        "opsbook_agent_start_time_seconds",
        "gauge",
        "When this agent started (Unix time).",
    );
    out.sample(
        "opsbook_agent_start_time_seconds",
        &[],
        cache.started_at.as_second() as f64,
    );
    runs(cache, &mut out);
    checks(cache, &mut out);
    heartbeats(cache, &mut out);
    uptime(cache, &mut out);
    host(cache, &mut out);
    backups(cache, &mut out);
    incidents(cache, &mut out);
    heal(cache, &mut out);
    out.family(
        "opsbook_reloads_total",
        "counter",
        "Runbook reloads (SIGHUP), by result.",
    );
    out.sample(
        "opsbook_reloads_total",
        &[("result", "ok")],
        cache.reloads as f64,
    );
    out.sample(
        "opsbook_reloads_total",
        &[("result", "refused")],
        cache.reload_failures as f64,
    );
    out.text
}

fn incidents(cache: &Cache, out: &mut Out) {
    let now = jiff::Timestamp::now();
    out.family(
        "opsbook_incidents_open",
        "gauge",
        "Open incidents, by severity.",
    );
    let mut by_severity: BTreeMap<&str, usize> = BTreeMap::new();
    for incident in &cache.incidents {
        *by_severity.entry(incident.severity.as_str()).or_default() += 1;
    }
    for (severity, count) in by_severity {
        out.sample(
            "opsbook_incidents_open",
            &[("severity", severity)],
            count as f64,
        );
    }
    out.family(
        "opsbook_incidents_overdue",
        "gauge",
        "Open incidents not acknowledged within their severity's respond_within.",
    );
    let overdue = cache.incidents.iter().filter(|i| i.is_overdue(now)).count();
    out.sample("opsbook_incidents_overdue", &[], overdue as f64);
    out.family(
        "opsbook_maintenance_active",
        "gauge",
        "1 while a maintenance window holds alerts and heal.",
    );
    out.sample(
        "opsbook_maintenance_active",
        &[],
        if cache.maintenance.is_some() {
            1.0
        } else {
            0.0
        },
    );
}

/// Each copy target as the last daily-check saw it: its grade, and when
/// its newest copy was made (the check's age of it, from the check's time).
fn copies(cache: &Cache, out: &mut Out) {
    let Some(daily) = &cache.daily else {
        return;
    };
    let targets: Vec<(&str, &super::cache::Graded)> = daily
        .results
        .iter()
        .filter(|r| r.section == "backups")
        .filter_map(|r| Some((r.name.strip_prefix("copy ")?, r)))
        .collect();
    if targets.is_empty() {
        return;
    }
    out.family(
        "opsbook_backup_copy_status",
        "gauge",
        "The daily-check's grade of each copy target (0 ok, 1 warn, 2 crit, 3 unknown).",
    );
    for (target, result) in &targets {
        out.sample(
            "opsbook_backup_copy_status",
            &[("target", target)],
            f64::from(code(result.status)),
        );
    }
    out.family(
        "opsbook_backup_copy_last_success_timestamp_seconds",
        "gauge",
        "When the newest complete copy on each target was made (Unix time).",
    );
    for (target, result) in &targets {
        if let (Some(age), Some("seconds")) = (result.value, result.unit.as_deref()) {
            let made = daily.at.as_second() as f64 - age;
            out.sample(
                "opsbook_backup_copy_last_success_timestamp_seconds",
                &[("target", target)],
                made,
            );
        }
    }
}

/// Each service's image as the last daily-check's `images` part saw it:
/// 1 when its registry has an update (a moved tag, a newer version).
fn image_updates(cache: &Cache, out: &mut Out) {
    let Some(daily) = &cache.daily else {
        return;
    };
    let services: Vec<(&str, f64)> = daily
        .results
        .iter()
        .filter(|r| {
            r.section == crate::images::check::SECTION && r.unit.as_deref() == Some("update")
        })
        .filter_map(|r| Some((r.name.as_str(), r.value?)))
        .collect();
    if services.is_empty() {
        return;
    }
    out.family(
        "opsbook_image_update_available",
        "gauge",
        "Whether each service's registry has an update for its image (1) or not (0), as the last daily-check saw it.",
    );
    for (service, available) in services {
        out.sample(
            "opsbook_image_update_available",
            &[("service", service)],
            available,
        );
    }
}

fn heal(cache: &Cache, out: &mut Out) {
    if cache.heal.is_empty() {
        return;
    }
    out.family(
        "opsbook_heal_restarts_total",
        "counter",
        "Restarts heal made of an unhealthy service, since the agent started.",
    );
    for (service, state) in &cache.heal {
        out.sample(
            "opsbook_heal_restarts_total",
            &[("service", service)],
            state.restarts as f64,
        );
    }
    out.family(
        "opsbook_heal_gave_up_total",
        "counter",
        "Times heal reached max_restarts and opened an incident, since the agent started.",
    );
    for (service, state) in &cache.heal {
        out.sample(
            "opsbook_heal_gave_up_total",
            &[("service", service)],
            state.gave_up as f64,
        );
    }
    out.family(
        "opsbook_heal_restarts_in_window",
        "gauge",
        "Restarts heal made of the service within its window.",
    );
    for (service, state) in &cache.heal {
        out.sample(
            "opsbook_heal_restarts_in_window",
            &[("service", service)],
            state.restarts_in_window as f64,
        );
    }
}

fn runs(cache: &Cache, out: &mut Out) {
    out.family(
        "opsbook_runs_total",
        "counter",
        "Scheduled runs, by command and outcome (skipped: the lock was held).",
    );
    for (command, state) in &cache.jobs {
        for outcome in Outcome::ALL {
            let n = state.runs.get(&outcome).copied().unwrap_or(0);
            out.sample(
                "opsbook_runs_total",
                &[("command", command), ("outcome", outcome.as_str())],
                n as f64,
            );
        }
    }
    out.family(
        "opsbook_last_run_duration_seconds",
        "gauge",
        "How long each command's last run took.",
    );
    for (command, state) in &cache.jobs {
        if let Some(last) = &state.last {
            out.sample(
                "opsbook_last_run_duration_seconds",
                &[("command", command)],
                last.took.as_secs_f64(),
            );
        }
    }
    out.family(
        "opsbook_last_run_timestamp_seconds",
        "gauge",
        "When each command last ran (Unix time).",
    );
    for (command, state) in &cache.jobs {
        if let Some(last) = &state.last {
            out.sample(
                "opsbook_last_run_timestamp_seconds",
                &[("command", command)],
                last.at.as_second() as f64,
            );
        }
    }
    out.family(
        "opsbook_last_run_exit_code",
        "gauge",
        "The exit code of each command's last run (0 ok, 1 warn, 2 crit, 3 could not run).",
    );
    for (command, state) in &cache.jobs {
        if let Some(last) = &state.last {
            out.sample(
                "opsbook_last_run_exit_code",
                &[("command", command)],
                f64::from(last.exit_code),
            );
        }
    }
}

fn checks(cache: &Cache, out: &mut Out) {
    let now = jiff::Timestamp::now();
    if let Some(daily) = &cache.daily {
        out.family(
            "opsbook_daily_check_status",
            "gauge",
            "The last daily-check's status: 0 ok, 1 warn, 2 crit, 3 unknown.",
        );
        out.sample(
            "opsbook_daily_check_status",
            &[],
            f64::from(code(daily.status)),
        );
        out.family(
            "opsbook_daily_check_timestamp_seconds",
            "gauge",
            "When the last daily-check ran (Unix time).",
        );
        out.sample(
            "opsbook_daily_check_timestamp_seconds",
            &[],
            daily.at.as_second() as f64,
        );
    }
    let results = match cache.current(now) {
        Some((_, results)) => results,
        None => cache.heartbeats(now),
    };
    if results.is_empty() {
        return;
    }
    out.family(
        "opsbook_check_status",
        "gauge",
        "Each result of the last daily-check (heartbeats graded now): 0 ok, 1 warn, 2 crit, 3 unknown.",
    );
    for r in &results {
        out.sample(
            "opsbook_check_status",
            &[("section", &r.section), ("name", &r.name)],
            f64::from(code(r.status)),
        );
    }
    out.family(
        "opsbook_check_value",
        "gauge",
        "The figure each result of the last daily-check read, in its unit.",
    );
    for r in &results {
        if let Some(value) = r.value {
            let (value, unit) = base_unit(value, r.unit.as_deref().unwrap_or(""));
            out.sample(
                "opsbook_check_value",
                &[("section", &r.section), ("name", &r.name), ("unit", unit)],
                value,
            );
        }
    }
}

/// When each heartbeat last got each kind of ping.
fn heartbeats(cache: &Cache, out: &mut Out) {
    if cache.beats.is_empty() {
        return;
    }
    out.family(
        "opsbook_heartbeat_last_ping_timestamp_seconds",
        "gauge",
        "When each heartbeat last got a ping of each kind (success, start, fail; Unix time).",
    );
    for (beat, last) in &cache.beats {
        for ping in crate::state::pings::Ping::ALL {
            if let Some(at) = last.of(ping) {
                out.sample(
                    "opsbook_heartbeat_last_ping_timestamp_seconds",
                    &[("name", &beat.name), ("kind", ping.as_str())],
                    at.as_millisecond() as f64 / 1000.0,
                );
            }
        }
    }
}

/// A figure in its base unit: percent as a ratio.
/// Each check's and service's share of ok runs over 24 h, 7 d and 30 d.
fn uptime(cache: &Cache, out: &mut Out) {
    if cache.uptime.is_empty() {
        return;
    }
    out.family(
        "opsbook_check_uptime_ratio",
        "gauge",
        "The share of daily-checks a check or service was ok in, over the window (0 to 1).",
    );
    for u in &cache.uptime {
        for (window, ratio) in [("24h", u.day), ("7d", u.week), ("30d", u.month)] {
            if let Some(ratio) = ratio {
                out.sample(
                    "opsbook_check_uptime_ratio",
                    &[
                        ("section", &u.section),
                        ("name", &u.name),
                        ("window", window),
                    ],
                    ratio,
                );
            }
        }
    }
}

fn base_unit(value: f64, unit: &str) -> (f64, &str) {
    match unit {
        "percent" | "%" => (value / 100.0, "ratio"),
        other => (value, other),
    }
}

fn host(cache: &Cache, out: &mut Out) {
    let Some(point) = cache.points.back() else {
        return;
    };
    let host = &point.host;
    for (name, help, value) in [
        (
            "opsbook_host_memory_used_ratio",
            "Memory in use, of all there is (last daily-check).",
            host.memory_percent,
        ),
        (
            "opsbook_host_swap_used_ratio",
            "Swap in use, of all there is (last daily-check).",
            host.swap_percent,
        ),
    ] {
        if let Some(percent) = value {
            out.family(name, "gauge", help);
            out.sample(name, &[], percent / 100.0);
        }
    }
    if let Some(load) = host.load_per_core {
        out.family(
            "opsbook_host_load1_per_core",
            "gauge",
            "The 1-minute load average per core (last daily-check).",
        );
        out.sample("opsbook_host_load1_per_core", &[], load);
    }
    if !host.disks.is_empty() {
        out.family(
            "opsbook_host_disk_used_ratio",
            "gauge",
            "Space in use on each listed path's filesystem (last daily-check).",
        );
        for (path, percent) in &host.disks {
            out.sample(
                "opsbook_host_disk_used_ratio",
                &[("path", path)],
                percent / 100.0,
            );
        }
    }
}

fn backups(cache: &Cache, out: &mut Out) {
    let backups = &cache.backups;
    out.family(
        "opsbook_backups",
        "gauge",
        "Complete local backups in the backup folder.",
    );
    out.sample("opsbook_backups", &[], backups.count as f64);
    if let Some((_, at, size)) = &backups.newest {
        out.family(
            "opsbook_backup_last_success_timestamp_seconds",
            "gauge",
            "When the newest complete local backup was made (Unix time).",
        );
        out.sample(
            "opsbook_backup_last_success_timestamp_seconds",
            &[],
            at.as_second() as f64,
        );
        out.family(
            "opsbook_backup_last_size_bytes",
            "gauge",
            "The stored size of the newest complete local backup.",
        );
        out.sample("opsbook_backup_last_size_bytes", &[], *size as f64);
    }
    copies(cache, out);
    image_updates(cache, out);
    if let Some((_, drill)) = &backups.drill {
        out.family(
            "opsbook_backup_drill_last_passed",
            "gauge",
            "Whether the newest restore drill passed (1) or failed (0).",
        );
        out.sample(
            "opsbook_backup_drill_last_passed",
            &[],
            if drill.passed { 1.0 } else { 0.0 },
        );
        out.family(
            "opsbook_backup_drill_last_timestamp_seconds",
            "gauge",
            "When the newest restore drill ran (Unix time).",
        );
        out.sample(
            "opsbook_backup_drill_last_timestamp_seconds",
            &[],
            drill.at.as_second() as f64,
        );
    }
}
