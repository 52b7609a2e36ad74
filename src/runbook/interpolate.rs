//! Compose-style `${VAR}` in the runbook values that name places and
//! credentials (the backup copies' targets, notify targets, http checks'
//! header values): `${VAR}`, `${VAR:-default}`
//! (unset or empty), `${VAR-default}` (unset), `${VAR:?message}` /
//! `${VAR?message}` (refused with the message), and `$${` for a literal
//! `${`. A bare `$VAR` is left alone: runbook commands hand those to a shell
//! (`psql "$DATABASE_URL"`). Values come from the environment, else from a
//! `.env` file beside the runbook (the file compose users already have).
//! A variable unset with no default is an error naming it.

use std::collections::HashMap;
use std::path::Path;

/// Where `${VAR}` values come from: the environment, then `.env`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    dotenv: HashMap<String, String>,
}

impl Vars {
    /// The environment, and `dir/.env` when there is one. A `.env` line
    /// is `KEY=VALUE`, optionally `export KEY=VALUE`, the value optionally
    /// in single or double quotes; `#` starts a comment line.
    pub(crate) fn load(dir: &Path) -> Vars {
        let dotenv = std::fs::read_to_string(dir.join(".env"))
            .map(|text| parse_dotenv(&text))
            .unwrap_or_default();
        Vars { dotenv }
    }

    /// The value of `name`: the environment's, else `.env`'s.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
    }
}

/// `text` with every `${…}` replaced, and the names it used; or why not.
pub(crate) fn interpolate(text: &str, vars: &Vars) -> Result<(String, Vec<String>), String> {
    let mut out = String::with_capacity(text.len());
    let mut used = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            out.push('$');
            rest = escaped;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err(format!("`${{` without its closing `}}` in `{text}`"));
        };
        let expression = &body[..end];
        out.push_str(&expand(expression, vars)?);
        used.push(name_of(expression).to_string());
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok((out, used))
}

/// Whether every `${…}` of `text` is well written, values not looked up.
pub(crate) fn check(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            rest = escaped;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            rest = after;
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err(format!("`${{` without its closing `}}` in `{text}`"));
        };
        // Looked up in a set of every name: only the form can fail.
        let all = Vars {
            dotenv: HashMap::from([(name_of(&body[..end]).to_string(), "x".to_string())]),
        };
        expand(&body[..end], &all)?;
        rest = &body[end + 1..];
    }
    Ok(())
}

/// The variable an expression names (`NAME` of `NAME:-default`).
fn name_of(expression: &str) -> &str {
    let end = expression
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(expression.len());
    &expression[..end]
}

fn expand(expression: &str, vars: &Vars) -> Result<String, String> {
    let name = name_of(expression);
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid {
        return Err(format!(
            "`${{{expression}}}`: a variable name is letters, digits and `_`, not starting with a digit"
        ));
    }
    let value = vars.get(name);
    let operator = &expression[name.len()..];
    let (op, word) = [":-", ":?", "-", "?"]
        .iter()
        .filter_map(|op| operator.strip_prefix(op).map(|word| (*op, word)))
        .next()
        .unwrap_or(("", operator));
    match op {
        "" if !word.is_empty() => Err(format!(
            "`${{{expression}}}`: after the name comes `}}`, `:-default`, `-default`, `:?message` or `?message`"
        )),
        "" => value.ok_or_else(|| {
            format!("`${name}` is not set (in the environment or in .env beside the runbook)")
        }),
        ":-" => Ok(value
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| word.to_string())),
        "-" => Ok(value.unwrap_or_else(|| word.to_string())),
        ":?" | "?" => match value.filter(|v| op == "?" || !v.is_empty()) {
            Some(value) => Ok(value),
            None if word.is_empty() => Err(format!("`${name}` is not set")),
            None => Err(format!("`${name}`: {word}")),
        },
        _ => Err(format!("`${{{expression}}}` is not understood")),
    }
}

pub(crate) use crate::redact::looks_secret;

/// `value` with its `${…}` filled in; the error names the runbook, the
/// value's line and column, and `field` (last: `…_key_id: <text>` would
/// read as a secret to the redactor and be masked whole).
pub(crate) fn located(
    value: &super::model::Name,
    vars: &Vars,
    runbook_display: &str,
    field: &str,
) -> Result<String, String> {
    interpolate(&value.value, vars)
        .map(|(text, _)| text)
        .map_err(|e| {
            format!(
                "{runbook_display}:{}:{}: {e}, in {field}",
                value.referenced.line(),
                value.referenced.column()
            )
        })
}

/// Every secret value the copy targets read (credentials from `${VAR}`,
/// secret-named variables, credential files), for the redactor.
pub(crate) fn secret_values(
    copies: &indexmap::IndexMap<String, super::model::CopyTarget>,
    dir: &Path,
) -> Vec<String> {
    let vars = Vars::load(dir);
    let mut secrets = Vec::new();
    for target in copies.values() {
        let Some(s3) = &target.s3 else {
            continue;
        };
        let fields = [
            (&s3.access_key_id, true),
            (&s3.secret_access_key, true),
            (&Some(s3.endpoint.clone()), false),
        ];
        for (field, credential) in fields {
            let Some(field) = field else {
                continue;
            };
            if let Ok((value, used)) = interpolate(&field.value, &vars)
                && (credential || used.iter().any(|n| looks_secret(n)))
            {
                secrets.push(value);
            }
        }
        for file in [&s3.access_key_id_file, &s3.secret_access_key_file]
            .into_iter()
            .flatten()
        {
            if let Ok((path, _)) = interpolate(&file.value, &vars)
                && let Ok(text) = std::fs::read_to_string(dir.join(&path))
            {
                secrets.push(text.trim().to_string());
            }
        }
        if s3.secret_access_key.is_none()
            && s3.secret_access_key_file.is_none()
            && let Ok(secret) = std::env::var("AWS_SECRET_ACCESS_KEY")
        {
            secrets.push(secret);
        }
    }
    secrets
}

/// The restic repository's password, from `${VAR}` or its file, for the
/// redactor.
pub(crate) fn repository_secret_values(
    repository: &super::model::Repository,
    dir: &Path,
) -> Vec<String> {
    let vars = Vars::load(dir);
    let mut secrets = Vec::new();
    if let Some(password) = &repository.password
        && let Ok((value, _)) = interpolate(&password.value, &vars)
    {
        secrets.push(value);
    }
    if let Some(file) = &repository.password_file
        && let Ok((path, _)) = interpolate(&file.value, &vars)
        && let Ok(text) = std::fs::read_to_string(dir.join(path))
        && let Some(line) = text.lines().next()
    {
        secrets.push(line.to_string());
    }
    secrets.retain(|s| !s.is_empty());
    secrets
}

/// What the targets read that must never be shown: credentials whole,
/// and URLs whole plus each long path segment or query value of them
/// (where webhook tokens and ping UUIDs live).
pub(crate) fn notify_secret_values(notify: &super::model::Notify, dir: &Path) -> Vec<String> {
    let vars = Vars::load(dir);
    let filled = |v: &super::model::Name| interpolate(&v.value, &vars).ok().map(|(t, _)| t);
    let mut urls: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = Vec::new();
    if let Some(webhook) = &notify.webhook {
        urls.extend(filled(&webhook.url));
    }
    for target in notify.targets.values() {
        let url_fields = [
            target.healthchecks.as_ref().map(|t| &t.url),
            target.ntfy.as_ref().map(|t| &t.url),
            target.discord.as_ref().map(|t| &t.url),
            target.teams.as_ref().map(|t| &t.url),
            target.webhook.as_ref().map(|t| &t.url),
            target.pagerduty.as_ref().and_then(|t| t.url.as_ref()),
        ];
        urls.extend(url_fields.into_iter().flatten().filter_map(&filled));
        let secret_fields = [
            target.ntfy.as_ref().and_then(|t| t.token.as_ref()),
            target.pagerduty.as_ref().map(|t| &t.routing_key),
            target.email.as_ref().and_then(|t| t.password.as_ref()),
        ];
        secrets.extend(secret_fields.into_iter().flatten().filter_map(&filled));
        if let Some(w) = &target.webhook {
            secrets.extend(w.headers.values().filter_map(&filled));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for url in &urls {
        if let Ok(parsed) = url::Url::parse(url) {
            let parts = parsed
                .path_segments()
                .into_iter()
                .flatten()
                .map(str::to_string)
                .chain(parsed.query_pairs().map(|(_, v)| v.into_owned()));
            secrets.extend(parts.filter(|part| part.len() >= 16));
        }
    }
    secrets.extend(urls);
    secrets.retain(|s| seen.insert(s.clone()));
    secrets
}

/// What the http checks' and steps' header values read through `${VAR}`
/// where they carry a credential (a header named like one, `Authorization`,
/// `Cookie`, `X-Api-Key`, or a variable named like a secret): each value
/// filled in whole, and each variable's own value, so a token is masked
/// however a server or a log quotes it back. `X-Tenant: ${TENANT}` is not one.
pub(crate) fn header_secret_values(model: &super::model::Model, dir: &Path) -> Vec<String> {
    let vars = Vars::load(dir);
    let mut requests: Vec<&super::model::HttpCheck> = Vec::new();
    requests.extend(model.checks.values().filter_map(|c| c.http.as_ref()));
    if let Some(drill) = model.backup.as_ref().and_then(|b| b.drill.as_ref()) {
        requests.extend(drill.checks.values().filter_map(|c| c.http.as_ref()));
    }
    for (_, steps) in super::bounds::step_lists(model) {
        requests.extend(steps.iter().filter_map(|s| s.http.as_ref()));
    }
    let mut secrets = Vec::new();
    for (header, value) in requests.iter().flat_map(|r| r.headers.iter()) {
        let Ok((filled, used)) = interpolate(&value.value, &vars) else {
            continue;
        };
        let credential = looks_secret(header)
            || header.eq_ignore_ascii_case("cookie")
            || used.iter().any(|name| looks_secret(name));
        if used.is_empty() || !credential {
            continue;
        }
        secrets.extend(used.iter().filter_map(|name| vars.get(name)));
        secrets.push(filled);
    }
    // A short value (`1`, `on`) would mask every digit and word it matches.
    secrets.retain(|s| s.trim().len() >= 4);
    secrets
}

fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut values = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => value
                .strip_prefix(quote)
                .and_then(|v| v.find(quote).map(|end| &v[..end]))
                .unwrap_or(value),
            // An unquoted value ends at ` #` (a comment), as compose reads it.
            _ => value.split(" #").next().unwrap_or(value).trim_end(),
        };
        values.insert(key.trim().to_string(), value.to_string());
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars {
            dotenv: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn expanded(text: &str, vars: &Vars) -> Result<String, String> {
        interpolate(text, vars).map(|(text, _)| text)
    }

    #[test]
    fn each_form_expands_as_compose_does() {
        let v = vars(&[("BUCKET", "backups"), ("EMPTY", "")]);
        assert_eq!(
            expanded("s3://${BUCKET}/x", &v).as_deref(),
            Ok("s3://backups/x")
        );
        assert_eq!(expanded("${EMPTY:-d}", &v).as_deref(), Ok("d"));
        assert_eq!(expanded("${EMPTY-d}", &v).as_deref(), Ok(""));
        assert_eq!(
            expanded("${OPSBOOK_TEST_UNSET_1-fallback}", &v).as_deref(),
            Ok("fallback")
        );
        assert_eq!(
            expanded("$$HOME and $${X}", &v).as_deref(),
            Ok("$HOME and ${X}")
        );
        assert_eq!(
            expanded("psql \"$DATABASE_URL\"", &v).as_deref(),
            Ok("psql \"$DATABASE_URL\"")
        );
        let (_, used) = interpolate("${BUCKET}${EMPTY:-x}", &v).unwrap_or_default();
        assert_eq!(used, ["BUCKET", "EMPTY"]);
    }

    #[test]
    fn unset_and_malformed_are_refused_naming_the_variable() {
        let v = vars(&[]);
        let unset = expanded("${OPSBOOK_TEST_UNSET_2}", &v)
            .err()
            .unwrap_or_default();
        assert!(
            unset.contains("`$OPSBOOK_TEST_UNSET_2` is not set"),
            "{unset}"
        );
        let told = expanded("${OPSBOOK_TEST_UNSET_2:?set the S3 key}", &v).err();
        assert_eq!(
            told.as_deref(),
            Some("`$OPSBOOK_TEST_UNSET_2`: set the S3 key")
        );
        assert!(expanded("${OPEN", &v).is_err());
        assert!(expanded("${1X}", &v).is_err());
        assert!(expanded("${A B}", &v).is_err());
    }

    #[test]
    fn dotenv_lines_are_read_like_compose() {
        let values = parse_dotenv(
            "# comment\nexport A=1\nB=\"two words\"\nC='x#y'\nD=plain # note\nnot a line\n",
        );
        assert_eq!(values["A"], "1");
        assert_eq!(values["B"], "two words");
        assert_eq!(values["C"], "x#y");
        assert_eq!(values["D"], "plain");
        assert!(looks_secret("S3_SECRET_ACCESS_KEY") && !looks_secret("S3_BUCKET"));
    }
}
