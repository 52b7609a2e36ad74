//! Ctrl-C and SIGTERM while opsbook changes things: the work in hand
//! finishes (no half-applied step), nothing new starts, and the report says
//! what was done and what was not.

use tokio::sync::watch;

#[derive(Clone)]
pub struct Interrupt {
    raised: watch::Receiver<bool>,
}

impl Interrupt {
    /// Starts listening for SIGINT and SIGTERM (call inside the runtime).
    pub fn listen() -> Interrupt {
        let (raise, raised) = watch::channel(false);
        tokio::spawn(async move {
            let terminate = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate => {}
            }
            let _ = raise.send(true);
        });
        Interrupt { raised }
    }

    /// One that is never raised: for putting things back after a signal
    /// (services a backup stopped must start again even then).
    pub fn never() -> Interrupt {
        let (_raise, raised) = watch::channel(false);
        Interrupt { raised }
    }

    pub fn is_raised(&self) -> bool {
        *self.raised.borrow()
    }

    /// Resolves once a signal has come.
    pub async fn raised(&self) {
        let mut raised = self.raised.clone();
        if raised.wait_for(|raised| *raised).await.is_err() {
            // No sender any more: it will never be raised.
            std::future::pending::<()>().await;
        }
    }
}
