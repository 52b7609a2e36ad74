//! The binary: hands its arguments to `opsbook::run` and exits with its code.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(opsbook::run(std::env::args_os()))
}
