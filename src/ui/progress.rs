//! Progress lines on stderr while a command changes things ("db: started,
//! healthy in 3.1s"): plain lines, fit for a terminal, a log file or a pipe,
//! masked by the runbook's redactor (a step's description or outcome may
//! hold a secret). stdout stays for the report. Silent with `--quiet`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::redact::Redactor;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress<'a> {
    quiet: bool,
    redactor: &'a Redactor,
}

impl<'a> Progress<'a> {
    pub(crate) fn new(quiet: bool, redactor: &'a Redactor) -> Progress<'a> {
        Progress { quiet, redactor }
    }

    pub(crate) fn say(&self, line: impl std::fmt::Display) {
        if !self.quiet {
            let line = line.to_string();
            let masked = self.redactor.redact(&line);
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}",
                crate::ui::human::printable(&masked)
            );
        }
    }
}

/// How often the live line of a copy is redrawn.
const METER_TICK: std::time::Duration = std::time::Duration::from_millis(500);

impl Progress<'_> {
    /// A live "item: bytes (rate)" line for a long copy, redrawn in place on
    /// a terminal; nothing elsewhere (cron and CI logs keep one line per
    /// item). Call inside the runtime.
    pub(crate) fn meter(&self, item: &str) -> Meter {
        let bytes = Arc::new(AtomicU64::new(0));
        let ticker = (!self.quiet && std::io::stderr().is_terminal()).then(|| {
            let bytes = bytes.clone();
            let item = item.to_string();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let mut tick = tokio::time::interval(METER_TICK);
                loop {
                    tick.tick().await;
                    let done = bytes.load(Ordering::Relaxed);
                    let seconds = started.elapsed().as_secs_f64().max(0.001);
                    let rate = (done as f64 / seconds) as u64;
                    let _ = write!(
                        std::io::stderr().lock(),
                        "\r\x1b[2K{item}: {} ({}/s)",
                        crate::ui::human::bytes(done),
                        crate::ui::human::bytes(rate)
                    );
                }
            })
        });
        Meter { bytes, ticker }
    }
}

/// The byte count of one copy, and its live line (if any).
pub(crate) struct Meter {
    bytes: Arc<AtomicU64>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Meter {
    /// The counter the copying code adds its bytes to.
    pub(crate) fn counter(&self) -> Arc<AtomicU64> {
        self.bytes.clone()
    }

    /// Stops the live line and clears it.
    pub(crate) fn done(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

/// A copy cut short (an error, a deadline) stops its line too, rather
/// than leave it ticking until the process ends.
impl Drop for Meter {
    fn drop(&mut self) {
        self.stop();
    }
}
