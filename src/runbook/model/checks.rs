//! `checks:` as written: one kind each (http, exec, command, file, tcp,
//! unit, prometheus, port, process, websocket), with the number a check reads and grades (`value`),
//! how long it may fail before it is crit (`for`), its retries and hint.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Name;
use crate::runbook::command::Command;
use crate::runbook::units::{Duration, Quantity, Size};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Check {
    pub http: Option<HttpCheck>,
    pub exec: Option<ExecCheck>,
    /// A command run on the host (`certbot renew --dry-run`).
    pub command: Option<HostCheck>,
    pub file: Option<FileCheck>,
    pub tcp: Option<TcpCheck>,
    /// A systemd unit that must be active (`systemctl is-active`).
    pub unit: Option<Name>,
    /// A PromQL query whose answer `value` grades.
    pub prometheus: Option<PrometheusCheck>,
    /// The TCP ports listening on the host or in a service's container.
    pub port: Option<PortCheck>,
    /// A named process running on the host or in a service's container.
    pub process: Option<ProcessCheck>,
    /// A WebSocket that connects and answers.
    pub websocket: Option<WebSocketCheck>,
    /// A number read from the answer and graded by thresholds.
    pub value: Option<ValueSpec>,
    /// Crit only once every run over this long has failed it; warn before.
    #[serde(rename = "for")]
    pub failing_for: Option<Duration>,
    /// Tried again this many times, `delay` apart, before it counts as failed.
    pub retry: Option<Retry>,
    /// What to do when this check fails, shown beside the failure.
    pub hint: Option<String>,
}

impl Check {
    /// The kinds this check is written as (`http`, `exec`…): one, if valid.
    pub(crate) fn kinds(&self) -> Vec<&'static str> {
        [
            ("http", self.http.is_some()),
            ("exec", self.exec.is_some()),
            ("command", self.command.is_some()),
            ("file", self.file.is_some()),
            ("tcp", self.tcp.is_some()),
            ("unit", self.unit.is_some()),
            ("prometheus", self.prometheus.is_some()),
            ("port", self.port.is_some()),
            ("process", self.process.is_some()),
            ("websocket", self.websocket.is_some()),
        ]
        .into_iter()
        .filter_map(|(kind, set)| set.then_some(kind))
        .collect()
    }

    /// The service whose container the check runs in, for the kinds that
    /// need Docker (`exec`, and `port` or `process` with `service:`).
    pub(crate) fn service(&self) -> Option<&Name> {
        self.exec
            .as_ref()
            .map(|e| &e.service)
            .or_else(|| self.port.as_ref().and_then(|p| p.service.as_ref()))
            .or_else(|| self.process.as_ref().and_then(|p| p.service.as_ref()))
    }

    /// Whether the check needs Docker and the containers to run.
    pub(crate) fn needs_docker(&self) -> bool {
        self.service().is_some()
    }
}

/// Where a port or process check looks when it names no service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Place {
    Host,
}

/// The TCP sockets in LISTEN (netstat's audit): every expected port must
/// listen (crit), nothing else should (warn).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortCheck {
    pub expect: Spanned<Vec<Spanned<u32>>>,
    #[serde(rename = "where")]
    pub place: Option<Spanned<Place>>,
    pub service: Option<Name>,
    pub timeout: Option<Duration>,
}

/// A process by its command name (`node`, `postgres`): crit when none runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProcessCheck {
    pub name: Name,
    #[serde(rename = "where")]
    pub place: Option<Spanned<Place>>,
    pub service: Option<Name>,
    pub timeout: Option<Duration>,
}

/// A WebSocket (ws:// or wss://) that connects and, given `send`, answers
/// with a message containing `expect`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebSocketCheck {
    pub url: Spanned<String>,
    /// A text message sent once connected.
    pub send: Option<String>,
    /// Text a message from the server must contain.
    pub expect: Option<String>,
    pub timeout: Option<Duration>,
    /// Slower than this (the answer, else the handshake) is a warn.
    pub max_latency: Option<Duration>,
    /// Accept any certificate (wss://), as `curl -k` does.
    #[serde(default)]
    pub insecure: bool,
    /// A PEM file of CA certificates to trust besides the system's.
    pub ca: Option<String>,
}

/// How long before a certificate expires it is a warn, and a crit.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertLimits {
    pub warn: Option<Duration>,
    pub crit: Option<Duration>,
}

/// How a file's change since the last run grades (monit's `checksum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Changed {
    Warn,
    Crit,
}

impl Changed {
    pub(crate) fn status(self) -> crate::grade::Status {
        match self {
            Changed::Warn => crate::grade::Status::Warn,
            Changed::Crit => crate::grade::Status::Crit,
        }
    }
}

/// A check tried again before it fails: one flaky request pages nobody.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Retry {
    pub count: Spanned<u32>,
    pub delay: Option<Duration>,
}

/// An instant PromQL query against a Prometheus server's HTTP API
/// (`/api/v1/query`): the ERP's p95 latency and error rate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrometheusCheck {
    /// The server, e.g. `http://127.0.0.1:9090`.
    pub url: Spanned<String>,
    pub query: Name,
    pub timeout: Option<Duration>,
    /// How an answer without a number grades: no series, NaN (a 0/0 rate
    /// with no traffic), ±Inf. Default crit: a missing metric is not a
    /// healthy one.
    pub no_data: Option<crate::grade::Status>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostCheck {
    pub run: Command,
    pub stdout_contains: Option<String>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileCheck {
    /// Relative to the runbook's folder.
    pub path: String,
    /// `false`: the file must not exist.
    #[serde(default = "yes")]
    pub exists: bool,
    #[serde(rename = "type")]
    pub kind: Option<FileKind>,
    /// The exact permission bits, in octal: `"0600"`.
    pub mode: Option<Name>,
    /// A user name or a uid.
    pub owner: Option<String>,
    pub min_size: Option<Size>,
    pub max_size: Option<Size>,
    /// Older (since its last change) than this is crit.
    pub max_age: Option<Duration>,
    /// Regexes some line must match.
    #[serde(default, deserialize_with = "super::lists::names")]
    pub contains: Vec<Name>,
    /// Regexes no line may match (`minioadmin`).
    #[serde(default, deserialize_with = "super::lists::names")]
    pub not_contains: Vec<Name>,
    /// A change of its content (sha256) since the last run grades so.
    pub changed: Option<Changed>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FileKind {
    File,
    Dir,
    Symlink,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TcpCheck {
    pub host: String,
    pub port: Spanned<u32>,
    pub timeout: Option<Duration>,
    /// Speak TLS after connecting, and judge the certificate's lifetime.
    #[serde(default)]
    pub tls: bool,
    /// The name the certificate must carry (default: `host`).
    pub server_name: Option<String>,
    /// A PEM file of CA certificates to trust besides the system's.
    pub ca: Option<String>,
}

/// Where a check's number comes from and the thresholds it is graded by.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValueSpec {
    /// A regex whose first group (else whole match) is the number; without
    /// one, the whole output is.
    pub regex: Option<Name>,
    /// A dotted path into the JSON of the body or the output.
    pub json: Option<String>,
    /// The request's response time (http checks).
    #[serde(default)]
    pub response_time: bool,
    pub above: Option<Bounds>,
    pub below: Option<Bounds>,
}

/// Warn and crit of one direction, written with a unit: `512MiB`, `95%`,
/// `1s`, or a plain number.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Bounds {
    pub warn: Option<Spanned<Quantity>>,
    pub crit: Option<Spanned<Quantity>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpCheck {
    pub url: Spanned<String>,
    pub method: Option<String>,
    /// Header values may use `${VAR}` (environment, then `.env`); the
    /// values so filled are masked everywhere.
    #[serde(default)]
    pub headers: IndexMap<String, Name>,
    /// The request's body, sent as written (set its `Content-Type` in `headers`).
    pub body: Option<String>,
    /// Expected status code (default 200).
    pub status: Option<u16>,
    /// Text the body must contain.
    pub contains: Option<String>,
    /// Fields of a JSON body, by dotted path, and the values they must equal.
    pub json: Option<IndexMap<String, serde_json::Value>>,
    pub timeout: Option<Duration>,
    /// Slower than this is a warn.
    pub max_latency: Option<Duration>,
    /// A PEM file of CA certificates to trust besides the system's (an internal CA).
    pub ca: Option<String>,
    /// Accept any certificate, as `curl -k` does (its expiry is still read).
    #[serde(default)]
    pub insecure: bool,
    /// The name to ask for (TLS SNI and `Host`) when the URL names an address.
    pub server_name: Option<String>,
    /// Certificate expiry limits (default: warn 14 days before).
    pub cert: Option<CertLimits>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecCheck {
    pub service: Name,
    pub command: Command,
    pub stdout_contains: Option<String>,
    pub timeout: Option<Duration>,
}
