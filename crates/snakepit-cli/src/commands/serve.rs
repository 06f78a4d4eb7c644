//! `snakepit serve`: named pools behind the HTTP/JSON API and the dashboard
//! (`snakepit-server`), with the process's signals: SIGTERM and SIGINT shut down gracefully
//! (stop accepting, drain the calls, stop the workers, exit 0), SIGHUP reloads the pools.
//!
//! The first line on stdout is `listening on http://ADDR`, so `--bind 127.0.0.1:0` is
//! scriptable.

use std::path::Path;

use anyhow::{Context as _, bail};
use snakepit::{LinkTransport, Pool, PythonAdapter};
use snakepit_server::{PoolDef, Server, ServerConfig, ServerHandle, Token};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::ServeArgs;
use crate::config;

/// The environment variable that holds the bearer token.
pub(crate) const TOKEN_ENV: &str = "SNAKEPIT_TOKEN";

/// The token: from `file` when given, else from `$SNAKEPIT_TOKEN`, else none.
///
/// # Errors
///
/// When the file cannot be read or holds no token.
pub(crate) fn load_token(file: Option<&Path>) -> anyhow::Result<Token> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("could not read the token file {}", file.display()))?;
        let token = Token::new(&text);
        if !token.is_set() {
            bail!("the token file {} is empty", file.display());
        }
        return Ok(token);
    }
    Ok(std::env::var(TOKEN_ENV)
        .map(|text| Token::new(&text))
        .unwrap_or_default())
}

/// The adapter of the embedded `default` pool: the bundled showcase over a link of two
/// pipes, which costs a busy server's host and workers less CPU per call than a socket
/// (`docs/design/serve.md`).
pub(crate) fn embedded_adapter() -> PythonAdapter {
    PythonAdapter::showcase().transport(LinkTransport::Pipes)
}

/// The pools to serve: every pool of the config file (`--config`, else `$SNAKEPIT_CONFIG`,
/// else `./snakepit.toml` when it exists), else the embedded default. Each pool's
/// fingerprint is its resolved table, so a reload replaces exactly the pools whose settings
/// changed.
fn pool_defs(args: &ServeArgs) -> anyhow::Result<Vec<PoolDef>> {
    if let Some(path) = config::locate(args.config.as_deref())? {
        if args.workers.is_some() {
            bail!("--workers sizes the embedded pool; with a config file, set `size` in it");
        }
        let loaded = config::Config::load(&path)?;
        let mut defs = Vec::new();
        for (name, table) in &loaded.file.pools.0 {
            let name = name.get_ref().0.clone();
            let fingerprint = serde_json::to_string(table)
                .with_context(|| format!("pool `{name}` cannot be fingerprinted"))?;
            let builder =
                config::table_pool_builder(table).with_context(|| format!("pool `{name}`"))?;
            defs.push(PoolDef::new(name, fingerprint, builder));
        }
        return Ok(defs);
    }
    let mut builder = Pool::builder(embedded_adapter()).instance_name("serve-default");
    if let Some(workers) = args.workers {
        builder = builder.size(usize::from(workers));
    }
    let fingerprint = format!("embedded showcase, workers {:?}", args.workers);
    Ok(vec![PoolDef::new("default", fingerprint, builder)])
}

/// Runs `snakepit serve`.
///
/// # Errors
///
/// Settings that are refused (a public address without a token), a pool that does not
/// start, a socket that cannot be bound.
pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = ServerConfig::default();
    config.bind = args.bind;
    config.token = load_token(args.token_file.as_deref())?;
    config.max_body_bytes = args.max_body;
    config.cors_origins.clone_from(&args.cors_origin);
    config.check()?;
    let server = Server::start(config, pool_defs(&args)?).await?;
    let addr = server.local_addr().context("the socket has no address")?;
    println!("listening on http://{addr}");
    let handle = server.handle();
    let signals = tokio::spawn(watch_signals(handle, args));
    let outcome = server.run(std::future::pending()).await;
    signals.abort();
    outcome?;
    eprintln!("snakepit serve: stopped");
    Ok(())
}

/// Waits for SIGTERM or SIGINT (then starts the shutdown) and reloads on SIGHUP.
async fn watch_signals(handle: ServerHandle, args: ServeArgs) {
    let (Ok(mut term), Ok(mut interrupt), Ok(mut hangup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("could not install the signal handlers; stop the server with SIGKILL");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => reload(&handle, &args).await,
        }
    }
    eprintln!("snakepit serve: shutting down (draining calls)");
    handle.shutdown();
}

async fn reload(handle: &ServerHandle, args: &ServeArgs) {
    let defs = match pool_defs(args) {
        Ok(defs) => defs,
        Err(err) => {
            eprintln!("snakepit serve: reload refused, keeping the running pools: {err:#}");
            return;
        }
    };
    match handle.reload(defs).await {
        Ok(report) => eprintln!(
            "snakepit serve: reloaded (kept {:?}, added {:?}, replaced {:?}, removed {:?})",
            report.kept, report.added, report.replaced, report.removed
        ),
        Err(err) => eprintln!(
            "snakepit serve: reload failed, keeping the running pools: {:#}",
            anyhow::Error::new(err)
        ),
    }
}
