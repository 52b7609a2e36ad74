//! A fault-injecting S3 store on loopback: the part of the S3 protocol
//! opsbook speaks (path-style objects, ListObjectsV2, multipart uploads,
//! HEAD), held in memory, with one fault at a time chosen per test (and
//! changed while it runs): a store that hangs, stops reading uploads,
//! stalls an answer halfway, lists without end, lies about or drops ETags,
//! keeps half of what it is sent, or streams answers without end. It
//! checks no signature: the tests of credentials use `rclone serve s3`.
//! Connections it holds are let go when it is dropped.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use md5::{Digest, Md5};

/// What the store does wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Nothing: a plain store.
    None,
    /// Every connection is accepted and never answered.
    Hang,
    /// Uploads (PUT) are accepted and never answered; the rest is served.
    HangPuts,
    /// A GET is answered with its head and half its body, then nothing.
    StallBody,
    /// A listing always says there is more, with the same token each time.
    RepeatToken,
    /// A listing always says there is more, with a new token each time.
    EndlessTokens,
    /// An upload is answered with an ETag that is not the MD5 of it.
    LyingEtag,
    /// An upload is answered without an ETag.
    NoEtag,
    /// Half of each upload (or part) is kept; the answer is as if all was.
    Half,
    /// A GET of a key ending with `suffix` streams `bytes` bytes (chunked,
    /// no length given).
    Huge { suffix: String, bytes: u64 },
    /// Every request is answered 500 with a body of `bytes` bytes.
    HugeError { bytes: u64 },
}

/// A multipart upload's parts by number: what is kept, and the MD5 of
/// what was sent.
type Parts = BTreeMap<u16, (Vec<u8>, [u8; 16])>;

struct Store {
    fault: Mutex<Fault>,
    /// Objects by key (without the bucket).
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Multipart uploads: their parts, and each part's MD5 as sent.
    uploads: Mutex<HashMap<String, Parts>>,
    held: Mutex<Vec<TcpStream>>,
    /// Bytes of streamed (`Huge`) bodies written.
    streamed: AtomicU64,
    /// Every request line, in order.
    requests: Mutex<Vec<String>>,
    next: AtomicU64,
}

pub struct FaultyS3 {
    pub port: u16,
    store: Arc<Store>,
    stopping: Arc<AtomicBool>,
}

impl FaultyS3 {
    pub fn start() -> FaultyS3 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let store = Arc::new(Store {
            fault: Mutex::new(Fault::None),
            objects: Mutex::new(BTreeMap::new()),
            uploads: Mutex::new(HashMap::new()),
            held: Mutex::new(Vec::new()),
            streamed: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            next: AtomicU64::new(0),
        });
        let stopping = Arc::new(AtomicBool::new(false));
        let (serving, stop) = (store.clone(), stopping.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let store = serving.clone();
                std::thread::spawn(move || store.serve(stream));
            }
        });
        FaultyS3 {
            port,
            store,
            stopping,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, fault: Fault) {
        *self.store.fault.lock().unwrap() = fault;
    }

    /// Puts an object there as it is, behind opsbook's back.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        self.store
            .objects
            .lock()
            .unwrap()
            .insert(key.to_string(), bytes.to_vec());
    }

    /// The keys it holds.
    pub fn keys(&self) -> Vec<String> {
        self.store.objects.lock().unwrap().keys().cloned().collect()
    }

    /// Multipart uploads begun and neither completed nor aborted.
    pub fn open_uploads(&self) -> usize {
        self.store.uploads.lock().unwrap().len()
    }

    /// How many connections or requests it holds unanswered.
    pub fn held(&self) -> usize {
        self.store.held.lock().map_or(0, |held| held.len())
    }

    /// Bytes of endless bodies it managed to write before the reader left.
    pub fn streamed(&self) -> u64 {
        self.store.streamed.load(Ordering::SeqCst)
    }

    /// The request lines seen so far (`GET /bk?list-type=2&…`).
    pub fn requests(&self) -> Vec<String> {
        self.store.requests.lock().unwrap().clone()
    }
}

impl Drop for FaultyS3 {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Ok(held) = self.store.held.lock() {
            for stream in held.iter() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

/// One request: its method, path (decoded), query and body.
struct Request {
    method: String,
    key: String,
    query: HashMap<String, String>,
    body: Vec<u8>,
}

impl Store {
    fn fault(&self) -> Fault {
        self.fault.lock().unwrap().clone()
    }

    fn hold(&self, stream: TcpStream) {
        if let Ok(mut held) = self.held.lock() {
            held.push(stream);
        }
    }

    /// Answers the requests of one connection, one after the other.
    fn serve(&self, stream: TcpStream) {
        if self.fault() == Fault::Hang {
            self.hold(stream);
            return;
        }
        // Answers go out as written (no 40 ms wait for an ACK per answer).
        let _ = stream.set_nodelay(true);
        let Ok(reading) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(reading);
        let mut stream = stream;
        loop {
            let Some(request) = read_request(&mut reader) else {
                return;
            };
            self.requests.lock().unwrap().push(format!(
                "{} /{}{}",
                request.method,
                request.key,
                if request.query.is_empty() { "" } else { "?…" }
            ));
            if !self.answer(&request, &mut stream) {
                return;
            }
        }
    }

    /// Answers one request; false when the connection is done with.
    fn answer(&self, request: &Request, stream: &mut TcpStream) -> bool {
        match self.fault() {
            Fault::HangPuts if request.method == "PUT" => {
                if let Ok(held) = stream.try_clone() {
                    self.hold(held);
                }
                return false;
            }
            Fault::HugeError { bytes } => {
                self.stream_body(stream, "500 Internal Server Error", bytes);
                return false;
            }
            Fault::Huge { suffix, bytes }
                if request.method == "GET" && request.key.ends_with(&suffix) =>
            {
                self.stream_body(stream, "200 OK", bytes);
                return false;
            }
            _ => {}
        }
        let (method, key, query) = (request.method.as_str(), &request.key, &request.query);
        // The bucket's own requests: `bk`, and the key after `bk/`.
        let object = key
            .split_once('/')
            .map(|(_, k)| k.to_string())
            .filter(|k| !k.is_empty());
        match (method, object) {
            ("GET", None) if query.contains_key("list-type") => self.list(stream, query),
            ("PUT", Some(key)) if query.contains_key("uploadId") => {
                self.put_part(stream, &key, request)
            }
            ("PUT", Some(key)) => self.put_object(stream, &key, &request.body),
            ("POST", Some(key)) if query.contains_key("uploads") => {
                self.create_upload(stream, &key)
            }
            ("POST", Some(key)) if query.contains_key("uploadId") => {
                self.complete(stream, &key, &query["uploadId"])
            }
            ("DELETE", Some(_)) if query.contains_key("uploadId") => {
                self.uploads.lock().unwrap().remove(&query["uploadId"]);
                respond(stream, "204 No Content", &[], b"")
            }
            ("DELETE", Some(key)) => {
                self.objects.lock().unwrap().remove(&key);
                respond(stream, "204 No Content", &[], b"")
            }
            ("GET" | "HEAD", Some(key)) => self.get_object(stream, &key, method == "HEAD"),
            _ => respond(stream, "400 Bad Request", &[], b""),
        }
    }

    fn list(&self, stream: &mut TcpStream, query: &HashMap<String, String>) -> bool {
        let prefix = query.get("prefix").cloned().unwrap_or_default();
        let listed: Vec<(String, usize)> = self
            .objects
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, bytes)| (k.clone(), bytes.len()))
            .collect();
        let mut contents = String::new();
        for (key, size) in &listed {
            // No ETag: opsbook does not read it, and an MD5 per key per
            // page would slow a listing of a thousand pages down.
            contents.push_str(&format!(
                "<Contents><Key>{}</Key><Size>{}</Size></Contents>",
                escape(key),
                size,
            ));
        }
        let more = match self.fault() {
            Fault::RepeatToken => Some("again".to_string()),
            Fault::EndlessTokens => Some(format!("t{}", self.next.fetch_add(1, Ordering::SeqCst))),
            _ => None,
        };
        let truncated = match &more {
            Some(token) => format!(
                "<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"
            ),
            None => "<IsTruncated>false</IsTruncated>".to_string(),
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bk</Name><Prefix>{}</Prefix><MaxKeys>1000</MaxKeys>{truncated}{contents}</ListBucketResult>",
            escape(&prefix)
        );
        respond(
            stream,
            "200 OK",
            &[("Content-Type", "application/xml".into())],
            body.as_bytes(),
        )
    }

    /// The ETag header of an answer to an upload of `bytes`, as the fault says.
    fn etag_for(&self, etag: String) -> Vec<(&'static str, String)> {
        match self.fault() {
            Fault::NoEtag => Vec::new(),
            Fault::LyingEtag => vec![("ETag", format!("\"{}\"", md5_hex(b"not what was sent")))],
            _ => vec![("ETag", format!("\"{etag}\""))],
        }
    }

    /// What is kept of an upload.
    fn kept(&self, bytes: &[u8]) -> Vec<u8> {
        match self.fault() {
            Fault::Half => bytes[..bytes.len() / 2].to_vec(),
            _ => bytes.to_vec(),
        }
    }

    fn put_object(&self, stream: &mut TcpStream, key: &str, body: &[u8]) -> bool {
        self.objects
            .lock()
            .unwrap()
            .insert(key.to_string(), self.kept(body));
        let headers = self.etag_for(md5_hex(body));
        respond(stream, "200 OK", &headers, b"")
    }

    fn create_upload(&self, stream: &mut TcpStream, key: &str) -> bool {
        let id = format!("upload-{}", self.next.fetch_add(1, Ordering::SeqCst));
        self.uploads
            .lock()
            .unwrap()
            .insert(id.clone(), BTreeMap::new());
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>bk</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
            escape(key)
        );
        respond(stream, "200 OK", &[], body.as_bytes())
    }

    fn put_part(&self, stream: &mut TcpStream, _key: &str, request: &Request) -> bool {
        let number: u16 = request
            .query
            .get("partNumber")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let md5 = <[u8; 16]>::from(Md5::digest(&request.body));
        let kept = self.kept(&request.body);
        let mut uploads = self.uploads.lock().unwrap();
        let Some(parts) = uploads.get_mut(&request.query["uploadId"]) else {
            drop(uploads);
            return respond(
                stream,
                "404 Not Found",
                &[],
                b"<Error><Code>NoSuchUpload</Code></Error>",
            );
        };
        parts.insert(number, (kept, md5));
        drop(uploads);
        let headers = self.etag_for(hex(&md5));
        respond(stream, "200 OK", &headers, b"")
    }

    fn complete(&self, stream: &mut TcpStream, key: &str, upload: &str) -> bool {
        let Some(parts) = self.uploads.lock().unwrap().remove(upload) else {
            return respond(
                stream,
                "404 Not Found",
                &[],
                b"<Error><Code>NoSuchUpload</Code></Error>",
            );
        };
        let mut whole = Vec::new();
        let mut joined = Md5::new();
        for (bytes, md5) in parts.values() {
            whole.extend_from_slice(bytes);
            joined.update(md5);
        }
        let etag = format!("{}-{}", hex(&joined.finalize()), parts.len());
        self.objects.lock().unwrap().insert(key.to_string(), whole);
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>bk</Bucket><Key>{}</Key><ETag>&quot;{etag}&quot;</ETag></CompleteMultipartUploadResult>",
            escape(key)
        );
        respond(stream, "200 OK", &[], body.as_bytes())
    }

    fn get_object(&self, stream: &mut TcpStream, key: &str, head: bool) -> bool {
        let Some(bytes) = self.objects.lock().unwrap().get(key).cloned() else {
            let body: &[u8] = if head {
                b""
            } else {
                b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
            };
            return respond(stream, "404 Not Found", &[], body);
        };
        let etag = ("ETag", format!("\"{}\"", md5_hex(&bytes)));
        if head {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {}\r\n\r\n",
                bytes.len(),
                etag.1
            );
            return stream.write_all(head.as_bytes()).is_ok();
        }
        if self.fault() == Fault::StallBody {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", bytes.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&bytes[..bytes.len() / 2]);
            let _ = stream.flush();
            if let Ok(held) = stream.try_clone() {
                self.hold(held);
            }
            return false;
        }
        respond(stream, "200 OK", &[etag], &bytes)
    }

    /// An answer with a chunked body of `bytes` bytes, written until the
    /// reader goes away.
    fn stream_body(&self, stream: &mut TcpStream, status: &str, bytes: u64) {
        let head =
            format!("HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        if stream.write_all(head.as_bytes()).is_err() {
            return;
        }
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            let framed = [format!("{n:x}\r\n").as_bytes(), &chunk[..n], b"\r\n"].concat();
            if stream.write_all(&framed).is_err() {
                return;
            }
            self.streamed.fetch_add(n as u64, Ordering::SeqCst);
            left -= n as u64;
        }
        let _ = stream.write_all(b"0\r\n\r\n");
    }
}

/// Reads one request (its head, then `Content-Length` bytes of body).
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect();
    Some(Request {
        method,
        key: decode(path.trim_start_matches('/')),
        query,
        body,
    })
}

/// Writes an answer with a length; false if the connection broke.
fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) -> bool {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).is_ok() && stream.write_all(body).is_ok()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
