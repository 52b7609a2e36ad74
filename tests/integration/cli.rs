//! The command line itself: help, version and usage errors.

use crate::support::Workspace;

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
