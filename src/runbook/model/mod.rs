//! The runbook as written: one serde struct per YAML section, every section
//! of the schema (DESIGN.md, "A runbook"), unknown keys refused.
//!
//! Names that other parts refer to (services, checks) are `Spanned`, so the
//! validator can point at the exact line and column of a bad reference.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::command::Command;
use super::units::{Duration, Percent, Quantity, Size};

mod heal;
mod notify;
pub use heal::*;
pub use notify::*;

pub type Name = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub version: Spanned<u32>,
    pub name: Option<String>,
    /// The compose project label (`com.docker.compose.project`); without one,
    /// every compose project on the host is looked at.
    pub project: Option<String>,
    /// How the project is deployed (`mode:`).
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub services: IndexMap<String, Service>,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub checks: IndexMap<String, Check>,
    pub logs: Option<Logs>,
    pub startup: Option<Startup>,
    pub shutdown: Option<Shutdown>,
    pub backup: Option<Backup>,
    pub restore: Option<Hooks>,
    /// How `update` and `rollback` put services on another image.
    pub update: Option<Update>,
    pub incident: Option<Incident>,
    pub notify: Option<Notify>,
    #[serde(default)]
    pub procedures: IndexMap<String, Procedure>,
    /// When `opsbook serve` runs each job.
    pub schedule: Option<Schedule>,
    /// What `opsbook serve` may restart when it is unhealthy.
    pub heal: Option<Heal>,
    /// Extra secret patterns (regexes) masked in every output.
    #[serde(default)]
    pub redact: Vec<Name>,
}

/// `mode:`: `compose` (containers of a compose project), `swarm` (the
/// services of a Docker Swarm stack named as the project), or `auto`, the
/// default: a stack of that name on the engine makes it `swarm`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Auto,
    Compose,
    Swarm,
}

/// `schedule:`: a cron expression per job (five fields, or six with
/// seconds first), read in `timezone` (default: the host's). Jobs are
/// named as typed (`backup prune`, `run weekly-vacuum`) or with dashes
/// (`backup-prune`, `procedures: { weekly-vacuum: … }`).
#[derive(Debug, Default)]
pub struct Schedule {
    /// An IANA time zone (`Europe/Berlin`).
    pub timezone: Option<Name>,
    pub daily_check: Option<Name>,
    pub backup: Option<Name>,
    pub backup_prune: Option<Name>,
    pub backup_drill: Option<Name>,
    /// Named procedures (`opsbook run NAME --yes`).
    pub procedures: IndexMap<String, Name>,
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Schedule;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of jobs to cron expressions")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Schedule, A::Error> {
                let mut schedule = Schedule::default();
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "timezone" => &mut schedule.timezone,
                        "daily-check" => &mut schedule.daily_check,
                        "backup" => &mut schedule.backup,
                        "backup-prune" | "backup prune" => &mut schedule.backup_prune,
                        "backup-drill" | "backup drill" => &mut schedule.backup_drill,
                        "procedures" => {
                            let more: IndexMap<String, Name> = map.next_value()?;
                            schedule.procedures.extend(more);
                            continue;
                        }
                        other => match other.strip_prefix("run ") {
                            Some(name) => {
                                let expression: Name = map.next_value()?;
                                schedule
                                    .procedures
                                    .insert(name.trim().to_string(), expression);
                                continue;
                            }
                            None => {
                                return Err(serde::de::Error::custom(format!(
                                    "unknown job `{other}`: use timezone, daily-check, backup, backup prune, backup drill, run NAME or procedures"
                                )));
                            }
                        },
                    };
                    *slot = Some(map.next_value()?);
                }
                Ok(schedule)
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    #[serde(default)]
    pub depends_on: Vec<Name>,
    /// A critical service down or unhealthy is crit; any other is warn.
    #[serde(default)]
    pub critical: bool,
    /// This service's own log patterns and thresholds, instead of `logs`'.
    pub logs: Option<Logs>,
    /// This service's own resource limits, over `thresholds.containers`.
    pub thresholds: Option<ContainerLimits>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub memory: Option<PercentLimits>,
    pub swap: Option<PercentLimits>,
    /// The 1-minute load average divided by the number of cores.
    pub load: Option<LoadLimits>,
    /// The 5- and 15-minute ones, per core: graded only when given.
    pub load5: Option<LoadLimits>,
    pub load15: Option<LoadLimits>,
    pub disk: Option<DiskLimits>,
    /// Percent of each disk path's inodes in use: graded only when given.
    pub inodes: Option<PercentLimits>,
    /// Every container's resource use, against its own limits.
    pub containers: Option<ContainerLimits>,
    /// Docker's own disk use (`docker system df`): graded only when given.
    pub docker_disk: Option<DockerDiskLimits>,
}

/// Docker's disk use in bytes: the total of images, containers, volumes
/// and build cache (`warn` / `crit`), and any of those on its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerDiskLimits {
    pub warn: Option<Spanned<Size>>,
    pub crit: Option<Spanned<Size>>,
    pub images: Option<SizeLimits>,
    pub containers: Option<SizeLimits>,
    pub volumes: Option<SizeLimits>,
    pub build_cache: Option<SizeLimits>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeLimits {
    pub warn: Spanned<Size>,
    pub crit: Spanned<Size>,
}

/// Memory in use as a percent of the container's limit (of the host's
/// memory when it has none); CPU as a percent of its CPU limit (of one core
/// when it has none).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerLimits {
    pub memory: Option<PercentLimits>,
    pub cpu: Option<PercentLimits>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PercentLimits {
    pub warn: Spanned<Percent>,
    pub crit: Spanned<Percent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadLimits {
    pub warn: Spanned<f64>,
    pub crit: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskLimits {
    pub warn: Spanned<Percent>,
    pub crit: Spanned<Percent>,
    #[serde(default)]
    pub paths: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
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
    pub fn kinds(&self) -> Vec<&'static str> {
        [
            ("http", self.http.is_some()),
            ("exec", self.exec.is_some()),
            ("command", self.command.is_some()),
            ("file", self.file.is_some()),
            ("tcp", self.tcp.is_some()),
            ("unit", self.unit.is_some()),
            ("prometheus", self.prometheus.is_some()),
        ]
        .into_iter()
        .filter_map(|(kind, set)| set.then_some(kind))
        .collect()
    }
}

/// A check tried again before it fails: one flaky request pages nobody.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub count: Spanned<u32>,
    pub delay: Option<Duration>,
}

/// An instant PromQL query against a Prometheus server's HTTP API
/// (`/api/v1/query`): the ERP's p95 latency and error rate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusCheck {
    /// The server, e.g. `http://127.0.0.1:9090`.
    pub url: Spanned<String>,
    pub query: Name,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostCheck {
    pub run: Command,
    pub stdout_contains: Option<String>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheck {
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
    #[serde(default)]
    pub contains: Vec<Name>,
    /// Regexes no line may match (`minioadmin`).
    #[serde(default)]
    pub not_contains: Vec<Name>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
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
pub struct ValueSpec {
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
pub struct Bounds {
    pub warn: Option<Spanned<Quantity>>,
    pub crit: Option<Spanned<Quantity>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    pub url: Spanned<String>,
    pub method: Option<String>,
    #[serde(default)]
    pub headers: IndexMap<String, String>,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecCheck {
    pub service: Name,
    pub command: Command,
    pub stdout_contains: Option<String>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    pub since: Option<Duration>,
    #[serde(rename = "match", default)]
    pub patterns: Vec<Name>,
    /// Matching lines per service above which the result is warn / crit.
    pub warn: Option<Spanned<u64>>,
    pub crit: Option<Spanned<u64>>,
    /// Matching lines as a share of all the window's lines ("error rate > 10%").
    pub rate: Option<PercentLimits>,
    /// JSON lines graded on a numeric field ("requests slower than 1000 ms").
    pub json_field: Option<JsonField>,
    /// Host log files by path (nginx's access log), each with these same
    /// settings, read from where the last check stopped.
    #[serde(default)]
    pub files: IndexMap<String, Logs>,
    /// systemd units by name (`nginx.service`), each with these same
    /// settings, their journal read over the window (`journalctl -u`).
    #[serde(default)]
    pub units: IndexMap<String, Logs>,
    /// The journal folder to read instead of the system's (a journal
    /// mounted from elsewhere: `journalctl -D`).
    pub journal_dir: Option<String>,
}

/// Lines whose JSON `field` is above a number, counted against warn / crit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonField {
    /// A dotted path into each line's JSON object.
    pub field: String,
    pub above: f64,
    pub warn: Option<Spanned<u64>>,
    pub crit: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Startup {
    pub preflight: Option<Preflight>,
    /// Creates missing containers, e.g. `[docker, compose, up, -d, --no-start]`.
    pub up: Option<Command>,
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub verify: Vec<Name>,
    #[serde(default)]
    pub before: Vec<Step>,
    #[serde(default)]
    pub after: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preflight {
    pub min_free_memory: Option<Size>,
    pub min_free_disk: Option<Size>,
    #[serde(default)]
    pub files: Vec<Name>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    pub grace: Option<Duration>,
    #[serde(default)]
    pub before: Vec<Step>,
    #[serde(default)]
    pub after: Vec<Step>,
}

/// `update: { backup: true, pull: false, timeout: 2m }`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    /// Take the runbook's backup first; a failed backup changes nothing.
    #[serde(default)]
    pub backup: bool,
    /// Pull the image from its registry first; a failed pull changes nothing.
    #[serde(default)]
    pub pull: bool,
    /// How long each service may take to become ready (else `startup.timeout`).
    pub timeout: Option<Duration>,
}

/// Steps run before and after a built-in section (`restore:` has only these).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    #[serde(default)]
    pub before: Vec<Step>,
    #[serde(default)]
    pub after: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    pub dir: String,
    #[serde(default)]
    pub volumes: Vec<Name>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub dumps: IndexMap<String, Dump>,
    /// Services stopped while copying, always started again.
    #[serde(default)]
    pub stop: Vec<Name>,
    #[serde(default)]
    pub compression: Compression,
    pub level: Option<Spanned<i32>>,
    pub keep: Option<Keep>,
    /// daily-check warns when the newest backup is older than this.
    pub max_age: Option<Duration>,
    pub encrypt: Option<Encrypt>,
    /// An image already on the host to read volumes with, when no service mounts them.
    pub helper_image: Option<String>,
    /// How volumes are read (and written back by a restore): at their
    /// mountpoint on this host, or through Docker's archive endpoint;
    /// `auto` takes the mountpoint when it can.
    #[serde(default)]
    pub read: VolumeRead,
    /// Where each backup is copied after it is made: off the host.
    #[serde(default)]
    pub copies: IndexMap<String, CopyTarget>,
    /// `backup drill`: what proves a restored backup works.
    pub drill: Option<Drill>,
    #[serde(default)]
    pub before: Vec<Step>,
    #[serde(default)]
    pub after: Vec<Step>,
}

/// `backup.drill`: the checks run against the scratch twins of the
/// services, restored from a backup.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drill {
    /// Exec checks run in the service's twin; an http check's host that
    /// names a service is that twin's address on the drill's network.
    #[serde(default)]
    pub checks: IndexMap<String, Check>,
    /// How long the twins may take to become ready (else `startup.timeout`).
    pub timeout: Option<Duration>,
    /// daily-check warns when the newest passed drill is older than this.
    pub max_age: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dump {
    pub service: Name,
    pub command: Command,
    /// Reads the dump on stdin to put it back.
    pub restore: Option<Command>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Zstd,
    Gzip,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeRead {
    #[default]
    Auto,
    Direct,
    Archive,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Keep {
    pub last: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
}

/// One place backups are copied to: exactly one of `folder`, `s3` or
/// `sftp`. Values may use `${VAR}` (the environment, then `.env`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyTarget {
    /// A folder on a mounted disk or NAS.
    pub folder: Option<Name>,
    /// An S3-compatible object store.
    pub s3: Option<S3Target>,
    /// A folder on another machine, over SFTP.
    pub sftp: Option<SftpTarget>,
    /// This target's own retention (else the backup's `keep`).
    pub keep: Option<Keep>,
}

/// `s3: { endpoint, bucket, prefix, region, path_style, access_key_id, secret_access_key }`;
/// credentials as `${VAR}` or from files, never written out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Target {
    /// `https://s3.eu-central-1.amazonaws.com`, `http://127.0.0.1:9000`.
    pub endpoint: Name,
    pub bucket: Name,
    /// Keys start with this (`opsbook/shop/`).
    pub prefix: Option<Name>,
    pub region: Option<Name>,
    /// `endpoint/bucket/key` (the default: MinIO, rclone, Ceph) rather
    /// than `bucket.endpoint/key`.
    pub path_style: Option<bool>,
    /// Else `$AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<Name>,
    /// Else `$AWS_SECRET_ACCESS_KEY`; only as `${VAR}`, never written out.
    pub secret_access_key: Option<Name>,
    pub access_key_id_file: Option<Name>,
    pub secret_access_key_file: Option<Name>,
}

/// `sftp: { host, port, user, key_file, known_hosts, path }`: key
/// authentication only, and the server's host key must be in `known_hosts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftpTarget {
    pub host: Name,
    /// 22 unless given.
    pub port: Option<u16>,
    pub user: Name,
    /// A private key (OpenSSH format, no passphrase), relative to the runbook.
    pub key_file: Name,
    /// The host keys to trust (OpenSSH's `known_hosts` format); an
    /// unknown or changed key refuses the connection.
    pub known_hosts: Name,
    /// The folder on the server the backups go in (relative: to the
    /// user's home).
    pub path: Name,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encrypt {
    /// age public keys (`age1…`).
    pub recipients: Vec<Name>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    pub dir: String,
    #[serde(default)]
    pub severities: IndexMap<String, Severity>,
    #[serde(default)]
    pub contacts: Vec<String>,
    #[serde(default)]
    pub checklist: Vec<String>,
    #[serde(default)]
    pub playbooks: IndexMap<String, Vec<Step>>,
    pub evidence: Option<Evidence>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Severity {
    pub respond_within: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Log lines of each service kept in the evidence bundle (default 200).
    pub log_lines: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Procedure {
    pub description: Option<String>,
    pub steps: Vec<Step>,
}

/// One step of a playbook, procedure or hook: exactly one action key, plus
/// the options every step takes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub start: Option<Targets>,
    pub stop: Option<Targets>,
    pub restart: Option<Targets>,
    /// Freezes the services' containers (`docker pause`), and lets them go on.
    pub pause: Option<Targets>,
    pub unpause: Option<Targets>,
    pub run: Option<Command>,
    pub sh: Option<String>,
    pub exec: Option<ExecStep>,
    pub check: Option<Targets>,
    pub backup: Option<bool>,
    pub wait: Option<Duration>,
    pub note: Option<String>,
    pub rotate: Option<Rotate>,
    /// A new version of a Swarm secret, and the stack's services that use
    /// it given it by Swarm's rolling update.
    pub rotate_secret: Option<RotateSecret>,
    pub http: Option<HttpCheck>,
    /// An Alertmanager silence for the steps' duration, expired after them.
    pub silence: Option<Silence>,
    /// A message to the runbook's `notify.webhook`, with the steps' name and status.
    pub notify: Option<String>,
    /// A maintenance window for this long from now (`30m`), or `end`.
    pub maintenance: Option<Spanned<String>>,
    /// The number of containers of a compose service, set through compose.
    pub scale: Option<Scale>,
    /// Services put on the image their container names now, health-gated
    /// and put back if one fails (`opsbook update`).
    pub update: Option<Targets>,
    /// Services put back on the image they ran before their last update.
    pub rollback: Option<Targets>,
    #[serde(default)]
    pub continue_on_error: bool,
    pub timeout: Option<Duration>,
    /// Run only when a named check has a given status now.
    pub when: Option<When>,
    /// Steps run when this one fails, instead of ending the steps there.
    #[serde(default)]
    pub on_failure: Vec<Step>,
    /// Steps run when this one outlives its `timeout`.
    #[serde(default)]
    pub on_timeout: Vec<Step>,
}

/// `when: { check: db-connections, is: crit }`: the check is run just
/// before the step, which runs only if the check's status is one of `is`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    pub check: Name,
    pub is: WhenStatus,
}

/// The statuses a `when` asks for: one, or `failing` (warn, crit or unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenStatus {
    Ok,
    Warn,
    Crit,
    Unknown,
    Failing,
}

/// `all`, one name, or a list of names; located as a whole.
pub type Targets = Spanned<NameList>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameList(pub Vec<String>);

impl<'de> Deserialize<'de> for NameList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        match OneOrMany::deserialize(deserializer) {
            Ok(OneOrMany::One(name)) => Ok(NameList(vec![name])),
            Ok(OneOrMany::Many(names)) => Ok(NameList(names)),
            Err(_) => Err(serde::de::Error::custom(
                "expected a name, `all`, or a list of names",
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecStep {
    pub service: Name,
    pub command: Command,
}

/// `scale: { service: api, replicas: 3 }`: `compose up -d --no-recreate
/// --scale api=3 api`, with the compose command of `startup.up`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub service: Name,
    pub replicas: Spanned<u32>,
}

/// Alerts matching `matchers` (label = value) silenced in the Alertmanager
/// at `url` while the steps run; the silence ends by itself after `for`
/// (default 1h) should opsbook not get to expire it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Silence {
    pub url: Spanned<String>,
    pub matchers: IndexMap<String, String>,
    #[serde(rename = "for")]
    pub lasting: Option<Duration>,
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    pub file: String,
    pub key: String,
    /// Random bytes of the new value: at least `MIN_BYTES`.
    pub bytes: Option<Spanned<u32>>,
    pub encoding: Option<RotateEncoding>,
    /// Where the secret lives besides the file (`ALTER ROLE … PASSWORD`).
    pub apply: Option<ExecStep>,
    #[serde(default)]
    pub restart: Vec<Name>,
}

/// `rotate_secret:`: the Swarm secret as the stack file names it (or its
/// full name), and the new value's random bytes and encoding.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    pub secret: Name,
    pub bytes: Option<Spanned<u32>>,
    pub encoding: Option<RotateEncoding>,
}

impl Rotate {
    /// Fewer random bytes than this (128 bits) is too weak a secret.
    pub const MIN_BYTES: u32 = 16;
    /// More than this is no secret anyone needs, and only costs memory.
    pub const MAX_BYTES: u32 = 4096;
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RotateEncoding {
    Base64url,
    Hex,
}
