//! Microsoft Teams through a Workflows webhook (the Office 365 connectors
//! are retired): a message with one Adaptive Card, the title coloured by
//! status, the run's facts, then a line per problem.

use serde_json::{Value, json};

use super::delivery::Request;
use super::message::{Summary, Tone};
use crate::grade::Status;

pub(super) fn request(url: &str, summary: &Summary, tone: Tone) -> Request {
    let color = match (tone, summary.status) {
        (Tone::Resolved, _) | (Tone::Alert, Status::Ok) => "Good",
        (Tone::Alert, Status::Warn) => "Warning",
        (Tone::Alert, Status::Unknown) => "Default",
        (Tone::Alert, Status::Crit) => "Attention",
    };
    let mut body = vec![
        json!({
            "type": "TextBlock", "text": summary.title(tone), "weight": "Bolder",
            "size": "Medium", "color": color, "wrap": true,
        }),
        json!({
            "type": "FactSet",
            "facts": [
                { "title": "Command", "value": summary.command },
                { "title": "Runbook", "value": summary.runbook },
                { "title": "Host", "value": summary.host },
                { "title": "Status", "value": summary.status.as_str() },
                { "title": "Exit code", "value": summary.exit_code.to_string() },
                { "title": "Started", "value": summary.started_at.to_string() },
            ],
        }),
    ];
    if tone == Tone::Alert {
        body.extend(summary.lines().into_iter().map(
            |line| json!({ "type": "TextBlock", "text": line, "wrap": true, "spacing": "Small" }),
        ));
    }
    Request::post_json(url, card(body))
}

fn card(body: Vec<Value>) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}
