//! The client side of `--server URL`: `call`, `tools` and `stats` against a running
//! `snakepit serve` instead of a pool of their own.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::cli::RemoteArgs;
use crate::commands::serve::TOKEN_ENV;

/// A server and one of its pools.
#[derive(Debug)]
pub(crate) struct Remote {
    client: reqwest::Client,
    base: String,
    pool: String,
    token: Option<String>,
}

/// One call's options.
#[derive(Debug, Default)]
pub(crate) struct RemoteCall {
    pub(crate) session: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) idempotent: bool,
}

impl Remote {
    /// The server the flags name, if they name one, and its pool `pool` (default `default`).
    ///
    /// # Errors
    ///
    /// An unreadable token file.
    pub(crate) fn from_args(args: &RemoteArgs, pool: Option<&str>) -> anyhow::Result<Option<Self>> {
        let Some(server) = &args.server else {
            return Ok(None);
        };
        let token = match &args.token_file {
            Some(file) => Some(
                std::fs::read_to_string(file)
                    .with_context(|| format!("could not read the token file {}", file.display()))?
                    .trim()
                    .to_owned(),
            ),
            None => std::env::var(TOKEN_ENV).ok(),
        }
        .filter(|token| !token.is_empty());
        Ok(Some(Self {
            client: reqwest::Client::new(),
            base: server.trim_end_matches('/').to_owned(),
            pool: pool.unwrap_or("default").to_owned(),
            token,
        }))
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v1/pools/{}{tail}", self.base, self.pool)
    }

    fn request(&self, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
        let request = self.client.request(method, url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let response = request
            .send()
            .await
            .with_context(|| format!("could not reach the server {}", self.base))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Err(describe(&body["error"]).context(format!("the server answered {status}")))
    }

    /// Runs a call; returns its result.
    ///
    /// # Errors
    ///
    /// The server's error, with kind, message and (for a Python exception) its traceback.
    pub(crate) async fn call(
        &self,
        command: &str,
        args: Value,
        options: &RemoteCall,
    ) -> anyhow::Result<Value> {
        let body = call_body(args, options);
        let response = self
            .send(
                self.request(
                    reqwest::Method::POST,
                    self.url(&format!("/commands/{command}")),
                )
                .json(&body),
            )
            .await?;
        let mut answer: Value = response.json().await.context("the answer is not JSON")?;
        Ok(answer["result"].take())
    }

    /// Runs a streaming call, handing each chunk to `on_chunk`; returns the result.
    ///
    /// # Errors
    ///
    /// As [`Remote::call`]; a stream that ends without a result.
    pub(crate) async fn stream(
        &self,
        command: &str,
        args: Value,
        options: &RemoteCall,
        mut on_chunk: impl FnMut(Value),
    ) -> anyhow::Result<Value> {
        let body = call_body(args, options);
        let url = self.url(&format!("/commands/{command}/stream"));
        let response = self
            .send(self.request(reqwest::Method::POST, url).json(&body))
            .await?;
        let mut bytes = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(piece) = bytes.next().await {
            let piece = piece.context("the stream broke")?;
            buffer.push_str(&String::from_utf8_lossy(&piece));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let (event, data) = parse_event(&block);
                let data: Value = match data {
                    Some(data) => serde_json::from_str(&data).context("an event is not JSON")?,
                    None => continue,
                };
                match event.as_deref() {
                    Some("chunk") => on_chunk(data),
                    Some("result") => return Ok(data["result"].clone()),
                    Some("error") => return Err(describe(&data["error"])),
                    _ => {}
                }
            }
        }
        bail!("the stream ended without a result")
    }

    /// The pool's tools.
    ///
    /// # Errors
    ///
    /// The server's error.
    pub(crate) async fn tools(&self) -> anyhow::Result<Value> {
        let response = self
            .send(self.request(reqwest::Method::GET, self.url("/tools")))
            .await?;
        let mut answer: Value = response.json().await.context("the answer is not JSON")?;
        Ok(answer["tools"].take())
    }

    /// The pool's stats.
    ///
    /// # Errors
    ///
    /// The server's error.
    pub(crate) async fn stats(&self) -> anyhow::Result<Value> {
        let response = self
            .send(self.request(reqwest::Method::GET, self.url("/stats")))
            .await?;
        response.json().await.context("the answer is not JSON")
    }
}

fn call_body(args: Value, options: &RemoteCall) -> Value {
    let mut body = json!({ "idempotent": options.idempotent });
    body["args"] = args;
    if let Some(session) = &options.session {
        body["session"] = json!(session);
    }
    if let Some(timeout) = options.timeout {
        body["timeout_ms"] = json!(
            u64::try_from(timeout.as_millis())
                .unwrap_or(u64::MAX)
                .max(1)
        );
    }
    body
}

/// The `event:` name and joined `data:` lines of one SSE block.
fn parse_event(block: &str) -> (Option<String>, Option<String>) {
    let mut event = None;
    let mut data: Option<String> = None;
    for line in block.lines() {
        if let Some(name) = line.strip_prefix("event:") {
            event = Some(name.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            }
        }
    }
    (event, data)
}

/// A server's error object as an error to report.
fn describe(error: &Value) -> anyhow::Error {
    let kind = error["kind"].as_str().unwrap_or("error");
    let message = error["message"].as_str().unwrap_or("no details");
    let mut text = match error["type"].as_str() {
        Some(exception) => format!("{kind}: {exception}: {message}"),
        None => format!("{kind}: {message}"),
    };
    if let Some(traceback) = error["traceback"]
        .as_str()
        .filter(|tb| !tb.trim().is_empty())
    {
        text.push('\n');
        text.push_str(traceback.trim_end());
    }
    anyhow!(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks_are_parsed() {
        let (event, data) = parse_event("event: chunk\ndata: {\"a\":1}\n\n");
        assert_eq!(event.as_deref(), Some("chunk"));
        assert_eq!(data.as_deref(), Some("{\"a\":1}"));
        let (event, data) = parse_event(": keep-alive\n\n");
        assert_eq!((event, data), (None, None));
    }

    #[test]
    fn errors_carry_the_traceback() {
        let error = json!({"kind": "worker_error", "type": "ZeroDivisionError", "message": "division by zero", "traceback": "Traceback (most recent call last)"});
        let text = describe(&error).to_string();
        assert!(
            text.contains("ZeroDivisionError: division by zero"),
            "{text}"
        );
        assert!(text.contains("Traceback"), "{text}");
    }
}
