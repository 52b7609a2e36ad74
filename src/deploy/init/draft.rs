//! The runbook `opsbook init` writes, as commented YAML: what it read of
//! each service (its kind, its healthcheck, its ports) said beside what it
//! wrote, what it left out said where it would go.

use std::fmt::Write;

use super::endpoints::Endpoint;
use super::recognise::{Kind, Recipe};
use crate::runbook::units;

/// One service as init understood it.
#[derive(Debug, Clone, Default)]
pub(super) struct ServiceDraft {
    pub name: String,
    pub depends_on: Vec<String>,
    /// Another service depends on it.
    pub critical: bool,
    /// Its healthcheck's command, as shown.
    pub healthcheck: Option<String>,
    pub kind: Option<(Kind, &'static str)>,
    pub recipe: Recipe,
    pub endpoints: Vec<Endpoint>,
    /// Named volumes (as the runbook names them) and where they are mounted.
    pub volumes: Vec<(String, String)>,
    /// Bind mounts: host path and where they are mounted.
    pub binds: Vec<(String, String)>,
    /// Its environment variables whose names look secret.
    pub secret_names: Vec<String>,
}

/// The whole deployment as init understood it.
#[derive(Debug, Default)]
pub(super) struct Draft {
    pub project: String,
    pub stack: bool,
    /// Where the services and their dependencies were read.
    pub source: String,
    pub services: Vec<ServiceDraft>,
}

/// A check written into `checks:`.
struct CheckDraft {
    name: String,
    body: String,
    comment: String,
    verify: bool,
}

impl Draft {
    /// The runbook's text.
    pub(super) fn text(&self) -> String {
        let mut out = String::new();
        self.header(&mut out);
        self.services_section(&mut out);
        out.push_str(THRESHOLDS);
        let checks = self.checks();
        checks_section(&checks, &mut out);
        out.push_str(LOGS);
        let verify: Vec<&str> = checks
            .iter()
            .filter(|c| c.verify)
            .map(|c| c.name.as_str())
            .collect();
        let _ = writeln!(
            out,
            "startup:\n  timeout: 2m                      # each tier's wait until running and healthy\n  verify: [{}]\n\nshutdown:\n  grace: 10s\n",
            verify.join(", ")
        );
        self.backup_section(&mut out);
        self.secrets_comment(&mut out);
        out.push_str(NOTIFY);
        out
    }

    /// How many checks the runbook holds.
    pub(super) fn check_count(&self) -> usize {
        self.checks().len()
    }

    fn header(&self, out: &mut String) {
        let what = if self.stack {
            "Swarm stack"
        } else {
            "compose project"
        };
        let _ = writeln!(
            out,
            "# The runbook of the {what} `{}`, written by `opsbook init` from its\n# running containers ({}). Read it through: every section is a\n# starting point, graded by the defaults operators use. Then:\n#   opsbook validate && opsbook backup && opsbook daily-check\n# The reference of every key: README, \"A runbook, section by section\".\nversion: 1\nname: {}\nproject: {}{}\n",
            self.project,
            self.source,
            self.project,
            self.project,
            if self.stack { "\nmode: swarm" } else { "" }
        );
    }

    fn services_section(&self, out: &mut String) {
        out.push_str("services:                          # startup in tiers by depends_on, shutdown in reverse\n");
        for s in &self.services {
            let kind = s
                .kind
                .map(|(kind, by)| format!("{} (told by its {by}); ", kind.named()))
                .unwrap_or_default();
            let health = match &s.healthcheck {
                Some(test) => format!("startup waits for its healthcheck `{test}`"),
                None => "no healthcheck: startup counts it ready once it runs".into(),
            };
            let _ = writeln!(out, "  # {}: {kind}{health}", s.name);
            let mut fields = Vec::new();
            if !s.depends_on.is_empty() {
                fields.push(format!("depends_on: [{}]", s.depends_on.join(", ")));
            }
            if s.critical {
                fields.push("critical: true".into());
            }
            let _ = writeln!(out, "  {}: {{ {} }}", s.name, fields.join(", "));
        }
        out.push('\n');
    }

    fn checks(&self) -> Vec<CheckDraft> {
        let mut checks = Vec::new();
        for s in &self.services {
            endpoint_checks(s, &mut checks);
            if let Some((suffix, command, contains)) = &s.recipe.check {
                let expect = contains
                    .map(|c| format!(", stdout_contains: {}", quoted(c)))
                    .unwrap_or_default();
                checks.push(CheckDraft {
                    name: format!("{}-{suffix}", s.name),
                    body: format!(
                        "exec: {{ service: {}, command: {}{expect} }}",
                        s.name,
                        flow(command)
                    ),
                    comment: s
                        .kind
                        .map(|(k, _)| k.named().to_string())
                        .unwrap_or_default(),
                    verify: true,
                });
            }
        }
        checks
    }

    fn backup_section(&self, out: &mut String) {
        let dumped: Vec<&ServiceDraft> = self
            .services
            .iter()
            .filter(|s| s.recipe.dump.is_some())
            .collect();
        let mut copied = Vec::new();
        let mut covered = Vec::new();
        let mut binds = Vec::new();
        for s in &self.services {
            for (volume, at) in &s.volumes {
                if s.recipe.dump.is_some() {
                    covered.push(format!("{volume} ({} at {at})", s.name));
                } else if !copied.contains(volume) {
                    copied.push(volume.clone());
                }
            }
            binds.extend(
                s.binds
                    .iter()
                    .map(|(from, at)| format!("{from} ({} at {at})", s.name)),
            );
        }
        out.push_str("backup:\n  dir: ./backups                   # beside this runbook; 0700, one folder per backup\n");
        let _ = writeln!(out, "  volumes: [{}]", copied.join(", "));
        for line in &covered {
            let _ = writeln!(
                out,
                "  # {line}: its database's data, in the dump below instead (a copy of a\n  # running database's files is not consistent)"
            );
        }
        if !binds.is_empty() {
            let _ = writeln!(
                out,
                "  # bind mounts, not backed up (often code, not data): {}",
                binds.join(", ")
            );
            out.push_str("  # files: [./nginx.conf]          # host files to keep, relative to this runbook\n");
        }
        if !dumped.is_empty() {
            out.push_str("  dumps:\n");
            for s in &dumped {
                let (dump, restore) = s.recipe.dump.as_ref().expect("filtered on dumps");
                let kind = s.kind.map(|(k, _)| k.named()).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    {}:                           # {kind}, with the container's own credentials\n      service: {}\n      command: [sh, -c, {}]\n      restore: [sh, -c, {}]",
                    s.name,
                    s.name,
                    quoted(dump),
                    quoted(restore)
                );
            }
        }
        let before: Vec<String> = self
            .services
            .iter()
            .filter_map(|s| {
                let command = s.recipe.before_backup.as_ref()?;
                Some(format!(
                    "    - exec: {{ service: {}, command: {} }}   # {} writes its snapshot first",
                    s.name,
                    flow(command),
                    s.kind.map(|(k, _)| k.named()).unwrap_or_default()
                ))
            })
            .collect();
        if !before.is_empty() {
            let _ = writeln!(out, "  before:\n{}", before.join("\n"));
        }
        out.push_str("  # stop: [api]                    # services stopped while the volumes are copied\n  keep: { last: 3, daily: 7, weekly: 4 }\n  max_age: 26h                     # daily-check warns when the newest backup is older\n\n");
    }

    fn secrets_comment(&self, out: &mut String) {
        let named: Vec<String> = self
            .services
            .iter()
            .filter(|s| !s.secret_names.is_empty())
            .map(|s| format!("{} {}", s.name, s.secret_names.join(", ")))
            .collect();
        if named.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "# Secrets: the values of these variables of the containers are masked in\n# whatever opsbook shows (their names say they are secret); the commands\n# above name them, never hold them: {}.\n# More patterns to mask: redact: ['tok_[A-Za-z0-9]{{24}}']\n",
            named.join("; ")
        );
    }
}

/// A check for each endpoint of `s`: `web-http`, `web-http-8443`, `db-tcp`.
fn endpoint_checks(s: &ServiceDraft, checks: &mut Vec<CheckDraft>) {
    let https = s
        .endpoints
        .iter()
        .filter(|e| matches!(e, Endpoint::Http { .. }))
        .count();
    let tcps = s.endpoints.len() - https;
    for endpoint in &s.endpoints {
        match endpoint {
            Endpoint::Http { url, status, max_latency } => {
                let port = url.rsplit(':').next().and_then(|p| p.split('/').next()).unwrap_or_default();
                checks.push(CheckDraft {
                    name: numbered(&s.name, "http", port, https),
                    body: format!(
                        "http: {{ url: {}, status: {status}, max_latency: {}, timeout: 5s }}\n    retry: {{ count: 2, delay: 2s }}",
                        quoted(url),
                        units::Duration(*max_latency)
                    ),
                    comment: format!("answered {status} when init asked"),
                    verify: true,
                });
            }
            Endpoint::Tcp { host, port, .. } => checks.push(CheckDraft {
                name: numbered(&s.name, "tcp", &port.to_string(), tcps),
                body: format!(
                    "tcp: {{ host: {host}, port: {port}, timeout: 2s }}\n    retry: {{ count: 2, delay: 2s }}"
                ),
                comment: "accepts connections".into(),
                verify: true,
            }),
        }
    }
}

fn numbered(service: &str, kind: &str, port: &str, of_kind: usize) -> String {
    if of_kind > 1 {
        format!("{service}-{kind}-{port}")
    } else {
        format!("{service}-{kind}")
    }
}

fn checks_section(checks: &[CheckDraft], out: &mut String) {
    if checks.is_empty() {
        out.push_str("# checks:                         # none found: no published port, no known software\n#   home: { http: { url: \"http://127.0.0.1:8080/health\", status: 200 } }\n\n");
        return;
    }
    out.push_str("checks:\n");
    for check in checks {
        let comment = if check.comment.is_empty() {
            String::new()
        } else {
            format!("   # {}", check.comment)
        };
        let _ = writeln!(out, "  {}:{comment}\n    {}", check.name, check.body);
    }
    out.push('\n');
}

/// An argv as a YAML flow list.
fn flow(argv: &[String]) -> String {
    let words: Vec<String> = argv.iter().map(|w| quoted(w)).collect();
    format!("[{}]", words.join(", "))
}

/// `text` as a YAML scalar: plain when that reads back the same, else
/// single-quoted.
fn quoted(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./@".contains(c))
        && !text.starts_with(['-', '@', '.'])
        && !matches!(
            text,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off"
        )
        && text.parse::<f64>().is_err();
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

const THRESHOLDS: &str = "thresholds:                        # the host, as operators grade it
  memory: { warn: 80%, crit: 85% }
  swap:   { warn: 25%, crit: 50% }
  load:   { warn: 2.0, crit: 2.5 }       # 1-minute load average per core
  disk:   { warn: 85%, crit: 90%, paths: [\"/\"] }

";

const LOGS: &str = "logs:                              # lines counted per service over the window
  since: 24h
  match: ['(?i)\\berror\\b', '(?i)\\bfatal\\b', '(?i)\\bpanic\\b']
  warn: 1
  crit: 100

";

const NOTIFY: &str = "# Where warn and crit go (webhook, ntfy, Slack, mail: README, Notifications):
# notify:
#   webhook: { url: \"https://hooks.example.com/opsbook\", on: [warn, crit] }
";
