//! One module per subcommand, named as the operator types it. A command
//! builds its work from the runbook, runs it through the shared machinery
//! (`docker`, `host`, `lifecycle`, `steps`, `backup`, `probe`) and returns a
//! `Report`; it never prints the report, never parses arguments and never
//! calls bollard or sysinfo itself. Nothing outside this folder imports it.

pub mod backup;
pub mod daily_check;
pub mod fleet;
pub mod incident;
pub mod report;
pub mod restart;
pub mod restore;
pub mod rollback;
pub mod run;
pub mod serve;
pub mod shutdown;
pub mod startup;
pub mod status;
pub mod update;
pub mod validate;
