//! The built-in host tools every worker can call: listing host tools and reading and writing
//! the variables of the call's session.

use serde_json::Value;

use super::HostToolInfo;
use super::registry::{HostFailure, HostTools};
use crate::protocol::ParamSpec;
use crate::session::{SessionError, SessionId};

const LIST: &str = "snakepit.list_host_tools";
const GET: &str = "snakepit.get_variable";
const SET: &str = "snakepit.set_variable";
const VARIABLES: &str = "snakepit.list_variables";

pub(super) fn infos() -> Vec<HostToolInfo> {
    let info = |name: &str, description: &str, parameters: Vec<ParamSpec>| HostToolInfo {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters,
    };
    vec![
        info(LIST, "List the host tools this call can use.", Vec::new()),
        info(
            GET,
            "Read a variable of the call's session.",
            vec![ParamSpec::new("name").type_name("str").required()],
        ),
        info(
            SET,
            "Update a variable of the call's session (validated by its type and constraints).",
            vec![
                ParamSpec::new("name").type_name("str").required(),
                ParamSpec::new("value").required(),
            ],
        ),
        info(
            VARIABLES,
            "List the variables of the call's session.",
            Vec::new(),
        ),
    ]
}

/// Runs a built-in tool, or `None` when `name` is not one.
pub(super) fn dispatch(
    tools: &HostTools,
    session: Option<&SessionId>,
    name: &str,
    args: &Value,
) -> Option<Result<Value, HostFailure>> {
    let outcome = match name {
        LIST => to_value(&tools.visible(session)),
        GET => in_session(session).and_then(|session| {
            let name = string_arg(args, "name")?;
            to_value(
                &tools
                    .sessions()
                    .get_variable(session, name)
                    .map_err(|err| session_failure(&err))?,
            )
        }),
        SET => in_session(session).and_then(|session| {
            let name = string_arg(args, "name")?;
            let value = args.get("value").cloned().ok_or_else(|| missing("value"))?;
            to_value(
                &tools
                    .sessions()
                    .update_variable(session, name, value)
                    .map_err(|err| session_failure(&err))?,
            )
        }),
        VARIABLES => in_session(session).and_then(|session| {
            to_value(
                &tools
                    .sessions()
                    .list_variables(session)
                    .map_err(|err| session_failure(&err))?,
            )
        }),
        _ => return None,
    };
    Some(outcome)
}

fn in_session(session: Option<&SessionId>) -> Result<&SessionId, HostFailure> {
    session.ok_or_else(|| HostFailure::new("NoSession", "this call runs outside a session"))
}

fn string_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, HostFailure> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| missing(key))
}

fn missing(key: &str) -> HostFailure {
    HostFailure::new(
        "InvalidArguments",
        format!("missing string argument `{key}`"),
    )
}

fn session_failure(err: &SessionError) -> HostFailure {
    let kind = match *err {
        SessionError::VariableNotFound { .. } | SessionError::NotFound(_) => "NotFound",
        SessionError::InvalidVariable { .. } => "InvalidVariable",
        _ => "SessionError",
    };
    HostFailure::new(kind, err.to_string())
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, HostFailure> {
    serde_json::to_value(value).map_err(|err| HostFailure::new("HostToolError", err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Constraints, SessionStore, SessionStoreConfig, VariableType};
    use serde_json::json;

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
        let tools = HostTools::new(store);
        let session = SessionId::from("s1");
        let read = dispatch(&tools, Some(&session), GET, &json!({"name": "temperature"}))
            .unwrap()
            .unwrap();
        assert_eq!(read["value"], json!(0.5));
        let written = dispatch(
            &tools,
            Some(&session),
            SET,
            &json!({"name": "temperature", "value": 0.9}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(written["value"], json!(0.9));
        let refused = dispatch(
            &tools,
            Some(&session),
            SET,
            &json!({"name": "temperature", "value": 2}),
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(refused.kind, "InvalidVariable");
        let outside = dispatch(&tools, None, GET, &json!({"name": "temperature"}))
            .unwrap()
            .unwrap_err();
        assert_eq!(outside.kind, "NoSession");
        assert!(dispatch(&tools, None, "user.tool", &json!({})).is_none());
    }
}
