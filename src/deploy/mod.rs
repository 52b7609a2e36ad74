//! The deployment as one type: a compose project or a Swarm stack, resolved
//! once (`mode`), and everything that changes it as a whole: starting and
//! stopping in dependency tiers with health waits (`lifecycle` for compose
//! containers, `scale` for a stack's services, `converge` waiting for
//! Swarm), "while stopped" for backup and restore, putting services on
//! another image behind a health gate and back (`gated` for compose,
//! `rolling` for Swarm, `image_history` for rollback), and where a stack's
//! volumes live (`homes`). Commands never ask which engine they are on.

pub mod converge;
pub mod gated;
pub mod homes;
pub mod image_history;
pub mod lifecycle;
pub mod mode;
pub mod rolling;
pub mod scale;

pub use mode::{Resolved, as_deployed, into_stack, refuse_on_stack, resolve};
