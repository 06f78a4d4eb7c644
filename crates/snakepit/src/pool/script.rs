//! Script mode: start a pool, run one async block with it, and stop every worker before
//! returning, whatever the block did.

use std::future::Future;

use super::builder::PoolBuilder;
use super::handle::Pool;
use crate::error::Result;

impl PoolBuilder {
    /// Starts the pool, waits until every worker is ready, runs `script` with it, then shuts
    /// the pool down and returns the script's output. Every worker process is gone before
    /// this returns, also when the script returns an error or panics (the panic is resumed
    /// after the shutdown).
    ///
    /// ```no_run
    /// # async fn demo() -> snakepit::Result<()> {
    /// use snakepit::{Pool, PythonAdapter};
    ///
    /// let answer = Pool::builder(PythonAdapter::showcase())
    ///     .size(2)
    ///     .run_script(|pool| async move { pool.execute("ping", serde_json::json!({})).await })
    ///     .await??;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The pool's start errors (see [`PoolBuilder::start`]); the script's own output is
    /// returned as is.
    ///
    /// # Cancel safety
    ///
    /// If this future is dropped while the script runs, the script is aborted and the pool
    /// is dropped, which kills every worker at once.
    pub async fn run_script<F, Fut, T>(self, script: F) -> Result<T>
    where
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.start().await?;
        let task = tokio::spawn(script(pool.clone()));
        let abort = task.abort_handle();
        let guard = AbortOnDrop(Some(abort));
        let outcome = task.await;
        drop(guard);
        pool.shutdown().await;
        match outcome {
            Ok(output) => Ok(output),
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => Err(crate::Error::Shutdown),
        }
    }
}

struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}
