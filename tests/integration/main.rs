//! One test binary: every test runs the real `opsbook` binary, and every
//! test that needs Docker runs against the real engine (`scripts/test.sh`
//! starts one). Without an engine those tests fail, saying how to get one.

#![allow(unreachable_pub, clippy::unwrap_used)]

mod backup;
mod backup_direct;
mod check_kinds;
mod cli;
mod copies;
mod daily_check;
mod drill;
mod engines;
mod exact;
mod example;
mod fleet;
mod fleet_remote;
mod formats;
mod hardening_data;
mod hardening_inputs;
mod hardening_newcomer;
mod heal;
mod incident;
mod lifecycle;
mod notify;
mod procedures;
mod prometheus;
mod readme;
mod resources;
mod restore;
mod restore_atomic;
mod restore_direct;
mod rotate_apply;
mod runbooks;
mod secrets;
mod serve;
mod sftp;
mod status;
mod support;
mod swarm;
mod systemd;
mod update;
mod validate;
