//! The built-in host tools every worker can call, registered as ordinary host tools:
//! listing host tools, and reading and writing the variables of the call's session.

use serde_json::Value;

use super::error::HostToolError;
use super::host_tool::{HostCall, HostTool};
use crate::protocol::ParamSpec;
use crate::session::{Constraints, SessionError, SessionId, SessionStore, Variable};
use crate::value::Payload;

const LIST: &str = "snakepit.list_host_tools";
const GET: &str = "snakepit.get_variable";
const SET: &str = "snakepit.set_variable";
const VARIABLES: &str = "snakepit.list_variables";
const REGISTER: &str = "snakepit.register_variable";

/// The built-in tools, working on `sessions`.
pub(super) fn tools(sessions: &SessionStore) -> Vec<HostTool> {
    let list = HostTool::new(
        LIST,
        "List the host tools this call can use.",
        |call: HostCall, _args| async move {
            let pool = call
                .pool()
                .ok_or_else(|| HostToolError::new("the pool is shutting down"))?;
            to_value(&pool.host_tools().visible(call.session()))
        },
    );
    let store = sessions.clone();
    let get = HostTool::with_payload(
        GET,
        "Read a variable of the call's session (a tensor or embedding as an array).",
        move |call: HostCall, args: Payload| {
            let store = store.clone();
            async move {
                let session = in_session(&call)?;
                let name = string_arg(&args.value, "name")?;
                let variable = store
                    .get_stored_variable(session.as_str(), name)
                    .map_err(|err| session_failure(&err))?;
                variable_payload(&variable)
            }
        },
    )
    .param(ParamSpec::new("name").type_name("str").required());
    let store = sessions.clone();
    let set = HostTool::new(
        SET,
        "Update a variable of the call's session (validated by its type and constraints).",
        move |call: HostCall, args: Value| {
            let store = store.clone();
            async move {
                let session = in_session(&call)?;
                let name = string_arg(&args, "name")?;
                let value = args.get("value").cloned().ok_or_else(|| missing("value"))?;
                to_value(
                    &store
                        .update_variable(session, name, value)
                        .map_err(|err| session_failure(&err))?,
                )
            }
        },
    )
    .param(ParamSpec::new("name").type_name("str").required())
    .param(ParamSpec::new("value").required());
    let store = sessions.clone();
    let variables = HostTool::with_payload(
        VARIABLES,
        "List the variables of the call's session (tensors and embeddings as arrays).",
        move |call: HostCall, _args| {
            let store = store.clone();
            async move {
                let session = in_session(&call)?;
                let stored = store
                    .list_stored_variables(session.as_str())
                    .map_err(|err| session_failure(&err))?;
                let mut list = Vec::with_capacity(stored.len());
                let mut buffers = Vec::new();
                for variable in &stored {
                    let mut one = variable_payload(variable)?;
                    renumber(&mut one.value, buffers.len());
                    buffers.append(&mut one.buffers);
                    list.push(one.value);
                }
                Ok(Payload {
                    value: Value::Array(list),
                    buffers,
                })
            }
        },
    );
    let store = sessions.clone();
    let register = HostTool::new(
        REGISTER,
        "Create a typed variable in the call's session (`name`, `type`, `value`, optional \
         `constraints`).",
        move |call: HostCall, args: Value| {
            let store = store.clone();
            async move {
                let session = in_session(&call)?;
                let name = string_arg(&args, "name")?;
                let var_type = serde_json::from_value(
                    args.get("type").cloned().unwrap_or_default(),
                )
                .map_err(|err| {
                    HostToolError::with_kind("InvalidArguments", format!("`type`: {err}"))
                })?;
                let value = args.get("value").cloned().ok_or_else(|| missing("value"))?;
                let constraints = match args.get("constraints") {
                    None | Some(Value::Null) => Constraints::default(),
                    Some(given) => serde_json::from_value(given.clone()).map_err(|err| {
                        HostToolError::with_kind(
                            "InvalidArguments",
                            format!("`constraints`: {err}"),
                        )
                    })?,
                };
                to_value(
                    &store
                        .register_variable(session, name, var_type, value, constraints)
                        .map_err(|err| session_failure(&err))?,
                )
            }
        },
    )
    .param(ParamSpec::new("name").type_name("str").required())
    .param(ParamSpec::new("type").type_name("str").required())
    .param(ParamSpec::new("value").required())
    .param(ParamSpec::new("constraints").type_name("dict"));
    vec![list, get, set, variables, register]
}

/// A variable for a worker: a tensor or embedding value as an array (a buffer), others as
/// JSON.
fn variable_payload(variable: &Variable) -> Result<Payload, HostToolError> {
    let mut json = to_value(variable)?;
    let Some(array) = &variable.array else {
        return Ok(Payload::json(json));
    };
    let encoded = Payload::encode(array).map_err(|err| HostToolError::new(err.to_string()))?;
    json["value"] = encoded.value;
    Ok(Payload {
        value: json,
        buffers: encoded.buffers,
    })
}

/// Shifts the marker of a variable's value (at most one, its `value`) past `offset` earlier
/// buffers.
fn renumber(variable: &mut Value, offset: usize) {
    if let Some(index) = variable
        .get_mut("value")
        .and_then(|value| value.get_mut(crate::value::MARKER_KEY))
    {
        if let Some(at) = index.as_u64() {
            *index = Value::from(at + offset as u64);
        }
    }
}

fn in_session(call: &HostCall) -> Result<&SessionId, HostToolError> {
    call.session()
        .ok_or_else(|| HostToolError::with_kind("NoSession", "this call runs outside a session"))
}

fn string_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, HostToolError> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| missing(key))
}

fn missing(key: &str) -> HostToolError {
    HostToolError::with_kind(
        "InvalidArguments",
        format!("missing string argument `{key}`"),
    )
}

fn session_failure(err: &SessionError) -> HostToolError {
    let kind = match *err {
        SessionError::VariableNotFound { .. } | SessionError::NotFound(_) => "NotFound",
        SessionError::InvalidVariable { .. } => "InvalidVariable",
        _ => "SessionError",
    };
    HostToolError::with_kind(kind, err.to_string())
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, HostToolError> {
    serde_json::to_value(value).map_err(|err| HostToolError::new(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{SessionStoreConfig, VariableType};
    use crate::tool::HostTools;
    use crate::worker::WorkerId;
    use serde_json::json;

    async fn run(
        tools: &HostTools,
        call: HostCall,
        name: &str,
        args: Value,
    ) -> Result<Value, HostToolError> {
        let answer = tools.dispatch(call, name, args.into()).await?;
        Ok(answer.into_json().unwrap())
    }

    #[tokio::test]
    async fn variables_are_read_and_written_in_the_calls_session() {
        let store = SessionStore::new(SessionStoreConfig::default());
        store.create("s1", None).unwrap();
        store
            .register_variable(
                "s1",
                "temperature",
                VariableType::Float,
                json!(0.5),
                Constraints {
                    max: Some(1.0),
                    ..Constraints::default()
                },
            )
            .unwrap();
        let tools = HostTools::new(&store);
        let call = |session: Option<&str>| HostCall {
            pool: None,
            session: session.map(SessionId::from),
            worker: WorkerId::next(),
        };
        let read = run(
            &tools,
            call(Some("s1")),
            GET,
            json!({"name": "temperature"}),
        )
        .await
        .unwrap();
        assert_eq!(read["value"], json!(0.5));
        let written = run(
            &tools,
            call(Some("s1")),
            SET,
            json!({"name": "temperature", "value": 0.9}),
        )
        .await
        .unwrap();
        assert_eq!(written["value"], json!(0.9));
        let refused = run(
            &tools,
            call(Some("s1")),
            SET,
            json!({"name": "temperature", "value": 2}),
        )
        .await
        .unwrap_err();
        assert_eq!(refused.kind, "InvalidVariable");
        let outside = run(&tools, call(None), GET, json!({"name": "temperature"}))
            .await
            .unwrap_err();
        assert_eq!(outside.kind, "NoSession");
        let registered = run(
            &tools,
            call(Some("s1")),
            REGISTER,
            json!({"name": "top_k", "type": "integer", "value": 5, "constraints": {"min": 1}}),
        )
        .await
        .unwrap();
        assert_eq!(registered["value"], json!(5));
        let read = run(&tools, call(Some("s1")), GET, json!({"name": "top_k"}))
            .await
            .unwrap();
        assert_eq!(read["value"], json!(5));
        let below = run(
            &tools,
            call(Some("s1")),
            SET,
            json!({"name": "top_k", "value": 0}),
        )
        .await
        .unwrap_err();
        assert_eq!(below.kind, "InvalidVariable");
        let bad_type = run(
            &tools,
            call(Some("s1")),
            REGISTER,
            json!({"name": "x", "type": "frobnicate", "value": 1}),
        )
        .await
        .unwrap_err();
        assert_eq!(bad_type.kind, "InvalidArguments");
        let unknown = run(&tools, call(None), "user.tool", json!({}))
            .await
            .unwrap_err();
        assert_eq!(unknown.kind, "UnknownHostTool");
        assert!(unknown.message.contains(GET), "{}", unknown.message);
    }
}
