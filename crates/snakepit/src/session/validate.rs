//! Validation of variable values against their spec.
//!
//! Pure functions returning a human-readable reason on failure; the store wraps the reason
//! in [`SessionError::InvalidVariable`](super::SessionError::InvalidVariable) together with
//! the variable's name. Tensors and embeddings are checked in `tensor.rs`.

use serde_json::Value;

use super::tensor::{check_embedding, check_tensor};
use super::{ItemSpec, VariableSpec};

/// Checks a value against a spec.
pub(super) fn check_value(spec: &VariableSpec, value: &Value) -> Result<(), String> {
    match spec {
        VariableSpec::Float { min, max } => check_float(value, *min, *max),
        VariableSpec::Integer { min, max } => check_integer(value, *min, *max),
        VariableSpec::String {
            min_length,
            max_length,
        } => {
            let text = value.as_str().ok_or_else(|| expected("a string", value))?;
            check_length(
                "string",
                "characters",
                text.chars().count(),
                *min_length,
                *max_length,
            )
        }
        VariableSpec::Boolean => check_kind(value.is_boolean(), "a boolean", value),
        VariableSpec::Choice { choices } => check_choice(value, choices),
        VariableSpec::List {
            item,
            min_length,
            max_length,
        } => {
            let items = value.as_array().ok_or_else(|| expected("a list", value))?;
            check_length("list", "items", items.len(), *min_length, *max_length)?;
            if let Some(item) = item {
                for (index, element) in items.iter().enumerate() {
                    check_item(item, element)
                        .map_err(|reason| format!("item {index}: {reason}"))?;
                }
            }
            Ok(())
        }
        VariableSpec::Map => check_kind(value.is_object(), "a map", value),
        VariableSpec::Tensor { shape, dtype } => check_tensor(value, shape.as_deref(), *dtype),
        VariableSpec::Embedding { dimensions } => check_embedding(value, *dimensions),
    }
}

/// Checks one element of a list.
fn check_item(item: &ItemSpec, value: &Value) -> Result<(), String> {
    match item {
        ItemSpec::Float { min, max } => check_float(value, *min, *max),
        ItemSpec::Integer { min, max } => check_integer(value, *min, *max),
        ItemSpec::String => check_kind(value.is_string(), "a string", value),
        ItemSpec::Boolean => check_kind(value.is_boolean(), "a boolean", value),
        ItemSpec::Choice { choices } => check_choice(value, choices),
        ItemSpec::List => check_kind(value.is_array(), "a list", value),
        ItemSpec::Map => check_kind(value.is_object(), "a map", value),
        ItemSpec::Tensor => check_tensor(value, None, None),
        ItemSpec::Embedding => check_embedding(value, None),
    }
}

fn check_kind(fits: bool, what: &str, value: &Value) -> Result<(), String> {
    if fits {
        Ok(())
    } else {
        Err(expected(what, value))
    }
}

fn check_float(value: &Value, min: Option<f64>, max: Option<f64>) -> Result<(), String> {
    let number = value.as_f64().ok_or_else(|| expected("a number", value))?;
    if let Some(min) = min.filter(|min| number < *min) {
        return Err(format!("{value} is less than the minimum {min}"));
    }
    if let Some(max) = max.filter(|max| number > *max) {
        return Err(format!("{value} is greater than the maximum {max}"));
    }
    Ok(())
}

fn check_integer(value: &Value, min: Option<i64>, max: Option<i64>) -> Result<(), String> {
    let number = value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from))
        .ok_or_else(|| expected("an integer", value))?;
    if let Some(min) = min.filter(|min| number < i128::from(*min)) {
        return Err(format!("{value} is less than the minimum {min}"));
    }
    if let Some(max) = max.filter(|max| number > i128::from(*max)) {
        return Err(format!("{value} is greater than the maximum {max}"));
    }
    Ok(())
}

fn check_choice(value: &Value, choices: &[Value]) -> Result<(), String> {
    if choices.contains(value) {
        Ok(())
    } else {
        Err(format!(
            "{} is not one of the choices {}",
            short(value),
            Value::from(choices.to_vec())
        ))
    }
}

fn check_length(
    what: &str,
    unit: &str,
    length: usize,
    min: Option<usize>,
    max: Option<usize>,
) -> Result<(), String> {
    if let Some(min) = min.filter(|min| length < *min) {
        return Err(format!(
            "{what} has {length} {unit}, fewer than min_length {min}"
        ));
    }
    if let Some(max) = max.filter(|max| length > *max) {
        return Err(format!(
            "{what} has {length} {unit}, more than max_length {max}"
        ));
    }
    Ok(())
}

/// "expected an integer, got a number (1.5)"
pub(super) fn expected(what: &str, value: &Value) -> String {
    format!("expected {what}, got {}", kind(value))
}

/// "a number (1.5)", "a string (\"abc\")", "an array", "null".
pub(super) fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => format!("a boolean ({value})"),
        Value::Number(_) => format!("a number ({value})"),
        Value::String(_) => format!("a string ({})", short(value)),
        Value::Array(items) => format!("an array of {}", items.len()),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// The value as JSON, cut short when long.
fn short(value: &Value) -> String {
    const LIMIT: usize = 40;
    let text = value.to_string();
    if text.chars().count() <= LIMIT {
        text
    } else {
        let cut: String = text.chars().take(LIMIT).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
pub(super) mod tests {
    use serde_json::json;

    use super::*;
    use crate::session::{
        Constraints, SessionError, SessionStore, SessionStoreConfig, VariableType,
    };

    fn constraints(value: Value) -> Constraints {
        serde_json::from_value(value).unwrap()
    }

    /// Registers `good`, tries `bad` and checks that the error names the variable and the
    /// rule, and that the old value and version stay.
    #[track_caller]
    pub(in crate::session) fn rejects(
        var_type: VariableType,
        rules: Value,
        good: Value,
        bad: Value,
        reason_contains: &str,
    ) {
        let store = SessionStore::new(SessionStoreConfig::default());
        store.create("s", None).unwrap();
        store
            .register_variable("s", "v", var_type, good.clone(), constraints(rules))
            .unwrap_or_else(|err| panic!("{var_type}: good value {good} rejected: {err}"));
        let shown = bad.to_string();
        match store.update_variable("s", "v", bad) {
            Err(SessionError::InvalidVariable { name, reason }) => {
                assert_eq!(name, "v");
                assert!(
                    reason.contains(reason_contains),
                    "{var_type}: reason `{reason}` lacks `{reason_contains}`"
                );
            }
            other => panic!("{var_type}: bad value {shown} gave {other:?}"),
        }
        let kept = store.get_variable("s", "v").unwrap();
        assert_eq!((kept.value, kept.version), (good.clone(), 0));
        let updated = store.update_variable("s", "v", good).unwrap();
        assert_eq!(updated.version, 1);
    }

    #[test]
    fn each_type_accepts_good_and_rejects_bad_values() {
        use VariableType as T;
        rejects(
            T::Float,
            json!({}),
            json!(0.5),
            json!("x"),
            "expected a number",
        );
        rejects(
            T::Float,
            json!({}),
            json!(2),
            json!(null),
            "expected a number, got null",
        );
        rejects(
            T::Integer,
            json!({}),
            json!(3),
            json!(1.5),
            "expected an integer, got a number (1.5)",
        );
        rejects(
            T::String,
            json!({}),
            json!("hi"),
            json!(5),
            "expected a string",
        );
        rejects(
            T::Boolean,
            json!({}),
            json!(true),
            json!("true"),
            "expected a boolean",
        );
        rejects(
            T::Choice,
            json!({"choices": ["a", "b"]}),
            json!("a"),
            json!("c"),
            "\"c\" is not one of the choices [\"a\",\"b\"]",
        );
        rejects(
            T::List,
            json!({}),
            json!([1, "a"]),
            json!({}),
            "expected a list",
        );
        rejects(
            T::Map,
            json!({}),
            json!({"a": 1}),
            json!([1]),
            "expected a map",
        );
    }

    #[test]
    fn each_rule_rejects_a_violation() {
        use VariableType as T;
        rejects(
            T::Integer,
            json!({"min": 0}),
            json!(0),
            json!(-1),
            "-1 is less than the minimum 0",
        );
        rejects(
            T::Float,
            json!({"max": 1}),
            json!(1.0),
            json!(1.01),
            "1.01 is greater than the maximum 1",
        );
        rejects(
            T::String,
            json!({"min_length": 2}),
            json!("ab"),
            json!("a"),
            "string has 1 characters, fewer than min_length 2",
        );
        rejects(
            T::String,
            json!({"max_length": 3}),
            json!("héé"),
            json!("abcd"),
            "string has 4 characters, more than max_length 3",
        );
        rejects(
            T::List,
            json!({"min_length": 1}),
            json!([1]),
            json!([]),
            "fewer than min_length 1",
        );
        rejects(
            T::List,
            json!({"max_length": 2}),
            json!([1, 2]),
            json!([1, 2, 3]),
            "more than max_length 2",
        );
        rejects(
            T::List,
            json!({"item_type": "integer"}),
            json!([1, 2]),
            json!([1, "x"]),
            "item 1: expected an integer",
        );
        rejects(
            T::List,
            json!({"item_type": "integer", "min": 0}),
            json!([0]),
            json!([-1]),
            "item 0: -1 is less than the minimum 0",
        );
        rejects(
            T::List,
            json!({"item_type": "choice", "choices": ["a"]}),
            json!(["a", "a"]),
            json!(["b"]),
            "item 0: \"b\" is not one of the choices",
        );
    }

    #[test]
    fn long_values_are_cut_short_in_reasons() {
        let long = json!("x".repeat(100));
        let reason = check_value(
            &VariableSpec::Integer {
                min: None,
                max: None,
            },
            &long,
        )
        .unwrap_err();
        assert!(reason.ends_with("…)"), "{reason}");
        assert!(reason.chars().count() < 80, "{reason}");
    }
}
