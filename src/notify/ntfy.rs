//! ntfy (ntfy.sh or a self-hosted server): the message as the body of a
//! POST to the topic's URL, with `Title`, `Priority` and `Tags` headers
//! (RFC 2047-encoded when not ASCII, which ntfy decodes) and the access
//! token as a bearer token.

use base64::Engine;

use super::delivery::Request;
use super::message::{Summary, Tone};
use crate::grade::Status;

#[derive(Debug, Clone)]
pub(crate) struct Ntfy {
    pub url: String,
    pub token: Option<String>,
    /// 1 (min) to 5 (urgent); None: by status.
    pub priority: Option<u8>,
    pub tags: Vec<String>,
}

pub(super) fn request(ntfy: &Ntfy, summary: &Summary, tone: Tone) -> Request {
    let (priority, tag) = match (tone, summary.status) {
        (Tone::Resolved, _) | (Tone::Alert, Status::Ok) => (3, "white_check_mark"),
        (Tone::Alert, Status::Warn) => (4, "warning"),
        (Tone::Alert, Status::Unknown) => (4, "grey_question"),
        (Tone::Alert, Status::Crit) => (5, "rotating_light"),
    };
    let tags: Vec<&str> = std::iter::once(tag)
        .chain(ntfy.tags.iter().map(String::as_str))
        .collect();
    let body = match tone {
        Tone::Alert if !summary.problems.is_empty() => summary.lines().join("\n"),
        _ => summary.title(tone),
    };
    let mut request = Request::post_text(&ntfy.url, body)
        .header("title", encoded(&summary.title(tone)))
        .header("priority", ntfy.priority.unwrap_or(priority).to_string())
        .header("tags", tags.join(","));
    if let Some(token) = &ntfy.token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request
}

/// A header value: as it is when ASCII, else `=?UTF-8?B?…?=`.
fn encoded(text: &str) -> String {
    if text.is_ascii() && !text.chars().any(|c| c.is_ascii_control()) {
        return text.to_string();
    }
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_beyond_ascii_is_encoded() {
        assert_eq!(encoded("plain"), "plain");
        assert_eq!(encoded("café"), "=?UTF-8?B?Y2Fmw6k=?=");
    }
}
