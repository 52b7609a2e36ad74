//! Counting the log lines that match the runbook's `logs.match` patterns,
//! the `docker logs --since 24h | grep -ci error` of the pages, one chunk at
//! a time; with them every line (for a rate) and the JSON lines whose field
//! is above a number. Memory stays bounded whatever the log holds: a line
//! longer than `MAX_LINE` is judged on its first `MAX_LINE` bytes.

use regex::bytes::RegexSet;

/// How many matching lines a result quotes.
pub(crate) const SAMPLES: usize = 3;
const MAX_LINE: usize = 16 * 1024;

pub(crate) struct LineScanner<'a> {
    patterns: &'a RegexSet,
    /// A JSON field (dotted path) and the number lines are counted above.
    field: Option<(&'a str, f64)>,
    pending: Vec<u8>,
    /// The pending line outgrew MAX_LINE: drop bytes until its end.
    overflowing: bool,
    pub matches: u64,
    pub samples: Vec<String>,
    /// Every line seen.
    pub lines: u64,
    /// Lines whose field is above the number.
    pub over: u64,
}

/// What a scan found.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Tally {
    pub matches: u64,
    pub samples: Vec<String>,
    pub lines: u64,
    pub over: u64,
}

impl<'a> LineScanner<'a> {
    pub(crate) fn new(patterns: &'a RegexSet) -> Self {
        LineScanner {
            patterns,
            field: None,
            pending: Vec::new(),
            overflowing: false,
            matches: 0,
            samples: Vec::new(),
            lines: 0,
            over: 0,
        }
    }

    /// Also counts the JSON lines whose `field` is above `above`.
    pub(crate) fn with_field(mut self, field: &'a str, above: f64) -> Self {
        self.field = Some((field, above));
        self
    }

    /// Takes the next chunk of the stream; lines may span chunks.
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(end) = chunk.iter().position(|b| *b == b'\n') {
            self.push(&chunk[..end]);
            self.line_done();
            chunk = &chunk[end + 1..];
        }
        self.push(chunk);
    }

    /// Ends the stream: a last line without a newline still counts.
    #[cfg(test)]
    fn finish(mut self) -> (u64, Vec<String>) {
        let tally = self.tally();
        (tally.matches, tally.samples)
    }

    /// Ends the stream with every count.
    pub(crate) fn tally(&mut self) -> Tally {
        if !self.pending.is_empty() {
            self.line_done();
        }
        Tally {
            matches: self.matches,
            samples: std::mem::take(&mut self.samples),
            lines: self.lines,
            over: self.over,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.overflowing {
            return;
        }
        let room = MAX_LINE - self.pending.len();
        if bytes.len() > room {
            self.pending.extend_from_slice(&bytes[..room]);
            self.overflowing = true;
        } else {
            self.pending.extend_from_slice(bytes);
        }
    }

    fn line_done(&mut self) {
        let line = trim_line_end(&self.pending);
        self.lines += 1;
        if let Some((field, above)) = self.field
            && line.first() == Some(&b'{')
            && let Ok(value) = serde_json::from_slice::<serde_json::Value>(line)
            && let Some(number) = field_number(&value, field)
            && number > above
        {
            self.over += 1;
        }
        if !self.patterns.is_empty() && self.patterns.is_match(line) {
            self.matches += 1;
            // Whole (up to MAX_LINE): whoever quotes it masks it before cutting it short.
            if self.samples.len() < SAMPLES {
                let text = String::from_utf8_lossy(line);
                self.samples.push(text.trim().to_string());
            }
        }
        self.pending.clear();
        self.overflowing = false;
    }
}

/// A number at a dotted path of a JSON object (a number, or a number in a string).
fn field_number(value: &serde_json::Value, path: &str) -> Option<f64> {
    let found = path
        .split('.')
        .try_fold(value, |value, key| value.get(key))?;
    match found {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_counted_and_json_fields_above_a_number() {
        let set = RegexSet::new([r"\b5\d\d\b"]).unwrap_or_else(|e| panic!("{e}"));
        let mut scanner = LineScanner::new(&set).with_field("responseTime", 1000.0);
        scanner.feed(b"{\"status\": 200, \"responseTime\": 12}\n{\"status\": 503, \"responseTime\": \"1500\"}\nplain 500 line\n");
        scanner.feed(b"{\"responseTime\": 2400}");
        let tally = scanner.tally();
        assert_eq!((tally.lines, tally.matches, tally.over), (4, 2, 2));
    }

    fn scan(patterns: &[&str], chunks: &[&[u8]]) -> (u64, Vec<String>) {
        let set = RegexSet::new(patterns).unwrap_or_else(|e| panic!("{e}"));
        let mut scanner = LineScanner::new(&set);
        for chunk in chunks {
            scanner.feed(chunk);
        }
        scanner.finish()
    }

    #[test]
    fn counts_matching_lines_across_chunks() {
        let (count, samples) = scan(
            &[r"(?i)\berror\b", r"(?i)\bfatal\b"],
            &[
                b"ok\nERR",
                b"OR: disk full\nfine\nFatal: gone",
                b"\nan error and a fatal\n",
            ],
        );
        assert_eq!(count, 3, "a line matching two patterns counts once");
        assert_eq!(
            samples,
            ["ERROR: disk full", "Fatal: gone", "an error and a fatal"]
        );
    }

    #[test]
    fn keeps_three_samples_and_the_last_unterminated_line() {
        let (count, samples) = scan(&["x"], &[b"x1\nx2\nx3\nx4\nx5"]);
        assert_eq!(count, 5);
        assert_eq!(samples.len(), SAMPLES);
    }

    #[test]
    fn long_lines_stay_bounded() {
        let long = vec![b'a'; MAX_LINE * 3];
        let (count, _) = scan(&["^a+$"], &[&long, b"\nerror\n"]);
        assert_eq!(
            count, 1,
            "the long line is judged on its first MAX_LINE bytes"
        );
        let mut tail = vec![b'a'; MAX_LINE + 10];
        tail.extend_from_slice(b"error\n");
        let (count, _) = scan(&["error"], &[&tail]);
        assert_eq!(count, 0, "what lies past MAX_LINE is not looked at");
    }
}
