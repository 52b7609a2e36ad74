//! Images and their registries: what a service's tag points to in its
//! registry now (`registry`: the Docker Registry HTTP API v2, with the
//! logins of the Docker CLI's `config.json`), and daily-check's `images`
//! part that compares it with what runs (`check`). Image names are read as
//! the Docker CLI reads them (`reference`). (`images prune` lives with the
//! image history it keeps, in `deploy::image_prune`.)

pub(crate) mod check;
mod reference;
mod registry;
