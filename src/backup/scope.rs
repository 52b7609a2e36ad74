//! What a runbook backs up, and so what it may restore: its `backup.volumes`,
//! the host files its `backup.files` patterns match, its `backup.dumps`.
//! `backup` finds its files here and `restore` checks every manifest item
//! here, so a manifest edited (or come back from off-site storage) naming
//! another volume or any other host path is refused before anything changes.

use std::path::{Component, Path, PathBuf};

use crate::backup::manifest::{Item, Kind};
use crate::runbook::Runbook;
use crate::runbook::model::Backup;

/// A path, or the files a glob matches, sorted.
pub(crate) fn expand(pattern: &Path) -> Vec<PathBuf> {
    let text = pattern.display().to_string();
    if !is_glob(&text) {
        return if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let mut found: Vec<PathBuf> = glob::glob(&text)
        .map(|paths| {
            paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The item name of a backed-up file: its path from the runbook's folder.
pub(crate) fn file_name(runbook: &Runbook, path: &Path) -> String {
    path.strip_prefix(&runbook.dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Whether `item` is one of the runbook's own, as `backup` would have
/// written it; the reason when it is not. A volume's full name is checked
/// against Docker by the caller.
pub(crate) fn check_item(runbook: &Runbook, backup: &Backup, item: &Item) -> Result<(), String> {
    if !is_plain_name(&item.file) || item.file.starts_with('.') {
        return Err(format!(
            "its stored file `{}` is not a file name in the backup folder",
            item.file
        ));
    }
    match item.kind {
        Kind::Volume => {
            if !backup.volumes.iter().any(|v| v.value == item.name) {
                return Err(format!(
                    "`{}` is not one of the runbook's `backup.volumes`",
                    item.name
                ));
            }
            match &item.archive_root {
                Some(root) if is_plain_name(root) => Ok(()),
                Some(root) => Err(format!(
                    "its archive's top folder `{root}` is not a plain folder name"
                )),
                None => Err("the manifest does not say the archive's top folder".into()),
            }
        }
        Kind::File => {
            let path = Path::new(&item.source);
            let lexical = path.is_absolute()
                && path
                    .components()
                    .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
            let matched = lexical
                && backup
                    .files
                    .iter()
                    .any(|pattern| matches(&runbook.resolve(pattern), path));
            if !matched {
                return Err(format!(
                    "`{}` is not a file the runbook's `backup.files` name",
                    item.source
                ));
            }
            if file_name(runbook, path) != item.name {
                return Err(format!(
                    "its name `{}` is not the one `backup` gives `{}`",
                    item.name, item.source
                ));
            }
            Ok(())
        }
        Kind::Dump if backup.dumps.contains_key(&item.name) => Ok(()),
        Kind::Dump => Err(format!(
            "`{}` is not one of the runbook's `backup.dumps`",
            item.name
        )),
    }
}

/// Whether `path` is `pattern`, or one of the paths the glob `pattern`
/// matches (whether or not the file exists now: it may be the one lost).
fn matches(pattern: &Path, path: &Path) -> bool {
    let text = pattern.display().to_string();
    if !is_glob(&text) {
        return pattern == path;
    }
    // As `glob::glob` walks: a `*` never crosses a `/`.
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    glob::Pattern::new(&text).is_ok_and(|p| p.matches_path_with(path, options))
}

fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// One path component of plain characters: no `/`, not `.` or `..`,
/// nothing a shell would read specially.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '@' | ','))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runbook(backup: &str) -> Runbook {
        let text = format!("version: 1\nbackup:\n  dir: ./backups\n{backup}");
        crate::runbook::parse(
            text.as_bytes(),
            Some(Path::new("/srv/shop/opsbook.yaml")),
            "x",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn item(kind: Kind, name: &str, source: &str) -> Item {
        Item {
            name: name.into(),
            kind,
            source: source.into(),
            archive_root: Some("data".into()),
            file: "volume-x.tar.zst".into(),
            compression: crate::runbook::model::Compression::Zstd,
            encrypted: false,
            size: 0,
            stored_size: 0,
            sha256: String::new(),
            read: None,
        }
    }

    fn check(runbook: &Runbook, item: &Item) -> Result<(), String> {
        let backup = runbook
            .model
            .backup
            .as_ref()
            .unwrap_or_else(|| panic!("no backup"));
        check_item(runbook, backup, item)
    }

    #[test]
    fn files_must_be_named_by_the_runbooks_patterns() {
        let rb = runbook("  files: [config.env, 'conf/*.yml']\n");
        let ok = |name: &str, source: &str| check(&rb, &item(Kind::File, name, source));
        assert!(ok("config.env", "/srv/shop/config.env").is_ok());
        assert!(ok("conf/a.yml", "/srv/shop/conf/a.yml").is_ok());
        assert!(ok("passwd", "/etc/passwd").is_err());
        assert!(
            ok(
                "conf/../../../etc/passwd",
                "/srv/shop/conf/../../../etc/x.yml"
            )
            .is_err()
        );
        assert!(
            ok("conf/sub/a.yml", "/srv/shop/conf/sub/a.yml").is_err(),
            "* stays in one folder"
        );
        assert!(
            ok("other.env", "/srv/shop/config.env").is_err(),
            "name and path agree"
        );
    }

    #[test]
    fn volumes_and_dumps_must_be_the_runbooks() {
        let rb = runbook(
            "  volumes: [dbdata]\n  dumps:\n    records: { service: db, command: [cat, x] }\n",
        );
        assert!(check(&rb, &item(Kind::Volume, "dbdata", "shop_dbdata")).is_ok());
        assert!(check(&rb, &item(Kind::Volume, "other", "other_data")).is_err());
        assert!(check(&rb, &item(Kind::Dump, "records", "db: cat x")).is_ok());
        assert!(check(&rb, &item(Kind::Dump, "users", "db: cat x")).is_err());
        let mut escaping = item(Kind::Volume, "dbdata", "shop_dbdata");
        escaping.archive_root = Some("..".into());
        assert!(check(&rb, &escaping).is_err());
        escaping.archive_root = Some("data; rm -rf /".into());
        assert!(check(&rb, &escaping).is_err());
        let mut outside = item(Kind::Dump, "records", "db: cat x");
        outside.file = "../../etc/shadow".into();
        assert!(check(&rb, &outside).is_err());
    }
}
