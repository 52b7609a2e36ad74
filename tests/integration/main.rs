//! One test binary: every test runs the real `opsbook` binary, and every
//! test that needs Docker runs against the real engine (`scripts/test.sh`
//! starts one). Without an engine those tests fail, saying how to get one.
//!
//! A module per command or concept, in the manner of casey/just's test
//! suite: the tests of a command live in its file (the lifecycle commands
//! and `backup` and `restore` in folders of their own), among them the
//! whole-output tests that compare the exit code, stdout and stderr whole
//! through `support::exact`.

#![allow(unreachable_pub, clippy::unwrap_used)]

mod backup;
mod check_kinds;
mod check_probes;
mod cli;
mod copies;
mod daily_check;
mod drill;
mod engines;
mod example;
mod fleet;
mod fleet_remote;
mod formats;
mod heal;
mod heartbeats;
mod host;
mod images;
mod incident;
mod init;
mod lifecycle;
mod notify;
mod package;
mod procedures;
mod prometheus;
mod readme;
mod report;
mod repository;
mod resources;
mod restore;
mod rollback;
mod rotate;
mod runbooks;
mod secrets;
mod serve;
mod sftp;
mod state;
mod status;
mod support;
mod swarm;
mod systemd;
mod update;
mod validate;
