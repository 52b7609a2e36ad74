//! Running a command in a container (an exec): its stdout streamed or
//! kept, stdin fed to it, each stream kept up to a cap, and its exit code;
//! or run for a time at most, and ended there when it outlives it
//! (`exec_end`).

use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

use super::Deployment;
use super::exec_end::{Ending, Mark};
use crate::error::Error;

/// How a command run for a time at most ended.
#[derive(Debug)]
pub(crate) enum Timed {
    /// It ended by itself in time.
    Finished(ExecOutput),
    /// It outlived its time, and was ended (or not) as this says.
    TimedOut(Ending),
}

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

    /// Runs `argv` in a container as `exec` does, for `timeout` at most:
    /// one that outlives it is ended in the container, SIGTERM first and
    /// SIGKILL after a grace (`exec_end`), and the answer says how. The
    /// command carries a mark in its environment (`OPSBOOK_EXEC`) that
    /// the ending finds it (and what it started) by.
    pub(crate) async fn exec_within(
        &self,
        container_id: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<Timed, Error> {
        let started = Instant::now();
        let mark = Mark::new();
        let created = self.create_exec(container_id, argv, false, vec![mark.variable()]);
        let exec_id = match tokio::time::timeout(timeout, created).await {
            Ok(created) => created?,
            Err(_) => return Ok(Timed::TimedOut(Ending::NotStarted)),
        };
        let mut stdout = Vec::new();
        let reading = self.read_exec(&exec_id, None, |chunk| {
            append_capped(&mut stdout, &chunk);
            async { true }
        });
        let left = timeout.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, reading).await {
            Ok(read) => {
                let (exit_code, stderr) = read?;
                Ok(Timed::Finished(ExecOutput {
                    exit_code,
                    stdout,
                    stderr,
                }))
            }
            Err(_) => Ok(Timed::TimedOut(
                self.end_exec(container_id, &exec_id, &mark).await,
            )),
        }
    }

    /// Creates, starts and reads one exec: `stdin` (if any) is fed to it,
    /// stdout chunks go to `on_stdout` (which answers whether to keep
    /// reading), stderr is kept up to the cap.
    async fn run_exec<F, Next>(
        &self,
        id: &str,
        argv: &[String],
        stdin: Option<tokio::sync::mpsc::Receiver<Vec<u8>>>,
        on_stdout: F,
    ) -> Result<(Option<i64>, Vec<u8>), Error>
    where
        F: FnMut(Vec<u8>) -> Next,
        Next: std::future::Future<Output = bool>,
    {
        let exec_id = self
            .create_exec(id, argv, stdin.is_some(), Vec::new())
            .await?;
        self.read_exec(&exec_id, stdin, on_stdout).await
    }

    /// Creates an exec of `argv` in container `id`, with `env` added to
    /// the container's environment: its id.
    async fn create_exec(
        &self,
        id: &str,
        argv: &[String],
        stdin: bool,
        env: Vec<String>,
    ) -> Result<String, Error> {
        let options = CreateExecOptions {
            attach_stdin: Some(stdin),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(argv.to_vec()),
            env: (!env.is_empty()).then_some(env),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(id, options)
            .await
            .map_err(|e| self.failed("creating an exec", e))?;
        Ok(exec.id)
    }

    /// Starts and reads an exec made by `create_exec`: its exit code and
    /// stderr (capped).
    async fn read_exec<F, Next>(
        &self,
        exec_id: &str,
        stdin: Option<tokio::sync::mpsc::Receiver<Vec<u8>>>,
        mut on_stdout: F,
    ) -> Result<(Option<i64>, Vec<u8>), Error>
    where
        F: FnMut(Vec<u8>) -> Next,
        Next: std::future::Future<Output = bool>,
    {
        let mut stderr = Vec::new();
        if let StartExecResults::Attached {
            mut output,
            mut input,
        } = self
            .docker
            .start_exec(exec_id, None)
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
            .inspect_exec(exec_id)
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
