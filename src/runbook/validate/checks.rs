//! The checks' own problems: one kind each, a valid URL, port and file
//! settings, listeners and processes looked for in one place, certificate
//! limits warn before crit, and a `value` with one source and thresholds of one kind,
//! warn before crit.

use super::Validator;
use crate::runbook::interpolate;
use crate::runbook::model::{Check, HttpCheck, Name, Place, PortCheck, WebSocketCheck};
use serde_saphyr::Spanned;

impl Validator<'_> {
    pub(super) fn checks(&mut self) {
        let model = self.model;
        for (name, check) in &model.checks {
            self.check(&format!("checks.{name}"), check);
        }
    }

    /// `backup.drill.checks`: ordinary checks, of the kinds that can reach
    /// the scratch twins.
    pub(super) fn drill_checks(&mut self, checks: &indexmap::IndexMap<String, Check>) {
        for (name, check) in checks {
            let field = format!("backup.drill.checks.{name}");
            if let [kind] = check.kinds().as_slice()
                && *kind != "exec"
                && *kind != "http"
            {
                self.at_key(
                    &field,
                    format!("a drill check is `exec` (run in a service's twin) or `http` (a service's name as the host), not `{kind}`"),
                );
            }
            if check.failing_for.is_some() {
                self.at_key(
                    &format!("{field}.for"),
                    "a drill runs once: `for` has no earlier runs to look at",
                );
            }
            self.check(&field, check);
        }
    }

    /// One check's problems, under `field`.
    fn check(&mut self, field: &str, check: &Check) {
        let field = field.to_string();
        match check.kinds().as_slice() {
            [] => self.at_key(
                &field,
                "a check needs one of `http`, `exec`, `command`, `file`, `tcp`, `unit`, `prometheus`, `port`, `process` or `websocket`",
            ),
            [_] => {}
            kinds => self.at_key(
                &field,
                format!(
                    "a check has one kind, this one has {}: split it",
                    kinds.join(", ")
                ),
            ),
        }
        if let Some(http) = &check.http {
            self.http_check(http, &format!("{field}.http"));
        }
        if let Some(port) = &check.port {
            self.port_check(port, &format!("{field}.port"));
        }
        if let Some(process) = &check.process {
            let field = format!("{field}.process");
            self.place(process.place.as_ref(), process.service.as_ref(), &field);
            if process.name.value.trim().is_empty() {
                self.at(
                    &process.name,
                    format!("{field}.name"),
                    "`name` is empty: give the process's command name, like node",
                );
            }
        }
        if let Some(ws) = &check.websocket {
            self.websocket_check(ws, &format!("{field}.websocket"));
        }
        if let Some(exec) = &check.exec {
            self.service_ref(&exec.service, &format!("{field}.exec.service"));
        }
        if let Some(file) = &check.file {
            self.file_check(file, &field);
        }
        if let Some(tcp) = &check.tcp {
            if tcp.host.trim().is_empty() {
                self.at_key(&format!("{field}.tcp.host"), "`host` is empty");
            }
            if !tcp.tls && (tcp.ca.is_some() || tcp.server_name.is_some()) {
                self.at_key(
                    &format!("{field}.tcp"),
                    "`ca` and `server_name` go with `tls: true`",
                );
            }
            if !(1..=65535).contains(&tcp.port.value) {
                self.at(
                    &tcp.port,
                    format!("{field}.tcp.port"),
                    format!("port {} is not between 1 and 65535", tcp.port.value),
                );
            }
        }
        if let Some(unit) = &check.unit
            && unit.value.trim().is_empty()
        {
            self.at(
                unit,
                format!("{field}.unit"),
                "`unit` is empty: name a systemd unit, like nginx.service",
            );
        }
        if let Some(prometheus) = &check.prometheus {
            self.url(&prometheus.url, &format!("{field}.prometheus.url"));
            if prometheus.query.value.trim().is_empty() {
                self.at(
                    &prometheus.query,
                    format!("{field}.prometheus.query"),
                    "`query` is empty: write a PromQL query",
                );
            }
            if check.value.is_none() {
                self.at_key(
                    &format!("{field}.prometheus"),
                    "a prometheus check grades the query's value: give `value: { above: … }` or `below`",
                );
            }
        }
        if let Some(retry) = &check.retry
            && !(1..=10).contains(&retry.count.value)
        {
            self.at(
                &retry.count,
                format!("{field}.retry.count"),
                format!("retry {} times? give 1 to 10", retry.count.value),
            );
        }
        if let Some(value) = &check.value {
            self.value(check, value, &field);
        }
    }

    /// The URL, the TLS settings that go together, the certificate limits
    /// warn before crit, and each header's `${VAR}` well written.
    fn http_check(&mut self, http: &HttpCheck, field: &str) {
        self.url(&http.url, &format!("{field}.url"));
        if http.insecure && http.ca.is_some() {
            self.at_key(
                &format!("{field}.insecure"),
                "`insecure: true` trusts any certificate: drop `ca`, or drop `insecure`",
            );
        }
        if let Some(name) = &http.server_name
            && (name.trim().is_empty() || name.contains(['/', ':', ' ']))
        {
            self.at_key(
                &format!("{field}.server_name"),
                format!("`{name}` is not a host name, like api.example.com"),
            );
        }
        if let Some(cert) = &http.cert {
            match (cert.warn, cert.crit) {
                (None, None) => {
                    self.at_key(&format!("{field}.cert"), "give `warn`, `crit` or both");
                }
                (Some(warn), Some(crit)) if warn < crit => self.at_key(
                    &format!("{field}.cert.warn"),
                    format!(
                        "warn {warn} is shorter than crit {crit}: a warning comes before the crit"
                    ),
                ),
                _ => {}
            }
        }
        for (header, value) in &http.headers {
            if let Err(problem) = interpolate::check(&value.value) {
                // The header's name in the message, not the field: a field
                // named like a secret (`Authorization`) would be masked whole.
                self.at(
                    value,
                    format!("{field}.headers"),
                    format!("header `{header}`: {problem}"),
                );
            }
        }
    }

    /// `where: host` or `service:`, one of them, the service one the runbook has.
    fn place(&mut self, place: Option<&Spanned<Place>>, service: Option<&Name>, field: &str) {
        match (place, service) {
            (Some(place), Some(_)) => self.at(
                place,
                format!("{field}.where"),
                "look on the host (`where: host`) or in a service (`service: api`), not both",
            ),
            (None, None) => self.at_key(
                field,
                "say where to look: `where: host`, or `service: NAME` for a service's container",
            ),
            (None, Some(service)) => self.service_ref(service, &format!("{field}.service")),
            (Some(_), None) => {}
        }
    }

    fn port_check(&mut self, port: &PortCheck, field: &str) {
        self.place(port.place.as_ref(), port.service.as_ref(), field);
        if port.expect.value.is_empty() {
            self.at(
                &port.expect,
                format!("{field}.expect"),
                "`expect` is empty: list the ports that must listen, like [80, 443]",
            );
        }
        for number in &port.expect.value {
            if !(1..=65535).contains(&number.value) {
                self.at(
                    number,
                    format!("{field}.expect"),
                    format!("port {} is not between 1 and 65535", number.value),
                );
            }
        }
    }

    fn websocket_check(&mut self, ws: &WebSocketCheck, field: &str) {
        let value = ws.url.value.trim();
        let rest = value
            .strip_prefix("ws://")
            .or_else(|| value.strip_prefix("wss://"));
        if rest.is_none_or(|host| host.is_empty() || host.starts_with('/'))
            || url::Url::parse(value).is_err()
        {
            self.at(
                &ws.url,
                format!("{field}.url"),
                format!("`{value}` is not a ws:// or wss:// URL"),
            );
        }
        if ws.insecure && ws.ca.is_some() {
            self.at_key(
                &format!("{field}.insecure"),
                "`insecure: true` trusts any certificate: drop `ca`, or drop `insecure`",
            );
        }
        if ws.send.as_ref().is_some_and(|s| s.is_empty()) {
            self.at_key(
                &format!("{field}.send"),
                "`send` is empty: leave it out, or give the message",
            );
        }
        if ws.expect.as_ref().is_some_and(|s| s.is_empty()) {
            self.at_key(
                &format!("{field}.expect"),
                "`expect` is empty: leave it out, or give text the reply contains",
            );
        }
    }

    fn file_check(&mut self, file: &crate::runbook::model::FileCheck, field: &str) {
        if file.path.trim().is_empty() {
            self.at_key(&format!("{field}.file.path"), "`path` is empty");
        }
        if file.changed.is_some() && !file.exists {
            self.at_key(
                &format!("{field}.file.changed"),
                "`changed` watches a file's content: it does not go with `exists: false`",
            );
        }
        if let Some(mode) = &file.mode
            && u32::from_str_radix(mode.value.trim_start_matches("0o"), 8)
                .map_or(true, |m| m > 0o7777)
        {
            self.at(
                mode,
                format!("{field}.file.mode"),
                format!("`{}` is not a mode in octal, like \"0600\"", mode.value),
            );
        }
        if let (Some(min), Some(max)) = (file.min_size, file.max_size)
            && min > max
        {
            self.at_key(
                &format!("{field}.file.min_size"),
                format!("min_size {min} is above max_size {max}"),
            );
        }
        self.regexes(&file.contains, &format!("{field}.file.contains"));
        self.regexes(&file.not_contains, &format!("{field}.file.not_contains"));
    }

    /// One source of the number, thresholds of one kind, warn before crit.
    fn value(
        &mut self,
        check: &crate::runbook::model::Check,
        value: &crate::runbook::model::ValueSpec,
        field: &str,
    ) {
        let field = format!("{field}.value");
        if check.file.is_some()
            || check.tcp.is_some()
            || check.unit.is_some()
            || check.port.is_some()
            || check.process.is_some()
            || check.websocket.is_some()
        {
            self.at_key(
                &field,
                "only http, exec, command and prometheus checks read a value",
            );
        }
        if check.prometheus.is_some()
            && (value.regex.is_some() || value.json.is_some() || value.response_time)
        {
            self.at_key(
                &field,
                "a prometheus check's value is the query's answer: no `regex`, `json` or `response_time`",
            );
        }
        let sources = [
            value.regex.is_some(),
            value.json.is_some(),
            value.response_time,
        ];
        if sources.iter().filter(|s| **s).count() > 1 {
            self.at_key(
                &field,
                "a value comes from one of `regex`, `json` or `response_time`",
            );
        }
        if value.response_time && check.http.is_none() {
            self.at_key(&field, "`response_time` is for http checks");
        }
        if let Some(regex) = &value.regex {
            self.regexes(std::slice::from_ref(regex), &format!("{field}.regex"));
        }
        if value.above.is_none() && value.below.is_none() {
            self.at_key(&field, "a value needs `above` or `below` thresholds");
        }
        let mut kinds = Vec::new();
        for (word, bounds, upward) in [
            ("above", &value.above, true),
            ("below", &value.below, false),
        ] {
            let Some(bounds) = bounds else { continue };
            if bounds.warn.is_none() && bounds.crit.is_none() {
                self.at_key(&format!("{field}.{word}"), "give `warn`, `crit` or both");
            }
            for q in [&bounds.warn, &bounds.crit].into_iter().flatten() {
                kinds.push((q.value.kind(), q));
            }
            if let (Some(warn), Some(crit)) = (&bounds.warn, &bounds.crit)
                && warn.value.kind() == crit.value.kind()
            {
                let (w, c) = (warn.value.amount(), crit.value.amount());
                let wrong = if upward { w > c } else { w < c };
                if wrong {
                    let order = if upward { "above" } else { "below" };
                    self.at(
                        warn,
                        format!("{field}.{word}.warn"),
                        format!(
                            "warn {} is {order} crit {}: a warning comes before the crit",
                            warn.value, crit.value
                        ),
                    );
                }
            }
        }
        if let Some((first, _)) = kinds.first()
            && let Some((other, at)) = kinds.iter().find(|(kind, _)| kind != first)
        {
            self.at(
                at,
                field.clone(),
                format!("a {other} among {first} thresholds: write them all the same way"),
            );
        }
    }
}
