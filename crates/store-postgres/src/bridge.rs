//! From the synchronous storage traits to the asynchronous PostgreSQL client: each call's
//! queries run on the store's own runtime while the calling (blocking) thread waits. It
//! works from any thread, an async worker included (where it would block that worker, so
//! the gateway calls the store only from its blocking pool).

use omadata_vault::store::StoreError;
use std::future::Future;
use std::time::Duration;

/// The longest a call may take; a call still running then is abandoned.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Worker threads of the store's runtime: they only wait on sockets.
const WORKERS: usize = 2;

pub(crate) struct Bridge {
    /// `Some` until dropped: a runtime must be shut down without blocking, since the last
    /// handle may be dropped on an async worker.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    pub(crate) fn new() -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("omadata-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("database runtime: {e}")))?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `work`, which writes nothing: a timeout means nothing was changed.
    pub(crate) fn run_read<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run(work, StoreError::Backend, Some(CALL_TIMEOUT))
    }

    /// Runs `work`, which writes nothing, for as long as `limit` (`None`: no limit, for
    /// a standby waiting for the lease).
    pub(crate) fn run_waiting<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
        limit: Option<Duration>,
    ) -> Result<T, StoreError> {
        self.run(work, StoreError::Backend, limit)
    }

    /// Runs `work`, which may write: a timeout leaves its outcome unknown.
    pub(crate) fn run_write<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run(work, StoreError::Unconfirmed, Some(CALL_TIMEOUT))
    }

    fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
        timed_out: fn(String) -> StoreError,
        limit: Option<Duration>,
    ) -> Result<T, StoreError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Backend("the store is closed".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let outcome = match limit {
                None => work.await,
                Some(limit) => match tokio::time::timeout(limit, work).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(timed_out(format!(
                        "the database did not answer within {} s",
                        limit.as_secs()
                    ))),
                },
            };
            let _ = tx.send(outcome);
        });
        rx.recv()
            .map_err(|_| StoreError::Backend("the database call was abandoned".into()))?
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
