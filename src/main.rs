use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(opsbook::run(std::env::args_os()))
}
