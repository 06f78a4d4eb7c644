//! Host tools: Rust closures that Python calls, with results, errors, session scoping and
//! nesting.

use serde_json::{Value, json};
use snakepit::tool::HostTool;

use crate::support;

fn adder() -> HostTool {
    HostTool::new(
        "add_numbers",
        "Add two numbers.",
        |_call, args: Value| async move {
            let a = args["a"].as_i64().ok_or("a must be an integer")?;
            let b = args["b"].as_i64().ok_or("b must be an integer")?;
            Ok(json!(a + b))
        },
    )
}

#[tokio::test]
async fn python_calls_a_host_tool_and_gets_its_result_or_its_error() {
    let pool = support::fault_pool(1).await;
    pool.register_host_tool(adder());
    let sum = pool
        .execute(
            "host",
            json!({"name": "add_numbers", "args": {"a": 2, "b": 40}}),
        )
        .await
        .unwrap();
    assert_eq!(sum, json!(42));
    let failure = pool
        .execute(
            "host_error",
            json!({"name": "add_numbers", "args": {"a": "x", "b": 1}}),
        )
        .await
        .unwrap();
    assert_eq!(
        failure,
        json!({"type": "HostToolError", "message": "a must be an integer"})
    );
    let unknown = pool
        .execute("host_error", json!({"name": "nope", "args": {}}))
        .await
        .unwrap();
    assert_eq!(unknown["type"], "UnknownHostTool");
    assert!(unknown["message"].as_str().unwrap().contains("add_numbers"));
    pool.shutdown().await;
}

#[tokio::test]
async fn a_session_scoped_tool_is_invisible_to_other_sessions() {
    let pool = support::fault_pool(1).await;
    pool.register_host_tool(adder());
    let secret = HostTool::new("secret", "Only for s1.", |call, _args| async move {
        Ok(json!(
            call.session().map(|session| session.as_str().to_owned())
        ))
    });
    pool.register_session_tool("s1", secret);
    let visible = pool
        .execute_in_session("s1", "list_host", json!({}))
        .await
        .unwrap();
    let names: Vec<&str> = visible
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"secret") && names.contains(&"add_numbers"),
        "{names:?}"
    );
    assert_eq!(
        pool.execute_in_session("s1", "host", json!({"name": "secret", "args": {}}))
            .await
            .unwrap(),
        json!("s1")
    );
    let elsewhere = pool
        .execute_in_session("s2", "list_host", json!({}))
        .await
        .unwrap();
    assert!(!elsewhere.as_array().unwrap().contains(&json!("secret")));
    let refused = pool
        .execute_in_session("s2", "host_error", json!({"name": "secret", "args": {}}))
        .await
        .unwrap();
    assert_eq!(refused["type"], "UnknownHostTool");
    let outside = pool
        .execute("host_error", json!({"name": "secret", "args": {}}))
        .await
        .unwrap();
    assert_eq!(outside["type"], "UnknownHostTool");
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_tool_may_call_the_pool_while_its_caller_waits() {
    let pool = support::fault_pool(2).await;
    pool.register_host_tool(HostTool::new(
        "nested",
        "Calls a worker.",
        |call, args| async move {
            let pool = call.pool().ok_or("the pool is gone")?;
            let sum = pool
                .execute("add", args)
                .await
                .map_err(|err| err.to_string())?;
            Ok(json!({"nested_sum": sum}))
        },
    ));
    let reply = pool
        .execute(
            "host",
            json!({"name": "nested", "args": {"a": 20, "b": 22}}),
        )
        .await
        .unwrap();
    assert_eq!(reply, json!({"nested_sum": 42}));
    pool.shutdown().await;
}
