//! The typed scalars of a runbook: durations (`30s`, `26h`), sizes
//! (`512MiB`, `5GiB`), rates (`80MB/s`) and percentages (`85%`). Each parses once, at load time,
//! so a typo is an error with its line and column instead of a surprise at 6 AM.

use std::fmt;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The longest duration a runbook or a flag may give: ten years.
pub(crate) const MAX_DURATION: StdDuration = StdDuration::from_secs(3650 * 86_400);

/// A length of time written with a unit: `500ms`, `30s`, `5m`, `26h`, `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Duration(pub StdDuration);

impl Duration {
    pub(crate) fn std(self) -> StdDuration {
        self.0
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() {
            return Err(format!(
                "duration `{text}` needs a unit, like `{text}s` or `{text}m`"
            ));
        }
        let parsed = humantime::parse_duration(text).map_err(|_| {
            format!("invalid duration `{text}` (write e.g. `500ms`, `30s`, `5m`, `26h`, `7d`)")
        })?;
        // Bounded so that no deadline or age computed from it can overflow.
        if parsed > MAX_DURATION {
            return Err(format!(
                "duration `{text}` is too long: at most {}",
                Duration(MAX_DURATION)
            ));
        }
        Ok(Duration(parsed))
    }
}

/// The largest unit that divides it exactly, as a runbook would write it: `24h` is `1d`, `90s` is `90s`.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        let units = [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ];
        match units
            .iter()
            .find(|(_, size)| millis > 0 && millis.is_multiple_of(*size))
        {
            Some((suffix, size)) => write!(f, "{}{suffix}", millis / size),
            None => write!(f, "{millis}ms"),
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor::<Duration>::new("a duration like `30s`"))
    }
}

/// An amount of bytes: `512MiB`, `5GiB`, `1GB`, or a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Size(pub u64);

impl FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        text.parse::<bytesize::ByteSize>()
            .map(|size| Size(size.as_u64()))
            .map_err(|_| format!("invalid size `{text}` (write e.g. `512MiB`, `5GiB`)"))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", bytesize::ByteSize(self.0).display().iec())
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor::<Size>::new("a size like `512MiB`"))
    }
}

/// A number of bytes as a runbook would write it: the largest unit that
/// divides it exactly (`100GB`, `512MiB`), else shown as a person reads it.
pub(crate) fn size_as_written(bytes: u64) -> String {
    let units = [
        ("TiB", 1u64 << 40),
        ("TB", 1_000_000_000_000),
        ("GiB", 1 << 30),
        ("GB", 1_000_000_000),
        ("MiB", 1 << 20),
        ("MB", 1_000_000),
        ("KiB", 1 << 10),
        ("kB", 1_000),
    ];
    match units
        .iter()
        .find(|(_, size)| bytes > 0 && bytes.is_multiple_of(*size))
    {
        Some((unit, size)) => format!("{}{unit}", bytes / size),
        None => format!("{bytes}B"),
    }
}

/// Bytes a second, written as a size over a second: `80MB/s`, `10MiB/s`
/// (`MB` is 1000², `MiB` 1024², as for sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rate(pub u64);

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let invalid = || format!("invalid rate `{text}` (write e.g. `80MB/s`, `10MiB/s`)");
        let size = text.strip_suffix("/s").ok_or_else(invalid)?;
        size.parse::<Size>()
            .map(|size| Rate(size.0))
            .map_err(|_| invalid())
    }
}

/// As a person reads it: `80MB/s`, `1.5kB/s`, `512B/s` (decimal units).
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&per_second(self.0 as f64))
    }
}

/// A number of bytes a second in decimal units, one decimal where it
/// tells: `80MB/s`, `1.5kB/s`, `0B/s`.
pub(crate) fn per_second(bytes: f64) -> String {
    let bytes = bytes.max(0.0);
    let (amount, unit) = [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)]
        .into_iter()
        .find(|(_, size)| bytes >= *size)
        .map_or((bytes, "B"), |(unit, size)| (bytes / size, unit));
    let shown = format!("{amount:.1}");
    let shown = shown.strip_suffix(".0").unwrap_or(&shown);
    format!("{shown}{unit}/s")
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor::<Rate>::new("a rate like `80MB/s`"))
    }
}

/// A percentage from 0 to 100, written `85%` (a bare `85` means the same).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub(crate) struct Percent(pub f64);

impl FromStr for Percent {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let number = text.strip_suffix('%').unwrap_or(text).trim();
        match number.parse::<f64>() {
            Ok(value) if (0.0..=100.0).contains(&value) => Ok(Percent(value)),
            Ok(_) => Err(format!("percentage `{text}` is outside 0% to 100%")),
            Err(_) => Err(format!("invalid percentage `{text}` (write e.g. `85%`)")),
        }
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor::<Percent>::new("a percentage like `85%`"))
    }
}

/// A threshold of a check's number, in the unit it is written in: a size
/// (written with a `B`: `512MiB`), a percentage (`95%`), a duration (`1s`,
/// `500ms`), or a plain number. Each is held in its base unit (bytes,
/// percent, seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Quantity {
    Number(f64),
    Bytes(f64),
    Percent(f64),
    Seconds(f64),
}

impl Quantity {
    /// The amount in its base unit.
    pub(crate) fn amount(self) -> f64 {
        match self {
            Quantity::Number(v)
            | Quantity::Bytes(v)
            | Quantity::Percent(v)
            | Quantity::Seconds(v) => v,
        }
    }

    /// `size`, `percentage`, `duration`, `number`: for messages.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Quantity::Number(_) => "number",
            Quantity::Bytes(_) => "size",
            Quantity::Percent(_) => "percentage",
            Quantity::Seconds(_) => "duration",
        }
    }

    /// The unit a history record and a metric carry.
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Quantity::Number(_) => "count",
            Quantity::Bytes(_) => "bytes",
            Quantity::Percent(_) => "percent",
            Quantity::Seconds(_) => "seconds",
        }
    }

    /// The same kind with another amount (a reading shown like its threshold).
    pub(crate) fn with(self, amount: f64) -> Quantity {
        match self {
            Quantity::Number(_) => Quantity::Number(amount),
            Quantity::Bytes(_) => Quantity::Bytes(amount),
            Quantity::Percent(_) => Quantity::Percent(amount),
            Quantity::Seconds(_) => Quantity::Seconds(amount),
        }
    }

    /// Reads `text` (a number a command printed) as this kind: a bare
    /// number is in the base unit (bytes, percent, seconds), else the
    /// kind's own syntax (`412MiB`, `97.5%`, `350ms`).
    pub(crate) fn read_as(self, text: &str) -> Result<Quantity, String> {
        let text = text.trim();
        if let Ok(number) = text.parse::<f64>()
            && number.is_finite()
        {
            return Ok(self.with(number));
        }
        match (self, text.parse::<Quantity>()) {
            (_, Ok(read)) if read.kind() == self.kind() => Ok(read),
            _ => Err(format!("`{text}` is not a {}", self.kind())),
        }
    }
}

impl FromStr for Quantity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(number) = text.parse::<f64>() {
            return if number.is_finite() {
                Ok(Quantity::Number(number))
            } else {
                Err(format!("`{text}` is not a number"))
            };
        }
        if text.ends_with('%') {
            return text.parse::<Percent>().map(|p| Quantity::Percent(p.0));
        }
        // Sizes are written with a `B` (`512MiB`, `1GB`); `5m` is five minutes.
        if text.contains(['B', 'b']) {
            return text.parse::<Size>().map(|s| Quantity::Bytes(s.0 as f64));
        }
        text.parse::<Duration>()
            .map(|d| Quantity::Seconds(d.0.as_secs_f64()))
            .map_err(|_| {
                format!("invalid threshold `{text}` (write e.g. `150`, `512MiB`, `95%`, `500ms`)")
            })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Quantity::Number(v) => write!(f, "{v}"),
            Quantity::Bytes(v) => write!(
                f,
                "{}",
                bytesize::ByteSize(v.max(0.0) as u64).display().iec()
            ),
            Quantity::Percent(v) => write!(f, "{v}%"),
            Quantity::Seconds(v) if v < 1.0 => write!(f, "{}ms", (v * 1000.0).round()),
            Quantity::Seconds(v) => write!(f, "{}s", (v * 100.0).round() / 100.0),
        }
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor::<Quantity>::new(
            "a threshold like `150`, `512MiB`, `95%` or `500ms`",
        ))
    }
}

/// Accepts a string or a number and hands its text to `T::from_str`, so YAML's
/// `85` and `"85%"` go through one parser with one set of messages.
struct ScalarVisitor<T> {
    expecting: &'static str,
    marker: std::marker::PhantomData<T>,
}

impl<T> ScalarVisitor<T> {
    fn new(expecting: &'static str) -> Self {
        ScalarVisitor {
            expecting,
            marker: std::marker::PhantomData,
        }
    }
}

impl<T: FromStr<Err = String>> Visitor<'_> for ScalarVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<T, E> {
        self.visit_str(&number.to_string())
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<T, E> {
        self.visit_str(&number.to_string())
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<T, E> {
        self.visit_str(&number.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(
            "30s".parse::<Duration>(),
            Ok(Duration(StdDuration::from_secs(30)))
        );
        assert_eq!(
            "26h".parse::<Duration>(),
            Ok(Duration(StdDuration::from_secs(26 * 3600)))
        );
        assert_eq!(
            "1m 30s".parse::<Duration>(),
            Ok(Duration(StdDuration::from_secs(90)))
        );
        assert!(
            "30".parse::<Duration>()
                .is_err_and(|e| e.contains("needs a unit"))
        );
        assert!("5x".parse::<Duration>().is_err_and(|e| e.contains("`5x`")));
    }

    #[test]
    fn durations_print_as_written() {
        let show = |text: &str| text.parse::<Duration>().map(|d| d.to_string());
        assert_eq!(show("24h"), Ok("1d".to_string()));
        assert_eq!(show("26h"), Ok("26h".to_string()));
        assert_eq!(show("90s"), Ok("90s".to_string()));
        assert_eq!(show("2m"), Ok("2m".to_string()));
        assert_eq!(show("1500ms"), Ok("1500ms".to_string()));
    }

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!("512MiB".parse::<Size>(), Ok(Size(512 * 1024 * 1024)));
        assert_eq!("1GB".parse::<Size>(), Ok(Size(1_000_000_000)));
        assert_eq!("4096".parse::<Size>(), Ok(Size(4096)));
        assert!("lots".parse::<Size>().is_err());
    }

    #[test]
    fn percentages_stay_within_bounds() {
        assert_eq!("85%".parse::<Percent>(), Ok(Percent(85.0)));
        assert_eq!("12.5 %".parse::<Percent>(), Ok(Percent(12.5)));
        assert_eq!("0%".parse::<Percent>(), Ok(Percent(0.0)));
        assert!("101%".parse::<Percent>().is_err());
        assert!("-1%".parse::<Percent>().is_err());
        assert!("high".parse::<Percent>().is_err());
    }

    #[test]
    fn rates_are_sizes_a_second() {
        assert_eq!("80MB/s".parse::<Rate>(), Ok(Rate(80_000_000)));
        assert_eq!("10MiB/s".parse::<Rate>(), Ok(Rate(10 * 1024 * 1024)));
        assert_eq!("512/s".parse::<Rate>(), Ok(Rate(512)));
        assert_eq!(
            "80 parsecs".parse::<Rate>(),
            Err("invalid rate `80 parsecs` (write e.g. `80MB/s`, `10MiB/s`)".into())
        );
        assert!("80MB".parse::<Rate>().is_err());
        assert_eq!(Rate(80_000_000).to_string(), "80MB/s");
        assert_eq!(per_second(1_500.0), "1.5kB/s");
        assert_eq!(per_second(12.0), "12B/s");
    }
}
