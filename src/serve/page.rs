//! `/`: the status page a person reads at a glance, rendered on the server
//! from the cache: the overall state, services, checks with their last
//! message, the heartbeats (graded as the page is rendered), backups (age, size, drill), open incidents, the scheduled jobs,
//! and charts of memory, load, disk and failing checks over the recent
//! daily-checks (inline SVG). No script, no external asset: it works with
//! JavaScript off and behind any proxy. Every text passes the runbook's
//! redactor before it is escaped into the page.

use std::fmt::Write;

use jiff::Timestamp;

use super::cache::{Cache, Graded, Point};
use super::health::Verdict;
use super::schedule::Timetable;
use crate::grade::Status;
use crate::redact::Redactor;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}table{border-collapse:collapse;width:100%;background:#fff}td,th{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f0f0f0}.ok{color:#0a6b0a}.warn{color:#8a6100}.crit{color:#b00020}.unknown{color:#555}.badge{font-weight:bold;text-transform:uppercase}.banner{padding:.6em 1em;border-radius:4px;margin:.6em 0;background:#fff;border:2px solid}.banner.ok{border-color:#0a6b0a}.banner.crit{border-color:#b00020}.banner.warn{border-color:#8a6100}figure{display:inline-block;margin:0 1em 1em 0}figcaption{font-size:.9em;color:#555}svg{background:#fff;border:1px solid #ddd}";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\x22' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

struct Page<'a> {
    html: String,
    redactor: &'a Redactor,
}

impl Page<'_> {
    /// A text for the page: masked, then escaped.
    fn text(&self, text: &str) -> String {
        escape(&self.redactor.redact(text))
    }

    fn status(&self, status: Status) -> String {
        format!("<span class=\"badge {0}\">{0}</span>", status.as_str())
    }
}

pub(super) fn render(
    cache: &Cache,
    verdict: &Verdict,
    timetable: &Timetable,
    redactor: &Redactor,
    now: Timestamp,
) -> String {
    let mut page = Page {
        html: String::with_capacity(32 * 1024),
        redactor,
    };
    let title = page.text(&cache.runbook);
    head(&mut page, &title);
    body(&mut page, cache, verdict, timetable, now);
    page.html.push_str("</body></html>\n");
    page.html
}

/// One host of a fleet: its name, and what its agent has.
pub(super) struct HostView<'a> {
    pub(super) name: &'a str,
    pub(super) cache: &'a Cache,
    pub(super) verdict: Verdict,
    pub(super) timetable: &'a Timetable,
    pub(super) redactor: Redactor,
}

/// The page of a fleet's agents: a line per host, then each host's
/// section as a runbook's own page has it, its headings a level down and
/// its ids prefixed with the host's name (unique on the page).
pub(super) fn render_fleet(title: &str, hosts: &[HostView<'_>], now: Timestamp) -> String {
    let plain = Redactor::builtin();
    let mut page = Page {
        html: String::with_capacity(32 * 1024 * hosts.len().max(1)),
        redactor: &plain,
    };
    let title = page.text(title);
    head(&mut page, &title);
    page.html
        .push_str("<table id=\"hosts\"><tr><th>host</th><th>health</th><th>runbook</th></tr>");
    for host in hosts {
        let class = if host.verdict.healthy { "ok" } else { "crit" };
        let _ = write!(
            page.html,
            "<tr><td><a href=\"#host-{id}\">{name}</a></td><td><span class=\"badge {class}\">{}</span></td><td>{}</td></tr>",
            if host.verdict.healthy {
                "healthy"
            } else {
                "unhealthy"
            },
            page.text(&host.cache.runbook),
            id = escape(host.name),
            name = escape(host.name),
        );
    }
    page.html.push_str("</table>");
    for host in hosts {
        let mut own = Page {
            html: String::with_capacity(32 * 1024),
            redactor: &host.redactor,
        };
        body(&mut own, host.cache, &host.verdict, host.timetable, now);
        let name = escape(host.name);
        let _ = write!(
            page.html,
            "<section id=\"host-{name}\"><h2>{name}</h2>{}</section>",
            own.html
                .replace("<h2>", "<h3>")
                .replace("</h2>", "</h3>")
                .replace(" id=\"", &format!(" id=\"{name}-"))
        );
    }
    page.html.push_str("</body></html>\n");
    page.html
}

fn head(page: &mut Page<'_>, title: &str) {
    let _ = write!(
        page.html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>opsbook: {title}</title><style>{STYLE}</style></head><body><h1>opsbook: {title}</h1>"
    );
}

/// Everything below the title: health, the last daily-check, backups,
/// incidents, heal, the schedule and the history.
fn body(
    page: &mut Page<'_>,
    cache: &Cache,
    verdict: &Verdict,
    timetable: &Timetable,
    now: Timestamp,
) {
    let class = if verdict.healthy { "ok" } else { "crit" };
    let _ = write!(
        page.html,
        "<div class=\"banner {class}\" id=\"health\">{}</div>",
        page.text(verdict.body.trim()).replace('\n', "<br>")
    );
    if let Some(window) = &cache.maintenance {
        let until = window
            .until
            .map(|t| format!(" until {}", t.strftime("%Y-%m-%d %H:%M:%SZ")))
            .unwrap_or_default();
        let _ = write!(
            page.html,
            "<div class=\"banner warn\" id=\"maintenance\">Maintenance window{until}: alerts and heal are held ({})</div>",
            page.text(&window.why)
        );
    }
    if let Some(daily) = &cache.daily {
        let _ = write!(
            page.html,
            "<p>Last daily-check: <time datetime=\"{at}\">{at}</time> ({}), {}</p>",
            page.status(daily.status),
            crate::ui::human::count(daily.results.len(), "result"),
            at = daily.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        );
        section(page, "Services", "services", &daily.results, |r| {
            r.section == "containers"
        });
        section(page, "Checks", "checks", &daily.results, |r| {
            r.section == "checks"
        });
        section(page, "Host and logs", "host", &daily.results, |r| {
            matches!(r.section.as_str(), "host" | "logs" | "resources")
        });
    }
    let beats = cache.heartbeats(now);
    section(page, "Heartbeats", "heartbeats", &beats, |_| true);
    backups(page, cache, now);
    incidents(page, cache);
    heal(page, cache);
    jobs(page, cache, timetable, now);
    charts(page, cache);
}

fn section(
    page: &mut Page,
    title: &str,
    id: &str,
    results: &[Graded],
    wanted: impl Fn(&Graded) -> bool,
) {
    let rows: Vec<&Graded> = results.iter().filter(|r| wanted(r)).collect();
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        page.html,
        "<h2>{title}</h2><table id=\"{id}\"><tr><th>status</th><th>name</th><th>message</th></tr>"
    );
    for r in rows {
        let row = format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            page.status(r.status),
            page.text(&r.name),
            page.text(&r.message)
        );
        page.html.push_str(&row);
    }
    page.html.push_str("</table>");
}

fn backups(page: &mut Page, cache: &Cache, now: Timestamp) {
    let backups = &cache.backups;
    page.html.push_str("<h2>Backups</h2><table id=\"backups\">");
    match &backups.newest {
        Some((id, at, size)) => {
            let age = now.as_second().saturating_sub(at.as_second()).max(0);
            let row = format!(
                "<tr><th>newest</th><td>{}</td></tr><tr><th>age</th><td>{}</td></tr><tr><th>size</th><td>{}</td></tr><tr><th>backups</th><td>{}</td></tr>",
                page.text(id),
                crate::ui::human::seconds(age.unsigned_abs()),
                crate::ui::human::bytes(*size),
                backups.count
            );
            page.html.push_str(&row);
        }
        None => page.html.push_str("<tr><td>no backup yet</td></tr>"),
    }
    if let Some((id, drill)) = &backups.drill {
        let verdict = if drill.passed { "passed" } else { "failed" };
        let row = format!(
            "<tr><th>last drill</th><td><span class=\"badge {}\">{verdict}</span> {} (of {})</td></tr>",
            if drill.passed { "ok" } else { "crit" },
            drill.at.strftime("%Y-%m-%d %H:%M:%SZ"),
            page.text(id)
        );
        page.html.push_str(&row);
    }
    page.html.push_str("</table>");
}

fn incidents(page: &mut Page, cache: &Cache) {
    page.html.push_str("<h2>Open incidents</h2>");
    if cache.incidents.is_empty() {
        page.html.push_str("<p id=\"incidents\">none</p>");
        return;
    }
    page.html.push_str(
        "<table id=\"incidents\"><tr><th>id</th><th>severity</th><th>title</th><th>opened</th><th>response</th></tr>",
    );
    let now = Timestamp::now();
    let at = |t: Timestamp| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string();
    for incident in &cache.incidents {
        let response = match (incident.acknowledged_at, incident.respond_by()) {
            (Some(ack), _) => format!("acknowledged {}", at(ack)),
            (None, Some(by)) if incident.is_overdue(now) => {
                let escalated = if incident.escalated_at.is_some() {
                    ", escalated"
                } else {
                    ""
                };
                format!(
                    "<span class=\"crit\">overdue</span> since {}{escalated}",
                    at(by)
                )
            }
            (None, Some(by)) => format!("due by {}", at(by)),
            (None, None) => String::new(),
        };
        let row = format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"response\">{response}</td></tr>",
            page.text(&incident.id),
            page.text(&incident.severity),
            page.text(&incident.title),
            at(incident.opened_at)
        );
        page.html.push_str(&row);
    }
    page.html.push_str("</table>");
}

fn heal(page: &mut Page, cache: &Cache) {
    if cache.heal.is_empty() {
        return;
    }
    page.html.push_str(
        "<h2>Heal</h2><table id=\"heal\"><tr><th>service</th><th>restarts in window</th><th>restarts</th><th>state</th></tr>",
    );
    for (service, state) in &cache.heal {
        let verdict = if state.giving_up {
            "<span class=\"crit\">gave up: incident opened</span>"
        } else {
            "watching"
        };
        let row = format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{verdict}</td></tr>",
            page.text(service),
            state.restarts_in_window,
            state.restarts
        );
        page.html.push_str(&row);
    }
    page.html.push_str("</table>");
}

fn jobs(page: &mut Page, cache: &Cache, timetable: &Timetable, now: Timestamp) {
    if timetable.entries.is_empty() {
        return;
    }
    page.html.push_str(
        "<h2>Schedule</h2><table id=\"schedule\"><tr><th>command</th><th>cron</th><th>next</th><th>last</th></tr>",
    );
    for entry in &timetable.entries {
        let command = entry.job.command();
        let next = timetable
            .next(entry, now)
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string())
            .unwrap_or_default();
        let last = cache
            .jobs
            .get(&command)
            .and_then(|s| s.last.as_ref())
            .map(|l| {
                format!(
                    "<span class=\"badge {0}\">{0}</span> {1} ({2})",
                    l.outcome.as_str(),
                    l.at.strftime("%Y-%m-%d %H:%M:%SZ"),
                    page.text(&l.summary)
                )
            })
            .unwrap_or_else(|| "not yet".into());
        let row = format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{next}</td><td>{last}</td></tr>",
            page.text(&command),
            page.text(&entry.expression)
        );
        page.html.push_str(&row);
    }
    page.html.push_str("</table>");
}

/// One line chart per figure over the recent daily-checks.
fn charts(page: &mut Page, cache: &Cache) {
    if cache.points.len() < 2 {
        return;
    }
    page.html.push_str("<h2>History</h2>");
    let points: Vec<&Point> = cache.points.iter().collect();
    let disk = points
        .last()
        .and_then(|p| p.host.disks.keys().next().cloned());
    let series: Vec<(&str, String, Vec<Option<f64>>, f64)> = vec![
        (
            "memory",
            "memory used (%)".into(),
            points.iter().map(|p| p.host.memory_percent).collect(),
            100.0,
        ),
        (
            "load",
            "load per core".into(),
            points.iter().map(|p| p.host.load_per_core).collect(),
            0.0,
        ),
        (
            "disk",
            format!("disk used (%) {}", disk.clone().unwrap_or_default()),
            points
                .iter()
                .map(|p| disk.as_ref().and_then(|d| p.host.disks.get(d).copied()))
                .collect(),
            100.0,
        ),
        (
            "failing",
            "results not ok".into(),
            points.iter().map(|p| Some(p.failing as f64)).collect(),
            0.0,
        ),
    ];
    for (id, caption, values, fixed_max) in series {
        let chart = chart(&values, fixed_max);
        let _ = write!(
            page.html,
            "<figure id=\"chart-{id}\">{chart}<figcaption>{}</figcaption></figure>",
            page.text(&caption)
        );
    }
}

/// An SVG polyline of `values` (gaps left out), scaled to `fixed_max` or,
/// when that is 0, to the largest value.
fn chart(values: &[Option<f64>], fixed_max: f64) -> String {
    let (width, height) = (300.0, 80.0);
    let largest = values.iter().flatten().fold(0.0f64, |a, b| a.max(*b));
    let max = if fixed_max > 0.0 {
        fixed_max
    } else {
        largest.max(1.0)
    };
    let step = width / (values.len().saturating_sub(1).max(1) as f64);
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let v = (*v)?;
            let y = height - (v / max).clamp(0.0, 1.0) * height;
            Some(format!("{:.1},{:.1}", i as f64 * step, y))
        })
        .collect();
    format!(
        "<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\"><polyline fill=\"none\" stroke=\"#2b6cb0\" stroke-width=\"1.5\" points=\"{}\"/><text x=\"4\" y=\"12\" font-size=\"10\">max {max:.1}</text></svg>",
        points.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_the_page() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
