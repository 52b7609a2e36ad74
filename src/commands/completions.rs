//! `opsbook completions SHELL`: the shell's completion script for the
//! whole command tree (clap_complete), and the hidden `opsbook man DIR`
//! that writes the man pages (clap_mangen: opsbook(1) and one page per
//! subcommand, `opsbook-backup-list(1)`…), which the Debian package ships.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;

/// The completion script for `shell`.
pub(crate) fn script(shell: clap_complete::Shell) -> String {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "opsbook", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes opsbook(1) and a page per subcommand (hidden ones left out) into `dir`.
pub(crate) fn man(dir: &Path, report: &mut Report) -> Result<(), Error> {
    let failed = |source: std::io::Error| Error::File {
        path: dir.to_path_buf(),
        action: "write",
        source,
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let mut command = Cli::command();
    command.build();
    let mut written = 0;
    write_pages(&command, "opsbook", dir, &mut written).map_err(failed)?;
    report.results.push(CheckResult::new(
        "man",
        "pages",
        Status::Ok,
        format!(
            "{} written in {}",
            crate::ui::human::count(written, "man page"),
            dir.display()
        ),
    ));
    Ok(())
}

/// `command`'s page as `name.1`, then each visible subcommand's.
fn write_pages(
    command: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut usize,
) -> std::io::Result<()> {
    let page = command.clone().name(name.to_string());
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    std::fs::write(dir.join(format!("{name}.1")), out)?;
    *written += 1;
    let shown = |s: &&clap::Command| !s.is_hide_set() && s.get_name() != "help";
    for sub in command.get_subcommands().filter(shown) {
        let sub_name = format!("{name}-{}", sub.get_name());
        write_pages(sub, &sub_name, dir, written)?;
    }
    Ok(())
}
