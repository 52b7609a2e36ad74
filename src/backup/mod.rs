//! Backups on disk, the whole format, reading and writing: one folder per
//! backup holding `manifest.json` and one compressed (optionally encrypted)
//! file per item, written under a name starting with `.` and renamed only
//! when complete, so a half-written backup is never listed, verified or
//! restored. Commands use it; it knows no command.

pub mod catalog;
pub mod copy;
pub mod direct;
pub mod drill;
pub mod manifest;
pub mod retention;
pub mod scope;
pub mod staging;
pub mod unpack;
pub mod verify;
pub mod writer;
