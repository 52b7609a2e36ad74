//! How figures are shown to a person, one way each: sizes (`1.5 GiB`),
//! lengths of time (`45s`, `3m 12s`, `2d 4h`: the two largest units),
//! measured timings (`0.4s`) and request latencies (`12 ms`). A runbook's own durations keep the syntax they
//! were written in (`runbook::units::Duration`).

use std::time::Duration;

/// `1.5 GiB`
pub(crate) fn bytes(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec_short().to_string()
}

/// The two largest units of a length of time: `45s`, `3m 12s`, `5h 3m`,
/// `2d 4h`; under a second it is `0s`.
pub(crate) fn duration(length: Duration) -> String {
    seconds(length.as_secs())
}

/// [`duration`] of a number of seconds (ages and uptimes from timestamps).
pub(crate) fn seconds(seconds: u64) -> String {
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut parts = Vec::new();
    let mut rest = seconds;
    for (suffix, size) in units {
        if rest >= size || (parts.is_empty() && size == 1) {
            parts.push(format!("{}{suffix}", rest / size));
            rest %= size;
        } else if !parts.is_empty() {
            break;
        }
        if parts.len() == 2 {
            break;
        }
    }
    parts.join(" ")
}

/// Whole seconds from `from` to `to` (none when `to` comes first).
pub(crate) fn seconds_between(from: jiff::Timestamp, to: jiff::Timestamp) -> u64 {
    to.as_second()
        .saturating_sub(from.as_second())
        .max(0)
        .unsigned_abs()
}

/// A measured timing to a tenth of a second: `0.4s`, `12.0s`.
pub(crate) fn took(took: Duration) -> String {
    format!("{:.1}s", took.as_secs_f64())
}

/// `1 backup`, `2 backups`: a count and its noun, singular for one.
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Text safe to print on a terminal: control characters (an escape
/// sequence in an incident title, a carriage return in an id) shown as
/// `\u{1b}`, not obeyed; line breaks and tabs are kept.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// A request's latency: `12 ms` under a second, else `1.25 s`.
pub(crate) fn latency(latency: Duration) -> String {
    if latency < Duration::from_secs(1) {
        format!("{} ms", latency.as_millis())
    } else {
        format!("{:.2} s", latency.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_keep_two_units() {
        assert_eq!(seconds(0), "0s");
        assert_eq!(seconds(45), "45s");
        assert_eq!(seconds(192), "3m 12s");
        assert_eq!(seconds(3 * 3600 + 5), "3h");
        assert_eq!(seconds(2 * 86_400 + 4 * 3600 + 60), "2d 4h");
        assert_eq!(duration(Duration::from_secs(300)), "5m");
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(printable("db down"), "db down");
        assert_eq!(printable("a\x1b[2Jb\rc"), "a\\u{1b}[2Jb\\u{d}c");
        assert_eq!(printable("two\nlines\t!"), "two\nlines\t!");
    }

    #[test]
    fn one_is_singular() {
        assert_eq!(count(1, "backup"), "1 backup");
        assert_eq!(count(0, "backup"), "0 backups");
        assert_eq!(count(3, "failing result"), "3 failing results");
    }

    #[test]
    fn latencies_read_well() {
        assert_eq!(latency(Duration::from_millis(12)), "12 ms");
        assert_eq!(latency(Duration::from_millis(1200)), "1.20 s");
    }

    #[test]
    fn timings_have_a_tenth() {
        assert_eq!(took(Duration::from_millis(1234)), "1.2s");
    }
}
