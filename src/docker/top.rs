//! The processes running in a container, as `docker top` lists them: each
//! one's pid and command name (`ps -o pid,comm`, run by the engine on its
//! host and narrowed to the container's processes).

use bollard::query_parameters::TopOptionsBuilder;

use super::Deployment;
use crate::error::Error;

/// One process of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Process {
    pub pid: String,
    /// The command name the kernel keeps (at most 15 characters).
    pub name: String,
}

impl Deployment {
    /// The processes running in container `id`.
    pub(crate) async fn processes_of(&self, id: &str) -> Result<Vec<Process>, Error> {
        let options = TopOptionsBuilder::new().ps_args("-eo pid,comm").build();
        let top = self
            .docker
            .top_processes(id, Some(options))
            .await
            .map_err(|e| self.failed("listing a container's processes", e))?;
        let titles = top.titles.unwrap_or_default();
        let column = |name: &str| titles.iter().position(|t| t == name);
        let (Some(pid), Some(command)) = (column("PID"), column("COMMAND").or(column("CMD")))
        else {
            return Ok(Vec::new());
        };
        Ok(top
            .processes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|row| {
                Some(Process {
                    pid: row.get(pid)?.clone(),
                    name: row.get(command)?.clone(),
                })
            })
            .collect())
    }
}
