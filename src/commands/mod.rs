//! One module per subcommand, named as the operator types it. A command
//! builds its work from the runbook, runs it through the shared machinery
//! (`docker`, `host`, `lifecycle`, `steps`, `backup`, `probe`) and returns a
//! `Report`; it never prints the report, never parses arguments and never
//! calls bollard or sysinfo itself. Nothing outside this folder imports it.

pub(crate) mod backup;
pub(crate) mod completions;
pub(crate) mod daily_check;
pub(crate) mod fleet;
pub(crate) mod images;
pub(crate) mod incident;
pub(crate) mod init;
pub(crate) mod ping;
pub(crate) mod report;
pub(crate) mod restart;
pub(crate) mod restore;
pub(crate) mod rollback;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod shutdown;
pub(crate) mod startup;
pub(crate) mod status;
pub(crate) mod update;
pub(crate) mod validate;
