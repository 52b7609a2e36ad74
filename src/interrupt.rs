//! Ctrl-C and SIGTERM while opsbook changes things: the work in hand
//! finishes (no half-applied step), nothing new starts, and the report says
//! what was done and what was not.

use tokio::sync::watch;

#[derive(Clone)]
pub(crate) struct Interrupt {
    raised: watch::Receiver<bool>,
}

impl Interrupt {
    /// Starts listening for SIGINT and SIGTERM (call inside the runtime).
    /// The handlers are in place when this returns: a signal right after
    /// it is heard, not taken with the default action.
    pub(crate) fn listen() -> Interrupt {
        let (raise, raised) = watch::channel(false);
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        tokio::spawn(async move {
            let wait = |stream: std::io::Result<tokio::signal::unix::Signal>| async move {
                match stream {
                    Ok(mut stream) => {
                        stream.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
            let _ = raise.send(true);
        });
        Interrupt { raised }
    }

    /// One that is never raised: for putting things back after a signal
    /// (services a backup stopped must start again even then).
    pub(crate) fn never() -> Interrupt {
        let (_raise, raised) = watch::channel(false);
        Interrupt { raised }
    }

    pub(crate) fn is_raised(&self) -> bool {
        *self.raised.borrow()
    }

    /// Resolves once a signal has come.
    pub(crate) async fn raised(&self) {
        let mut raised = self.raised.clone();
        if raised.wait_for(|raised| *raised).await.is_err() {
            // No sender any more: it will never be raised.
            std::future::pending::<()>().await;
        }
    }
}
