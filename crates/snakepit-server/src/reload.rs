//! Starting the named pools, and replacing them on reload make-before-break.
//!
//! A [`PoolDef`] is a pool's name, a fingerprint of what it is built from (the resolved
//! config section) and a builder. On reload, a pool whose fingerprint is unchanged keeps
//! running untouched; a changed or new one is started first, and only when every new pool
//! is ready does the server switch to the new set. Then the replaced and removed pools are
//! shut down, finishing the calls they were running. If any new pool fails to start, the
//! ones that did are shut down and the server keeps serving the old set.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use snakepit::{PoolBuilder, Pools};

use crate::error::ServerError;
use crate::server::{ServerHandle, shutdown_pools};
use crate::state::Served;

/// How to build one named pool.
#[derive(Debug)]
pub struct PoolDef {
    /// The pool's name in the API.
    pub name: String,
    /// What the pool is built from, as text; a reload replaces the pool when it changes.
    pub fingerprint: String,
    /// The builder.
    pub builder: PoolBuilder,
}

impl PoolDef {
    /// A pool named `name` built by `builder`, identified by `fingerprint`.
    pub fn new(
        name: impl Into<String>,
        fingerprint: impl Into<String>,
        builder: PoolBuilder,
    ) -> Self {
        Self {
            name: name.into(),
            fingerprint: fingerprint.into(),
            builder,
        }
    }
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadReport {
    /// Pools left running as they were.
    pub kept: Vec<String>,
    /// Pools started for the first time.
    pub added: Vec<String>,
    /// Pools replaced by a new pool.
    pub replaced: Vec<String>,
    /// Pools shut down because the new set does not have them.
    pub removed: Vec<String>,
}

/// Starts every pool concurrently through the library's [`Pools`] builder; if one fails,
/// the others are shut down.
///
/// # Errors
///
/// [`ServerError::PoolStart`] naming the first pool that failed.
pub(crate) async fn start_all(
    defs: Vec<PoolDef>,
) -> Result<BTreeMap<String, Arc<Served>>, ServerError> {
    let mut builder = Pools::builder();
    let mut fingerprints = Vec::with_capacity(defs.len());
    for def in defs {
        builder = builder.pool(def.name.clone(), def.builder);
        fingerprints.push((def.name, def.fingerprint));
    }
    let started = builder
        .start()
        .await
        .map_err(|err| ServerError::PoolStart {
            pool: err.pool().to_owned(),
            source: Box::new(err.into_error()),
        })?;
    Ok(fingerprints
        .into_iter()
        .filter_map(|(name, fingerprint)| {
            let pool = started.get(&name)?;
            Some((name.clone(), Arc::new(Served::new(name, pool, fingerprint))))
        })
        .collect())
}

impl ServerHandle {
    /// Serves `defs` from now on, make-before-break (see the module docs).
    ///
    /// # Errors
    ///
    /// [`ServerError::PoolStart`] when a new pool does not start; the old set keeps serving.
    pub async fn reload(&self, defs: Vec<PoolDef>) -> Result<ReloadReport, ServerError> {
        let current = self.state.pools();
        let mut report = ReloadReport::default();
        let mut next = BTreeMap::new();
        let mut to_start = Vec::new();
        for def in defs {
            match current.get(&def.name) {
                Some(served) if served.fingerprint == def.fingerprint => {
                    report.kept.push(def.name.clone());
                    next.insert(def.name, Arc::clone(served));
                }
                Some(_) => {
                    report.replaced.push(def.name.clone());
                    to_start.push(def);
                }
                None => {
                    report.added.push(def.name.clone());
                    to_start.push(def);
                }
            }
        }
        next.extend(start_all(to_start).await?);
        report.removed = current
            .keys()
            .filter(|name| !next.contains_key(*name))
            .cloned()
            .collect();
        let retired = self.state.swap(&Arc::new(next));
        self.state.emit(
            "reload",
            json!({
                "kept": report.kept,
                "added": report.added,
                "replaced": report.replaced,
                "removed": report.removed,
            }),
        );
        shutdown_pools(&retired).await;
        tracing::info!(?report, "reloaded");
        Ok(report)
    }
}
