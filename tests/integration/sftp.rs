//! Backup copies to a real SFTP server: Debian's OpenSSH sshd on a loopback
//! port (installed by scripts/test.sh), with keys made by ssh-keygen. A
//! round trip (copy, list, verify, a damaged byte found, restore from the
//! copy, retention), and the refusals: an unknown host key, a changed one,
//! a key the server does not accept.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{Project, Workspace, eventually, free_port, result};

/// sshd on a free loopback port, its files in a temporary folder; stopped
/// when dropped.
pub struct SshServer {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (scripts/test.sh installs openssh-client)");
    assert!(status.success());
}

impl SshServer {
    pub fn start() -> SshServer {
        SshServer::start_with("")
    }

    /// sshd with `extra` lines in its config (`SetEnv DOCKER_HOST=…`).
    pub fn start_with(extra: &str) -> SshServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = |name: &str| dir.path().join(name);
        keygen(&at("host_key"));
        keygen(&at("client_key"));
        std::fs::copy(at("client_key.pub"), at("authorized_keys")).unwrap();
        std::fs::create_dir(at("store")).unwrap();
        let port = free_port();
        std::fs::write(
            at("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PidFile none\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 Subsystem sftp internal-sftp\n{extra}",
                at("host_key").display(),
                at("authorized_keys").display()
            ),
        )
        .unwrap();
        // sshd's privilege separation folder.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(at("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/sbin/sshd (scripts/test.sh installs openssh-server)");
        eventually("sshd listening", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        SshServer { child, port, dir }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A known_hosts line for this server's key (`[127.0.0.1]:PORT key`).
    pub fn known_hosts_line(&self) -> String {
        let key = std::fs::read_to_string(self.file("host_key.pub")).unwrap();
        format!("[127.0.0.1]:{} {}", self.port, key.trim())
    }

    /// The files stored under the target's folder, recursively.
    fn stored(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.file("store")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.path().is_dir() {
                    stack.push(entry.path());
                } else {
                    found.push(entry.path());
                }
            }
        }
        found.sort();
        found
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A workspace backing up two files, copied to `server` over SFTP.
fn workspace(project: &Project, server: &SshServer, known_hosts: &str, keep: &str) -> Workspace {
    let ws = Workspace::new();
    // 3 MiB that do not compress: many SFTP writes and reads.
    let mut data = vec![0u8; 3 * 1024 * 1024];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut data)
        .unwrap();
    ws.write("data.bin", data);
    ws.write("notes.txt", "the notes\n");
    ws.write("known_hosts", known_hosts);
    ws.write(".env", format!("SFTP_USER={}\n", user()));
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nproject: {}\nbackup:\n  dir: ./backups\n  files: [data.bin, notes.txt]\n  copies:\n    remote:\n      sftp:\n        host: 127.0.0.1\n        port: {}\n        user: \"${{SFTP_USER}}\"\n        key_file: {}\n        known_hosts: ./known_hosts\n        path: {}/shop\n{keep}",
            project.name,
            server.port,
            server.file("client_key").display(),
            server.file("store").display()
        ),
    );
    ws
}

fn json(ws: &Workspace, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = args.to_vec();
    all.extend(["--state-dir", "state", "--format", "json"]);
    let run = ws.opsbook(&all);
    (run.code, run.json())
}

fn backup_ids(report: &serde_json::Value) -> Vec<String> {
    report["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn backups_go_over_sftp_verify_restore_and_are_pruned_there() {
    let project = Project::new("sftp");
    let server = SshServer::start();
    let ws = workspace(
        &project,
        &server,
        &server.known_hosts_line(),
        "      keep: { last: 1 }\n",
    );
    ws.opsbook(&["validate"]).expect_code(0);

    let (code, report) = json(&ws, &["backup"]);
    assert_eq!(code, 0, "{report:#}");
    let copied = result(&report, "copies", "remote");
    assert!(
        copied["message"].as_str().unwrap().starts_with("copied "),
        "{copied}"
    );
    let (_, local) = json(&ws, &["backup", "list"]);
    let (_, remote) = json(&ws, &["backup", "list", "--copy", "remote"]);
    assert_eq!(backup_ids(&local), backup_ids(&remote));
    let id = backup_ids(&local)[0].clone();
    // The items and the manifest, in the backup's folder; no partial left.
    let stored = server.stored();
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert!(
        stored
            .iter()
            .all(|p| p.starts_with(server.file("store/shop").join(&id)))
    );

    let (code, report) = json(&ws, &["backup", "verify", "--copy", "remote"]);
    assert_eq!(code, 0, "{report:#}");
    let name = format!("remote:{id}/data.bin");
    assert_eq!(result(&report, "verify", &name)["status"], "ok");

    // The local backups are lost and the data damaged: back from the copy.
    std::fs::remove_dir_all(ws.path().join("backups")).unwrap();
    ws.write("notes.txt", "damaged\n");
    let (code, report) = json(&ws, &["restore", "--from", "remote", "--yes"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("notes.txt")).unwrap(),
        "the notes\n"
    );

    // One flipped byte on the server: verify finds it, naming the file.
    let data = stored
        .iter()
        .find(|p| p.to_string_lossy().contains("data.bin"))
        .unwrap();
    let mut bytes = std::fs::read(data).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(data, bytes).unwrap();
    let (code, report) = json(&ws, &["backup", "verify", "--copy", "remote", &id]);
    assert_eq!(code, 2, "{report:#}");
    let bad = result(&report, "verify", &name);
    assert!(
        bad["message"]
            .as_str()
            .unwrap()
            .contains("does not match its sha256"),
        "{bad}"
    );

    // A second backup; `keep: { last: 1 }` on the target prunes the first.
    ws.write("notes.txt", "newer notes\n");
    let (code, report) = json(&ws, &["backup"]);
    assert!(code <= 1, "{report:#}");
    let (code, report) = json(&ws, &["backup", "prune", "--yes"]);
    assert_eq!(code, 0, "{report:#}");
    let (_, remote) = json(&ws, &["backup", "list", "--copy", "remote"]);
    let (_, local) = json(&ws, &["backup", "list"]);
    let newest = backup_ids(&local)[0].clone();
    assert_eq!(backup_ids(&remote), [newest], "{remote:#}");
    assert!(!server.file("store/shop").join(&id).exists());
    // daily-check sees the copy's age.
    let (_, report) = json(&ws, &["daily-check", "--only", "backups"]);
    assert_eq!(result(&report, "backups", "copy remote")["status"], "ok");
}

#[test]
fn unknown_or_changed_host_keys_and_refused_keys_stop_the_copy() {
    let project = Project::new("sftp-refused");
    let server = SshServer::start();
    // No host key known: refused, the fingerprint shown, the local backup kept.
    let ws = workspace(&project, &server, "", "");
    let (code, report) = json(&ws, &["backup"]);
    assert_eq!(code, 2, "{report:#}");
    let r = result(&report, "copies", "remote");
    assert_eq!(r["status"], "crit", "{r}");
    let message = r["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "the host key of 127.0.0.1:{} (ssh-ed25519 SHA256:",
            server.port
        )) && message.contains("is not in"),
        "{message}"
    );
    assert_eq!(backup_ids(&json(&ws, &["backup", "list"]).1).len(), 1);
    assert!(server.stored().is_empty());

    // Another server's key recorded for this address: the key changed.
    let other = ws.path().join("other_key");
    keygen(&other);
    let other_key = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    ws.write(
        "known_hosts",
        format!("[127.0.0.1]:{} {}", server.port, other_key.trim()),
    );
    let (code, report) = json(&ws, &["backup", "copy", "--to", "remote"]);
    assert_eq!(code, 2, "{report:#}");
    let message = result(&report, "copies", "remote")["message"].to_string();
    assert!(
        message.contains("is not the one on line 1") && message.contains("the key changed"),
        "{message}"
    );

    // The right host key, a client key the server does not accept.
    ws.write("known_hosts", server.known_hosts_line());
    let text = std::fs::read_to_string(ws.path().join("opsbook.yaml")).unwrap();
    ws.write(
        "opsbook.yaml",
        text.replace(
            &server.file("client_key").display().to_string(),
            &other.display().to_string(),
        ),
    );
    let (code, report) = json(&ws, &["backup", "copy", "--to", "remote"]);
    assert_eq!(code, 2, "{report:#}");
    let message = result(&report, "copies", "remote")["message"].to_string();
    assert!(message.contains("refused the key"), "{message}");
    assert!(server.stored().is_empty());

    // A target missing its known_hosts is a located validation error.
    ws.write(
        "opsbook.yaml",
        text.replace("        known_hosts: ./known_hosts\n", ""),
    );
    let refused = ws.opsbook(&["validate"]);
    refused.expect_code(3);
    assert!(
        refused.stderr.contains("opsbook.yaml:") && refused.stderr.contains("known_hosts"),
        "{}",
        refused.stderr
    );
}
