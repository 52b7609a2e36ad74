//! Finding the runbook (flag, environment, working directory, /etc, the
//! embedded default) and turning its bytes into a checked `Runbook`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Problem};

use super::Runbook;
use super::model::Model;
use super::validate;

/// The runbook used when no file is found: host thresholds from the
/// operators' pages and every compose project on the host.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../runbooks/default.yaml");

/// How the runbook was found, in the order of DESIGN.md's discovery rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag(PathBuf),
    Env(PathBuf),
    WorkingDir(PathBuf),
    System(PathBuf),
    Embedded,
}

const SYSTEM_RUNBOOK: &str = "/etc/opsbook/opsbook.yaml";

/// `--runbook FILE`, else `$OPSBOOK_RUNBOOK`, else `./opsbook.yaml`, else
/// `/etc/opsbook/opsbook.yaml`, else the embedded default. A file named by
/// the flag or the environment must exist: falling back silently would check
/// the wrong deployment.
pub fn discover(flag: Option<PathBuf>, env: Option<OsString>) -> Source {
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

pub fn load(source: &Source) -> Result<Runbook, Error> {
    let (path, origin) = match source {
        Source::Embedded => return parse(EMBEDDED_DEFAULT.as_bytes(), None, "embedded:default"),
        Source::Flag(path) => (path, "given by --runbook"),
        Source::Env(path) => (path, "from $OPSBOOK_RUNBOOK"),
        Source::WorkingDir(path) => (path, "in the working directory"),
        Source::System(path) => (path, "the system runbook"),
    };
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::RunbookMissing {
            path: path.clone(),
            origin,
        },
        _ => Error::RunbookRead {
            path: path.clone(),
            source,
        },
    })?;
    parse(&bytes, Some(path), &path.display().to_string())
}

/// Parses and validates runbook bytes. `path` anchors relative paths (none:
/// the working directory); `display` names the file in every problem.
pub fn parse(bytes: &[u8], path: Option<&Path>, display: &str) -> Result<Runbook, Error> {
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

    let model = deserialize(text).map_err(|(field, location, message)| {
        let (line, column) = location.unwrap_or((0, 0));
        problem(line, column, &field, message)
    })?;

    let source_dir = match path.and_then(Path::parent) {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::path::absolute(&source_dir).unwrap_or(source_dir);
    let plan = validate::validate(&model, text, display)
        .map_err(|problems| Error::RunbookInvalid { problems })?;
    // Resolved (links, `..`): every way of naming one file is one runbook
    // to its history and locks. A path that was already canonical keeps its key.
    let location = match path {
        Some(path) => std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| display.to_string()),
        None => display.to_string(),
    };
    Ok(Runbook {
        display: display.to_string(),
        location,
        dir,
        model,
        plan,
    })
}

type ParseFailure = (String, Option<(u64, u64)>, String);

/// Deserializes with the field path tracked, so a type error names the field
/// (`shutdown.grace`) as well as its line and column.
fn deserialize(text: &str) -> Result<Model, ParseFailure> {
    let mut failure = None;
    let outcome = serde_saphyr::with_deserializer_from_str(text, |deserializer| {
        Ok(
            match serde_path_to_error::deserialize::<_, Model>(deserializer) {
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
        // `Spanned` fields show up as `.value` in the path; the reader wrote no such key.
        let path = e.path().to_string().replace(".value", "");
        let field = if path == "." { String::new() } else { path };
        let (location, message) = describe(e.inner());
        return Err((field, location, message));
    }
    match outcome {
        Ok(Some(model)) => Ok(model),
        Ok(None) => Err((String::new(), None, "runbook could not be read".into())),
        Err(e) => {
            let (location, message) = describe(&e);
            Err((String::new(), location, message))
        }
    }
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
    let message = message.replace("invalid u32", "expected a whole number");
    (location, message)
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
