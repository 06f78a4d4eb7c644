//! [`Pools`]: a registry of named pools, started together, looked up by name and shut down
//! together. The CLI's config file and `snakepit serve` build one; Rust programs that run
//! several kinds of workers can too.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures_util::future::join_all;

use crate::error::Error;
use crate::pool::{Pool, PoolBuilder, PoolStats};

/// Named pools.
///
/// Cloning is cheap; every clone sees the same pools, including pools inserted or removed
/// through another clone. Names are unique; the registry keeps them in the order they were
/// added.
///
/// ```no_run
/// # async fn demo() -> Result<(), snakepit::PoolStartError> {
/// use serde_json::json;
/// use snakepit::{Pool, Pools, PythonAdapter};
///
/// let pools = Pools::builder()
///     .pool("default", Pool::builder(PythonAdapter::showcase()).size(2))
///     .pool("compute", Pool::builder(PythonAdapter::new("mylib.adapters:Compute")).size(8))
///     .start()
///     .await?;
/// if let Some(pool) = pools.get("default") {
///     let pong = pool.execute("ping", json!({})).await;
/// }
/// for (name, stats) in pools.stats() {
///     println!("{name}: {} workers", stats.workers);
/// }
/// pools.shutdown().await;
/// # Ok(()) }
/// ```
///
/// # Caveats
///
/// The registry holds [`Pool`] handles: a pool's workers stop when the last handle to it is
/// dropped (SIGKILL, no grace) or when it is shut down. Prefer [`Pools::shutdown`].
#[derive(Debug, Clone, Default)]
pub struct Pools {
    pools: Arc<RwLock<Vec<(String, Pool)>>>,
}

/// Builds [`Pools`]: named [`PoolBuilder`]s in, started pools out.
#[must_use = "a builder does nothing until `.start()` is awaited"]
#[derive(Debug, Default)]
pub struct PoolsBuilder {
    builders: Vec<(String, PoolBuilder)>,
}

/// A pool of [`Pools`] that did not start, by name, with the reason.
#[derive(Debug, thiserror::Error)]
#[error("pool `{pool}` did not start")]
pub struct PoolStartError {
    pool: String,
    #[source]
    source: Error,
}

impl PoolStartError {
    /// The pool's name.
    pub fn pool(&self) -> &str {
        &self.pool
    }

    /// Why it did not start.
    pub fn error(&self) -> &Error {
        &self.source
    }

    /// The reason, taken out.
    pub fn into_error(self) -> Error {
        self.source
    }
}

impl PoolsBuilder {
    /// Adds a pool named `name`.
    pub fn pool(mut self, name: impl Into<String>, builder: PoolBuilder) -> Self {
        self.builders.push((name.into(), builder));
        self
    }

    /// Starts every pool concurrently and returns them once all are ready.
    ///
    /// # Errors
    ///
    /// [`PoolStartError`] naming the first pool (in the order they were added) that did not
    /// start, or a name used twice ([`Error::Config`]); the pools that did start are shut
    /// down first.
    pub async fn start(self) -> Result<Pools, PoolStartError> {
        for (index, (name, _)) in self.builders.iter().enumerate() {
            if self.builders[..index]
                .iter()
                .any(|(other, _)| other == name)
            {
                return Err(PoolStartError {
                    pool: name.clone(),
                    source: Error::Config(format!("two pools are named `{name}`")),
                });
            }
        }
        let (names, builders): (Vec<String>, Vec<PoolBuilder>) = self.builders.into_iter().unzip();
        let results = join_all(builders.into_iter().map(PoolBuilder::start)).await;
        let mut started = Vec::with_capacity(results.len());
        let mut failure = None;
        for (name, result) in names.into_iter().zip(results) {
            match result {
                Ok(pool) => started.push((name, pool)),
                Err(source) => {
                    if failure.is_none() {
                        failure = Some(PoolStartError { pool: name, source });
                    }
                }
            }
        }
        match failure {
            Some(failure) => {
                join_all(started.iter().map(|(_, pool)| pool.shutdown())).await;
                Err(failure)
            }
            None => Ok(Pools {
                pools: Arc::new(RwLock::new(started)),
            }),
        }
    }
}

impl Pools {
    /// A builder of named pools.
    pub fn builder() -> PoolsBuilder {
        PoolsBuilder::default()
    }

    /// An empty registry, to [`insert`](Self::insert) started pools into.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pool named `name` (a cheap clone of its handle).
    pub fn get(&self, name: &str) -> Option<Pool> {
        self.read()
            .iter()
            .find(|(candidate, _)| candidate == name)
            .map(|(_, pool)| pool.clone())
    }

    /// The names of the pools, in the order they were added.
    pub fn names(&self) -> Vec<String> {
        self.read().iter().map(|(name, _)| name.clone()).collect()
    }

    /// Every pool with its name, in the order they were added (cheap clones of the handles,
    /// taken in one look, so a concurrent insert or remove is wholly in or wholly out).
    pub fn entries(&self) -> Vec<(String, Pool)> {
        self.read().clone()
    }

    /// How many pools there are.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The stats of every pool, by name, in the order they were added.
    pub fn stats(&self) -> Vec<(String, PoolStats)> {
        self.read()
            .iter()
            .map(|(name, pool)| (name.clone(), pool.stats()))
            .collect()
    }

    /// Puts `pool` under `name` and returns the pool it replaces, which keeps running until
    /// it is shut down. A replaced pool keeps its place in the order; a new name goes last.
    ///
    /// Replacing make-before-break: start the new pool, `insert` it (new calls go to it),
    /// then shut the returned old pool down (its running calls finish within its
    /// `drain_timeout`).
    pub fn insert(&self, name: impl Into<String>, pool: Pool) -> Option<Pool> {
        let name = name.into();
        let mut pools = self.write();
        match pools.iter_mut().find(|(candidate, _)| *candidate == name) {
            Some((_, slot)) => Some(std::mem::replace(slot, pool)),
            None => {
                pools.push((name, pool));
                None
            }
        }
    }

    /// Takes the pool named `name` out of the registry; it keeps running until it is shut
    /// down.
    pub fn remove(&self, name: &str) -> Option<Pool> {
        let mut pools = self.write();
        let index = pools.iter().position(|(candidate, _)| candidate == name)?;
        Some(pools.remove(index).1)
    }

    /// Takes every pool out of the registry and shuts them all down concurrently (see
    /// [`Pool::shutdown`]). Resolves when every worker process of every pool is gone.
    pub async fn shutdown(&self) {
        let pools = std::mem::take(&mut *self.write());
        join_all(pools.iter().map(|(_, pool)| pool.shutdown())).await;
    }

    fn read(&self) -> RwLockReadGuard<'_, Vec<(String, Pool)>> {
        self.pools
            .read()
            .expect("pool registry lock is never poisoned")
    }

    fn write(&self) -> RwLockWriteGuard<'_, Vec<(String, Pool)>> {
        self.pools
            .write()
            .expect("pool registry lock is never poisoned")
    }
}
