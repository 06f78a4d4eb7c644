//! Fixtures: the interpreter, pools, a running server and its client, and polling.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use snakepit::{LinkTransport, Pool, PoolBuilder, PythonAdapter};
use snakepit_server::{PoolDef, Server, ServerConfig, ServerHandle, Token};
use tokio::task::JoinHandle;

/// The Python interpreter: `$SNAKEPIT_PYTHON`, else `python3`. A missing one fails the test.
#[expect(
    clippy::disallowed_methods,
    reason = "checks the interpreter runs; workers are spawned by the library"
)]
pub(crate) fn python() -> PathBuf {
    let python =
        std::env::var_os("SNAKEPIT_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let ran = std::process::Command::new(&python)
        .arg("--version")
        .output();
    assert!(
        ran.is_ok_and(|output| output.status.success()),
        "these tests need Python: `{}` does not run (set SNAKEPIT_PYTHON)",
        python.display()
    );
    python
}

/// A builder of the showcase adapter with test-friendly timeouts, its workers on pipes as
/// `snakepit serve`'s embedded pool's are.
pub(crate) fn showcase(size: usize) -> PoolBuilder {
    Pool::builder(
        PythonAdapter::showcase()
            .python(python())
            .transport(LinkTransport::Pipes),
    )
    .size(size)
    .instance_name("default")
    .state_dir(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("state"))
    .startup_timeout(Duration::from_secs(30))
    .cancel_grace(Duration::from_millis(500))
    .stop_grace(Duration::from_millis(500))
}

/// A server running in the test, and where to reach it.
pub(crate) struct Running {
    pub(crate) base: String,
    pub(crate) handle: ServerHandle,
    pub(crate) task: JoinHandle<Result<(), snakepit_server::ServerError>>,
    pub(crate) client: reqwest::Client,
}

impl Running {
    /// `http://ADDR` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a call and returns the status and JSON body.
    pub(crate) async fn call(&self, pool: &str, command: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(&format!("/v1/pools/{pool}/commands/{command}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GETs `path` and returns the status and JSON body.
    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Shuts the server down and waits for it (and its pools) to stop.
    pub(crate) async fn stop(self) {
        self.handle.shutdown();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

/// Starts a server on a free loopback port with `pools`.
pub(crate) async fn serve(pools: Vec<PoolDef>) -> Running {
    serve_with(ServerConfig::default(), pools).await
}

/// Starts a server with `config` (its bind address is replaced by a free loopback port).
pub(crate) async fn serve_with(mut config: ServerConfig, pools: Vec<PoolDef>) -> Running {
    config.bind = "127.0.0.1:0".parse().unwrap();
    let server = Server::start(config, pools).await.unwrap();
    running(server)
}

fn running(server: Server) -> Running {
    let addr: SocketAddr = server.local_addr().unwrap();
    let handle = server.handle();
    let task = tokio::spawn(server.run(std::future::pending()));
    Running {
        base: format!("http://{addr}"),
        handle,
        task,
        client: reqwest::Client::new(),
    }
}

/// A server of one showcase pool `default` of `size` workers.
pub(crate) async fn serve_default(size: usize) -> Running {
    serve(vec![PoolDef::new("default", "showcase", showcase(size))]).await
}

/// A config with a token.
pub(crate) fn with_token(token: &str) -> ServerConfig {
    let mut config = ServerConfig::default();
    config.token = Token::new(token);
    config
}

/// Polls `condition` every 20 ms until it holds or `limit` passes; returns whether it held.
pub(crate) async fn eventually<F, Fut>(limit: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
