//! `--fleet` over engines reached as remote ones are: a third real
//! `dockerd` in a network namespace of its own, reached over a veth pair
//! the test makes (10.231.0.0/30) by tcp with TLS, with a CA, server and
//! client certificates made here by openssl (directly, and as a Docker
//! context made by the docker CLI); and the second engine reached by
//! `ssh://` through Debian's sshd on a loopback port, whose sessions point
//! `docker system dial-stdio` at that engine. Host figures of a remote host
//! are measured there, through its engine, and checked against this
//! machine's `/proc` (all the engines run here).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::engines;
use crate::fleet::{docker, runbook, second_engine, service_on};
use crate::sftp::SshServer;
use crate::support::{FIXTURE_IMAGE, Project, Workspace};

const THIRD: &str = "/tmp/opsbook-engine-3";
const NETNS: &str = "opsbook-tls";
const ENGINE_IP: &str = "10.231.0.2";

/// The third engine: its own socket (for the test's own `docker`), and
/// tcp+TLS on the veth address; the client's TLS folder.
struct TlsEngine {
    socket: String,
    url: String,
    certs: PathBuf,
}

fn sh(script: &str) {
    let out = Command::new("sh").args(["-ec", script]).output().unwrap();
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, the engine's certificate (for its veth address) and a client's,
/// in Docker's layout: `ca.pem`, `cert.pem`, `key.pem` under `client/`.
fn make_certs(dir: &Path) {
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    sh(&format!(
        "mkdir -p {dir}/client && cd {dir}
         openssl req -x509 {ec} -keyout ca-key.pem -out ca.pem -days 3650 -subj /CN=opsbook-test-ca 2>/dev/null
         openssl req {ec} -keyout server-key.pem -out server.csr -subj /CN=opsbook-engine-3 2>/dev/null
         printf 'subjectAltName=IP:{ENGINE_IP}\\nextendedKeyUsage=serverAuth\\n' > server.ext
         openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server-cert.pem -days 3650 -extfile server.ext 2>/dev/null
         openssl req {ec} -keyout client/key.pem -out client.csr -subj /CN=opsbook-client 2>/dev/null
         printf 'extendedKeyUsage=clientAuth\\n' > client.ext
         openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out client/cert.pem -days 3650 -extfile client.ext 2>/dev/null
         cp ca.pem client/ca.pem",
        dir = dir.display()
    ));
}

/// The TLS engine, started (once) if it does not answer, the fixture loaded.
fn tls_engine() -> &'static TlsEngine {
    static STARTED: OnceLock<TlsEngine> = OnceLock::new();
    STARTED.get_or_init(|| {
        let dir = PathBuf::from(THIRD);
        if !engines::answers(&format!("unix://{THIRD}/docker.sock")) {
            if !dir.join("client/key.pem").is_file() {
                make_certs(&dir);
            }
            // The engine's own network, and a veth pair into it.
            sh(&format!(
                "ip netns list | grep -qw {NETNS} || ip netns add {NETNS}
                 if ! ip link show obk-tls0 >/dev/null 2>&1; then
                   ip link add obk-tls0 type veth peer name obk-tls1 netns {NETNS}
                   ip addr add 10.231.0.1/30 dev obk-tls0
                   ip link set obk-tls0 up
                   ip -n {NETNS} addr add {ENGINE_IP}/30 dev obk-tls1
                   ip -n {NETNS} link set obk-tls1 up
                   ip -n {NETNS} link set lo up
                 fi"
            ));
        }
        let at = |name: &str| dir.join(name).display().to_string();
        // nsenter, not `ip netns exec`: that mounts a sysfs of its own over
        // /sys, hiding the cgroups dockerd needs.
        let socket = engines::start(
            THIRD,
            &["nsenter", &format!("--net=/run/netns/{NETNS}")],
            &[
                "--host".into(),
                format!("tcp://{ENGINE_IP}:2376"),
                "--tlsverify".into(),
                "--tlscacert".into(),
                at("ca.pem"),
                "--tlscert".into(),
                at("server-cert.pem"),
                "--tlskey".into(),
                at("server-key.pem"),
            ],
        );
        TlsEngine {
            socket,
            url: format!("tcp://{ENGINE_IP}:2376"),
            certs: dir.join("client"),
        }
    })
}

/// sshd on loopback whose sessions reach the second engine, with `extra`
/// lines in its config.
fn ssh_engine(extra: &str) -> SshServer {
    SshServer::start_with(&format!("SetEnv DOCKER_HOST={}\n{extra}", second_engine()))
}

/// The client side in `ssh/`: an ssh config with every server's client key,
/// and known_hosts with the keys of the `known` servers only.
fn client_config(ws: &Workspace, servers: &[&SshServer], known: &[&SshServer]) {
    let lines: String = known.iter().map(|s| s.known_hosts_line() + "\n").collect();
    let known_hosts = ws.write("ssh/known_hosts", lines);
    let keys: String = servers
        .iter()
        .map(|s| format!("  IdentityFile {}\n", s.file("client_key").display()))
        .collect();
    ws.write(
        "ssh/config",
        format!(
            "Host 127.0.0.1\n{keys}  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n",
            known_hosts.display()
        ),
    );
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn daily_check_over_unix_tls_context_and_ssh_engines_grades_each_host() {
    let here = Project::new("fleet-r-here");
    here.service("web").start();
    let tls = tls_engine();
    let pid = std::process::id();
    let tls_project = format!("fleet-tls-{pid}");
    let tls_web = service_on(&tls.socket, &tls_project, "web", true);
    let ssh_project = format!("fleet-ssh-{pid}");
    // Over ssh: the critical web is created but stopped.
    let ssh_web = service_on(second_engine(), &ssh_project, "web", false);

    let ws = Workspace::new();
    // One sshd forwards the engine's socket; one forbids that, so each
    // connection is `docker system dial-stdio` there.
    let ssh = ssh_engine("");
    let stdio = ssh_engine("AllowStreamLocalForwarding no\n");
    client_config(&ws, &[&ssh, &stdio], &[&ssh, &stdio]);
    // A Docker context, made by the docker CLI, for the TLS engine.
    let docker_config = ws.path().join("docker-config");
    let made = Command::new("docker")
        .env("DOCKER_CONFIG", &docker_config)
        .args(["context", "create", "tls-ctx", "--docker"])
        .arg(format!(
            "host={},ca={c}/ca.pem,cert={c}/cert.pem,key={c}/key.pem",
            tls.url,
            c = tls.certs.display()
        ))
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    ws.write("here/opsbook.yaml", runbook(&here.name));
    ws.write("tls/opsbook.yaml", runbook(&tls_project));
    ws.write("ssh/opsbook.yaml", runbook(&ssh_project));
    ws.write(
        "fleet.yaml",
        format!(
            "version: 1\nhosts:\n\
             \x20 here:\n    docker: unix:///var/run/docker.sock\n    runbook: ./here/opsbook.yaml\n\
             \x20 tls:\n    docker: {}\n    tls: {}\n    runbook: ./tls/opsbook.yaml\n\
             \x20 ctx:\n    context: tls-ctx\n    runbook: ./tls/opsbook.yaml\n\
             \x20 ssh:\n    docker: ssh://{user}@127.0.0.1:{}\n    ssh_config: ./ssh/config\n    runbook: ./ssh/opsbook.yaml\n\
             \x20 stdio:\n    docker: ssh://{user}@127.0.0.1:{}\n    ssh_config: ./ssh/config\n    runbook: ./ssh/opsbook.yaml\n",
            tls.url,
            tls.certs.display(),
            ssh.port,
            stdio.port,
            user = user(),
        ),
    );
    let env = [("DOCKER_CONFIG", docker_config.to_str().unwrap())];
    let listed = ws.opsbook_with(&["--fleet", "fleet.yaml", "fleet", "list"], &env);
    listed.expect_code(0);
    assert!(
        listed
            .stdout
            .contains(&format!("{} (TLS) (context tls-ctx)", tls.url)),
        "{}",
        listed.stdout
    );

    let run = ws.opsbook_with(
        &[
            "--fleet",
            "fleet.yaml",
            "daily-check",
            "--state-dir",
            "state",
            "--format",
            "json",
        ],
        &env,
    );
    run.expect_code(2);
    let report = run.json();
    let host = |name: &str| {
        report["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == name)
            .unwrap_or_else(|| panic!("no {name} in {report:#}"))
            .clone()
    };
    for (name, status) in [
        ("here", "ok"),
        ("tls", "ok"),
        ("ctx", "ok"),
        ("ssh", "crit"),
    ] {
        assert_eq!(host(name)["status"], status, "{name}: {:#}", host(name));
    }
    for name in ["ssh", "stdio"] {
        let results = host(name)["results"].to_string();
        assert!(
            results.contains(r#""name":"web","status":"crit","message":"created (not running)""#),
            "{name}: {results}"
        );
    }
    // The remote hosts' figures were measured on their host, through their engine.
    for name in ["tls", "ssh", "stdio"] {
        let through = host(name)["host_figures"]["measured_through"].to_string();
        assert!(
            through.contains("a helper container on the engine at"),
            "{name}: {through}"
        );
    }
    assert!(host("here")["host_figures"]["measured_through"].is_null());

    // An unknown host key is refused, in ssh's words.
    let strange = ssh_engine("");
    client_config(&ws, &[&ssh, &stdio, &strange], &[&ssh, &stdio]);
    ws.write(
        "strange.yaml",
        format!(
            "version: 1\nhosts:\n  ssh:\n    docker: ssh://{}@127.0.0.1:{}\n    ssh_config: ./ssh/config\n    runbook: ./ssh/opsbook.yaml\n",
            user(),
            strange.port
        ),
    );
    let refused = ws.opsbook(&["--fleet", "strange.yaml", "status", "--format", "json"]);
    refused.expect_code(3);
    let said = refused.json()["hosts"][0]["results"].to_string();
    assert!(
        said.contains("and you have requested strict checking. Host key verification failed. (the host's key is not in known_hosts"),
        "{said}"
    );

    docker(&tls.socket, &["rm", "-f", &tls_web]);
    docker(second_engine(), &["rm", "-f", &ssh_web]);
}

/// `/proc/meminfo`'s value for `key`, in bytes.
fn meminfo(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap()
        * 1024
}

#[test]
fn a_remote_hosts_figures_are_that_hosts_own() {
    let tls = tls_engine();
    let project = format!("fleet-figures-{}", std::process::id());
    let web = service_on(&tls.socket, &project, "web", true);
    let ws = Workspace::new();
    ws.write(
        "opsbook.yaml",
        format!(
            "version: 1\nname: figures\nproject: {project}\nthresholds:\n  disk: {{ warn: 100%, crit: 100%, paths: [\"/\", \"/nowhere\"] }}\nservices:\n  web: {{}}\n"
        ),
    );
    let certs = tls.certs.display().to_string();
    let env = [
        ("DOCKER_HOST", tls.url.as_str()),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", certs.as_str()),
    ];
    let run = ws.opsbook_with(&["status", "--format", "json"], &env);
    let report = run.json();
    let figures = &report["host"];
    assert_eq!(
        figures["memory"]["total"].as_u64(),
        Some(meminfo("MemTotal")),
        "{figures:#}"
    );
    assert_eq!(
        figures["swap"]["total"].as_u64(),
        Some(meminfo("SwapTotal"))
    );
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(figures["cores"].as_u64(), Some(cores as u64));
    // `/` as df sees it here: the same filesystem, so the same size.
    let df = Command::new("df")
        .args(["-P", "-B1", "/"])
        .output()
        .unwrap();
    let df = String::from_utf8_lossy(&df.stdout);
    let columns: Vec<u64> = df
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect();
    // Size, Used, Available: opsbook's total is used plus available.
    let root = &figures["disks"][0]["usage"];
    let total = root["total"].as_u64().unwrap();
    let expected = columns[1] + columns[2];
    let drift = total.abs_diff(expected);
    assert!(drift < 64 * 1024 * 1024, "{total} against df's {expected}");
    assert_eq!(
        figures["disks"][1]["error"], "No such file or directory",
        "{figures:#}"
    );
    docker(&tls.socket, &["rm", "-f", &web]);
}

/// `find | md5sum` of the volume at `/data` in `container` on `host`.
fn sums(host: &str, container: &str) -> String {
    docker(
        host,
        &[
            "exec",
            container,
            "sh",
            "-c",
            "cd /data && find . -type f | sort | xargs md5sum",
        ],
    )
}

#[test]
fn a_backup_is_pulled_from_a_remote_engine_into_its_hosts_folder_and_restored_exactly() {
    let tls = tls_engine();
    let project = format!("fleet-pull-{}", std::process::id());
    let volume = format!("{project}_data");
    docker(
        &tls.socket,
        &[
            "volume",
            "create",
            "--label",
            &format!("com.docker.compose.project={project}"),
            "--label",
            "com.docker.compose.volume=data",
            &volume,
        ],
    );
    let mut create = vec![
        "create".to_string(),
        "--network".into(),
        "none".into(),
        "--name".into(),
        format!("{project}-web-1"),
        "--label".into(),
        format!("com.docker.compose.project={project}"),
        "--label".into(),
        "com.docker.compose.service=web".into(),
        "-v".into(),
        format!("{volume}:/data"),
        FIXTURE_IMAGE.into(),
    ];
    create.extend(crate::support::IDLE.iter().map(|a| a.to_string()));
    let web = docker(
        &tls.socket,
        &create.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    docker(&tls.socket, &["start", &web]);
    docker(
        &tls.socket,
        &[
            "exec",
            &web,
            "sh",
            "-c",
            "mkdir -p /data/sub && echo hello > /data/a.txt && head -c 300000 /dev/urandom > /data/sub/b.bin",
        ],
    );
    let before = sums(&tls.socket, &web);

    let ws = Workspace::new();
    ws.write(
        "far/opsbook.yaml",
        format!(
            "version: 1\nname: pull\nproject: {project}\nservices:\n  web: {{}}\nbackup:\n  dir: ../backups\n  volumes: [data]\n  copies:\n    nas: {{ folder: ../nas }}\n"
        ),
    );
    ws.write(
        "fleet.yaml",
        format!(
            "version: 1\nhosts:\n  far:\n    docker: {}\n    tls: {}\n    runbook: ./far/opsbook.yaml\n",
            tls.url,
            tls.certs.display()
        ),
    );
    let fleet = |args: &[&str]| {
        let mut all = vec!["--fleet", "fleet.yaml", "--state-dir", "state"];
        all.extend_from_slice(args);
        ws.opsbook(&all)
    };
    // The copy target's folder (the host's own is made inside it).
    std::fs::create_dir(ws.path().join("nas")).unwrap();
    let made = fleet(&["backup", "--yes", "--format", "json"]);
    made.expect_code(0);
    // The host's own folder, in the single-host layout; its copy likewise.
    let ids: Vec<String> = std::fs::read_dir(ws.path().join("backups/far"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(
        ws.path()
            .join("backups/far")
            .join(&ids[0])
            .join("manifest.json")
            .is_file()
    );
    assert!(
        ws.path()
            .join("nas/far")
            .join(&ids[0])
            .join("manifest.json")
            .is_file()
    );
    let listed = fleet(&["backup", "list", "--format", "json"]);
    listed.expect_code(0);
    assert!(listed.stdout.contains(&ids[0]), "{}", listed.stdout);
    fleet(&["backup", "verify"]).expect_code(0);

    docker(
        &tls.socket,
        &[
            "exec",
            &web,
            "sh",
            "-c",
            "rm /data/a.txt && echo changed > /data/sub/b.bin && echo new > /data/c.txt",
        ],
    );
    assert_ne!(sums(&tls.socket, &web), before);
    let restored = fleet(&["restore", "latest", "--yes"]);
    restored.expect_code(0);
    assert_eq!(sums(&tls.socket, &web), before, "{}", restored.stdout);

    // This machine's files are not the remote host's: refused, nothing done.
    ws.write("far/notes.txt", "here, not there\n");
    ws.write(
        "far/opsbook.yaml",
        format!(
            "version: 1\nname: pull\nproject: {project}\nservices:\n  web: {{}}\nbackup:\n  dir: ../backups\n  volumes: [data]\n  files: [./notes.txt]\n"
        ),
    );
    let refused = fleet(&["backup", "--yes", "--format", "json"]);
    refused.expect_code(3);
    assert!(
        refused.stdout.contains(&format!(
            "`backup.files` are files of this machine, and the engine at {} is on another",
            tls.url
        )),
        "{}",
        refused.stdout
    );

    docker(&tls.socket, &["rm", "-f", &web]);
    docker(&tls.socket, &["volume", "rm", &volume]);
}
