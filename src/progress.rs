//! Progress lines on stderr while a command changes things ("db: started,
//! healthy in 3.1s"): plain lines, fit for a terminal, a log file or a pipe.
//! stdout stays for the report. Silent with `--quiet`.

use std::io::Write;

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress { quiet }
    }

    pub fn say(&self, line: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }
}
