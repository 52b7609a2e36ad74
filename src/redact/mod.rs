//! Secret masking, done where text leaves the process: every renderer of a
//! report, the error and progress lines on stderr, and every file opsbook
//! writes (incident records, timeline, post-mortem, evidence, the backup
//! manifest). It works on the raw text, before any quoting or escaping
//! (JSON, XML, Prometheus labels), which would hide a secret from the rules;
//! JSON is masked value by value before it is serialised.
//!
//! What is masked: the built-in rules (`rules`) and whatever the runbook's
//! `redact:` patterns match. Over-masking is the safe failure.

mod rules;

use std::borrow::Cow;

use regex::Regex;
use serde_json::Value;

pub(crate) const MASK: &str = "****";

#[derive(Debug, Clone)]
pub(crate) struct Redactor {
    /// The runbook's `redact:` patterns.
    extra: Vec<Regex>,
    /// Secret values themselves (credentials a runbook reads from the
    /// environment, `.env` or a file), masked wherever they appear.
    values: Vec<String>,
}

/// Values shorter than this are not masked by value: they would mask
/// ordinary words everywhere.
const SHORTEST_SECRET: usize = 4;

impl Redactor {
    /// The built-in rules plus the runbook's patterns (already validated).
    pub(crate) fn new(extra_patterns: &[String]) -> Redactor {
        Redactor {
            extra: extra_patterns
                .iter()
                .filter_map(|p| Regex::new(p).ok())
                .collect(),
            values: Vec::new(),
        }
    }

    /// This redactor, also masking each of `values` wherever it appears.
    pub(crate) fn with_values(mut self, values: impl IntoIterator<Item = String>) -> Redactor {
        self.values.extend(
            values
                .into_iter()
                .filter(|v| v.chars().count() >= SHORTEST_SECRET),
        );
        // Longest first: a secret that contains another is masked whole.
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        self.values.dedup();
        self
    }

    /// The built-in rules alone: before a runbook is loaded.
    pub(crate) fn builtin() -> Redactor {
        Redactor {
            extra: Vec::new(),
            values: Vec::new(),
        }
    }

    /// The text with every secret replaced by `****`.
    pub(crate) fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = if self.values.iter().any(|v| text.contains(v.as_str())) {
            let mut owned = text.to_string();
            for value in &self.values {
                owned = owned.replace(value.as_str(), MASK);
            }
            Cow::Owned(rules::apply(&owned).into_owned())
        } else {
            rules::apply(text)
        };
        for pattern in &self.extra {
            if pattern.is_match(&text) {
                text = Cow::Owned(pattern.replace_all(&text, MASK).into_owned());
            }
        }
        text
    }

    /// Masks a JSON value in place, before it is serialised: every string,
    /// the value of every member whose name is secret (`"password": "x"`),
    /// and the value after a secret-taking flag in an argv (`["-p", "x"]`).
    pub(crate) fn redact_json(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                if let Cow::Owned(masked) = self.redact(text) {
                    *text = masked;
                }
            }
            Value::Array(items) => {
                for item in items.iter_mut() {
                    self.redact_json(item);
                }
                for i in 1..items.len() {
                    let masked = match (&items[i - 1], &items[i]) {
                        (Value::String(flag), Value::String(value)) => {
                            rules::mask_flag_value(flag, value)
                        }
                        _ => None,
                    };
                    if let Some(masked) = masked {
                        items[i] = Value::String(masked);
                    }
                }
            }
            Value::Object(members) => {
                for (name, member) in members.iter_mut() {
                    let plain = member.is_string() || member.is_number();
                    if plain && rules::is_secret_key(name) {
                        *member = Value::String(MASK.to_string());
                    } else {
                        self.redact_json(member);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// A serialisable value as masked JSON (a value that cannot be
    /// represented is `null`).
    pub(crate) fn json(&self, value: impl serde::Serialize) -> Value {
        let mut value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.redact_json(&mut value);
        value
    }
}

/// Text from outside (command output, a log line, a body) as a message
/// quotes it: between double quotes, control characters escaped (one line,
/// no terminal codes), and nothing else escaped, so the rules applied where
/// the message leaves still read it as it was written.
/// Whether a variable's name says it holds a secret, so its value is masked.
pub(crate) fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "KEY",
        "SECRET",
        "TOKEN",
        "PASS",
        "PWD",
        "CREDENTIAL",
        "AUTH",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

pub(crate) fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        if c.is_control() {
            quoted.extend(c.escape_debug());
        } else {
            quoted.push(c);
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn runbook_patterns_are_masked() {
        let redactor = Redactor::new(&["sk_live_[A-Za-z0-9]+".to_string()]);
        assert_eq!(
            redactor.redact("charge with sk_live_abc123 ok"),
            "charge with **** ok"
        );
    }

    #[test]
    fn clean_text_is_not_copied() {
        let redactor = Redactor::builtin();
        assert!(matches!(redactor.redact("all fine"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_is_masked_before_it_is_escaped() {
        let mut value = json!({
            "Cmd": ["sh", "-c", "echo {\"password\":\"x1\"} PASSWORD=\"two words\""],
            "Args": ["mysql", "-p", "hunter2", "--password", "hunter3", "-p", "5432"],
            "api_token": "abc",
            "retries": 3,
            "nested": [{"secret": 42, "name": "db"}],
        });
        Redactor::builtin().redact_json(&mut value);
        assert_eq!(
            value,
            json!({
                "Cmd": ["sh", "-c", "echo {\"password\":\"****\"} PASSWORD=\"****\""],
                "Args": ["mysql", "-p", "****", "--password", "****", "-p", "5432"],
                "api_token": "****",
                "retries": 3,
                "nested": [{"secret": "****", "name": "db"}],
            })
        );
    }

    #[test]
    fn quoting_keeps_the_text_readable_to_the_rules() {
        assert_eq!(
            quote("{\"password\":\"x\"}\n\x1b[31m"),
            "\"{\"password\":\"x\"}\\n\\u{1b}[31m\""
        );
        let redactor = Redactor::builtin();
        assert_eq!(
            redactor.redact(&quote("{\"password\":\"x\"}")),
            "\"{\"password\":\"****\"}\""
        );
    }
}
