//! Backups on disk: one folder per backup holding `manifest.json` and one
//! compressed (optionally encrypted) file per item, written under a name
//! starting with `.` and renamed only when complete, so a half-written
//! backup is never listed, verified or restored.

pub mod catalog;
pub mod manifest;
pub mod retention;
pub mod verify;
pub mod writer;
