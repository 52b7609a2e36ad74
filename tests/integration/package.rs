//! The Debian package (`scripts/deb.sh`), built from the tests' binary and
//! installed with `apt-get install ./opsbook_*.deb` in a clean Debian
//! bookworm image (`opsbook-deb:test`, from mmdebstrap): the binary runs,
//! `man -w` finds the pages, bash completes the subcommands,
//! `systemd-analyze verify` accepts the units, and removing the package
//! keeps `/etc/opsbook/`.

use std::process::Command;

use crate::support::Workspace;

/// The clean Debian image (`scripts/debian-image.sh deb`).
const DEB_IMAGE: &str = "opsbook-deb:test";

#[test]
fn the_deb_installs_runs_completes_documents_and_keeps_its_config() {
    let ws = Workspace::new();
    let built = Command::new("scripts/deb.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("OPSBOOK_BIN", env!("CARGO_BIN_EXE_opsbook"))
        .env("CARGO_TARGET_DIR", ws.path())
        .output()
        .expect("scripts/deb.sh");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let deb = String::from_utf8_lossy(&built.stdout).trim().to_string();
    let name = std::path::Path::new(&deb)
        .file_name()
        .expect("a .deb")
        .to_string_lossy()
        .into_owned();
    let script = format!(
        "set -e
apt-get install -y -q ./{name} >/dev/null 2>&1
opsbook --version
man -w opsbook opsbook-backup-list
source /usr/share/bash-completion/bash_completion
_completion_loader opsbook || true
COMP_WORDS=(opsbook ''); COMP_CWORD=1; COMP_LINE='opsbook '; COMP_POINT=8
_opsbook opsbook '' opsbook
printf '%s\\n' \"${{COMPREPLY[@]}}\" | grep -x -e daily-check -e restore -e completions | sort | tr '\\n' ' '; echo
systemd-analyze verify /lib/systemd/system/opsbook-*.service /lib/systemd/system/opsbook-*.timer && echo verified
ls /lib/systemd/system/ | grep opsbook | tr '\\n' ' '; echo
apt-get remove -y -q opsbook >/dev/null 2>&1
test ! -e /usr/bin/opsbook && cat /etc/opsbook/README | head -1
"
    );
    let run = Command::new("docker")
        .args(["run", "--rm", "-v"])
        .arg(format!("{}:/pkg", ws.path().join("debian").display()))
        .args(["-w", "/pkg", DEB_IMAGE, "bash", "-c", &script])
        .output()
        .expect("docker run");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        stdout,
        format!(
            "opsbook {}\n/usr/share/man/man1/opsbook.1.gz\n/usr/share/man/man1/opsbook-backup-list.1.gz\n\
             completions daily-check restore \nverified\n\
             opsbook-backup.service opsbook-backup.timer opsbook-daily-check.service opsbook-daily-check.timer opsbook-serve.service \n\
             opsbook reads its runbook from /etc/opsbook/opsbook.yaml when no --runbook\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_opsbook()"),
        ("zsh", "#compdef opsbook"),
        ("fish", "complete -c opsbook"),
    ] {
        let run = Workspace::new().opsbook(&["completions", shell]);
        run.expect_code(0);
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        assert!(run.stdout.contains("daily-check"), "{shell}");
        assert!(run.stderr.is_empty(), "{}", run.stderr);
    }
}
