//! The command line itself: help, version and usage errors.

use crate::support::Workspace;
use crate::support::exact::{Filters, assert_run};

#[test]
fn help_and_version_exit_0() {
    let ws = Workspace::new();
    let help = ws.opsbook(&["--help"]);
    help.expect_code(0);
    assert!(
        help.stdout.contains("Usage: opsbook [OPTIONS] <COMMAND>"),
        "{}",
        help.stdout
    );
    for command in ["validate", "status"] {
        assert!(help.stdout.contains(command), "{command} in help");
    }
    let version = ws.opsbook(&["--version"]);
    version.expect_code(0);
    assert_eq!(
        version.stdout,
        format!("opsbook {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_3() {
    let ws = Workspace::new();
    for args in [
        &["bogus"][..],
        &["status", "--format", "yaml"],
        &[],
        &["validate", "--frobnicate"],
    ] {
        let run = ws.opsbook(args);
        run.expect_code(3);
        assert_eq!(run.stdout, "", "{args:?}");
        // Either clap's one-line error pointing at --help, or (no command) the help itself.
        assert!(
            run.stderr.contains("--help") || run.stderr.contains("Usage: opsbook"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn an_unknown_subcommand_is_a_usage_error_pointing_at_help() {
    let ws = Workspace::new();
    assert_run(
        &ws.opsbook(&["nosuch"]),
        &Filters::new(&ws),
        3,
        "",
        r#"
error: unrecognized subcommand 'nosuch'

Usage: opsbook [OPTIONS] <COMMAND>

For more information, try '--help'.
"#,
    );
}
