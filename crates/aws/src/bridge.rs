//! [`SyncBridge`]: the async AWS SDK behind synchronous traits (`JobRepository` is synchronous,
//! like the SQLite repository it stands in for, and its callers run it on blocking threads).

use std::future::Future;

use crate::AwsError;

/// A small tokio runtime of its own that runs SDK futures for synchronous callers.
///
/// Calls are spawned onto the runtime and waited for over a channel, so they work from plain
/// threads and also from a thread of another runtime (where `block_on` would panic); the
/// caller's thread is blocked for the call, as it is by a SQLite write.
pub struct SyncBridge {
    rt: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for SyncBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncBridge").finish_non_exhaustive()
    }
}

impl SyncBridge {
    /// Starts the runtime: two worker threads (calls are I/O, and several callers may wait at
    /// once).
    ///
    /// # Errors
    /// [`AwsError::Runtime`] when the threads cannot start.
    pub fn new() -> Result<Self, AwsError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tradai-aws")
            .enable_all()
            .build()
            .map_err(|e| AwsError::Runtime(format!("cannot start the runtime: {e}")))?;
        Ok(Self { rt: Some(rt) })
    }

    /// Runs `fut` on the bridge's runtime and waits for its output.
    ///
    /// # Errors
    /// [`AwsError::Runtime`] when the future panicked.
    pub fn run<F>(&self, fut: F) -> Result<F::Output, AwsError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = self.rt.as_ref().ok_or_else(|| AwsError::Runtime("the runtime is shut down".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| AwsError::Runtime("the call panicked".into()))
    }

    /// The runtime's handle, for callers that stay async.
    ///
    /// # Panics
    /// Never: the runtime lives until drop.
    #[must_use]
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.rt.as_ref().expect("runtime lives until drop").handle()
    }
}

impl Drop for SyncBridge {
    fn drop(&mut self) {
        // Dropping a runtime inside another runtime's task panics; shutting it down in the
        // background does not (the repository may be dropped by an async server).
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
