//! Secret masking for every text that leaves the process: log lines quoted
//! in a result, command output, response bodies, error messages.
//!
//! Masked: values of `KEY=value` / `key: value` pairs whose key names a
//! secret (PASSWORD, SECRET, TOKEN, KEY, CREDENTIAL…), the password in URL
//! userinfo, bearer and basic credentials, and whatever the runbook's
//! `redact:` patterns match. Over-masking is the safe failure.

use std::borrow::Cow;

use regex::Regex;

pub const MASK: &str = "****";

/// Words that make a key secret, matched case-insensitively anywhere in the key.
const SECRET_WORDS: &str = "PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PWD";

pub struct Redactor {
    pairs: Regex,
    userinfo: Regex,
    credentials: Regex,
    extra: Vec<Regex>,
}

impl Redactor {
    /// The built-in rules plus the runbook's patterns (already validated).
    pub fn new(extra_patterns: &[String]) -> Redactor {
        // Key, optional closing quote, separator, then a quoted or bare value.
        let pairs = format!(
            r#"(?i)([A-Za-z0-9_.\-]*(?:{SECRET_WORDS})[A-Za-z0-9_.\-]*["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&"'}}\]]+)"#
        );
        Redactor {
            pairs: compile(&pairs),
            userinfo: compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*):[^/\s@]+@"),
            credentials: compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=\-]{6,}"),
            extra: extra_patterns
                .iter()
                .filter_map(|p| Regex::new(p).ok())
                .collect(),
        }
    }

    /// The text with every secret replaced by `****`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        let quoted_mask = |value: &str| match value.chars().next() {
            Some(q @ ('"' | '\'')) => format!("{q}{MASK}{q}"),
            _ => MASK.to_string(),
        };
        for (pattern, replacement) in [
            (&self.credentials, format!("$1$2{MASK}")),
            (&self.userinfo, format!("$1:{MASK}@")),
        ] {
            if pattern.is_match(&text) {
                text = Cow::Owned(
                    pattern
                        .replace_all(&text, replacement.as_str())
                        .into_owned(),
                );
            }
        }
        if self.pairs.is_match(&text) {
            text = Cow::Owned(
                self.pairs
                    .replace_all(&text, |c: &regex::Captures<'_>| {
                        format!("{}{}", &c[1], quoted_mask(&c[2]))
                    })
                    .into_owned(),
            );
        }
        for pattern in &self.extra {
            if pattern.is_match(&text) {
                text = Cow::Owned(pattern.replace_all(&text, MASK).into_owned());
            }
        }
        text
    }
}

/// The built-in patterns are constants; a failure here is a bug caught by the tests.
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("built-in redaction pattern: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> String {
        Redactor::new(&[]).redact(text).into_owned()
    }

    #[test]
    fn secret_pairs_are_masked() {
        assert_eq!(
            redact("POSTGRES_PASSWORD=hunter2"),
            "POSTGRES_PASSWORD=****"
        );
        assert_eq!(redact("api_key: abc123 next"), "api_key: **** next");
        assert_eq!(
            redact("login failed token=xyz&user=bob"),
            "login failed token=****&user=bob"
        );
        assert_eq!(
            redact(r#"{"jwt_secret": "s3cr3t", "user": "bob"}"#),
            r#"{"jwt_secret": "****", "user": "bob"}"#
        );
        assert_eq!(
            redact("AWS_SECRET_ACCESS_KEY='a b c'"),
            "AWS_SECRET_ACCESS_KEY='****'"
        );
    }

    #[test]
    fn ordinary_pairs_stay() {
        assert_eq!(
            redact("user=bob status=200 path=/health"),
            "user=bob status=200 path=/health"
        );
        assert_eq!(
            redact("ERROR connection refused"),
            "ERROR connection refused"
        );
    }

    #[test]
    fn url_userinfo_and_bearer_tokens_are_masked() {
        assert_eq!(
            redact("connecting to postgres://shop:hunter2@db:5432/shop"),
            "connecting to postgres://shop:****@db:5432/shop"
        );
        assert_eq!(
            redact("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y"),
            "Authorization: **** ****"
        );
        assert_eq!(
            redact("sent Bearer eyJhbGciOiJIUzI1NiJ9.x.y upstream"),
            "sent Bearer **** upstream"
        );
    }

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
        let redactor = Redactor::new(&[]);
        assert!(matches!(redactor.redact("all fine"), Cow::Borrowed(_)));
    }
}
