//! One module per command. A section builds its work from the runbook,
//! runs it through the adapters (`docker`, `host`) and returns a `Report`;
//! it never prints and never calls bollard itself.

pub mod daily_check;
pub mod status;
pub mod trends;
pub mod validate;
