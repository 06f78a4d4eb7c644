//! The read-only routes: pools, tools, stats, health, readiness and `/metrics`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::PathParams;
use crate::error::ApiError;
use crate::monitor::{circuit_name, stats_json, workers_json};
use crate::state::{AppState, Served};

fn summary(served: &Served) -> Value {
    let stats = served.pool.stats();
    json!({
        "name": served.name,
        "adapter": served.pool.adapter_name(),
        "size": served.pool.config().size,
        "workers": stats.workers,
        "available": stats.available,
        "busy": stats.busy,
        "queued": stats.queued,
        "circuit": circuit_name(stats.circuit),
        "degraded": stats.degraded,
        "sessions": served.pool.sessions().stats().sessions,
        "uptime_s": served.since.elapsed().as_secs(),
    })
}

/// `GET /v1/pools`.
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let pools: Vec<Value> = state
        .pools()
        .values()
        .map(|served| summary(served))
        .collect();
    Json(json!({ "pools": pools }))
}

/// `GET /v1/pools/{pool}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    params: PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let served = state.pool(&params.0?)?;
    Ok(Json(summary(&served)))
}

/// `GET /v1/pools/{pool}/tools`.
pub async fn tools(
    State(state): State<Arc<AppState>>,
    params: PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let served = state.pool(&params.0?)?;
    Ok(Json(json!({ "tools": served.pool.tools() })))
}

/// `GET /v1/pools/{pool}/stats`.
pub async fn stats(
    State(state): State<Arc<AppState>>,
    params: PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let served = state.pool(&params.0?)?;
    let sessions = served.pool.sessions().stats();
    let stats = served.pool.stats();
    Ok(Json(json!({
        "pool": served.name,
        "stats": stats_json(&stats),
        "sessions": {
            "live": sessions.sessions,
            "created": sessions.created,
            "deleted": sessions.deleted,
            "expired": sessions.expired,
        },
        "latency": served.monitor.rates(&stats),
        "workers": workers_json(&served.pool),
        "recent_errors": served.monitor.errors(),
    })))
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when every pool has a live worker, 503 otherwise.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let (ready, body) = state.readiness();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /metrics`: a minimal Prometheus text exposition of the pools' stats. The telemetry
/// work replaces it with the library's full exposition.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let pools = state.pools();
    let mut text = String::new();
    let families: [(&str, &str, &str); 11] = [
        ("requests", "counter", "Calls made, including failed ones."),
        ("errors", "counter", "Calls that failed."),
        ("timeouts", "counter", "Calls past their deadline."),
        ("queue_timeouts", "counter", "Calls that waited too long."),
        (
            "pool_saturated",
            "counter",
            "Calls refused by a full queue.",
        ),
        ("restarts", "counter", "Workers restarted after an exit."),
        ("retries", "counter", "Calls retried after a crash."),
        ("workers", "gauge", "Live workers."),
        ("busy", "gauge", "Workers running a call."),
        ("queued", "gauge", "Calls waiting for a worker."),
        ("sessions", "gauge", "Live sessions."),
    ];
    for (name, kind, help) in families {
        let metric = if kind == "counter" {
            format!("snakepit_{name}_total")
        } else {
            format!("snakepit_{name}")
        };
        let _ = writeln!(text, "# HELP {metric} {help}");
        let _ = writeln!(text, "# TYPE {metric} {kind}");
        for served in pools.values() {
            let stats = served.pool.stats();
            let value = match name {
                "requests" => stats.requests,
                "errors" => stats.errors,
                "timeouts" => stats.timeouts,
                "queue_timeouts" => stats.queue_timeouts,
                "pool_saturated" => stats.pool_saturated,
                "restarts" => stats.restarts,
                "retries" => stats.retries,
                "workers" => stats.workers as u64,
                "busy" => stats.busy as u64,
                "queued" => stats.queued as u64,
                _ => served.pool.sessions().stats().sessions as u64,
            };
            let pool = served.name.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(text, "{metric}{{pool=\"{pool}\"}} {value}");
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
