//! Peers that hang, for the tests of what must not wait on them: a Docker
//! engine that answers some requests never (a unix socket in front of the
//! real engine), and an HTTP server that accepts and never answers. Both
//! are real sockets; what they hold is let go when they are dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A unix socket in front of the real engine: each request `hang` picks
/// (by its request line, `GET /v1.41/containers/json?…`) is read and never
/// answered; every other one is passed on, on a connection of its own
/// (`Connection: close`), so the next request on it is seen too.
pub struct HangingEngine {
    /// `unix://…`, for `DOCKER_HOST`.
    pub host: String,
    path: PathBuf,
    held: Arc<Mutex<Vec<UnixStream>>>,
    stopping: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
}

impl HangingEngine {
    pub fn start(hang: fn(&str) -> bool) -> HangingEngine {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&path).expect("bind the socket");
        let held = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (kept, stop) = (held.clone(), stopping.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let kept = kept.clone();
                std::thread::spawn(move || pass_or_hold(client, hang, &kept));
            }
        });
        HangingEngine {
            host: format!("unix://{}", path.display()),
            path,
            held,
            stopping,
            _dir: dir,
        }
    }

    /// How many requests it holds unanswered.
    pub fn hung(&self) -> usize {
        self.held.lock().map_or(0, |held| held.len())
    }
}

impl Drop for HangingEngine {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees `stopping`.
        let _ = UnixStream::connect(&self.path);
        if let Ok(held) = self.held.lock() {
            for stream in held.iter() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

/// The real engine's socket (`$DOCKER_HOST` when it is one, as the tests'
/// own connection takes it).
fn upstream() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|host| host.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

fn pass_or_hold(mut client: UnixStream, hang: fn(&str) -> bool, held: &Mutex<Vec<UnixStream>>) {
    let mut read = Vec::new();
    let mut buffer = [0u8; 4096];
    let end = loop {
        if let Some(at) = read.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match client.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => read.extend_from_slice(&buffer[..n]),
        }
    };
    let head = String::from_utf8_lossy(&read[..end]).into_owned();
    let request_line = head.lines().next().unwrap_or("");
    if hang(request_line) {
        if let Ok(mut held) = held.lock() {
            held.push(client);
        }
        return;
    }
    let Ok(mut engine) = UnixStream::connect(upstream()) else {
        return;
    };
    let upgrade = head.to_ascii_lowercase().contains("upgrade");
    let mut lines: Vec<&str> = head
        .trim_end()
        .lines()
        .filter(|l| upgrade || !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    if !upgrade {
        lines.push("Connection: close");
    }
    let rewritten = format!("{}\r\n\r\n", lines.join("\r\n"));
    if engine.write_all(rewritten.as_bytes()).is_err() || engine.write_all(&read[end..]).is_err() {
        return;
    }
    let (Ok(mut to_engine), Ok(mut from_engine)) = (engine.try_clone(), client.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_engine, &mut to_engine);
        let _ = to_engine.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut engine, &mut client);
    let _ = client.shutdown(Shutdown::Both);
}

/// An HTTP server on loopback that accepts every connection and never
/// answers: a webhook that hangs.
pub struct HangingServer {
    pub port: u16,
    held: Arc<Mutex<Vec<TcpStream>>>,
    stopping: Arc<AtomicBool>,
}

impl HangingServer {
    pub fn start() -> HangingServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (kept, stop) = (held.clone(), stopping.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(mut kept) = kept.lock() {
                    kept.push(stream);
                }
            }
        });
        HangingServer {
            port,
            held,
            stopping,
        }
    }

    /// How many connections it holds unanswered.
    pub fn held(&self) -> usize {
        self.held.lock().map_or(0, |held| held.len())
    }
}

impl Drop for HangingServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Ok(held) = self.held.lock() {
            for stream in held.iter() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}
