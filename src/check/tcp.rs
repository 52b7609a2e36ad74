//! TCP checks (goss's `addr`): a connection to host:port within a timeout
//! (MQTT on 1883, PostgreSQL on 5432, reached from the host as clients do),
//! and with `tls: true` a TLS handshake whose certificate must verify
//! (system roots, plus the check's `ca`) and must not expire within 14 days
//! (an MQTT broker on 8883).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

use crate::grade::{CheckResult, Status};
use crate::runbook::model::TcpCheck;
use crate::runbook::units;
use crate::ui::human;

use super::exec::failed;
use super::value::Graded;
use super::{CERT_WARN_DAYS, DEFAULT_TIMEOUT, Probe};

impl Probe<'_> {
    pub(crate) async fn tcp(
        &self,
        dir: &Path,
        name: &str,
        check: &TcpCheck,
        hint: Option<&str>,
    ) -> CheckResult {
        let started = Instant::now();
        let timeout = check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
        let address = format!("{}:{}", check.host, check.port.value);
        let graded = match tokio::time::timeout(timeout, reach(dir, &address, check)).await {
            Ok(graded) => graded,
            Err(_) => failed(format!(
                "{address}: no {} within {}",
                if check.tls {
                    "TLS handshake"
                } else {
                    "connection"
                },
                units::Duration(timeout)
            )),
        };
        self.finish(name, graded, hint, started)
    }
}

/// Connects (and shakes hands, for TLS) and judges the answer.
async fn reach(dir: &Path, address: &str, check: &TcpCheck) -> Graded {
    let started = Instant::now();
    let stream = match tokio::net::TcpStream::connect(address).await {
        Ok(stream) => stream,
        Err(e) => return failed(format!("{address}: {e}")),
    };
    if !check.tls {
        return Graded {
            status: Status::Ok,
            message: format!(
                "{address} accepts connections ({})",
                human::latency(started.elapsed())
            ),
            figure: None,
        };
    }
    let config = match client_config(dir, check.ca.as_deref()) {
        Ok(config) => config,
        Err(reason) => {
            return Graded {
                status: Status::Unknown,
                message: reason,
                figure: None,
            };
        }
    };
    let name = check
        .server_name
        .clone()
        .unwrap_or_else(|| check.host.clone());
    let Ok(server_name) = ServerName::try_from(name.clone()) else {
        return failed(format!("`{name}` is not a server name"));
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = match connector.connect(server_name, stream).await {
        Ok(tls) => tls,
        Err(e) => return failed(format!("{address}: TLS handshake failed: {e}")),
    };
    let left = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|der| seconds_left(der));
    let took = human::latency(started.elapsed());
    match left {
        Some(left) if left < CERT_WARN_DAYS * 86_400 => Graded {
            status: Status::Warn,
            message: format!(
                "{address}: TLS ({took}); the certificate expires {}",
                expires_in(left)
            ),
            figure: None,
        },
        _ => Graded {
            status: Status::Ok,
            message: format!("{address}: TLS, certificate valid ({took})"),
            figure: None,
        },
    }
}

/// The system's roots, and the check's own CA file (relative to `dir`).
pub(super) fn client_config(dir: &Path, ca: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(certificate);
    }
    if let Some(ca) = ca {
        let path = dir.join(ca);
        let pem = std::fs::read(&path).map_err(|e| format!("cannot read `ca` file `{ca}`: {e}"))?;
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            let certificate =
                certificate.map_err(|e| format!("`ca` file `{ca}` is not PEM: {e}"))?;
            roots
                .add(certificate)
                .map_err(|e| format!("`ca` file `{ca}`: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn seconds_left(der: &CertificateDer<'_>) -> Option<i64> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let not_after = certificate.validity().not_after.timestamp();
    Some(not_after.saturating_sub(jiff::Timestamp::now().as_second()))
}

/// "within a day", "in 7 days": 6 days 23 hours reads as 7, as a person says it.
fn expires_in(left: i64) -> String {
    if left < 86_400 {
        "within a day".into()
    } else {
        format!("in {} days", (left as f64 / 86_400.0).round() as i64)
    }
}
