//! A problem said in the reader's words: the YAML parser's "expected
//! sequence start" becomes "expected a list, e.g. `not_contains:
//! [minioadmin]`" (with what was written), "expected mapping start"
//! names what belongs there with an example, "invalid boolean" says the
//! two words there are, and an unknown key or name
//! gets a "did you mean" from the known ones.

/// `message` (about `field`, written at `location` of `text`) reworded
/// where the parser said it in its own terms.
pub(super) fn reworded(
    field: &str,
    message: &str,
    text: &str,
    location: Option<(u64, u64)>,
) -> String {
    let key = field.rsplit('.').next().unwrap_or(field);
    let key = key.split('[').next().unwrap_or(key);
    if message.starts_with("expected sequence start") && !key.is_empty() {
        let written = location
            .and_then(|at| written_at(text, at))
            .unwrap_or_else(|| "…".to_string());
        return format!("expected a list, e.g. `{key}: [{written}]`");
    }
    if message == "invalid boolean" {
        let written = location
            .and_then(|at| written_at(text, at))
            .unwrap_or_else(|| "…".to_string());
        return format!("expected `true` or `false`, not `{written}`");
    }
    if message.starts_with("expected mapping start") && !key.is_empty() {
        return format!("expected {}", mapping_example(key));
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((unknown, known)) = rest.split_once("`, expected one of ")
        && let Some(close) = suggestion(unknown, known.split(", ").map(|k| k.trim_matches('`')))
    {
        return format!(
            "unknown field `{unknown}`: did you mean `{close}`? (expected one of {known})"
        );
    }
    message.to_string()
}

/// What a mapping named `key` holds, with an example.
fn mapping_example(key: &str) -> String {
    match key {
        "checks" => "named checks, e.g. `checks: { rows: { exec: { service: db, command: [test, -f, /data/ready] } } }`".into(),
        "services" => "named services, e.g. `services: { db: {}, api: { depends_on: [db] } }`".into(),
        "dumps" => "named dumps, e.g. `dumps: { records: { service: db, command: [cat, /data/records.txt] } }`".into(),
        "copies" => "named copy targets, e.g. `copies: { usb: { folder: /mnt/usb/shop } }`".into(),
        "procedures" => "named procedures, e.g. `procedures: { vacuum: { steps: [{ note: … }] } }`".into(),
        "playbooks" => "named playbooks, e.g. `playbooks: { breach: [{ stop: all }] }`".into(),
        "targets" => "named targets, e.g. `targets: { phone: { ntfy: { url: … } } }`".into(),
        "severities" => "named severities, e.g. `severities: { P1: { respond_within: 15m } }`".into(),
        "json" => "fields and the values they must have, e.g. `json: { status: ok }`".into(),
        "headers" => "headers and their values, e.g. `headers: { Accept: application/json }`".into(),
        "cert" => "certificate expiry limits, e.g. `cert: { warn: 30d, crit: 7d }`".into(),
        "port" => "the ports that must listen and where, e.g. `port: { expect: [80, 443], where: host }`".into(),
        "process" => "a command name and where it runs, e.g. `process: { service: api, name: node }`".into(),
        "websocket" => "a WebSocket to reach, e.g. `websocket: { url: \"ws://127.0.0.1:3001/ws\", send: ping, expect: pong }`".into(),
        _ => format!("settings, e.g. `{key}: {{ … }}`"),
    }
}

/// The scalar written at `location` (1-based line and column), up to the
/// end of its flow entry or line.
fn written_at(text: &str, (line, column): (u64, u64)) -> Option<String> {
    let line = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let from = usize::try_from(column).ok()?.checked_sub(1)?;
    let rest: String = line.chars().skip(from).collect();
    let value: String = rest
        .chars()
        .take_while(|c| !matches!(c, ',' | '}' | ']' | '#'))
        .collect();
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// The known name closest to `word`, when it is close enough to be a typo
/// (two edits, fewer for short words).
pub(crate) fn suggestion<'k>(
    word: &str,
    known: impl IntoIterator<Item = &'k str>,
) -> Option<&'k str> {
    let most = (word.chars().count() / 3).clamp(1, 2);
    known
        .into_iter()
        .map(|k| (distance(word, k), k))
        .filter(|(d, _)| *d <= most)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edit distance by characters, two swapped neighbours counting one
/// (`cahce` is one from `cache`): the optimal string alignment distance.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j - 1] + cost)
                .min(d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parsers_words_become_the_readers() {
        let text = "checks:\n  creds:\n    file: { path: ./.env, not_contains: 7 }\n";
        assert_eq!(
            reworded(
                "checks.creds.file.not_contains",
                "expected sequence start",
                text,
                Some((3, 41))
            ),
            "expected a list, e.g. `not_contains: [7]`"
        );
        assert!(
            reworded("backup.drill.checks", "expected mapping start", "", None)
                .starts_with("expected named checks, e.g. `checks: { rows:")
        );
        assert_eq!(
            reworded(
                "checks.api.http.timout",
                "unknown field `timout`, expected one of `url`, `timeout`, `ca`",
                "",
                None
            ),
            "unknown field `timout`: did you mean `timeout`? (expected one of `url`, `timeout`, `ca`)"
        );
    }

    #[test]
    fn only_a_close_name_is_suggested() {
        let known = ["api", "web", "timeout"];
        assert_eq!(suggestion("apii", known), Some("api"));
        assert_eq!(suggestion("cahce", ["db", "cache"]), Some("cache"));
        assert_eq!(suggestion("timout", known), Some("timeout"));
        assert_eq!(suggestion("database", known), None);
        assert_eq!(suggestion("x", known), None);
    }
}
