//! The built-in rules: what a secret looks like in text, read the way a
//! secret scanner reads it. PEM private key blocks; tokens known by their
//! shape (GitHub, JWT, AWS access keys, Slack tokens and webhook paths, age
//! identities); `Bearer`/`Basic`/`Token` credentials; URL userinfo (up to
//! the last `@`); secret-taking flags (`--password x`, `-p x`, `-u u:p`,
//! `mysql -px`); and the values of pairs (`KEY=value`, `key: value`, JSON
//! members) whose key names a secret. A key names a secret when one of its
//! words (split at `_`, `-`, `.`, camelCase) is `key`, `pass`, `pwd`, `auth`,
//! `cookie`…, or contains `password`, `secret`, `token`…: so `monkey`,
//! `keycloak` and `author` stay, `DB_PASS` and `apiKey` go.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::MASK;

/// Key words that are secret when they are a whole word of the key.
const WORDS: [&str; 9] = [
    "key",
    "pass",
    "pw",
    "pwd",
    "auth",
    "authorization",
    "cookie",
    "signature",
    "sig",
];

/// Key words that are secret wherever they appear in a word of the key
/// (`PGPASSWORD`, `jwtsecret`, `x-apikey`).
const INFIXES: [&str; 10] = [
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "apikey",
    "accesskey",
    "privatekey",
    "secretkey",
];

struct Rules {
    pem: Regex,
    shapes: Regex,
    slack_webhook: Regex,
    schemes: Regex,
    userinfo: Regex,
    flags: Regex,
    mysql: Regex,
    keys: Regex,
    /// The value after `=`: quoted, or one word.
    equals_value: Regex,
    /// The value after `:`: quoted, or the rest of the line.
    colon_value: Regex,
}

/// Quoted values on one line: `"…"` with backslash escapes, `'…'`, and
/// `\"…\"` (JSON inside JSON); an unterminated quote runs to the end of
/// its line (not of a whole log file).
const QUOTED: &str = r#""(?:[^"\\\n]|\\.)*"?|'[^'\n]*'?|\\+"(?:[^"\\\n]|\\[^"\n])*(?:\\+")?"#;

static RULES: LazyLock<Rules> = LazyLock::new(|| Rules {
    pem: compile(
        // A body never holds a `"`: an unterminated block ends at one, or at the end.
        r#"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----)([^"]*?)(-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|"|\z)"#,
    ),
    shapes: compile(concat!(
        r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}",
        r"|github_pat_[A-Za-z0-9_]{16,}",
        r"|eyJ[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]+){0,2}",
        r"|(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}",
        r"|xox[abposr]-[A-Za-z0-9\-]{10,}",
        r"|AGE-SECRET-KEY-1[0-9A-Z]{10,})",
    )),
    slack_webhook: compile(r"/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"),
    schemes: compile(r"(?i)\b(bearer|basic|token)(\s+)([A-Za-z0-9._~+/=\-]{6,})"),
    // The password runs to the last `@` of the word: it may hold one.
    userinfo: compile(r#"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@"'<>]*):([^\s"'<>]*)@"#),
    flags: compile(&format!(
        r#"(^|[\s"'\[(,])(--?[A-Za-z][A-Za-z0-9_.\-]*)(=|\s+)({QUOTED}|[^\s"'\-][^\s"']*)"#
    )),
    mysql: compile(r#"(?i)\b(?:mysql\w*|mariadb\w*)\b[^\n;|&]*?\s-p([^\s"']+)"#),
    keys: compile(r#"([A-Za-z0-9_.\-]+)((?:\\*["'])?[ \t]*([=:])[ \t]*)"#),
    equals_value: compile(&format!(r#"^(?:{QUOTED}|[^\s,;&"'}}\]]+)"#)),
    colon_value: compile(&format!(r#"^(?:{QUOTED}|[^\r\n"']+)"#)),
});

/// The built-in patterns are constants; a failure here is a bug caught by the tests.
pub(super) fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("built-in redaction pattern: {e}"))
}

/// The text with every secret the built-in rules know replaced by `****`.
pub(super) fn apply(text: &str) -> Cow<'_, str> {
    let rules = &*RULES;
    let mut text = Cow::Borrowed(text);
    replace(&mut text, &rules.pem, |c| {
        format!("{}{MASK}{}", &c[1], &c[3])
    });
    replace(&mut text, &rules.shapes, |_| MASK.to_string());
    replace(&mut text, &rules.slack_webhook, |_| {
        format!("/services/{MASK}")
    });
    replace(&mut text, &rules.schemes, |c| {
        if c[1].eq_ignore_ascii_case("bearer") || looks_like_a_credential(&c[3]) {
            format!("{}{}{MASK}", &c[1], &c[2])
        } else {
            c[0].to_string()
        }
    });
    replace(&mut text, &rules.userinfo, |c| format!("{}:{MASK}@", &c[1]));
    replace(&mut text, &rules.flags, |c| {
        match mask_flag_value(&c[2], &c[4]) {
            Some(masked) => format!("{}{}{}{masked}", &c[1], &c[2], &c[3]),
            None => c[0].to_string(),
        }
    });
    replace(&mut text, &rules.mysql, |c| {
        let (whole, value) = (&c[0], &c[1]);
        format!("{}{MASK}", &whole[..whole.len() - value.len()])
    });
    if let Some(masked) = mask_pairs(&text) {
        text = Cow::Owned(masked);
    }
    text
}

fn replace(text: &mut Cow<'_, str>, pattern: &Regex, with: impl FnMut(&Captures<'_>) -> String) {
    if pattern.is_match(text) {
        *text = Cow::Owned(pattern.replace_all(text, with).into_owned());
    }
}

/// Masks the values of pairs whose key names a secret, or `None` when
/// there is none. The keys are found one after the other; a value is only
/// consumed when it is masked, so `a=password=x` still finds `password`.
fn mask_pairs(text: &str) -> Option<String> {
    let rules = &*RULES;
    let mut out = String::new();
    let mut done = 0;
    let mut at = 0;
    while let Some(pair) = rules.keys.captures_at(text, at) {
        let (Some(whole), Some(key), Some(separator)) = (pair.get(0), pair.get(1), pair.get(3))
        else {
            break;
        };
        at = whole.end();
        if !is_secret_key(key.as_str()) || is_runbook_field(key.as_str(), separator.as_str()) {
            continue;
        }
        let value = if separator.as_str() == "=" {
            &rules.equals_value
        } else {
            &rules.colon_value
        };
        if let Some(found) = value.find(&text[whole.end()..]) {
            out.push_str(&text[done..whole.end()]);
            out.push_str(&quoted_mask(found.as_str()));
            done = whole.end() + found.end();
            at = done;
        }
    }
    (done > 0).then(|| {
        out.push_str(&text[done..]);
        out
    })
}

/// The runbook sections whose field paths head opsbook's own messages.
const SECTIONS: &[&str] = &[
    "backup",
    "checks",
    "incident",
    "logs",
    "notify",
    "procedures",
    "restore",
    "services",
    "shutdown",
    "startup",
    "thresholds",
    "update",
];

/// Whether `key:` is the path of a runbook field heading opsbook's own
/// message (`backup.copies.offsite.s3.secret_access_key: a secret is never
/// written …`): what follows is the problem, not the secret.
fn is_runbook_field(key: &str, separator: &str) -> bool {
    separator == ":"
        && key.split('.').count() >= 3
        && key
            .split_once('.')
            .is_some_and(|(section, _)| SECTIONS.contains(&section))
}

/// `****`, inside the value's own quotes when it had them (`"****"`, `\"****\"`).
fn quoted_mask(value: &str) -> String {
    let opening: String = value
        .chars()
        .take_while(|c| *c == '\\')
        .chain(value.chars().skip_while(|c| *c == '\\').take(1))
        .collect();
    match opening.chars().last() {
        Some('"' | '\'') => format!("{opening}{MASK}{opening}"),
        _ => MASK.to_string(),
    }
}

/// Whether a key (`POSTGRES_PASSWORD`, `apiKey`, `X-Auth`) names a secret.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let words = words(key);
    if words.iter().any(|w| w == "public") {
        return false;
    }
    words
        .iter()
        .any(|w| WORDS.contains(&w.as_str()) || INFIXES.iter().any(|i| w.contains(i)))
}

/// The words of a key, lowercase: split at anything not a letter or digit
/// and at camelCase (`dbPass`, `DBPass` → db, pass).
fn words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        let previous = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1);
        let camel = c.is_ascii_uppercase()
            && previous.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
            });
        if camel && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        word.push(c.to_ascii_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// What a flag's value becomes when the flag takes a secret, else `None`:
/// `-u user:pass` keeps the user, `-p` spares ports and paths
/// (`-p 5432`, `-p 8080:80`, `mkdir -p /data`), a long flag is judged by
/// its name (`--password`, `--api-token`).
pub(crate) fn mask_flag_value(flag: &str, value: &str) -> Option<String> {
    let name = flag.trim_start_matches('-');
    match (flag, name) {
        ("-u" | "--user" | "--proxy-user", _) => value
            .split_once(':')
            .map(|(user, _)| format!("{user}:{MASK}")),
        ("-p", _) if is_port_or_path(value) => None,
        ("-p", _) => Some(quoted_mask(value)),
        (_, name) if name.len() > 1 && is_secret_key(name) => Some(quoted_mask(value)),
        _ => None,
    }
}

fn is_port_or_path(value: &str) -> bool {
    static PORTS: LazyLock<Regex> =
        LazyLock::new(|| compile(r"^(?:[0-9.]+:)?[0-9]{1,5}(?::[0-9]{1,5})?(?:/(?:tcp|udp))?$"));
    PORTS.is_match(value) || value.starts_with(['/', '.', '~', '$'])
}

/// Whether the word after `Basic` or `Token` is a credential, not prose:
/// long, or with a digit, a symbol or a capital inside (`dXNlcjpwYXNz`),
/// unlike "basic checks" or "token expired".
fn looks_like_a_credential(word: &str) -> bool {
    word.len() >= 20
        || word
            .chars()
            .any(|c| c.is_ascii_digit() || "+/=_~".contains(c))
        || (word.chars().skip(1).any(|c| c.is_ascii_uppercase())
            && word.chars().any(|c| c.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One planted secret of every kind the rules know: the text, what
    /// must come out.
    const SECRETS: &[(&str, &str, &str)] = &[
        (
            "env pair",
            "POSTGRES_PASSWORD=hunter2",
            "POSTGRES_PASSWORD=****",
        ),
        (
            "a dotted key that is no runbook field",
            "spring.datasource.password: hunter2",
            "spring.datasource.password: ****",
        ),
        (
            "DB_PASS",
            "export DB_PASS=hunter2 && run",
            "export DB_PASS=**** && run",
        ),
        (
            "MYSQL_PWD",
            "MYSQL_PWD=hunter2 mysql -u root",
            "MYSQL_PWD=**** mysql -u root",
        ),
        (
            "PGPASSWORD",
            "PGPASSWORD=hunter2 pg_dump shop",
            "PGPASSWORD=**** pg_dump shop",
        ),
        (
            "query string",
            "login failed token=xyz&user=bob",
            "login failed token=****&user=bob",
        ),
        (
            "camelCase key",
            "apiKey=abc123 dbPass=x9",
            "apiKey=**** dbPass=****",
        ),
        (
            "JSON member",
            r#"{"jwt_secret": "s3cr3t", "user": "bob"}"#,
            r#"{"jwt_secret": "****", "user": "bob"}"#,
        ),
        (
            "JSON without spaces",
            r#"{"password":"x"}"#,
            r#"{"password":"****"}"#,
        ),
        (
            "JSON inside JSON",
            r#"{\"password\":\"x y\",\"user\":\"bob\"}"#,
            r#"{\"password\":\"****\",\"user\":\"bob\"}"#,
        ),
        (
            "quoted with spaces",
            r#"PASSWORD="two words" next"#,
            r#"PASSWORD="****" next"#,
        ),
        (
            "single-quoted",
            "AWS_SECRET_ACCESS_KEY='a b c'",
            "AWS_SECRET_ACCESS_KEY='****'",
        ),
        (
            "escaped quote inside a quoted value",
            r#"PASSWORD="ab\"cd ef" next"#,
            r#"PASSWORD="****" next"#,
        ),
        (
            "unterminated quote",
            r#"password="abc def"#,
            r#"password="****""#,
        ),
        (
            "unterminated quote, then more lines",
            "password=\"abc def\nnext line",
            "password=\"****\"\nnext line",
        ),
        ("colon and words", "password: two words", "password: ****"),
        (
            "colon in quotes",
            "-H 'X-Auth: abc def' url",
            "-H 'X-Auth: ****' url",
        ),
        (
            "URL userinfo",
            "connecting to postgres://shop:hunter2@db:5432/shop",
            "connecting to postgres://shop:****@db:5432/shop",
        ),
        (
            "URL password with @",
            "postgres://shop:hun@ter2@db:5432/shop",
            "postgres://shop:****@db:5432/shop",
        ),
        (
            "DOCKER_HOST",
            "cannot reach Docker at `tcp://ops:hunter2@127.0.0.1:1`",
            "cannot reach Docker at `tcp://ops:****@127.0.0.1:1`",
        ),
        (
            "bearer",
            "sent Bearer abcdefghijkl upstream",
            "sent Bearer **** upstream",
        ),
        (
            "authorization header",
            "Authorization: Basic dXNlcjpwYXNz",
            "Authorization: ****",
        ),
        ("token scheme", "sent token 3f9a1b2c4d5e", "sent token ****"),
        (
            "GitHub classic token",
            "push with ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 failed",
            "push with **** failed",
        ),
        (
            "GitHub fine-grained token",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123",
            "****",
        ),
        (
            "JWT",
            "session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlc2ln ok",
            "session **** ok",
        ),
        (
            "PEM one line",
            "key -----BEGIN PRIVATE KEY----- MIIEvQIBADANBg -----END PRIVATE KEY----- done",
            "key -----BEGIN PRIVATE KEY-----****-----END PRIVATE KEY----- done",
        ),
        (
            "PEM many lines",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nq83vEiP\n-----END RSA PRIVATE KEY-----\n",
            "-----BEGIN RSA PRIVATE KEY-----****-----END RSA PRIVATE KEY-----\n",
        ),
        (
            "PEM cut short",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA",
            "-----BEGIN OPENSSH PRIVATE KEY-----****",
        ),
        (
            "AWS access key",
            "id AKIAIOSFODNN7EXAMPLE used",
            "id **** used",
        ),
        (
            "Slack webhook",
            "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/abcdefABCDEF123456",
            "https://hooks.slack.com/services/****",
        ),
        ("Slack token", "xoxb-1234567890-abcdefghij", "****"),
        (
            "age identity",
            "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS",
            "****",
        ),
        (
            "--password value",
            "mysqldump --password hunter2 shop",
            "mysqldump --password **** shop",
        ),
        (
            "--api-token=value",
            "cli --api-token=abc123 run",
            "cli --api-token=**** run",
        ),
        (
            "-p value",
            "mysql -u root -p hunter2 shop",
            "mysql -u root -p **** shop",
        ),
        (
            "mysql -pvalue",
            "mysql -uroot -phunter2 shop",
            "mysql -uroot -p**** shop",
        ),
        (
            "-u user:pass",
            "curl -u ops:hunter2 http://x",
            "curl -u ops:**** http://x",
        ),
        (
            "Cookie",
            "Cookie: session=abc123; theme=dark",
            "Cookie: ****",
        ),
        (
            "Set-Cookie",
            "Set-Cookie: sid=abc123; Path=/; HttpOnly",
            "Set-Cookie: ****",
        ),
    ];

    /// Ordinary text that must stay as it is.
    const ORDINARY: &[&str] = &[
        "user=bob status=200 path=/health",
        "ERROR connection refused",
        "keycloak: running, healthy",
        "monkey: banana",
        "author: Jane Doe",
        "the token expired, basic checks passed",
        "mkdir -p /data && ssh -p 22 host && docker run -p 8080:80 img",
        "public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
        "rotate: JWT_SECRET in .env",
        "sudo -u postgres psql",
        "opsbook.yaml:10:5: backup.copies.offsite.s3.secret_access_key: a secret is never written in the runbook",
    ];

    #[test]
    fn every_kind_of_secret_is_masked() {
        for (kind, text, masked) in SECRETS {
            assert_eq!(apply(text), *masked, "{kind}");
        }
    }

    #[test]
    fn masking_twice_changes_nothing() {
        for (kind, text, _) in SECRETS {
            let once = apply(text).into_owned();
            assert_eq!(apply(&once), once, "{kind}");
            let quoted = format!("{once:?}");
            assert_eq!(apply(&quoted), quoted, "{kind}, quoted");
        }
    }

    #[test]
    fn ordinary_text_stays() {
        for text in ORDINARY {
            assert_eq!(apply(text), *text);
        }
    }

    #[test]
    fn keys_are_judged_by_their_words() {
        for key in [
            "DB_PASS",
            "apiKey",
            "X-Auth",
            "PGPASSWORD",
            "x-amz-signature",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "monkey",
            "keycloak",
            "author",
            "bypass",
            "public_key",
            "user",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
