//! Validation of variable values against their type and constraints.
//!
//! Pure functions returning a human-readable reason on failure; the store wraps the reason
//! in [`SessionError::InvalidVariable`](super::SessionError::InvalidVariable) together with
//! the variable's name.

use serde_json::Value;

use super::{Constraints, VariableType};

/// Checks that the constraints make sense for the type, for example that a choice has
/// choices and that `min <= max`.
pub(super) fn check_constraints(
    var_type: VariableType,
    constraints: &Constraints,
) -> Result<(), String> {
    for (label, bound) in [("min", constraints.min), ("max", constraints.max)] {
        if bound.is_some_and(f64::is_nan) {
            return Err(format!("{label} is not a number"));
        }
    }
    if let (Some(min), Some(max)) = (constraints.min, constraints.max) {
        if min > max {
            return Err(format!("min {min} is greater than max {max}"));
        }
    }
    if let (Some(min), Some(max)) = (constraints.min_length, constraints.max_length) {
        if min > max {
            return Err(format!("min_length {min} is greater than max_length {max}"));
        }
    }
    let needs_choices = var_type == VariableType::Choice
        || (var_type == VariableType::List && constraints.item_type == Some(VariableType::Choice));
    if needs_choices && constraints.choices.as_ref().is_none_or(Vec::is_empty) {
        return Err("a choice needs a non-empty `choices` list".to_owned());
    }
    if let Some(dtype) = &constraints.dtype {
        if Dtype::parse(dtype).is_none() {
            return Err(format!(
                "unknown dtype `{dtype}` (expected one of {})",
                Dtype::NAMES.join(", ")
            ));
        }
    }
    Ok(())
}

/// Checks a value against the type and the constraints.
pub(super) fn check_value(
    var_type: VariableType,
    constraints: &Constraints,
    value: &Value,
) -> Result<(), String> {
    match var_type {
        VariableType::String => {
            let text = value.as_str().ok_or_else(|| expected("a string", value))?;
            check_length("string", "characters", text.chars().count(), constraints)
        }
        VariableType::List => {
            let items = value.as_array().ok_or_else(|| expected("a list", value))?;
            check_length("list", "items", items.len(), constraints)?;
            if let Some(item_type) = constraints.item_type {
                for (index, item) in items.iter().enumerate() {
                    check_item(item_type, constraints, item)
                        .map_err(|reason| format!("item {index}: {reason}"))?;
                }
            }
            Ok(())
        }
        VariableType::Tensor => check_tensor(
            value,
            constraints.shape.as_deref(),
            constraints.dtype.as_deref(),
        ),
        VariableType::Embedding => check_embedding(value, constraints.dimensions),
        _ => check_item(var_type, constraints, value),
    }
}

/// Checks a scalar value, or a list element, against its type; lengths do not apply.
fn check_item(
    var_type: VariableType,
    constraints: &Constraints,
    value: &Value,
) -> Result<(), String> {
    match var_type {
        VariableType::Float => {
            if !value.is_number() {
                return Err(expected("a number", value));
            }
            check_range(value, constraints)
        }
        VariableType::Integer => {
            if !(value.is_i64() || value.is_u64()) {
                return Err(expected("an integer", value));
            }
            check_range(value, constraints)
        }
        VariableType::String if !value.is_string() => Err(expected("a string", value)),
        VariableType::Boolean if !value.is_boolean() => Err(expected("a boolean", value)),
        VariableType::Choice => {
            let choices = constraints.choices.as_deref().unwrap_or_default();
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
        VariableType::List if !value.is_array() => Err(expected("a list", value)),
        VariableType::Map if !value.is_object() => Err(expected("a map", value)),
        VariableType::Tensor => check_tensor(value, None, None),
        VariableType::Embedding => check_embedding(value, None),
        _ => Ok(()),
    }
}

fn check_range(value: &Value, constraints: &Constraints) -> Result<(), String> {
    let Some(number) = value.as_f64() else {
        return Err(expected("a number", value));
    };
    if let Some(min) = constraints.min {
        if number < min {
            return Err(format!("{value} is less than the minimum {min}"));
        }
    }
    if let Some(max) = constraints.max {
        if number > max {
            return Err(format!("{value} is greater than the maximum {max}"));
        }
    }
    Ok(())
}

fn check_length(
    what: &str,
    unit: &str,
    length: usize,
    constraints: &Constraints,
) -> Result<(), String> {
    if let Some(min) = constraints.min_length {
        if length < min {
            return Err(format!(
                "{what} has {length} {unit}, fewer than min_length {min}"
            ));
        }
    }
    if let Some(max) = constraints.max_length {
        if length > max {
            return Err(format!(
                "{what} has {length} {unit}, more than max_length {max}"
            ));
        }
    }
    Ok(())
}

fn check_embedding(value: &Value, dimensions: Option<usize>) -> Result<(), String> {
    let items = value
        .as_array()
        .ok_or_else(|| expected("a list of numbers", value))?;
    if let Some(dimensions) = dimensions {
        if items.len() != dimensions {
            return Err(format!(
                "embedding has {} dimensions, expected {dimensions}",
                items.len()
            ));
        }
    }
    match items.iter().position(|item| !item.is_number()) {
        Some(index) => Err(format!(
            "element {index}: {}",
            expected("a number", &items[index])
        )),
        None => Ok(()),
    }
}

/// Checks nested arrays against `shape` (or, without one, for being rectangular) and their
/// elements against `dtype` (or, without one, for being numbers).
fn check_tensor(value: &Value, shape: Option<&[usize]>, dtype: Option<&str>) -> Result<(), String> {
    let dtype = match dtype {
        Some(name) => Some(Dtype::parse(name).ok_or_else(|| format!("unknown dtype `{name}`"))?),
        None => None,
    };
    let shape = match shape {
        Some(shape) => shape.to_vec(),
        None => infer_shape(value),
    };
    let mut index = Vec::with_capacity(shape.len());
    check_tensor_level(value, &shape, dtype, &mut index)
        .map_err(|reason| format!("tensor does not fit shape {shape:?}: {reason}"))
}

fn infer_shape(value: &Value) -> Vec<usize> {
    let mut shape = Vec::new();
    let mut level = value;
    while let Some(items) = level.as_array() {
        shape.push(items.len());
        match items.first() {
            Some(first) => level = first,
            None => break,
        }
    }
    shape
}

fn check_tensor_level(
    value: &Value,
    shape: &[usize],
    dtype: Option<Dtype>,
    index: &mut Vec<usize>,
) -> Result<(), String> {
    let Some((&length, inner_shape)) = shape.split_first() else {
        return check_element(value, dtype).map_err(|reason| format!("{} {reason}", at(index)));
    };
    let Some(items) = value.as_array() else {
        return Err(format!(
            "{} is {}, expected an array of {length}",
            at(index),
            kind(value)
        ));
    };
    if items.len() != length {
        return Err(format!(
            "{} has {} entries, expected {length}",
            at(index),
            items.len()
        ));
    }
    for (position, item) in items.iter().enumerate() {
        index.push(position);
        check_tensor_level(item, inner_shape, dtype, index)?;
        index.pop();
    }
    Ok(())
}

/// Names a position in a tensor: "the tensor" or "element [0, 1]".
fn at(index: &[usize]) -> String {
    if index.is_empty() {
        "the tensor".to_owned()
    } else {
        format!("element {index:?}")
    }
}

fn check_element(value: &Value, dtype: Option<Dtype>) -> Result<(), String> {
    match dtype {
        None | Some(Dtype::Float) => {
            if value.is_number() {
                Ok(())
            } else {
                Err(format!("is {}, expected a number", kind(value)))
            }
        }
        Some(Dtype::Bool) => {
            if value.is_boolean() {
                Ok(())
            } else {
                Err(format!(
                    "is {}, expected a boolean for dtype bool",
                    kind(value)
                ))
            }
        }
        Some(Dtype::Int { name, min, max }) => {
            let number = value
                .as_i64()
                .map(i128::from)
                .or_else(|| value.as_u64().map(i128::from));
            match number {
                Some(number) if (min..=max).contains(&number) => Ok(()),
                Some(number) => Err(format!("is {number}, outside the range of {name}")),
                None => Err(format!(
                    "is {}, expected an integer for dtype {name}",
                    kind(value)
                )),
            }
        }
    }
}

/// The element kinds a tensor's `dtype` can name.
#[derive(Debug, Clone, Copy)]
enum Dtype {
    Float,
    Bool,
    Int {
        name: &'static str,
        min: i128,
        max: i128,
    },
}

impl Dtype {
    const NAMES: [&'static str; 13] = [
        "float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
        "uint16", "uint32", "uint64", "bool",
    ];

    fn parse(name: &str) -> Option<Self> {
        let int = |name, min: i128, max: i128| Some(Self::Int { name, min, max });
        match name {
            "float16" | "bfloat16" | "float32" | "float64" => Some(Self::Float),
            "bool" => Some(Self::Bool),
            "int8" => int("int8", i8::MIN.into(), i8::MAX.into()),
            "int16" => int("int16", i16::MIN.into(), i16::MAX.into()),
            "int32" => int("int32", i32::MIN.into(), i32::MAX.into()),
            "int64" => int("int64", i64::MIN.into(), i64::MAX.into()),
            "uint8" => int("uint8", 0, u8::MAX.into()),
            "uint16" => int("uint16", 0, u16::MAX.into()),
            "uint32" => int("uint32", 0, u32::MAX.into()),
            "uint64" => int("uint64", 0, u64::MAX.into()),
            _ => None,
        }
    }
}

/// "expected an integer, got a number (1.5)"
fn expected(what: &str, value: &Value) -> String {
    format!("expected {what}, got {}", kind(value))
}

/// "a number (1.5)", "a string (\"abc\")", "an array", "null".
fn kind(value: &Value) -> String {
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
mod tests {
    use serde_json::json;

    use super::*;
    use crate::session::{SessionError, SessionStore, SessionStoreConfig};

    fn constraints(value: Value) -> Constraints {
        serde_json::from_value(value).unwrap()
    }

    /// Registers `good`, tries `bad` and checks that the error names the variable and the
    /// rule, and that the old value and version stay.
    #[track_caller]
    fn rejects(
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
        rejects(
            T::Tensor,
            json!({}),
            json!([[1, 2], [3, 4]]),
            json!([[1, 2], [3]]),
            "element [1] has 1 entries, expected 2",
        );
        rejects(
            T::Tensor,
            json!({}),
            json!([1.5]),
            json!("x"),
            "expected a number",
        );
        rejects(
            T::Embedding,
            json!({}),
            json!([0.1, 0.2]),
            json!([0.1, "x"]),
            "element 1: expected a number",
        );
    }

    #[test]
    fn each_constraint_rejects_a_violation() {
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
        rejects(
            T::Tensor,
            json!({"shape": [2, 3]}),
            json!([[1, 2, 3], [4, 5, 6]]),
            json!([[1, 2], [3, 4]]),
            "does not fit shape [2, 3]: element [0] has 2 entries, expected 3",
        );
        rejects(
            T::Tensor,
            json!({"shape": [2]}),
            json!([1, 2]),
            json!([[1], [2]]),
            "element [0] is an array of 1, expected a number",
        );
        rejects(
            T::Tensor,
            json!({"shape": [1, 2]}),
            json!([[1, 2]]),
            json!([1]),
            "element [0] is a number (1), expected an array of 2",
        );
        rejects(
            T::Tensor,
            json!({"shape": [1, 2]}),
            json!([[1, 2]]),
            json!([[1, 2], [3, 4]]),
            "the tensor has 2 entries, expected 1",
        );
        rejects(
            T::Tensor,
            json!({"shape": []}),
            json!(1.5),
            json!([1.5]),
            "expected a number",
        );
        rejects(
            T::Tensor,
            json!({"dtype": "int32"}),
            json!([1, 2]),
            json!([1, 2.5]),
            "element [1] is a number (2.5), expected an integer for dtype int32",
        );
        rejects(
            T::Tensor,
            json!({"dtype": "uint8", "shape": [1]}),
            json!([255]),
            json!([256]),
            "element [0] is 256, outside the range of uint8",
        );
        rejects(
            T::Tensor,
            json!({"dtype": "float32"}),
            json!([1, 2.5]),
            json!([true]),
            "expected a number",
        );
        rejects(
            T::Embedding,
            json!({"dimensions": 3}),
            json!([1, 2.5, 3]),
            json!([1, 2]),
            "embedding has 2 dimensions, expected 3",
        );
    }

    #[test]
    fn constraints_that_do_not_fit_the_type_are_rejected() {
        let cases = [
            (
                VariableType::Choice,
                json!({}),
                "a choice needs a non-empty `choices` list",
            ),
            (
                VariableType::Choice,
                json!({"choices": []}),
                "non-empty `choices`",
            ),
            (
                VariableType::List,
                json!({"item_type": "choice"}),
                "non-empty `choices`",
            ),
            (
                VariableType::Float,
                json!({"min": 2, "max": 1}),
                "min 2 is greater than max 1",
            ),
            (
                VariableType::String,
                json!({"min_length": 3, "max_length": 1}),
                "min_length 3 is greater than max_length 1",
            ),
            (
                VariableType::Tensor,
                json!({"dtype": "complex64"}),
                "unknown dtype `complex64`",
            ),
        ];
        for (var_type, rules, reason) in cases {
            let result = check_constraints(var_type, &constraints(rules.clone()));
            let err = result.expect_err(&format!("{var_type} {rules} accepted"));
            assert!(err.contains(reason), "`{err}` lacks `{reason}`");
        }
        let nan = Constraints {
            min: Some(f64::NAN),
            ..Constraints::default()
        };
        assert!(check_constraints(VariableType::Float, &nan).is_err());
        assert_eq!(
            check_constraints(VariableType::Float, &Constraints::default()),
            Ok(())
        );
    }

    #[test]
    fn long_values_are_cut_short_in_reasons() {
        let long = json!("x".repeat(100));
        let reason =
            check_value(VariableType::Integer, &Constraints::default(), &long).unwrap_err();
        assert!(reason.ends_with("…)"), "{reason}");
        assert!(reason.chars().count() < 80, "{reason}");
    }
}
