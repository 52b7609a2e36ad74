//! Starting, stopping, pausing, unpausing and killing one container; doing
//! what is already done is not an error.

use std::time::Duration;

use bollard::query_parameters::{KillContainerOptionsBuilder, StopContainerOptionsBuilder};

use super::Deployment;
use crate::error::Error;

impl Deployment {
    /// Starts a stopped container. Starting a running one is not an error.
    pub(crate) async fn start(&self, id: &str) -> Result<(), Error> {
        match self.docker.start_container(id, None).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(self.failed("starting a container", e)),
        }
    }

    /// Stops a container: SIGTERM (or its stop signal), then SIGKILL after
    /// `grace`. Stopping a stopped one is not an error.
    pub(crate) async fn stop(&self, id: &str, grace: Duration) -> Result<(), Error> {
        let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::new().t(seconds).build();
        match self.docker.stop_container(id, Some(options)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(self.failed("stopping a container", e)),
        }
    }

    /// Freezes a running container's processes (`docker pause`); pausing a
    /// paused one is not an error.
    pub(crate) async fn pause(&self, id: &str) -> Result<(), Error> {
        match self.docker.pause_container(id).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("already paused") =>
            {
                Ok(())
            }
            Err(e) => Err(self.failed("pausing a container", e)),
        }
    }

    /// Lets a paused container run again (`docker unpause`); one not
    /// paused is not an error.
    pub(crate) async fn unpause(&self, id: &str) -> Result<(), Error> {
        match self.docker.unpause_container(id).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("not paused") =>
            {
                Ok(())
            }
            Err(e) => Err(self.failed("unpausing a container", e)),
        }
    }

    /// Kills a container at once (SIGKILL). Killing a stopped one is not an error.
    pub(crate) async fn kill(&self, id: &str) -> Result<(), Error> {
        let options = KillContainerOptionsBuilder::new().signal("KILL").build();
        match self.docker.kill_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // 409: not running.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(self.failed("killing a container", e)),
        }
    }
}
