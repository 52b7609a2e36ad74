//! One module per command. A section builds its work from the runbook,
//! runs it through the adapters (`docker`, `host`) and returns a `Report`;
//! it never prints and never calls bollard itself.

pub mod status;
pub mod validate;
