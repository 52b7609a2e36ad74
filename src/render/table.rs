//! The terminal view: the command's blocks (or every result), the results
//! that are not OK, and one summary line. Colour only when asked for.

use std::fmt::Write;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

use super::{Block, Report};
use crate::grade::Status;

pub(super) fn render(report: &Report, color: bool) -> String {
    if let Some(Block::Document(text)) = report.blocks.first() {
        return text.clone();
    }
    let mut out = String::new();
    if report.blocks.is_empty() {
        if !report.results.is_empty() {
            let rows = report
                .results
                .iter()
                .map(|r| {
                    vec![
                        r.status.to_string(),
                        r.section.clone(),
                        r.name.clone(),
                        r.message.clone(),
                    ]
                })
                .collect();
            let _ = writeln!(
                out,
                "{}",
                table(&["status", "section", "name", "message"], rows, color)
            );
        }
    } else {
        for block in &report.blocks {
            match block {
                Block::Table { header, rows } => {
                    let _ = writeln!(out, "{}", table(header, rows.clone(), color));
                }
                Block::Line(line) | Block::Document(line) => {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        for result in report.results.iter().filter(|r| r.status != Status::Ok) {
            let _ = writeln!(
                out,
                "{} {}/{}: {}",
                paint(
                    result.status,
                    &format!("{:<7}", result.status.as_str()),
                    color
                ),
                result.section,
                result.name,
                result.message
            );
        }
    }
    let _ = writeln!(out, "{}", summary(report, color));
    out
}

fn table(header: &[&str], rows: Vec<Vec<String>>, color: bool) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(|h| Cell::new(h.to_uppercase())));
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    let status_column = header.iter().position(|h| *h == "status");
    for row in rows {
        let cells = row.into_iter().enumerate().map(|(index, text)| {
            let cell = Cell::new(&text);
            match (Some(index) == status_column, parse_status(&text)) {
                (true, Some(status)) if color => cell.fg(color_of(status)),
                _ => cell,
            }
        });
        table.add_row(cells);
    }
    // The borderless preset pads every cell by one blank on each side: the
    // first column's leading blank and the trailing blanks are only noise.
    table
        .to_string()
        .lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `crit: 1 crit, 2 warn, 14 ok in 312 ms`
fn summary(report: &Report, color: bool) -> String {
    let status = report.status();
    let mut counts = Vec::new();
    for kind in [Status::Crit, Status::Unknown, Status::Warn, Status::Ok] {
        let n = report.results.iter().filter(|r| r.status == kind).count();
        if n > 0 {
            counts.push(format!("{n} {kind}"));
        }
    }
    let counts = if counts.is_empty() {
        "nothing to check".to_string()
    } else {
        counts.join(", ")
    };
    format!(
        "{}: {counts} in {} ms",
        paint(status, status.as_str(), color),
        report.duration.as_millis()
    )
}

fn parse_status(text: &str) -> Option<Status> {
    [Status::Ok, Status::Warn, Status::Crit, Status::Unknown]
        .into_iter()
        .find(|s| s.as_str() == text)
}

fn color_of(status: Status) -> Color {
    match status {
        Status::Ok => Color::Green,
        Status::Warn => Color::Yellow,
        Status::Crit => Color::Red,
        Status::Unknown => Color::Magenta,
    }
}

/// ANSI colour for a word outside a table.
fn paint(status: Status, text: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let code = match status {
        Status::Ok => 32,
        Status::Warn => 33,
        Status::Crit => 31,
        Status::Unknown => 35,
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}
