//! A repository over SFTP (`backup.repository.sftp`) and a copy of a
//! repository on an SFTP target, against Debian's OpenSSH sshd on a
//! loopback port: made, filled, verified, listed, restored from, and read
//! by the real restic (the server's folder is on this host, so restic
//! reads it as a local repository: the same layout, byte for byte).

use super::{opsbook, restic_at, shop, volume_dir};
use crate::sftp::{SshServer, user};

#[test]
fn a_repository_over_sftp_and_its_copy_on_an_sftp_target_are_filled_checked_restored_and_restic_reads_them()
 {
    let server = SshServer::start();
    let (project, ws) = shop("rp-sftp", "[sh, -c, 'seq 1 1000']");
    let store = server.file("store");
    let sftp = |path: &str| {
        format!(
            "{{ host: 127.0.0.1, port: {}, user: \"${{SFTP_USER}}\", key_file: {}, known_hosts: ./known_hosts, path: {}/{path} }}",
            server.port,
            server.file("client_key").display(),
            store.display()
        )
    };
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        format!(
            "{}  copies:\n    far:\n      sftp: {}\n",
            text.replace(
                "{ folder: ./repo, password_file: restic-password }",
                &format!(
                    "\n    sftp: {}\n    password_file: restic-password",
                    sftp("shop/repo")
                ),
            ),
            sftp("shop/copies")
        ),
    );
    ws.write("known_hosts", server.known_hosts_line());
    ws.write(".env", format!("SFTP_USER={}\n", user()));
    let at = |path: &str| {
        format!(
            "sftp://{}@127.0.0.1:{}/{}/{path}",
            user(),
            server.port,
            store.display().to_string().trim_start_matches('/')
        )
    };

    let made = opsbook(&ws, &["backup", "init-repository"]);
    made.expect_code(0);
    assert!(
        made.stdout
            .contains(&format!("made restic repository {}", at("shop/repo"))),
        "{made:?}"
    );
    let first = opsbook(&ws, &["backup", "--format", "json"]);
    first.expect_code(0);
    let first = first.json();
    let one = first["backup"]["id"].as_str().unwrap().to_string();
    let copied = crate::support::result(&first, "copies", "far");
    assert_eq!(copied["status"], "ok", "{copied:#}");
    let message = copied["message"].as_str().unwrap();
    let said = format!(
        "copied {one} to {} (its repository made) in ",
        at("shop/copies/restic")
    );
    assert!(message.starts_with(&said), "{message}");

    // The real restic reads both, every byte, and no lock is left.
    for repo in ["shop/repo", "shop/copies/restic"] {
        let repo = store.join(repo).display().to_string();
        let listed = restic_at(&ws, &repo, &["snapshots", "--json"]);
        assert_eq!(listed.code, 0, "{listed:?}");
        let listed: Vec<serde_json::Value> = serde_json::from_str(&listed.stdout).unwrap();
        assert_eq!(listed.len(), 1, "{repo}: {listed:#?}");
        let check = restic_at(&ws, &repo, &["check", "--read-data"]);
        assert_eq!(check.code, 0, "{repo}: {check:?}");
        let locks = restic_at(&ws, &repo, &["list", "locks", "--no-lock"]);
        assert_eq!((locks.code, locks.stdout.as_str()), (0, ""), "{locks:?}");
    }
    opsbook(&ws, &["backup", "verify"]).expect_code(0);
    opsbook(&ws, &["backup", "verify", "--copy", "far"]).expect_code(0);

    // A second backup, then restores: from the repository, and the first
    // backup from the copy.
    assert!(project.exec("db", "echo 'order 2' > /data/records.txt"));
    opsbook(&ws, &["backup"]).expect_code(0);
    let list = opsbook(&ws, &["backup", "list", "--format", "json"]).json();
    assert_eq!(list["backups"].as_array().unwrap().len(), 2, "{list:#}");
    let records = volume_dir(&project).join("records.txt");
    assert!(project.exec("db", "echo damaged > /data/records.txt"));
    opsbook(&ws, &["restore", "latest", "--only", "dbdata", "--yes"]).expect_code(0);
    assert_eq!(std::fs::read_to_string(&records).unwrap(), "order 2\n");
    opsbook(
        &ws,
        &[
            "restore", &one, "--from", "far", "--only", "dbdata", "--yes",
        ],
    )
    .expect_code(0);
    assert_eq!(std::fs::read_to_string(&records).unwrap(), "order 1\n");
    assert_eq!(project.times("api").state, "running");

    // An unknown host key: refused before anything stops, nothing changed.
    ws.write("known_hosts", "");
    let refused = opsbook(&ws, &["backup"]);
    refused.expect_code(3);
    assert!(refused.stderr.contains("127.0.0.1"), "{refused:?}");
    assert_eq!(project.times("api").state, "running");
}
