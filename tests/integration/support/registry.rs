//! A real image registry on loopback: Debian's `docker-registry`
//! (distribution 2.8, installed by scripts/test.sh) over a temporary
//! folder, with or without htpasswd (bcrypt, made by `htpasswd -B`) auth.
//! The engine treats 127.0.0.0/8 registries as insecure-allowed, so it
//! pushes and pulls over plain HTTP. Stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{eventually, free_port};

pub struct Registry {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Open to anyone.
    pub fn start() -> Registry {
        Registry::serve(None)
    }

    /// Only `user` with `password` (HTTP Basic, as distribution does it).
    pub fn start_with_login(user: &str, password: &str) -> Registry {
        Registry::serve(Some((user, password)))
    }

    fn serve(login: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let auth = match login {
            None => String::new(),
            Some((user, password)) => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("htpasswd (scripts/test.sh installs apache2-utils)");
                assert!(out.status.success(), "htpasswd");
                std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: opsbook-test\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                )
            }
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (scripts/test.sh installs it)");
        eventually("the registry listening", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Registry { child, port, dir }
    }

    /// `127.0.0.1:PORT`, the registry's part of an image name.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops it: the registry is unreachable from now on.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// A Docker CLI config folder of this registry's own (`docker --config
    /// DIR login`, `DOCKER_CONFIG=DIR`), so no login lands in the shared one.
    pub fn docker_config(&self) -> std::path::PathBuf {
        let path = self.dir.path().join("docker");
        std::fs::create_dir_all(&path).unwrap();
        path
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
