//! The payload conventions of the original's gRPC protocol, none of which is in its schema,
//! turned into the native protocol's values: every quirk is handled here and nowhere else
//! (the list, with the reasons, is `docs/design/grpc-compat.md`).

use std::collections::HashMap;

use prost::Message as _;
use prost_types::Any;
use serde_json::{Map, Value, json};

use super::pb;
use crate::protocol::{ParamSpec, ToolSpec};

/// The type URL the original host puts on every parameter. The value is raw JSON, not a
/// packed `StringValue`; the worker JSON-decodes it whatever the URL says.
pub(super) const JSON_TYPE_URL: &str = "type.googleapis.com/google.protobuf.StringValue";

/// The type URL of a result that was a Python number (ints included).
const FLOAT_KIND: &str = "snakepit.float";
/// The type URL of a result that was a Python string, or `None` and anything else via `str`.
const STRING_KIND: &str = "snakepit.string";
/// The largest integer a double carries exactly.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// One call's arguments as the worker wants them: each in its own `Any` holding raw JSON.
pub(super) fn parameters(args: Option<&Value>) -> HashMap<String, Any> {
    let Some(Value::Object(args)) = args else {
        return HashMap::new();
    };
    args.iter()
        .map(|(name, value)| (name.clone(), json_any(value)))
        .collect()
}

/// A value as an `Any` holding its JSON bytes under the `StringValue` type URL.
pub(super) fn json_any(value: &Value) -> Any {
    Any {
        type_url: JSON_TYPE_URL.to_owned(),
        value: serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec()),
    }
}

/// A unary result as a native value. Python ints come back as floats (`5.0`) and `None` as
/// the string `"None"`; both are turned back. The type URL names the Python type of the
/// top-level value only, so nested values are left as they are (they are plain JSON).
pub(super) fn result(any: Option<&Any>) -> Value {
    let Some(any) = any else {
        return Value::Null;
    };
    let Ok(value) = serde_json::from_slice::<Value>(&any.value) else {
        return Value::String(String::from_utf8_lossy(&any.value).into_owned());
    };
    if any.type_url.ends_with(FLOAT_KIND) {
        return integral(value);
    }
    if any.type_url.ends_with(STRING_KIND) && value.as_str() == Some("None") {
        return Value::Null;
    }
    value
}

/// A float that holds an integer exactly, as that integer.
fn integral(value: Value) -> Value {
    match value.as_f64() {
        Some(float) if float.fract() == 0.0 && float.abs() < EXACT_INT => {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "the float is integral and within ±2^53, so the cast is exact"
            )]
            let int = float as i64;
            Value::from(int)
        }
        _ => value,
    }
}

/// The data of one stream chunk as a native value: JSON when it parses (the worker writes
/// dicts, lists and numbers with `json.dumps`, spaces and all), else the text of a string
/// the tool yielded (sent raw, unquoted), else the bytes in base64.
pub(super) fn chunk_data(data: &[u8]) -> Value {
    if data.is_empty() {
        return Value::Null;
    }
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        return value;
    }
    match std::str::from_utf8(data) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => json!({ "raw_data_base64": base64(data) }),
    }
}

/// The native error map (`type`, `message`, `traceback`) for the worker's error JSON
/// (`type`, `message`, `stacktrace`, `traceback`, `context`). A message that is not that
/// JSON becomes an `Error` with the message as it is. An unknown tool, which the worker
/// reports as `AttributeError: Tool '<name>' not found ...`, becomes `UnknownCommand`.
pub(super) fn error(message: &str) -> Value {
    let parsed = serde_json::from_str::<Map<String, Value>>(message).ok();
    let Some(fields) = parsed.filter(|fields| fields.contains_key("type")) else {
        return json!({ "type": "Error", "message": message });
    };
    let kind = fields
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("Error");
    let text = fields
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind =
        if kind == "AttributeError" && text.starts_with("Tool '") && text.contains("not found") {
            "UnknownCommand"
        } else {
            kind
        };
    let traceback = fields
        .get("traceback")
        .filter(|traceback| traceback.is_string())
        .cloned()
        .unwrap_or(Value::Null);
    json!({ "type": kind, "message": text, "traceback": traceback })
}

/// A tool as the worker registered it, described as a native tool spec. Defaults travel in
/// `validation_json` as `{"default": ...}`; the `Any` default is never set.
pub(super) fn tool_spec(tool: &pb::ToolRegistration) -> ToolSpec {
    let mut spec = ToolSpec::default();
    spec.name.clone_from(&tool.name);
    spec.description = Some(tool.description.clone()).filter(|text| !text.is_empty());
    spec.streaming = tool.supports_streaming;
    spec.parameters = tool.parameters.iter().map(param_spec).collect();
    spec
}

fn param_spec(param: &pb::ParameterSpec) -> ParamSpec {
    let mut spec = ParamSpec::new(param.name.clone());
    spec.type_name = Some(param.r#type.clone()).filter(|name| !name.is_empty());
    spec.required = param.required;
    spec.description = Some(param.description.clone()).filter(|text| !text.is_empty());
    spec.default = serde_json::from_str::<Map<String, Value>>(&param.validation_json)
        .ok()
        .and_then(|mut validation| validation.remove("default"));
    spec
}

/// One argument of a worker's call to a host tool. Numbers and booleans arrive as raw JSON;
/// strings, and lists, dicts and `None` (as Python's `str` of them), as a packed
/// `StringValue`. JSON is tried first, then the packed string.
pub(super) fn host_argument(any: &Any) -> Value {
    if let Ok(value) = serde_json::from_slice::<Value>(&any.value) {
        return value;
    }
    match prost::alloc::string::String::decode(any.value.as_slice()) {
        Ok(text) => Value::String(text),
        Err(_) => Value::String(String::from_utf8_lossy(&any.value).into_owned()),
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let word = group.iter().enumerate().fold(0_u32, |word, (n, byte)| {
            word | u32::from(*byte) << (16 - 8 * n)
        });
        for n in 0..4 {
            if n <= group.len() {
                let index = usize::try_from((word >> (18 - 6 * n)) & 63).unwrap_or_default();
                out.push(char::from(ALPHABET[index]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(kind: &str, json: &str) -> Any {
        Any {
            type_url: format!("type.googleapis.com/snakepit.{kind}"),
            value: json.as_bytes().to_vec(),
        }
    }

    #[test]
    fn ints_that_came_back_as_floats_are_ints_again() {
        assert_eq!(result(Some(&any("float", "5.0"))), json!(5));
        assert_eq!(result(Some(&any("float", "-3"))), json!(-3));
        assert_eq!(result(Some(&any("float", "2.5"))), json!(2.5));
        assert_eq!(result(Some(&any("float", "\"NaN\""))), json!("NaN"));
        // Nested values are plain JSON: a float stays a float.
        assert_eq!(result(Some(&any("map", r#"{"x":1.0}"#))), json!({"x": 1.0}));
    }

    #[test]
    fn the_string_none_is_null_and_other_strings_stay() {
        assert_eq!(result(Some(&any("string", "\"None\""))), Value::Null);
        assert_eq!(result(Some(&any("string", "\"xy\""))), json!("xy"));
        assert_eq!(result(None), Value::Null);
    }

    #[test]
    fn chunk_data_is_json_then_text_then_base64() {
        assert_eq!(
            chunk_data(br#"{"step": 1, "of": [1, 2]}"#),
            json!({"step": 1, "of": [1, 2]})
        );
        assert_eq!(chunk_data(b"hello world"), json!("hello world"));
        assert_eq!(chunk_data(b""), Value::Null);
        assert_eq!(
            chunk_data(&[0xff, 0x00, 0x10]),
            json!({"raw_data_base64": "/wAQ"})
        );
    }

    #[test]
    fn error_json_becomes_the_native_error_map() {
        let raw = r#"{"type": "ValueError", "message": "bad", "stacktrace": ["a"], "traceback": "Traceback...", "context": {"tool_name": "t"}}"#;
        assert_eq!(
            error(raw),
            json!({"type": "ValueError", "message": "bad", "traceback": "Traceback..."})
        );
        let unknown = r#"{"type": "AttributeError", "message": "Tool 'nope' not found in X"}"#;
        assert_eq!(error(unknown)["type"], "UnknownCommand");
        assert_eq!(
            error("plain failure"),
            json!({"type": "Error", "message": "plain failure"})
        );
    }

    #[test]
    fn host_arguments_are_json_or_packed_strings() {
        let packed = Any {
            type_url: JSON_TYPE_URL.to_owned(),
            value: vec![0x0a, 0x01, b's'],
        };
        assert_eq!(host_argument(&packed), json!("s"));
        assert_eq!(host_argument(&json_any(&json!(21))), json!(21));
    }

    #[test]
    fn registered_tools_become_tool_specs_with_their_defaults() {
        let tool = pb::ToolRegistration {
            name: "add".to_owned(),
            description: "Adds".to_owned(),
            supports_streaming: false,
            parameters: vec![pb::ParameterSpec {
                name: "b".to_owned(),
                r#type: "int".to_owned(),
                required: false,
                validation_json: r#"{"default": 2}"#.to_owned(),
                ..pb::ParameterSpec::default()
            }],
            ..pb::ToolRegistration::default()
        };
        let spec = tool_spec(&tool);
        assert_eq!(spec.name, "add");
        assert_eq!(spec.parameters[0].default, Some(json!(2)));
        assert_eq!(spec.parameters[0].type_name.as_deref(), Some("int"));
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }
}
