//! `fleet list` (the inventory, see `fleet::list`), and any command over
//! the fleet (see `fleet::over`).

use std::path::PathBuf;

use crate::error::Error;
use crate::fleet;
use crate::render::Report;

pub(crate) use fleet::over::Over;

pub(crate) fn list(
    fleet_file: Option<PathBuf>,
    limit: Option<&str>,
    report: &mut Report,
) -> Result<(), Error> {
    fleet::list::list(fleet_file, limit, report)
}

pub(crate) async fn over(over: &Over<'_>, report: &mut Report) -> Result<(), Error> {
    fleet::over::over(over, report).await
}
