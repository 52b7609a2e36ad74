//! WebSocket checks (Fulsk's "WebSocket latency < 50 ms"): a ws:// or
//! wss:// connection and its handshake, then, given `send`, a text message
//! and a reply containing `expect`, all before the check's deadline; slower
//! than `max_latency` (the reply, else the handshake) is a warn. Messages
//! are read up to a size cap; wss:// verifies the certificate unless
//! `insecure: true`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::timeout_at;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::grade::{CheckResult, Status};
use crate::runbook::model::WebSocketCheck;
use crate::runbook::units;
use crate::ui::human;

use super::exec::{failed, unknown};
use super::value::Graded;
use super::{BODY_CAP, DEFAULT_TIMEOUT, Probe};

/// What a finished check may still spend closing the socket politely.
const CLOSE_GRACE: Duration = Duration::from_millis(250);

impl Probe<'_> {
    pub(crate) async fn websocket(
        &self,
        dir: &Path,
        name: &str,
        check: &WebSocketCheck,
        hint: Option<&str>,
    ) -> CheckResult {
        let started = Instant::now();
        let timeout = check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
        let deadline = tokio::time::Instant::now() + timeout;
        let url = check.url.value.trim();
        let graded = match self.reach(dir, url, check, deadline).await {
            Ok(graded) | Err(graded) => graded,
        };
        self.finish(name, graded, hint, started)
    }

    /// Connects, shakes hands (TLS for wss://, then WebSocket) and talks.
    async fn reach(
        &self,
        dir: &Path,
        url: &str,
        check: &WebSocketCheck,
        deadline: tokio::time::Instant,
    ) -> Result<Graded, Graded> {
        let within = units::Duration(check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std()));
        let parsed = url::Url::parse(url).map_err(|e| unknown(format!("`{url}`: {e}")))?;
        let host = parsed
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
            .ok_or_else(|| unknown(format!("`{url}` names no host")))?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let started = Instant::now();
        let stream = match timeout_at(
            deadline,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Err(_) => return Err(failed(format!("{url}: no connection within {within}"))),
            Ok(Err(e)) => return Err(failed(format!("{url}: cannot connect: {e}"))),
            Ok(Ok(stream)) => stream,
        };
        if parsed.scheme() != "wss" {
            return Ok(self.converse(stream, url, check, started, deadline).await);
        }
        let config = if check.insecure {
            any_certificate()
        } else {
            super::tcp::client_config(dir, check.ca.as_deref())
        }
        .map_err(unknown)?;
        let name = ServerName::try_from(host.clone())
            .map_err(|_| unknown(format!("`{host}` is not a server name")))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tls = match timeout_at(deadline, connector.connect(name, stream)).await {
            Err(_) => return Err(failed(format!("{url}: no TLS handshake within {within}"))),
            Ok(Err(e)) => return Err(failed(format!("{url}: TLS handshake failed: {e}"))),
            Ok(Ok(tls)) => tls,
        };
        Ok(self.converse(tls, url, check, started, deadline).await)
    }

    /// The WebSocket handshake, then `send` and the reply, then a close.
    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        url: &str,
        check: &WebSocketCheck,
        started: Instant,
        deadline: tokio::time::Instant,
    ) -> Graded {
        let within = units::Duration(check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std()));
        let config = WebSocketConfig::default()
            .max_message_size(Some(BODY_CAP))
            .max_frame_size(Some(BODY_CAP));
        let handshake = tokio_tungstenite::client_async_with_config(url, stream, Some(config));
        let mut socket = match timeout_at(deadline, handshake).await {
            Err(_) => return failed(format!("{url}: no WebSocket handshake within {within}")),
            Ok(Err(e)) => return failed(format!("{url}: WebSocket handshake failed: {e}")),
            Ok(Ok((socket, _))) => socket,
        };
        let graded = match (&check.send, &check.expect) {
            (None, None) => Ok((started.elapsed(), "connected".to_string())),
            _ => {
                self.exchange(&mut socket, url, check, deadline, within)
                    .await
            }
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, socket.close(None)).await;
        match graded {
            Err(graded) => graded,
            Ok((latency, what)) => {
                let took = human::latency(latency);
                match check.max_latency {
                    Some(max) if latency > max.std() => Graded {
                        status: Status::Warn,
                        message: format!("{url}: {what} in {took}, slower than max_latency {max}"),
                        figure: Some((latency.as_secs_f64(), "seconds")),
                    },
                    _ => Graded {
                        status: Status::Ok,
                        message: format!("{url}: {what} in {took}"),
                        figure: Some((latency.as_secs_f64(), "seconds")),
                    },
                }
            }
        }
    }

    /// Sends `send` (if any) and reads until a message contains `expect`
    /// (any message, without one): how long the reply took, and what it was.
    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        socket: &mut tokio_tungstenite::WebSocketStream<S>,
        url: &str,
        check: &WebSocketCheck,
        deadline: tokio::time::Instant,
        within: units::Duration,
    ) -> Result<(Duration, String), Graded> {
        let asked = Instant::now();
        if let Some(send) = &check.send {
            match timeout_at(deadline, socket.send(Message::text(send.clone()))).await {
                Err(_) => return Err(failed(format!("{url}: could not send within {within}"))),
                Ok(Err(e)) => return Err(failed(format!("{url}: cannot send: {e}"))),
                Ok(Ok(())) => {}
            }
        }
        let wanted = match &check.expect {
            Some(expect) => format!("reply containing `{expect}`"),
            None => "reply".to_string(),
        };
        let mut last: Option<String> = None;
        loop {
            let text = match timeout_at(deadline, socket.next()).await {
                Err(_) => {
                    let seen = last.as_deref().map_or(String::new(), |text| {
                        format!("; last: {}", self.quote(text))
                    });
                    return Err(failed(format!("{url}: no {wanted} within {within}{seen}")));
                }
                Ok(None) | Ok(Some(Ok(Message::Close(_)))) => {
                    return Err(failed(format!(
                        "{url}: closed by the server before a {wanted}"
                    )));
                }
                Ok(Some(Err(e))) => return Err(failed(format!("{url}: {e}"))),
                Ok(Some(Ok(Message::Text(text)))) => text.as_str().to_string(),
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                Ok(Some(Ok(_))) => continue,
            };
            if check
                .expect
                .as_ref()
                .is_none_or(|e| text.contains(e.as_str()))
            {
                return Ok((asked.elapsed(), format!("a {wanted}")));
            }
            last = Some(text);
        }
    }
}

/// A TLS client that takes any certificate (`insecure: true`, as `curl
/// -k`), while still checking the handshake's signatures.
fn any_certificate() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    )
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
