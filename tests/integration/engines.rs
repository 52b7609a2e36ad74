//! Extra real `dockerd`s for the fleet and swarm tests, each with its own
//! socket, data root, exec root and containerd namespace under one folder
//! in /tmp, started once and left running for later tests and runs (as
//! scripts/test.sh leaves the first engine). A folder left by an engine
//! that is gone (a killed session, a machine restored from a snapshot) is
//! made safe first: its pid files may name a process that now is something
//! else, and dockerd would wait on that "containerd" until it gave up.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{FIXTURE_IMAGE, eventually};

/// Whether the engine at `host` (`unix://…`, or `-H` flags) answers.
pub fn answers(host: &str) -> bool {
    Command::new("docker")
        .args(["-H", host, "version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Starts `dockerd` under `launcher` (`unshare --net`, `nsenter --net=…`)
/// with its state in `dir`, listening on `dir/docker.sock` plus `args`,
/// unless that socket already answers; then loads the fixture image.
/// Returns the socket's `unix://` URL.
pub fn start(dir: &str, launcher: &[&str], args: &[String]) -> String {
    let host = format!("unix://{dir}/docker.sock");
    if !answers(&host) {
        std::fs::create_dir_all(dir).unwrap();
        clear_stale(Path::new(dir));
        let log = std::fs::File::create(format!("{dir}/dockerd.log")).unwrap();
        let name = Path::new(dir).file_name().unwrap().to_string_lossy();
        #[allow(clippy::zombie_processes)]
        Command::new(launcher[0])
            .args(&launcher[1..])
            .args(["dockerd", "--host", &host])
            .args(args)
            .args(["--data-root", &format!("{dir}/root")])
            .args(["--exec-root", &format!("{dir}/exec")])
            .args(["--pidfile", &format!("{dir}/docker.pid")])
            .args(["--iptables=false", "--ip6tables=false"])
            .args(["--containerd-namespace", &name])
            .args(["--containerd-plugins-namespace", &format!("{name}-plugins")])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd");
        eventually(
            &format!("the engine in {dir} answers (its log: {dir}/dockerd.log)"),
            Duration::from_secs(60),
            || answers(&host),
        );
    }
    load_fixture(&host);
    host
}

/// Loads the fixture image from the test engine into the engine at `host`.
pub fn load_fixture(host: &str) {
    let loaded = Command::new("sh")
        .args([
            "-c",
            &format!("docker save {FIXTURE_IMAGE} | docker -H {host} load"),
        ])
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
}

/// Stops what a dead engine's pid files still name, if it is that engine's
/// dockerd or containerd, and removes the pid files and the socket.
fn clear_stale(dir: &Path) {
    for pid_file in [
        dir.join("docker.pid"),
        dir.join("exec/containerd/containerd.pid"),
    ] {
        let Ok(pid) = std::fs::read_to_string(&pid_file) else {
            continue;
        };
        let pid = pid.trim();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if matches!(comm.trim(), "dockerd" | "containerd") {
            let _ = Command::new("kill").arg(pid).status();
            eventually(
                "the old engine process ends",
                Duration::from_secs(20),
                || !Path::new(&format!("/proc/{pid}")).exists(),
            );
        }
        let _ = std::fs::remove_file(&pid_file);
    }
    let _ = std::fs::remove_file(dir.join("docker.sock"));
}
