//! Cron expressions as crontab writes them (five fields: minute hour
//! day-of-month month day-of-week, 0 or 7 for Sunday), or six with seconds
//! first, parsed by jiff-cron; and IANA time zones by name. The runbook's
//! validation and `opsbook serve` read them alike.

use std::str::FromStr;

use jiff::tz::TimeZone;

/// An IANA zone by name.
pub(crate) fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("unknown time zone `{name}`: give an IANA name such as Europe/Berlin or UTC")
    })
}

const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A crontab expression (five fields, or six with seconds first).
pub(crate) fn parse(expression: &str) -> Result<jiff_cron::Schedule, String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let full = match fields.len() {
        5 => format!("0 {} {}", fields[..4].join(" "), weekdays(fields[4])),
        6 => format!("{} {}", fields[..5].join(" "), weekdays(fields[5])),
        n => {
            return Err(format!(
                "`{expression}` has {n} fields: write five (minute hour day month weekday) or six (seconds first)"
            ));
        }
    };
    jiff_cron::Schedule::from_str(&full)
        .map_err(|e| format!("`{expression}` is not a cron expression: {e}"))
}

/// Crontab's weekday numbers (0 or 7 Sunday) as names: the parser counts
/// from 1 for Sunday, so a number would be read one day off. A step
/// (`*/2`) keeps its number.
fn weekdays(field: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    let mut after_slash = false;
    let flush = |digits: &mut String, out: &mut String, after_slash: bool| {
        if digits.is_empty() {
            return;
        }
        match digits.parse::<usize>() {
            Ok(n) if !after_slash && n <= 7 => out.push_str(DAYS[n % 7]),
            _ => out.push_str(digits),
        }
        digits.clear();
    };
    for c in field.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut digits, &mut out, after_slash);
        after_slash = c == '/';
        out.push(c);
    }
    flush(&mut digits, &mut out, after_slash);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crontab_weekdays_are_read_as_crontab_means_them() {
        assert_eq!(weekdays("0"), "SUN");
        assert_eq!(weekdays("7"), "SUN");
        assert_eq!(weekdays("1-5"), "MON-FRI");
        assert_eq!(weekdays("*/2"), "*/2");
        assert_eq!(weekdays("0,6"), "SUN,SAT");
        assert_eq!(weekdays("*"), "*");
    }

    #[test]
    fn a_wrong_expression_says_what_is_wrong() {
        assert!(
            parse("* * *")
                .expect_err("three fields")
                .contains("has 3 fields")
        );
        assert!(parse("61 * * * *").is_err());
    }
}
