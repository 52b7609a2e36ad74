//! `procedures:` and the steps of playbooks, procedures and hooks as
//! written: one action key per step (start, stop, run, exec, rotate,
//! silence, scale…) with the options every step takes (`when`, `timeout`,
//! `on_failure`, `on_timeout`), and the names a step targets.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Name;
use super::checks::HttpCheck;
use crate::runbook::command::Command;
use crate::runbook::units::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Procedure {
    pub description: Option<String>,
    pub steps: Vec<Step>,
}

/// One step of a playbook, procedure or hook: exactly one action key, plus
/// the options every step takes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Step {
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
    /// `opsbook images prune`: unused images, build cache and dangling
    /// volumes removed, the images rollback needs kept.
    pub images_prune: Option<ImagesPrune>,
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
pub(crate) struct When {
    pub check: Name,
    pub is: WhenStatus,
}

/// The statuses a `when` asks for: one, or `failing` (warn, crit or unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum WhenStatus {
    Ok,
    Warn,
    Crit,
    Unknown,
    Failing,
}

/// `all`, one name, or a list of names; located as a whole.
pub(crate) type Targets = Spanned<NameList>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameList(pub Vec<String>);

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
pub(crate) struct ExecStep {
    pub service: Name,
    pub command: Command,
}

/// `scale: { service: api, replicas: 3 }`: `compose up -d --no-recreate
/// --scale api=3 api`, with the compose command of `startup.up`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scale {
    pub service: Name,
    pub replicas: Spanned<u32>,
}

/// An `images_prune` step: `{}` keeps `images.keep` (2) of each service's
/// images, `{ keep: N }` that many.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImagesPrune {
    pub keep: Option<usize>,
}

/// Alerts matching `matchers` (label = value) silenced in the Alertmanager
/// at `url` while the steps run; the silence ends by itself after `for`
/// (default 1h) should opsbook not get to expire it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Silence {
    pub url: Spanned<String>,
    pub matchers: IndexMap<String, String>,
    #[serde(rename = "for")]
    pub lasting: Option<Duration>,
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rotate {
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
pub(crate) struct RotateSecret {
    pub secret: Name,
    pub bytes: Option<Spanned<u32>>,
    pub encoding: Option<RotateEncoding>,
}

impl Rotate {
    /// Fewer random bytes than this (128 bits) is too weak a secret.
    pub(crate) const MIN_BYTES: u32 = 16;
    /// More than this is no secret anyone needs, and only costs memory.
    pub(crate) const MAX_BYTES: u32 = 4096;
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RotateEncoding {
    Base64url,
    Hex,
}
