//! File checks (goss's `file`): a path exists or not, of a type, with an
//! exact mode, an owner, a size between bounds, not older than a limit, and
//! lines that must or must not match (Huly's secret files at 0600, "no
//! default `minioadmin` credentials"), and a change of its content since
//! the last run (`changed`, by sha256). The file is read line by line or
//! in pieces, never whole; the link itself is judged, not what it points at.

use std::io::{BufRead, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Instant;

use regex::Regex;

use crate::grade::{CheckResult, Status};
use crate::runbook::model::{FileCheck, FileKind};
use crate::ui::human;

use super::Probe;
use super::exec::failed;
use super::value::Graded;

/// The longest line read for `contains`; a longer one is read in pieces.
const LINE_CAP: usize = 64 * 1024;

impl Probe<'_> {
    /// Runs a file check, `path` relative to `dir`.
    pub(crate) async fn file(
        &self,
        dir: &Path,
        name: &str,
        check: &FileCheck,
        hint: Option<&str>,
    ) -> CheckResult {
        let started = Instant::now();
        let path = dir.join(&check.path);
        let shown = path.display().to_string();
        let watch = check.changed.filter(|_| self.checksums.is_some());
        let check = check.clone();
        let looked = tokio::task::spawn_blocking(move || {
            let graded = judge(&path, &check);
            let sum = watch.map(|_| super::changes::sha256_of(&path));
            (graded, sum)
        })
        .await;
        let graded = match looked {
            Err(e) => failed(format!("the file check did not finish: {e}")),
            Ok((graded, None)) => graded,
            Ok((mut graded, Some(sum))) => {
                let (status, said) = match (sum, watch) {
                    (Ok(sum), Some(grade)) => self.compared(name, &shown, sum, grade),
                    (Err(e), _) => (Status::Unknown, format!("no checksum: {e}")),
                    (Ok(_), None) => (Status::Ok, String::new()),
                };
                graded.status = graded.status.max(status);
                graded.message = format!("{}; {said}", graded.message);
                graded
            }
        };
        self.finish(name, graded, hint, started)
    }

    /// The content's checksum against the last run's, kept for the next.
    fn compared(
        &self,
        name: &str,
        path: &str,
        sum: String,
        grade: crate::runbook::model::Changed,
    ) -> (Status, String) {
        let Some((last, next)) = &self.checksums else {
            return (Status::Ok, String::new());
        };
        let now = jiff::Timestamp::now();
        let (status, said, seen) = super::changes::compare(last.0.get(name), path, sum, grade, now);
        if let Ok(mut next) = next.lock() {
            next.0.insert(name.to_string(), seen);
        }
        (status, said)
    }
}

fn judge(path: &Path, check: &FileCheck) -> Graded {
    let shown = path.display();
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if check.exists {
                failed(format!("`{shown}` does not exist"))
            } else {
                ok(format!("`{shown}` does not exist, as wanted"))
            };
        }
        Err(e) => return failed(format!("cannot read `{shown}`: {e}")),
    };
    if !check.exists {
        return failed(format!("`{shown}` exists and should not"));
    }
    let kind = metadata.file_type();
    let is = if kind.is_symlink() {
        "a symlink"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_file() {
        "a file"
    } else if kind.is_fifo() || kind.is_socket() || kind.is_block_device() || kind.is_char_device()
    {
        "a special file"
    } else {
        "something else"
    };
    let mut problems = Vec::new();
    if let Some(want) = check.kind {
        let matches = match want {
            FileKind::File => kind.is_file(),
            FileKind::Dir => kind.is_dir(),
            FileKind::Symlink => kind.is_symlink(),
        };
        if !matches {
            problems.push(format!("is {is}, expected {want:?}").to_lowercase());
        }
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if let Some(want) = &check.mode
        && let Ok(want) = u32::from_str_radix(want.value.trim_start_matches("0o"), 8)
        && mode != want
    {
        problems.push(format!("mode {mode:04o}, expected {want:04o}"));
    }
    if let Some(owner) = &check.owner
        && !owned_by(metadata.uid(), owner)
    {
        problems.push(format!("owned by uid {}, expected {owner}", metadata.uid()));
    }
    let size = metadata.len();
    if let Some(min) = check.min_size
        && size < min.0
    {
        problems.push(format!("{} is below min_size {}", human::bytes(size), min));
    }
    if let Some(max) = check.max_size
        && size > max.0
    {
        problems.push(format!("{} is above max_size {}", human::bytes(size), max));
    }
    if let Some(max_age) = check.max_age {
        let age = jiff::Timestamp::now()
            .as_second()
            .saturating_sub(metadata.mtime());
        if age > 0 && age.unsigned_abs() > max_age.std().as_secs() {
            problems.push(format!(
                "last changed {} ago, older than max_age {max_age}",
                human::seconds(age.unsigned_abs())
            ));
        }
    }
    if (!check.contains.is_empty() || !check.not_contains.is_empty())
        && kind.is_file()
        && let Err(problem) = lines(path, check)
    {
        problems.push(problem);
    }
    if problems.is_empty() {
        ok(format!(
            "`{shown}`: {is}, mode {mode:04o}, {}",
            human::bytes(size)
        ))
    } else {
        failed(format!("`{shown}`: {}", problems.join("; ")))
    }
}

/// Every `contains` pattern matches some line; no `not_contains` one does.
/// The line that matched a forbidden pattern is not quoted: it may be the secret.
fn lines(path: &Path, check: &FileCheck) -> Result<(), String> {
    let compile = |patterns: &[crate::runbook::model::Name]| -> Vec<(String, Option<Regex>)> {
        patterns
            .iter()
            .map(|p| (p.value.clone(), Regex::new(&p.value).ok()))
            .collect()
    };
    let wanted = compile(&check.contains);
    let forbidden = compile(&check.not_contains);
    let mut found = vec![false; wanted.len()];
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(LINE_CAP as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read it: {e}"))?;
        if read == 0 {
            break;
        }
        number += 1;
        let text = String::from_utf8_lossy(&line);
        for ((pattern, regex), _) in forbidden.iter().zip(0..) {
            if regex.as_ref().is_some_and(|r| r.is_match(&text)) {
                return Err(format!(
                    "line {number} matches `{pattern}`, which it must not"
                ));
            }
        }
        for ((_, regex), hit) in wanted.iter().zip(found.iter_mut()) {
            if !*hit && regex.as_ref().is_some_and(|r| r.is_match(&text)) {
                *hit = true;
            }
        }
    }
    match wanted.iter().zip(&found).find(|(_, hit)| !**hit) {
        Some(((pattern, _), _)) => Err(format!("no line matches `{pattern}`")),
        None => Ok(()),
    }
}

/// Whether `uid` is the user `owner` names (a uid, or a name in /etc/passwd).
fn owned_by(uid: u32, owner: &str) -> bool {
    if let Ok(wanted) = owner.parse::<u32>() {
        return uid == wanted;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd.lines().any(|entry| {
        let mut fields = entry.split(':');
        fields.next() == Some(owner) && fields.nth(1).and_then(|u| u.parse().ok()) == Some(uid)
    })
}

fn ok(message: String) -> Graded {
    Graded {
        status: Status::Ok,
        message,
        figure: None,
    }
}
