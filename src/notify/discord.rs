//! Discord: an execute-webhook POST with one embed (title, the problems as
//! its description, a colour by status), cut to Discord's limits (title
//! 256, description 4096, 6000 characters in all) so a long run is never
//! refused, and mentions disabled so a log line cannot ping `@everyone`.

use serde_json::json;

use super::delivery::Request;
use super::message::{Summary, Tone, cut};
use crate::grade::Status;

const TITLE_LIMIT: usize = 256;
const DESCRIPTION_LIMIT: usize = 4096;
/// What one embed may hold in all; the footer and title are counted first.
const EMBED_LIMIT: usize = 6000;

pub(super) fn request(url: &str, summary: &Summary, tone: Tone) -> Request {
    let title = cut(&summary.title(tone), TITLE_LIMIT);
    let footer = format!(
        "exit {} · {} ms",
        summary.exit_code,
        summary.duration.as_millis()
    );
    let room = EMBED_LIMIT
        .saturating_sub(title.chars().count() + footer.chars().count())
        .min(DESCRIPTION_LIMIT);
    let description = match tone {
        Tone::Alert => cut(&summary.lines().join("\n"), room),
        Tone::Resolved => String::new(),
    };
    let color = match (tone, summary.status) {
        (Tone::Resolved, _) | (Tone::Alert, Status::Ok) => 0x2EB67D,
        (Tone::Alert, Status::Warn) => 0xECB22E,
        (Tone::Alert, Status::Unknown) => 0x888888,
        (Tone::Alert, Status::Crit) => 0xE01E5A,
    };
    let mut embed = json!({
        "title": title,
        "color": color,
        "timestamp": summary.started_at.to_string(),
        "footer": { "text": footer },
    });
    if !description.is_empty() {
        embed["description"] = json!(description);
    }
    Request::post_json(
        url,
        json!({
            "username": "opsbook",
            "embeds": [embed],
            "allowed_mentions": { "parse": [] },
        }),
    )
}
