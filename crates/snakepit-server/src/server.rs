//! [`Server`]: settings and pools in, a listening socket, then serving until shutdown, then
//! draining and stopping the pools.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use crate::api::{self, RouterSettings};
use crate::auth::Token;
use crate::error::ServerError;
use crate::reload::PoolDef;
use crate::state::{AppState, PoolMap, Served};

/// The default address: loopback only.
pub const DEFAULT_BIND: &str = "127.0.0.1:8750";

/// A server's settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Where to listen. Default: [`DEFAULT_BIND`]. Any address but loopback needs a token.
    pub bind: SocketAddr,
    /// The bearer token requests must carry. Default: none (loopback only).
    pub token: Token,
    /// The largest request body accepted, in bytes. Default: 1 MiB.
    pub max_body_bytes: usize,
    /// Origins allowed by CORS. Default: none, and no CORS headers are sent.
    pub cors_origins: Vec<String>,
    /// How often pools are watched for the dashboard's snapshots. Default: 500 ms.
    pub snapshot_interval: Duration,
    /// How long a shutdown waits for the requests in flight before it stops the pools
    /// anyway (their calls then fail with 503 `shutting_down`). Default: 30 s.
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: DEFAULT_BIND
                .parse()
                .expect("the default bind address is valid"),
            token: Token::none(),
            max_body_bytes: 1024 * 1024,
            cors_origins: Vec::new(),
            snapshot_interval: Duration::from_millis(500),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

impl ServerConfig {
    /// Refuses settings that would expose the pools: a non-loopback address without a token.
    ///
    /// # Errors
    ///
    /// [`ServerError::Refused`].
    pub fn check(&self) -> Result<(), ServerError> {
        if !self.bind.ip().is_loopback() && !self.token.is_set() {
            return Err(ServerError::Refused(format!(
                "refusing to listen on {} without a token: set SNAKEPIT_TOKEN or --token-file, \
                 or bind a loopback address",
                self.bind
            )));
        }
        if self.max_body_bytes == 0 {
            return Err(ServerError::Refused(
                "the body limit must be at least one byte".into(),
            ));
        }
        Ok(())
    }
}

/// A bound server, ready to serve.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    settings: RouterSettings,
    snapshot_interval: Duration,
    drain_timeout: Duration,
}

/// A handle to a running server: its pools, reload and shutdown.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    pub(crate) state: Arc<AppState>,
}

impl Server {
    /// Checks the settings, starts every pool, and binds the socket.
    ///
    /// # Errors
    ///
    /// [`ServerError::Refused`] for settings that are not allowed, [`ServerError::PoolStart`]
    /// when a pool does not start (the others are shut down), [`ServerError::Bind`].
    pub async fn start(config: ServerConfig, pools: Vec<PoolDef>) -> Result<Self, ServerError> {
        config.check()?;
        install_metrics();
        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.bind.to_string(),
                    source,
                })?;
        let served = crate::reload::start_all(pools).await?;
        Ok(Self::with_listener(listener, config, served))
    }

    /// Serves pools already started, on a socket already bound.
    pub fn with_listener(
        listener: TcpListener,
        config: ServerConfig,
        pools: BTreeMap<String, Arc<Served>>,
    ) -> Self {
        install_metrics();
        Self {
            listener,
            state: Arc::new(AppState::new(pools, config.token)),
            settings: RouterSettings {
                max_body_bytes: config.max_body_bytes,
                cors_origins: config.cors_origins,
            },
            snapshot_interval: config.snapshot_interval,
            drain_timeout: config.drain_timeout,
        }
    }

    /// The address it listens on (useful after binding port 0).
    ///
    /// # Errors
    ///
    /// When the socket cannot say.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle for reloading and inspecting the pools while it serves.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            state: Arc::clone(&self.state),
        }
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets the requests in flight
    /// finish (event streams end at once), and shuts every pool down (draining its calls).
    ///
    /// # Errors
    ///
    /// [`ServerError::Serve`] when the listener fails.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let app = api::router(&self.state, &self.settings);
        let ticker = tokio::spawn(api::events::ticker(
            Arc::clone(&self.state),
            self.snapshot_interval,
        ));
        let token = self.state.shutdown.clone();
        let drained = {
            let token = token.clone();
            let drain = self.drain_timeout;
            async move {
                token.cancelled().await;
                tokio::time::sleep(drain).await;
            }
        };
        let signal = async move {
            tokio::select! {
                () = shutdown => {}
                () = token.cancelled() => {}
            }
            tracing::info!("shutting down: no new connections; draining calls");
            token.cancel();
        };
        // Answers are small and written whole: send them at once, not after Nagle's wait.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "could not set TCP_NODELAY");
            }
        });
        let serving = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .into_future();
        let served = tokio::select! {
            served = serving => served.map_err(ServerError::Serve),
            () = drained => {
                tracing::warn!("requests still running after the drain timeout; stopping the pools");
                Ok(())
            }
        };
        self.state.shutdown.cancel();
        ticker.abort();
        let pools = self.state.swap(&PoolMap::default());
        shutdown_pools(&pools).await;
        served
    }
}

/// Makes the Prometheus recorder the process's `metrics` recorder, so `/metrics` counts every
/// call from the first; when another recorder is installed, `/metrics` answers 503.
fn install_metrics() {
    if let Err(err) = snakepit::telemetry::prometheus::install() {
        tracing::warn!(error = %err, "/metrics is unavailable");
    }
}

/// Shuts every pool of `pools` down, concurrently.
pub(crate) async fn shutdown_pools(pools: &[snakepit::Pool]) {
    let all = pools.iter().map(snakepit::Pool::shutdown);
    futures_util::future::join_all(all).await;
}

impl ServerHandle {
    /// The names of the pools served now.
    pub fn pool_names(&self) -> Vec<String> {
        self.state.registry().names()
    }

    /// The library's registry of the pools served now (the same pools the API serves: a
    /// Rust program can call them in-process, read their stats, or shut them down).
    pub fn pools(&self) -> snakepit::Pools {
        self.state.registry().clone()
    }

    /// The pool named `name`, if served.
    pub fn pool(&self, name: &str) -> Option<snakepit::Pool> {
        self.state.registry().get(name)
    }

    /// Starts the shutdown, as the future given to [`Server::run`] would.
    pub fn shutdown(&self) {
        self.state.shutdown.cancel();
    }
}
