//! Finding the runbook (flag, environment, working directory, /etc, the
//! embedded default) and turning its bytes into a checked `Runbook`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Problem};
use crate::redact::Redactor;

use super::Runbook;
use super::model::Model;
use super::validate;

/// The runbook used when no file is found: host thresholds from the
/// operators' pages and every compose project on the host.
pub(crate) const EMBEDDED_DEFAULT: &str = include_str!("../../runbooks/default.yaml");

/// How the runbook was found, in the order of DESIGN.md's discovery rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Flag(PathBuf),
    Env(PathBuf),
    WorkingDir(PathBuf),
    System(PathBuf),
    Embedded,
}

const SYSTEM_RUNBOOK: &str = "/etc/opsbook/opsbook.yaml";

/// How reports name the embedded default runbook.
pub(super) const EMBEDDED_DISPLAY: &str = "embedded:default";

/// `--runbook FILE`, else `$OPSBOOK_RUNBOOK`, else `./opsbook.yaml`, else
/// `/etc/opsbook/opsbook.yaml`, else the embedded default. A file named by
/// the flag or the environment must exist: falling back silently would check
/// the wrong deployment.
pub(crate) fn discover(flag: Option<PathBuf>, env: Option<OsString>) -> Source {
    if let Some(path) = flag {
        return Source::Flag(path);
    }
    if let Some(path) = env.filter(|value| !value.is_empty()) {
        return Source::Env(PathBuf::from(path));
    }
    let local = PathBuf::from("opsbook.yaml");
    if local.is_file() {
        return Source::WorkingDir(local);
    }
    let system = PathBuf::from(SYSTEM_RUNBOOK);
    if system.is_file() {
        return Source::System(system);
    }
    Source::Embedded
}

pub(crate) fn load(source: &Source) -> Result<Runbook, Error> {
    load_with_text(source).map(|(runbook, _)| runbook)
}

/// The runbook and the bytes it was read from (none for the embedded
/// default): `serve` hands those to its runs, so a run uses the runbook the
/// agent loaded, not one changed on disk since (that one waits for SIGHUP).
pub(crate) fn load_with_text(source: &Source) -> Result<(Runbook, Option<Vec<u8>>), Error> {
    let Some((path, origin)) = path_of(source) else {
        return parse(EMBEDDED_DEFAULT.as_bytes(), None, EMBEDDED_DISPLAY).map(|r| (r, None));
    };
    let bytes = read_bounded(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::RunbookMissing {
            path: path.to_path_buf(),
            origin,
        },
        _ => Error::RunbookRead {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let runbook = parse(&bytes, Some(path), &path.display().to_string())?;
    Ok((runbook, Some(bytes)))
}

/// The runbook found by `source`, its text read from `text` instead (a
/// copy `serve` kept): paths, names and the history key stay the file's.
pub(crate) fn load_text_as(source: &Source, text: &Path) -> Result<Runbook, Error> {
    let bytes = read_bounded(text).map_err(|source| Error::RunbookRead {
        path: text.to_path_buf(),
        source,
    })?;
    match path_of(source) {
        Some((path, _)) => parse(&bytes, Some(path), &path.display().to_string()),
        None => parse(&bytes, None, EMBEDDED_DISPLAY),
    }
}

fn path_of(source: &Source) -> Option<(&Path, &'static str)> {
    match source {
        Source::Embedded => None,
        Source::Flag(path) => Some((path, "given by --runbook")),
        Source::Env(path) => Some((path, "from $OPSBOOK_RUNBOOK")),
        Source::WorkingDir(path) => Some((path, "in the working directory")),
        Source::System(path) => Some((path, "the system runbook")),
    }
}

/// The largest runbook read: real ones are a few KiB.
const MAX_RUNBOOK_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a runbook file: a regular file (a FIFO or a device would hang or
/// never end) of at most MAX_RUNBOOK_BYTES.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(std::io::Error::other(
            "it is not a regular file (a FIFO, a device or a folder)",
        ));
    }
    let too_big = || {
        std::io::Error::other(format!(
            "it is larger than {} MiB: is it the right file?",
            MAX_RUNBOOK_BYTES / (1024 * 1024)
        ))
    };
    if metadata.len() > MAX_RUNBOOK_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_RUNBOOK_BYTES + 1)
        .read_to_end(&mut bytes)?;
    // It may have grown since the size was read.
    if bytes.len() as u64 > MAX_RUNBOOK_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// Parses and validates runbook bytes. `path` anchors relative paths (none:
/// the working directory); `display` names the file in every problem.
pub(crate) fn parse(bytes: &[u8], path: Option<&Path>, display: &str) -> Result<Runbook, Error> {
    let problem = |line: u64, column: u64, field: &str, message: String| Error::RunbookInvalid {
        problems: vec![Problem {
            file: display.to_string(),
            line,
            column,
            field: field.to_string(),
            message,
        }],
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let (line, column) = position_of(bytes, e.valid_up_to());
            return Err(problem(
                line,
                column,
                "",
                "runbook is not valid UTF-8".into(),
            ));
        }
    };
    if text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---"
    }) {
        return Err(problem(
            0,
            0,
            "",
            "runbook is empty: it needs at least `version: 1`".into(),
        ));
    }

    let (model, read, mut problems) = collect::<Model>(text, display);

    let source_dir = match path.and_then(Path::parent) {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::path::absolute(&source_dir).unwrap_or(source_dir);
    let Some(model) = model else {
        return Err(Error::RunbookInvalid { problems });
    };
    // The fields that did not parse are gone from `read`; the rest is checked too.
    let plan = match validate::validate(&model, &read, display) {
        Ok(plan) if problems.is_empty() => plan,
        Ok(_) => return Err(Error::RunbookInvalid { problems }),
        Err(more) => {
            problems.extend(more);
            problems.sort_by_key(|p| (p.line, p.column));
            return Err(Error::RunbookInvalid { problems });
        }
    };
    // Resolved (links, `..`): every way of naming one file is one runbook
    // to its history and locks. A path that was already canonical keeps its key.
    let location = match path {
        Some(path) => std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| display.to_string()),
        None => display.to_string(),
    };
    let patterns: Vec<String> = model.redact.iter().map(|p| p.value.clone()).collect();
    // Credentials the copy and notify targets read are masked by value,
    // wherever they show.
    let mut secrets = match &model.backup {
        Some(backup) => super::interpolate::secret_values(&backup.copies, &dir),
        None => Vec::new(),
    };
    if let Some(notify) = &model.notify {
        secrets.extend(super::interpolate::notify_secret_values(notify, &dir));
    }
    secrets.extend(super::interpolate::header_secret_values(&model, &dir));
    if let Some(repository) = model.backup.as_ref().and_then(|b| b.repository.as_ref()) {
        secrets.extend(super::interpolate::repository_secret_values(
            repository, &dir,
        ));
    }
    Ok(Runbook {
        display: display.to_string(),
        location,
        dir,
        redactor: Redactor::new(&patterns).with_values(secrets),
        model,
        plan,
        fleet_host: super::fleet_host(),
    })
}

type ParseFailure = (String, Option<(u64, u64)>, String);

/// How many fields that do not parse are collected before giving up.
const MAX_PARSE_PROBLEMS: usize = 50;

/// Deserializes, collecting every field that does not parse: the failing
/// field's lines are blanked (so every other line keeps its number) and the
/// rest is read again, so one run reports each such field. It stops at an
/// error it cannot step over (YAML syntax, a location it cannot point at, a
/// required field). Returns the model when the rest reads, the text it was
/// read from, and the problems.
/// Reads `text` as a `T` (the runbook's model, the fleet file), going on
/// past each problem (the field blanked) so every one is reported at once:
/// the value if all went well, the text as last read, the problems.
pub(crate) fn collect<T: serde::de::DeserializeOwned>(
    text: &str,
    display: &str,
) -> (Option<T>, String, Vec<Problem>) {
    let mut read = text.to_string();
    let mut problems: Vec<Problem> = Vec::new();
    while problems.len() < MAX_PARSE_PROBLEMS {
        let (field, location, message) = match deserialize::<T>(&read) {
            Ok(model) => return (Some(model), read, problems),
            Err(failure) => failure,
        };
        let required = message.starts_with("missing field");
        // A parent of the field just cut, now empty, fails in turn: that is
        // the same problem again, and reading on would only repeat it.
        let parent_of_last = problems
            .last()
            .is_some_and(|last| last.field != field && last.field.starts_with(&field));
        if parent_of_last {
            break;
        }
        let (line, column) = location.unwrap_or((0, 0));
        let again = problems
            .iter()
            .any(|p| (p.line, p.column) == (line, column));
        // A required field we blanked ourselves, or a place already reported
        // (its value was cut, the key is still there), is no news.
        let consequence = required && !problems.is_empty();
        if !again && !consequence {
            problems.push(Problem {
                file: display.to_string(),
                line,
                column,
                field,
                message,
            });
        }
        let blanked = location.filter(|_| !required).and_then(|(line, column)| {
            if again {
                blank_field(&read, line)
            } else {
                blank_flow_entry(&read, line, column).or_else(|| blank_field(&read, line))
            }
        });
        match blanked {
            Some(next) if next != read => read = next,
            _ => break,
        }
    }
    (None, read, problems)
}

/// In a flow mapping or sequence (`{ a: 1, b: 2 }`), the entry starting at
/// `column` of `line` (1-based) replaced by spaces, with its comma, so the
/// rest of the line keeps its place; `None` when that place is not inside
/// a flow collection.
fn blank_flow_entry(text: &str, line: u64, column: u64) -> Option<String> {
    let index = usize::try_from(line).ok()?.checked_sub(1)?;
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let chars: Vec<char> = lines.get(index)?.chars().collect();
    let at = usize::try_from(column).ok()?.checked_sub(1)?;
    if at >= chars.len() || !chars[..at].iter().any(|c| matches!(c, '{' | '[')) {
        return None;
    }
    // The place may be the entry's value: the entry starts after the
    // delimiter before it.
    let start = chars[..at]
        .iter()
        .rposition(|c| matches!(c, ',' | '{' | '['))
        .map_or(at, |delimiter| delimiter + 1);
    let (mut depth, mut quote, mut end) = (0i32, None::<char>, None);
    for (i, c) in chars.iter().enumerate().skip(start) {
        match (quote, c) {
            (Some(q), c) if *c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(*c),
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') if depth > 0 => depth -= 1,
            (None, ',') if depth == 0 => {
                end = Some((i + 1, true));
                break;
            }
            (None, '}' | ']') => {
                end = Some((i, false));
                break;
            }
            _ => {}
        }
    }
    let (end, took_comma) = end?;
    let mut from = start;
    if !took_comma {
        // The last entry: its comma is the one before it.
        if let Some(comma) = chars[..start].iter().rposition(|c| !c.is_whitespace())
            && chars[comma] == ','
        {
            from = comma;
        }
    }
    let blanked: String = chars
        .iter()
        .enumerate()
        .map(|(i, c)| if (from..end).contains(&i) { ' ' } else { *c })
        .collect();
    lines[index] = blanked;
    Some(lines.join("\n"))
}

/// The text with the field on `line` (1-based) blanked: that line and the
/// lines below it indented deeper (its value), each left empty.
fn blank_field(text: &str, line: u64) -> Option<String> {
    let index = usize::try_from(line).ok()?.checked_sub(1)?;
    let lines: Vec<&str> = text.split('\n').collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let first = lines.get(index)?;
    let depth = indent(first);
    let mut end = index + 1;
    while let Some(next) = lines.get(end) {
        let trimmed = next.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') && indent(next) <= depth {
            break;
        }
        end += 1;
    }
    let kept: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| if (index..end).contains(&i) { "" } else { *l })
        .collect();
    Some(kept.join("\n"))
}

/// Deserializes with the field path tracked, so a type error names the field
/// (`shutdown.grace`) as well as its line and column.
fn deserialize<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ParseFailure> {
    let mut failure = None;
    let outcome = serde_saphyr::with_deserializer_from_str(text, |deserializer| {
        Ok(
            match serde_path_to_error::deserialize::<_, T>(deserializer) {
                Ok(model) => Some(model),
                Err(e) => {
                    failure = Some(e);
                    None
                }
            },
        )
    });
    // A failure inside leaves the parser mid-document, and the outer call then
    // complains about what follows: the inner failure is the real one.
    if let Some(e) = failure {
        let path = written_path(&e.path().to_string());
        // `?` is serde's "somewhere I cannot name": say nothing rather than that.
        let field = if path == "." || path.contains('?') {
            String::new()
        } else {
            path
        };
        let (location, message) = describe(e.inner());
        let message = super::wording::reworded(&field, &message, text, location);
        return Err((field, location, message));
    }
    match outcome {
        Ok(Some(model)) => Ok(model),
        Ok(None) => Err((String::new(), None, "the file could not be read".into())),
        Err(e) => {
            let (location, message) = describe(&e);
            Err((String::new(), location, message))
        }
    }
}

/// The path as the reader wrote it: a `Spanned` field shows up with a
/// `.value` segment of its own, which the reader never wrote; a check's
/// `value:` is the one key of that name they did write.
fn written_path(path: &str) -> String {
    let segments: Vec<&str> = path.split('.').collect();
    let written = |(i, segment): &(usize, &&str)| {
        **segment != "value" || (*i == 2 && segments.first() == Some(&"checks"))
    };
    segments
        .iter()
        .enumerate()
        .filter(written)
        .map(|(_, segment)| *segment)
        .collect::<Vec<_>>()
        .join(".")
}

fn describe(error: &serde_saphyr::Error) -> (Option<(u64, u64)>, String) {
    let location = error
        .location()
        .filter(|at| at.line() > 0)
        .map(|at| (at.line(), at.column()));
    let text = error.without_snippet().to_string();
    // saphyr appends " at line L, column C"; the location leads our line instead.
    let message = match text.rfind(" at line ") {
        Some(at) if location.is_some() => text[..at].to_string(),
        _ => text,
    };
    (location, in_plain_words(&message))
}

/// The parser's wording, where it is its own, said as an operator would.
fn in_plain_words(message: &str) -> String {
    if message.contains("DuplicateKeyPolicy") || message.to_lowercase().contains("duplicate") {
        return "a key appears twice in the same mapping: keep one".into();
    }
    if message.contains("budget") {
        return "the runbook is too large or too deeply nested to read".into();
    }
    let mut message = message.to_string();
    for kind in ["u8", "u16", "u32", "u64", "i32", "i64"] {
        message = message.replace(&format!("invalid {kind}"), "expected a whole number");
    }
    message
}

/// 1-based line and column of a byte offset.
fn position_of(bytes: &[u8], offset: usize) -> (u64, u64) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |at| at + 1);
    (line, (offset - line_start) as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_environment() {
        let source = discover(Some("a.yaml".into()), Some("b.yaml".into()));
        assert_eq!(source, Source::Flag("a.yaml".into()));
        let source = discover(None, Some("b.yaml".into()));
        assert_eq!(source, Source::Env("b.yaml".into()));
    }

    #[test]
    fn positions_are_one_based() {
        assert_eq!(position_of(b"ab\ncd", 0), (1, 1));
        assert_eq!(position_of(b"ab\ncd", 4), (2, 2));
    }

    #[test]
    fn the_embedded_default_is_valid() {
        let runbook = parse(EMBEDDED_DEFAULT.as_bytes(), None, "embedded:default");
        assert!(runbook.is_ok(), "{:?}", runbook.err());
    }
}
