//! The `rotate` step: a new random value for one key of an env file. Only
//! that key's value changes (other lines stay byte for byte, `export ` and
//! quotes are kept), the file is replaced atomically with its mode and
//! owner, the previous file is kept beside it as 0600, and the value is
//! never returned, printed or recorded.

use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::runbook::model::RotateEncoding;

/// Random bytes when the step does not say.
pub(crate) const DEFAULT_BYTES: u32 = 32;

/// Rotates `key` in `path`; returns where the previous file was kept.
/// What a rotation did: where the previous file is kept, and the values
/// (for an `apply`, through standard input only; never shown).
pub(crate) struct Rotated {
    pub kept: PathBuf,
    /// The file as it was, to put back.
    pub old_text: Vec<u8>,
    pub old_value: Option<String>,
    pub new_value: String,
}

pub(crate) fn rotate(
    path: &Path,
    key: &str,
    bytes: u32,
    encoding: RotateEncoding,
    at: jiff::Timestamp,
) -> Result<Rotated, String> {
    let shown = path.display();
    let mut old = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut old))
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let text = String::from_utf8(old.clone())
        .map_err(|_| format!("`{shown}` is not UTF-8 text: not an env file"))?;
    let value = random_value(bytes, encoding).map_err(|e| format!("no random bytes: {e}"))?;
    let new = replace_value(&text, key, &value)
        .ok_or_else(|| format!("`{shown}` has no line `{key}=…`: nothing was changed"))?;

    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kept = keep_previous(path, &name, at, &old)?;
    replace_file(path, new.as_bytes())?;
    Ok(Rotated {
        kept,
        old_value: current_value(&text, key),
        old_text: old,
        new_value: value,
    })
}

/// Writes `bytes` as `path`'s new content beside it and renames it into
/// place (never a half-written file), keeping the file's mode and owner.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let beside = path.with_file_name(format!(".{name}.opsbook-rotate"));
    let mode = metadata.permissions().mode() & 0o7777;
    let written = write_new(&beside, bytes, mode, Some((metadata.uid(), metadata.gid())))
        .and_then(|()| std::fs::rename(&beside, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&beside);
        return Err(format!("cannot write `{shown}`: {e}: it is unchanged"));
    }
    if let Some(parent) = path.parent() {
        let _ = std::fs::File::open(parent).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// The value of the first `KEY=` line (optionally `export KEY=`), its
/// quotes taken off.
pub(crate) fn current_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim_start();
        let rest = rest.strip_prefix("export ").map_or(rest, str::trim_start);
        let value = rest
            .strip_prefix(key)?
            .trim_start()
            .strip_prefix('=')?
            .trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        Some(unquoted.to_string())
    })
}

/// Keeps `old` (the file before this rotation) beside it, 0600, as
/// `NAME.before-rotate-TIME`; a second rotation of the same file within the
/// second (two keys of one playbook) is kept as `…-2`, `…-3`: never over
/// an earlier one.
fn keep_previous(
    path: &Path,
    name: &str,
    at: jiff::Timestamp,
    old: &[u8],
) -> Result<PathBuf, String> {
    let stamp = at.strftime("%Y%m%dT%H%M%SZ").to_string();
    for n in 1..=100 {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let kept = path.with_file_name(format!("{name}.before-rotate-{stamp}{suffix}"));
        match write_new(&kept, old, 0o600, None) {
            Ok(()) => return Ok(kept),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(format!(
                    "cannot keep the previous file as `{}`: {e}",
                    kept.display()
                ));
            }
        }
    }
    Err(format!(
        "cannot keep the previous file: 100 rotations of `{name}` this second"
    ))
}

/// `text` with the value of every `KEY=` line (optionally `export KEY=`)
/// replaced, its quotes kept; `None` when no line sets `key`.
pub(crate) fn replace_value(text: &str, key: &str, value: &str) -> Option<String> {
    let mut found = false;
    let mut out = String::with_capacity(text.len() + value.len());
    for line in text.split_inclusive('\n') {
        let (body, ending) = match line.strip_suffix("\r\n") {
            Some(body) => (body, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(body) => (body, "\n"),
                None => (line, ""),
            },
        };
        let indent = &body[..body.len() - body.trim_start().len()];
        let rest = body.trim_start();
        let (export, rest) = match rest.strip_prefix("export ") {
            Some(after) => ("export ", after.trim_start()),
            None => ("", rest),
        };
        let Some(after_key) = rest.strip_prefix(key) else {
            out.push_str(line);
            continue;
        };
        let Some(old_value) = after_key.trim_start().strip_prefix('=') else {
            out.push_str(line);
            continue;
        };
        let quote = match old_value.trim_start().chars().next() {
            Some(q @ ('"' | '\'')) => q.to_string(),
            _ => String::new(),
        };
        found = true;
        out.push_str(&format!(
            "{indent}{export}{key}={quote}{value}{quote}{ending}"
        ));
    }
    found.then_some(out)
}

pub(super) fn random_value(
    bytes: u32,
    encoding: RotateEncoding,
) -> Result<String, getrandom::Error> {
    // Validation caps `bytes`; the cap again, should a caller skip it.
    let mut raw = vec![0u8; bytes.min(crate::runbook::model::Rotate::MAX_BYTES) as usize];
    getrandom::fill(&mut raw)?;
    Ok(match encoding {
        RotateEncoding::Base64url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw),
        RotateEncoding::Hex => raw.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

fn write_new(path: &Path, bytes: &[u8], mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    let mut file = crate::state::files::create_new_file(path)?;
    file.write_all(bytes)?;
    if let Some((uid, gid)) = owner {
        // Only root can give a file away; anyone else keeps their own.
        let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
    }
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_changes_and_its_quotes_and_export_stay() {
        let text = "# secrets\nJWT_SECRET=old\nJWT_SECRET_OLD=keep\nexport API_KEY=\"abc\"\r\nDB=x";
        assert_eq!(
            replace_value(text, "JWT_SECRET", "NEW").as_deref(),
            Some("# secrets\nJWT_SECRET=NEW\nJWT_SECRET_OLD=keep\nexport API_KEY=\"abc\"\r\nDB=x")
        );
        assert_eq!(
            replace_value(text, "API_KEY", "NEW").as_deref(),
            Some("# secrets\nJWT_SECRET=old\nJWT_SECRET_OLD=keep\nexport API_KEY=\"NEW\"\r\nDB=x")
        );
        assert_eq!(
            replace_value(text, "DB", "y").as_deref(),
            Some("# secrets\nJWT_SECRET=old\nJWT_SECRET_OLD=keep\nexport API_KEY=\"abc\"\r\nDB=y")
        );
        assert_eq!(replace_value(text, "MISSING", "x"), None);
        assert_eq!(replace_value("# JWT_SECRET=old\n", "JWT_SECRET", "x"), None);
    }

    #[test]
    fn values_have_the_asked_length_and_alphabet() {
        let hex = random_value(48, RotateEncoding::Hex).unwrap_or_default();
        assert_eq!(hex.len(), 96);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
        let b64 = random_value(48, RotateEncoding::Base64url).unwrap_or_default();
        assert_eq!(b64.len(), 64);
        assert!(
            b64.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(
            b64,
            random_value(48, RotateEncoding::Base64url).unwrap_or_default()
        );
    }

    #[test]
    fn rotating_keeps_mode_and_the_previous_file_as_0600() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let env = dir.path().join(".env");
        std::fs::write(&env, "A=1\nJWT_SECRET=old\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o640))
            .unwrap_or_else(|e| panic!("{e}"));
        let at = "2026-11-24T10:52:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let rotated = rotate(&env, "JWT_SECRET", 16, RotateEncoding::Hex, at)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rotated.old_value.as_deref(), Some("old"));
        let kept = rotated.kept;
        let text = std::fs::read_to_string(&env).unwrap_or_default();
        assert!(text.starts_with("A=1\nJWT_SECRET=") && !text.contains("old"));
        assert_eq!(text.len(), "A=1\nJWT_SECRET=\n".len() + 32);
        let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode(&env).ok(), Some(0o640));
        assert_eq!(kept, dir.path().join(".env.before-rotate-20261124T105200Z"));
        assert_eq!(mode(&kept).ok(), Some(0o600));
        assert_eq!(
            std::fs::read_to_string(&kept).unwrap_or_default(),
            "A=1\nJWT_SECRET=old\n"
        );
        assert!(rotate(&env, "NOPE", 16, RotateEncoding::Hex, at).is_err());
    }

    #[test]
    fn two_keys_rotated_within_one_second_keep_both_previous_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let env = dir.path().join(".env");
        std::fs::write(&env, "A=1\nB=2\n").unwrap_or_else(|e| panic!("{e}"));
        let at = "2026-11-24T10:52:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let first = rotate(&env, "A", 16, RotateEncoding::Hex, at)
            .map(|r| r.kept)
            .unwrap_or_else(|e| panic!("{e}"));
        let second = rotate(&env, "B", 16, RotateEncoding::Hex, at)
            .map(|r| r.kept)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            first,
            dir.path().join(".env.before-rotate-20261124T105200Z")
        );
        assert_eq!(
            second,
            dir.path().join(".env.before-rotate-20261124T105200Z-2")
        );
        assert_eq!(
            std::fs::read_to_string(&first).unwrap_or_default(),
            "A=1\nB=2\n"
        );
        assert!(
            std::fs::read_to_string(&second)
                .unwrap_or_default()
                .ends_with("B=2\n")
        );
    }
}
