//! Email over SMTP, through lettre: `smtp://` with STARTTLS (required by
//! default, so a password never crosses the wire in the clear; or
//! opportunistic, or never for a relay on loopback) or `smtps://` with TLS
//! from the first byte. The subject is the title; the body the summary and
//! the whole report as the terminal shows it (what management reads in
//! the weekly report mail). The server's certificate is checked against
//! the system's roots and `ca_file`.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::message::{Summary, Tone};

#[derive(Debug, Clone)]
pub(crate) struct Email {
    pub security: Security,
    pub host: String,
    pub port: u16,
    pub from: String,
    pub to: Vec<String>,
    pub login: Option<(String, String)>,
    /// PEM certificates trusted beside the system's.
    pub ca_pem: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    StartTlsRequired,
    StartTlsOpportunistic,
    Plain,
    /// `smtps://`: TLS from the first byte.
    Wrapper,
}

impl Security {
    /// `starttls:` as written, for `smtp://`.
    pub(crate) fn starttls(text: &str) -> Option<Security> {
        match text {
            "required" => Some(Security::StartTlsRequired),
            "opportunistic" => Some(Security::StartTlsOpportunistic),
            "never" => Some(Security::Plain),
            _ => None,
        }
    }
}

/// `smtp://host[:port]` or `smtps://host[:port]`: security, host, port.
pub(super) fn server(url: &str, starttls: Security) -> Result<(Security, String, u16), String> {
    let (security, rest, default_port) = if let Some(rest) = url.strip_prefix("smtps://") {
        (Security::Wrapper, rest, 465)
    } else if let Some(rest) = url.strip_prefix("smtp://") {
        (starttls, rest, 587)
    } else {
        return Err(format!("`{url}` is not an smtp:// or smtps:// address"));
    };
    let rest = rest.trim_end_matches('/');
    // `[::1]:25`: the port is what follows the bracket.
    let split = match rest.strip_prefix('[') {
        Some(inner) => inner
            .split_once(']')
            .map(|(host, after)| (host, after.strip_prefix(':'))),
        None => Some(match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }),
    };
    let Some((host, port)) = split else {
        return Err(format!("`{url}` has an unclosed `[`"));
    };
    let port = match port {
        Some(port) => port
            .parse::<u16>()
            .map_err(|_| format!("`{port}` in `{url}` is not a port"))?,
        None => default_port,
    };
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    Ok((security, host.to_string(), port))
}

pub(super) async fn send(
    email: &Email,
    summary: &Summary,
    tone: Tone,
    timeout: Duration,
) -> Result<(), String> {
    let mut text = summary.text(tone);
    if let Some(report) = &summary.report_text {
        text.push_str("\n\n");
        text.push_str(report);
    }
    let mut message = Message::builder()
        .from(mailbox(&email.from)?)
        .subject(summary.title(tone))
        .header(ContentType::TEXT_PLAIN);
    for to in &email.to {
        message = message.to(mailbox(to)?);
    }
    let message = message.body(text).map_err(|e| e.to_string())?;
    let transport = transport(email, timeout)?;
    // lettre's own timeout covers the connection; a server that accepts it
    // and then says nothing must not hold the run (and its lock) for ever.
    match tokio::time::timeout(timeout, transport.send(message)).await {
        Ok(sent) => sent
            .map(|_| ())
            .map_err(|e| format!("the mail server refused it: {e}")),
        Err(_) => Err(format!(
            "the mail server did not finish within {} s",
            timeout.as_secs()
        )),
    }
}

fn mailbox(address: &str) -> Result<Mailbox, String> {
    address
        .parse()
        .map_err(|e| format!("`{address}` is not a mail address: {e}"))
}

fn transport(
    email: &Email,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = || -> Result<TlsParameters, String> {
        let mut builder = TlsParameters::builder(email.host.clone());
        if let Some(pem) = &email.ca_pem {
            let certificate = Certificate::from_pem(pem)
                .map_err(|e| format!("the ca_file is not a PEM certificate: {e}"))?;
            builder = builder.add_root_certificate(certificate);
        }
        builder.build_rustls().map_err(|e| e.to_string())
    };
    let security = match email.security {
        Security::StartTlsRequired => Tls::Required(tls()?),
        Security::StartTlsOpportunistic => Tls::Opportunistic(tls()?),
        Security::Plain => Tls::None,
        Security::Wrapper => Tls::Wrapper(tls()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&email.host)
        .port(email.port)
        .tls(security)
        .timeout(Some(timeout));
    if let Some((user, password)) = &email.login {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_address_gives_security_host_and_port() {
        let required = Security::StartTlsRequired;
        assert_eq!(
            server("smtp://mail.example.com", required),
            Ok((required, "mail.example.com".into(), 587))
        );
        assert_eq!(
            server("smtp://127.0.0.1:2525", Security::Plain),
            Ok((Security::Plain, "127.0.0.1".into(), 2525))
        );
        assert_eq!(
            server("smtps://mail.example.com", required),
            Ok((Security::Wrapper, "mail.example.com".into(), 465))
        );
        assert!(server("http://mail.example.com", required).is_err());
        assert!(server("smtp://host:port", required).is_err());
    }
}
