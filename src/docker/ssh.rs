//! An engine reached over `ssh://[user@]host[:port]`: the system's own
//! `ssh`, as the docker CLI uses it (so the operator's `~/.ssh/config`,
//! keys, agent and known_hosts apply, or the file in `$OPSBOOK_SSH_CONFIG`).
//! The engine's socket is forwarded over the login (`ssh -L`), so each HTTP
//! connection is a forwarded channel; where the host's sshd forbids that,
//! or its engine is not on a socket, each connection is `docker system
//! dial-stdio` run on the host, as the docker CLI does it.
//!
//! Unlike bollard's own `ssh` transport, which logs in afresh for every
//! connection, one master connection is opened per process and every
//! connection is a channel of it (OpenSSH's ControlMaster): one handshake,
//! and sshd's `MaxStartups` never sees a burst of concurrent inspects. At
//! most [`CHANNELS`] run at once, under sshd's default `MaxSessions` of 10.
//! The host's key must already be known (`StrictHostKeyChecking=yes`): a
//! first contact is the operator's to confirm, not opsbook's.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The variable naming an ssh config file to use instead of `~/.ssh/config`
/// (a fleet host's `ssh_config`).
pub(super) const CONFIG_VARIABLE: &str = "OPSBOOK_SSH_CONFIG";
/// Connections at once over the one master: under sshd's `MaxSessions`
/// (10), and few, as each is a docker CLI process on the host; hyper
/// keeps them alive and hands them from request to request.
const CHANNELS: usize = 4;
/// How long the master outlives this process when it is killed before it
/// can close it (a closed process closes it at once).
const LINGER: usize = 30;

/// A client whose every connection is `docker system dial-stdio` on the
/// host, and the login it runs over (to ask why, when the engine does not answer).
pub(super) struct SshEngine {
    pub(super) docker: Docker,
    session: Arc<openssh::Session>,
}

/// A login per host and config, shared by every deployment of this process
/// that reaches that host (a daily-check's own and its host figures'), and
/// closed when the last of them goes.
type Slot = Arc<tokio::sync::Mutex<std::sync::Weak<SshEngine>>>;
/// A login's key: the URL and the ssh config file.
type LoginKey = (String, Option<std::path::PathBuf>);
static LOGINS: std::sync::Mutex<Vec<(LoginKey, Slot)>> = std::sync::Mutex::new(Vec::new());

/// The login to `url`'s host: the one this process has, else a new one.
pub(super) async fn login(
    url: &str,
    config: Option<&Path>,
    timeout: Duration,
) -> Result<Arc<SshEngine>, String> {
    let key = (url.to_string(), config.map(Path::to_path_buf));
    let slot = {
        let mut logins = match LOGINS.lock() {
            Ok(logins) => logins,
            Err(poisoned) => poisoned.into_inner(),
        };
        match logins.iter().find(|(k, _)| *k == key) {
            Some((_, slot)) => slot.clone(),
            None => {
                let slot = Slot::default();
                logins.push((key, slot.clone()));
                slot
            }
        }
    };
    // Held while logging in: a second deployment of the same host waits
    // for this login rather than making its own.
    let mut held = slot.lock().await;
    if let Some(engine) = held.upgrade() {
        return Ok(engine);
    }
    let engine = Arc::new(connect(url, config, timeout).await?);
    *held = Arc::downgrade(&engine);
    Ok(engine)
}

/// Logs in to `url`'s host (one master connection), with `config` instead
/// of `~/.ssh/config` when given.
async fn connect(url: &str, config: Option<&Path>, timeout: Duration) -> Result<SshEngine, String> {
    let mut builder = openssh::SessionBuilder::default();
    builder
        .known_hosts_check(openssh::KnownHosts::Strict)
        .connect_timeout(timeout)
        .server_alive_interval(Duration::from_secs(15))
        // Short: the control socket's path must fit in 108 bytes.
        .control_directory(std::env::temp_dir())
        .control_persist(openssh::ControlPersist::IdleFor(
            std::num::NonZeroUsize::new(LINGER).unwrap_or(std::num::NonZeroUsize::MIN),
        ));
    if let Some(config) = config {
        builder.config_file(config);
    }
    let session = builder.connect(url).await.map_err(|e| said(&e))?;
    let session = Arc::new(session);
    if let Some(docker) = forwarded(&session, timeout).await {
        tracing::debug!("ssh: the engine's socket is forwarded");
        return Ok(SshEngine { docker, session });
    }
    tracing::debug!("ssh: each connection is docker system dial-stdio");
    let dial = DialStdio {
        session: session.clone(),
        gate: Arc::new(Semaphore::new(CHANNELS)),
    };
    let client = Client::builder(TokioExecutor::new()).build(dial);
    let transport = move |request: BollardRequest| {
        let client = client.clone();
        async move { Ok(client.request(request).await?) }
    };
    let docker = Docker::connect_with_custom_transport(
        transport,
        Some("http://docker"),
        120,
        API_DEFAULT_VERSION,
    )
    .map_err(|e| e.to_string())?;
    Ok(SshEngine { docker, session })
}

/// The engine's socket on the host forwarded to one here, over the login
/// (`ssh -L`): each connection is then a forwarded channel, with no process
/// on the host. The socket is the one the host's `$DOCKER_HOST` names
/// there (else `/var/run/docker.sock`), as `dial-stdio` would use. None
/// when the host's engine is not on a socket, sshd forbids forwarding, or
/// the forwarded socket does not answer: `dial-stdio` is the way then.
async fn forwarded(session: &openssh::Session, timeout: Duration) -> Option<Docker> {
    let named = session
        .raw_command("printf '%s' \"${DOCKER_HOST:-unix:///var/run/docker.sock}\"")
        .output()
        .await
        .ok()?;
    let named = String::from_utf8(named.stdout).ok()?;
    let remote = named.trim().strip_prefix("unix://")?.to_string();
    // Beside the control socket: a folder only this user can enter.
    let local = session.control_socket().with_file_name("docker.sock");
    session
        .request_port_forward(
            openssh::ForwardType::Local,
            openssh::Socket::UnixSocket {
                path: local.as_path().into(),
            },
            openssh::Socket::UnixSocket {
                path: Path::new(&remote).into(),
            },
        )
        .await
        .ok()?;
    let docker = Docker::connect_with_unix(
        &format!("unix://{}", local.display()),
        120,
        API_DEFAULT_VERSION,
    )
    .ok()?;
    match tokio::time::timeout(timeout, docker.ping()).await {
        Ok(Ok(_)) => Some(docker),
        _ => None,
    }
}

impl SshEngine {
    /// Why the engine behind a working login does not answer, in the host's
    /// own words (`docker: command not found`, `permission denied … docker.sock`).
    pub(super) async fn why_not(&self) -> Option<String> {
        let output = self
            .session
            .command("docker")
            .args(["version", "--format", "{{.Server.APIVersion}}"])
            .output()
            .await
            .ok()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty())?;
        Some(format!(
            "on the host, `docker version` says: {}",
            last.trim()
        ))
    }
}

/// What ssh said, on one line: its own last words when it gave any
/// (`Permission denied (publickey)`, `Host key verification failed.`).
fn said(error: &openssh::Error) -> String {
    let text = crate::error::one_line(error);
    match error {
        openssh::Error::Connect(_) if text.contains("Host key verification failed") => format!(
            "{text} (the host's key is not in known_hosts: run `ssh` to it once and check the fingerprint)"
        ),
        _ => text,
    }
}

/// Opens a connection to the engine: a `docker system dial-stdio` channel.
#[derive(Clone)]
struct DialStdio {
    session: Arc<openssh::Session>,
    gate: Arc<Semaphore>,
}

/// One connection: the channel's stdin and stdout, and its turn.
struct Channel {
    _child: openssh::Child<Arc<openssh::Session>>,
    stdin: Option<TokioIo<openssh::ChildStdin>>,
    stdout: TokioIo<openssh::ChildStdout>,
    _turn: OwnedSemaphorePermit,
}

type Opening = Pin<Box<dyn Future<Output = Result<Channel, io::Error>> + Send>>;

impl tower_service::Service<hyper::Uri> for DialStdio {
    type Response = Channel;
    type Error = io::Error;
    type Future = Opening;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let turn = this
                .gate
                .acquire_owned()
                .await
                .map_err(|_| io::Error::other("the ssh connection is closed"))?;
            let mut child = this
                .session
                .clone()
                .arc_command("docker")
                .args(["system", "dial-stdio"])
                .stdin(openssh::Stdio::piped())
                .stdout(openssh::Stdio::piped())
                .stderr(openssh::Stdio::null())
                .spawn()
                .await
                .map_err(io::Error::other)?;
            let (Some(stdin), Some(stdout)) = (child.stdin().take(), child.stdout().take()) else {
                return Err(io::Error::other("ssh gave no pipes"));
            };
            Ok(Channel {
                _child: child,
                stdin: Some(TokioIo::new(stdin)),
                stdout: TokioIo::new(stdout),
                _turn: turn,
            })
        })
    }
}

impl Channel {
    fn stdin(&mut self) -> io::Result<Pin<&mut TokioIo<openssh::ChildStdin>>> {
        self.stdin
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::ErrorKind::BrokenPipe.into())
    }
}

impl hyper::rt::Read for Channel {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Channel {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stdin()?.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stdin()?.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.stdin()?.poll_shutdown(cx))?;
        // A pipe shuts down by closing: drop the writing end.
        this.stdin = None;
        Poll::Ready(Ok(()))
    }
}

impl hyper_util::client::legacy::connect::Connection for Channel {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}
