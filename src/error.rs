//! Everything that stops opsbook from running or evaluating a command. Every
//! variant carries what it was doing and on what; every one exits 3 (UNKNOWN).
//! A check that ran and failed is not an error: it is a crit result.

use std::fmt;
use std::path::PathBuf;

use crate::grade::Status;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("runbook `{}` ({origin}) does not exist", path.display())]
    RunbookMissing { path: PathBuf, origin: &'static str },

    #[error("cannot read runbook `{}`: {source}", path.display())]
    RunbookRead {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{}", problems.iter().map(Problem::to_string).collect::<Vec<_>>().join("\n"))]
    RunbookInvalid { problems: Vec<Problem> },

    #[error("cannot reach Docker at `{endpoint}`: {reason}")]
    DockerUnreachable { endpoint: String, reason: String },

    #[error("Docker at `{endpoint}` failed while {action}: {source}")]
    Docker {
        endpoint: String,
        action: String,
        source: bollard::errors::Error,
    },

    /// The state folder (history and locks), which `--state-dir` moves.
    #[error("cannot {action} `{}`: {source}{}", path.display(), state_hint(source))]
    State {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },

    /// A file or folder of the deployment's own (backups, incidents).
    #[error("cannot {action} `{}`: {source}", path.display())]
    File {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },

    #[error("another run of this runbook holds the lock: {holder} (lock `{}`)", path.display())]
    Locked { path: PathBuf, holder: String },

    #[error(
        "{action}: this needs confirmation; without a terminal pass --yes (nothing was changed)"
    )]
    NeedsYes { action: String },

    #[error("{0}")]
    Usage(String),

    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl Error {
    /// The exit status of every error: could not run or evaluate.
    pub(crate) fn status(&self) -> Status {
        Status::Unknown
    }

    /// One line per problem, for stderr and for the `results` of a JSON report.
    pub(crate) fn lines(&self) -> Vec<String> {
        match self {
            Error::RunbookInvalid { problems } => problems.iter().map(Problem::to_string).collect(),
            other => vec![other.to_string()],
        }
    }
}

/// What to do about a state error; a refused folder already says it.
fn state_hint(source: &std::io::Error) -> &'static str {
    if is_unsafe_folder(source) {
        ""
    } else {
        " (choose another folder with --state-dir)"
    }
}

/// One problem in a runbook: where it is, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub file: String,
    /// 1-based; 0 when the YAML gives no position (e.g. an empty file).
    pub line: u64,
    pub column: u64,
    /// Dotted path of the field (`services.api.depends_on`), empty for the file itself.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// An error and its causes on one line (`a: b: c`), for messages and results.
pub(crate) fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    // ssh ends its lines with "\r\n".
    text.replace("\r\n", " ")
        .replace('\n', " ")
        .replace('\r', "")
}

/// Why a folder is refused: carried inside the `io::Error`, so the message
/// names the folder and says what to do, whatever wraps it.
#[derive(Debug)]
pub(crate) struct UnsafeFolder {
    pub folder: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for UnsafeFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "folder `{}` {}: opsbook writes only in folders no other user can write to (`chmod go-w` it, or choose another folder)",
            self.folder.display(),
            self.reason
        )
    }
}

impl std::error::Error for UnsafeFolder {}

/// Whether an error is a refused folder (its message says all there is to say).
pub(crate) fn is_unsafe_folder(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<UnsafeFolder>())
}
