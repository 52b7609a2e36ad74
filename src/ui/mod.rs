//! What a person at the terminal sees besides the report: the confirmation
//! asked before anything disruptive (`confirm`), the progress lines on
//! stderr while a command changes things (`progress`), and the one way each
//! figure is shown to a person (`human`: sizes, lengths of time, counts).

pub(crate) mod confirm;
pub(crate) mod human;
pub(crate) mod progress;
