//! Reading a container's log: its last lines, or what it wrote since a
//! time, chunk by chunk as it arrives.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;

use super::Deployment;
use crate::error::Error;

impl Deployment {
    /// The last `lines` lines of a container's log (stdout and stderr, in
    /// order), at most `cap` bytes of them.
    pub(crate) async fn tail_logs(
        &self,
        id: &str,
        lines: u32,
        cap: usize,
    ) -> Result<Vec<u8>, Error> {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = self.docker.logs(id, Some(options));
        let mut kept = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failed("reading logs", e))?;
            let bytes = chunk.into_bytes();
            let room = cap.saturating_sub(kept.len());
            kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        Ok(kept)
    }

    /// Streams a container's log (stdout and stderr) written since `since`,
    /// handing each chunk to `on_chunk` as it arrives: never the whole log.
    pub(crate) async fn scan_logs(
        &self,
        container_id: &str,
        since: jiff::Timestamp,
        on_chunk: impl FnMut(&[u8]),
    ) -> Result<(), Error> {
        let stream = self.docker.logs(container_id, Some(logs_since(since)));
        self.drain_logs(stream, "reading logs", on_chunk).await
    }

    /// Hands each chunk of a log stream to `on_chunk` as it arrives.
    pub(super) async fn drain_logs(
        &self,
        stream: impl futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>>,
        action: &str,
        mut on_chunk: impl FnMut(&[u8]),
    ) -> Result<(), Error> {
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failed(action, e))?;
            on_chunk(chunk.as_ref());
        }
        Ok(())
    }
}

/// Both streams of a log, from `since` on.
pub(super) fn logs_since(since: jiff::Timestamp) -> bollard::query_parameters::LogsOptions {
    LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .since(i32::try_from(since.as_second()).unwrap_or(0))
        .build()
}
