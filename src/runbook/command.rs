//! A command in a runbook: an argv array run without a shell, or `sh: "…"`,
//! the explicit opt-in to a shell (DESIGN.md: no accidental word splitting).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum Command {
    /// `[pg_isready, -U, postgres]`
    Argv(Vec<String>),
    /// `{ sh: "pg_dump shop | gzip" }`
    Shell { sh: String },
}

impl Command {
    /// The argv to execute: a shell command becomes `sh -c SCRIPT`.
    pub(crate) fn argv(&self) -> Vec<String> {
        match self {
            Command::Argv(argv) => argv.clone(),
            Command::Shell { sh } => vec!["sh".into(), "-c".into(), sh.clone()],
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Argv(argv) => f.write_str(&argv.join(" ")),
            // Quoted, not escaped: the redactor reads the script as written.
            Command::Shell { sh } => write!(f, "sh -c {}", crate::redact::quote(sh)),
        }
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CommandVisitor)
    }
}

struct CommandVisitor;

impl<'de> Visitor<'de> for CommandVisitor {
    type Value = Command;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an argv list like `[pg_isready, -U, postgres]` or `{ sh: \"…\" }`")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Command, E> {
        Err(E::custom(format!(
            "command `{text}` is a plain string: write an argv list like `[{}]`, or `{{ sh: \"{text}\" }}` to run it through a shell",
            text.split_whitespace().collect::<Vec<_>>().join(", ")
        )))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
        let mut argv = Vec::new();
        while let Some(word) = seq.next_element::<String>()? {
            argv.push(word);
        }
        if argv.is_empty() {
            return Err(de::Error::custom("command is empty"));
        }
        Ok(Command::Argv(argv))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Command, A::Error> {
        let mut script: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "sh" {
                return Err(de::Error::unknown_field(&key, &["sh"]));
            }
            script = Some(map.next_value()?);
        }
        match script {
            Some(sh) if !sh.trim().is_empty() => Ok(Command::Shell { sh }),
            _ => Err(de::Error::custom("command `sh:` is empty")),
        }
    }
}
