//! Running a command in a container (an exec): its stdout streamed or
//! kept, stdin fed to it, each stream kept up to a cap, and its exit code.

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

use super::Deployment;
use crate::error::Error;

impl Deployment {
    /// Runs `argv` in a container, streaming its stdout into `sink` and
    /// keeping its stderr (capped); returns the exit code and stderr.
    pub(crate) async fn exec_streaming(
        &self,
        id: &str,
        argv: &[String],
        sink: &tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> Result<(Option<i64>, Vec<u8>), Error> {
        self.run_exec(id, argv, None, |chunk| async move {
            sink.send(chunk).await.is_ok()
        })
        .await
    }

    /// Runs `argv` in a container with `stdin` streamed into it (closed at
    /// the end), keeping stdout and stderr (capped); returns the exit code
    /// and stderr.
    pub(crate) async fn exec_with_stdin(
        &self,
        id: &str,
        argv: &[String],
        stdin: tokio::sync::mpsc::Receiver<Vec<u8>>,
    ) -> Result<(Option<i64>, Vec<u8>), Error> {
        let mut stdout = Vec::new();
        let (code, mut stderr) = self
            .run_exec(id, argv, Some(stdin), |chunk| {
                append_capped(&mut stdout, &chunk);
                async { true }
            })
            .await?;
        // What a failing restore command printed is on either stream.
        append_capped(&mut stderr, &stdout);
        Ok((code, stderr))
    }

    /// Runs `argv` in a container and waits for it to end, keeping at most
    /// `EXEC_OUTPUT_CAP` bytes of each stream (the rest is read and dropped,
    /// so a chatty command cannot fill memory). The caller bounds the time.
    pub(crate) async fn exec(
        &self,
        container_id: &str,
        argv: &[String],
    ) -> Result<ExecOutput, Error> {
        let mut stdout = Vec::new();
        let (exit_code, stderr) = self
            .run_exec(container_id, argv, None, |chunk| {
                append_capped(&mut stdout, &chunk);
                async { true }
            })
            .await?;
        Ok(ExecOutput {
            exit_code,
            stdout,
            stderr,
        })
    }

    /// Creates, starts and reads one exec: `stdin` (if any) is fed to it,
    /// stdout chunks go to `on_stdout` (which answers whether to keep
    /// reading), stderr is kept up to the cap.
    async fn run_exec<F, Next>(
        &self,
        id: &str,
        argv: &[String],
        stdin: Option<tokio::sync::mpsc::Receiver<Vec<u8>>>,
        mut on_stdout: F,
    ) -> Result<(Option<i64>, Vec<u8>), Error>
    where
        F: FnMut(Vec<u8>) -> Next,
        Next: std::future::Future<Output = bool>,
    {
        let options = CreateExecOptions {
            attach_stdin: Some(stdin.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(argv.to_vec()),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(id, options)
            .await
            .map_err(|e| self.failed("creating an exec", e))?;
        let mut stderr = Vec::new();
        if let StartExecResults::Attached {
            mut output,
            mut input,
        } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| self.failed("starting an exec", e))?
        {
            // Fed concurrently with the reading, so neither side can block
            // the other; the end of the chunks closes the command's stdin.
            let feeding = stdin.map(|mut chunks| {
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    while let Some(chunk) = chunks.recv().await {
                        input.write_all(&chunk).await?;
                    }
                    input.shutdown().await
                })
            });
            while let Some(chunk) = output.next().await {
                match chunk.map_err(|e| self.failed("reading an exec's output", e))? {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        if !on_stdout(message.to_vec()).await {
                            break;
                        }
                    }
                    LogOutput::StdErr { message } => append_capped(&mut stderr, &message),
                    LogOutput::StdIn { .. } => {}
                }
            }
            if let Some(feeding) = feeding {
                match feeding.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => append_capped(&mut stderr, format!("\n(stdin: {e})").as_bytes()),
                    Err(e) => append_capped(&mut stderr, format!("\n(stdin: {e})").as_bytes()),
                }
            }
        }
        let inspect = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| self.failed("inspecting an exec", e))?;
        Ok((inspect.exit_code, stderr))
    }
}

/// How much of each stream of an exec is kept.
pub(crate) const EXEC_OUTPUT_CAP: usize = 64 * 1024;

/// What a command run in a container printed and how it ended.
#[derive(Debug, Default, Clone)]
pub(crate) struct ExecOutput {
    pub exit_code: Option<i64>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

pub(super) fn append_capped(buffer: &mut Vec<u8>, bytes: &[u8]) {
    let room = EXEC_OUTPUT_CAP.saturating_sub(buffer.len());
    buffer.extend_from_slice(&bytes[..bytes.len().min(room)]);
}
