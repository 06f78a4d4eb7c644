//! A Prometheus text exposition of the pool metrics (feature `prometheus`): [`install`]
//! makes a Prometheus recorder the process's `metrics` recorder, [`render`] returns the
//! text a `/metrics` endpoint serves.
//!
//! Durations (`*_seconds`) are histograms with buckets from 50 µs to 60 s.

use std::sync::Mutex;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::{Error, Result};

/// The buckets of every `*_seconds` histogram.
const SECONDS_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the Prometheus recorder as the process's global `metrics` recorder. Calling it
/// again does nothing more.
///
/// # Errors
///
/// [`Error::Config`] when another `metrics` recorder is already installed.
pub fn install() -> Result<()> {
    handle().map(drop)
}

/// The metrics of every pool of this process in the Prometheus text format, installing the
/// recorder first if needed.
///
/// # Errors
///
/// As [`install`].
pub fn render() -> Result<String> {
    Ok(handle()?.render())
}

fn handle() -> Result<PrometheusHandle> {
    let mut slot = HANDLE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let refused = |err: &dyn std::fmt::Display| {
        Error::Config(format!("cannot install the Prometheus recorder: {err}"))
    };
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
        .map_err(|err| refused(&err))?
        .install_recorder()
        .map_err(|err| refused(&err))?;
    *slot = Some(handle.clone());
    Ok(handle)
}
