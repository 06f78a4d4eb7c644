//! Where workers get the bridge from: the copy embedded in the crate, or an installed package.

use serde_json::json;
use snakepit::{BridgeSource, PythonAdapter};

use crate::support;

#[tokio::test]
async fn the_embedded_bridge_runs_from_any_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    let adapter = support::showcase_adapter().current_dir(elsewhere.path());
    let pool = support::builder(adapter, 1).start().await.unwrap();
    assert_eq!(
        pool.execute("ping", json!({})).await.unwrap()["status"],
        "ok"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn the_pip_installed_bridge_runs_without_the_embedded_copy() {
    let elsewhere = tempfile::tempdir().unwrap();
    let adapter = PythonAdapter::showcase()
        .python(support::python())
        .bridge(BridgeSource::Installed)
        .current_dir(elsewhere.path());
    let pool = support::builder(adapter, 1).start().await.unwrap();
    let info = pool.execute("info", json!({})).await.unwrap();
    let location = info["bridge_path"].as_str().unwrap_or_default().to_owned();
    assert!(
        location.contains("site-packages"),
        "bridge loaded from {location}"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn a_worker_without_msgpack_speaks_json() {
    let adapter = support::fault_adapter().env("SNAKEPIT_ENCODINGS", "json");
    let pool = support::builder(adapter, 1).start().await.unwrap();
    let reply = pool
        .execute("whole", json!({"x": 1, "y": [1.5, "é"]}))
        .await
        .unwrap();
    assert_eq!(reply, json!(["x", "y"]));
    pool.shutdown().await;
}
