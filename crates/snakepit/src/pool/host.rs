//! The pool's side of the host-call seam: a worker's `host_call` runs the pool's host tools
//! with a [`HostCall`] naming the pool, the session and the worker.

use std::sync::Weak;

use super::handle::{Pool, PoolShared};
use crate::tool::HostCall;
use crate::worker::{HostAnswer, HostCalls, HostFailure, HostRequest};

/// Runs host calls for the workers of one pool. Holds the pool weakly: workers never keep
/// their pool alive.
#[derive(Debug)]
pub(super) struct PoolHost {
    pub(super) pool: Weak<PoolShared>,
}

impl HostCalls for PoolHost {
    fn host_call(&self, request: HostRequest) -> HostAnswer {
        let shared = self.pool.upgrade();
        Box::pin(async move {
            let Some(shared) = shared else {
                return Err(HostFailure::new(
                    "UnknownHostTool",
                    "the pool is shutting down",
                ));
            };
            let tools = std::sync::Arc::clone(&shared.host);
            let call = HostCall {
                pool: Some(Pool::from_shared(shared)),
                session: request.session,
                worker: request.worker,
            };
            tools
                .dispatch(call, &request.tool, request.args)
                .await
                .map_err(|err| HostFailure::new(err.kind, err.message))
        })
    }
}
