//! What a session variable is: one [`VariableSpec`] per type, carrying only the rules that
//! type has, so a rule that does not apply (choices on a float, a shape on a string) cannot be
//! written.
//!
//! In JSON, and on the wire to workers, a spec keeps the flat shape clients already read: a
//! `"type"` and a `"constraints"` object of optional rules (see `flat.rs`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::flat::FlatSpec;
use super::{Dtype, VariableType};

/// A variable's type together with the rules its value must follow.
///
/// Every rule is optional. [`SessionStore::define_variable`](super::SessionStore::define_variable)
/// also checks what the types cannot: bounds that are not numbers or are crossed
/// (`min > max`), and a choice without choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "FlatSpec", into = "FlatSpec")]
#[non_exhaustive]
pub enum VariableSpec {
    /// Any JSON number, within `min..=max`.
    Float {
        /// The smallest allowed value.
        min: Option<f64>,
        /// The largest allowed value.
        max: Option<f64>,
    },
    /// A JSON integer (no fractional part in the JSON text), within `min..=max`.
    Integer {
        /// The smallest allowed value.
        min: Option<i64>,
        /// The largest allowed value.
        max: Option<i64>,
    },
    /// A JSON string, its length counted in characters.
    String {
        /// The fewest characters.
        min_length: Option<usize>,
        /// The most characters.
        max_length: Option<usize>,
    },
    /// `true` or `false`.
    Boolean,
    /// One of `choices` (not empty), compared as JSON values.
    Choice {
        /// The allowed values.
        choices: Vec<Value>,
    },
    /// A JSON array, its elements each following `item` when given.
    List {
        /// What each element must be.
        item: Option<ItemSpec>,
        /// The fewest elements.
        min_length: Option<usize>,
        /// The most elements.
        max_length: Option<usize>,
    },
    /// A JSON object.
    Map,
    /// Nested JSON arrays of numbers. With `shape`, the nesting must match it exactly (an
    /// empty shape is a single number); without it, the arrays must be rectangular.
    Tensor {
        /// The exact shape.
        shape: Option<Vec<usize>>,
        /// The element type; without it, any number.
        dtype: Option<Dtype>,
    },
    /// A flat JSON array of numbers.
    Embedding {
        /// The exact length.
        dimensions: Option<usize>,
    },
}

/// What each element of a [`VariableSpec::List`] must be.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ItemSpec {
    /// Any number, within `min..=max`.
    Float {
        /// The smallest allowed value.
        min: Option<f64>,
        /// The largest allowed value.
        max: Option<f64>,
    },
    /// An integer, within `min..=max`.
    Integer {
        /// The smallest allowed value.
        min: Option<i64>,
        /// The largest allowed value.
        max: Option<i64>,
    },
    /// A string.
    String,
    /// `true` or `false`.
    Boolean,
    /// One of `choices` (not empty).
    Choice {
        /// The allowed values.
        choices: Vec<Value>,
    },
    /// An array.
    List,
    /// An object.
    Map,
    /// Rectangular nested arrays of numbers.
    Tensor,
    /// A flat array of numbers.
    Embedding,
}

impl VariableSpec {
    /// The spec's type.
    pub fn var_type(&self) -> VariableType {
        match self {
            Self::Float { .. } => VariableType::Float,
            Self::Integer { .. } => VariableType::Integer,
            Self::String { .. } => VariableType::String,
            Self::Boolean => VariableType::Boolean,
            Self::Choice { .. } => VariableType::Choice,
            Self::List { .. } => VariableType::List,
            Self::Map => VariableType::Map,
            Self::Tensor { .. } => VariableType::Tensor,
            Self::Embedding { .. } => VariableType::Embedding,
        }
    }

    /// Checks what the types cannot: bounds that are numbers and not crossed, choices that
    /// are not empty.
    pub(super) fn check(&self) -> Result<(), String> {
        match self {
            Self::Float { min, max } => check_bounds(*min, *max),
            Self::Integer { min, max } => check_order("min", *min, "max", *max),
            Self::String {
                min_length,
                max_length,
            } => check_order("min_length", *min_length, "max_length", *max_length),
            Self::Choice { choices } => check_choices(choices),
            Self::List {
                item,
                min_length,
                max_length,
            } => {
                check_order("min_length", *min_length, "max_length", *max_length)?;
                match item {
                    Some(ItemSpec::Float { min, max }) => check_bounds(*min, *max),
                    Some(ItemSpec::Integer { min, max }) => check_order("min", *min, "max", *max),
                    Some(ItemSpec::Choice { choices }) => check_choices(choices),
                    _ => Ok(()),
                }
            }
            Self::Boolean | Self::Map | Self::Tensor { .. } | Self::Embedding { .. } => Ok(()),
        }
    }
}

impl ItemSpec {
    /// The type of the elements.
    pub fn item_type(&self) -> VariableType {
        match self {
            Self::Float { .. } => VariableType::Float,
            Self::Integer { .. } => VariableType::Integer,
            Self::String => VariableType::String,
            Self::Boolean => VariableType::Boolean,
            Self::Choice { .. } => VariableType::Choice,
            Self::List => VariableType::List,
            Self::Map => VariableType::Map,
            Self::Tensor => VariableType::Tensor,
            Self::Embedding => VariableType::Embedding,
        }
    }
}

fn check_bounds(min: Option<f64>, max: Option<f64>) -> Result<(), String> {
    for (label, bound) in [("min", min), ("max", max)] {
        if bound.is_some_and(f64::is_nan) {
            return Err(format!("{label} is not a number"));
        }
    }
    check_order("min", min, "max", max)
}

fn check_order<T: PartialOrd + std::fmt::Display>(
    low_name: &str,
    low: Option<T>,
    high_name: &str,
    high: Option<T>,
) -> Result<(), String> {
    match (low, high) {
        (Some(low), Some(high)) if low > high => Err(format!(
            "{low_name} {low} is greater than {high_name} {high}"
        )),
        _ => Ok(()),
    }
}

fn check_choices(choices: &[Value]) -> Result<(), String> {
    if choices.is_empty() {
        Err("a choice needs a non-empty `choices` list".to_owned())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::session::{SessionError, SessionStore, SessionStoreConfig};

    fn store() -> SessionStore {
        let store = SessionStore::new(SessionStoreConfig::default());
        store.create("s", None).unwrap();
        store
    }

    /// Defines `spec` with `good`, then checks that `bad` is refused for `reason`.
    #[track_caller]
    fn check(spec: &VariableSpec, good: Value, bad: Value, reason: &str) {
        let store = store();
        let defined = store.define_variable("s", "v", spec.clone(), good).unwrap();
        assert_eq!(&defined.spec, spec);
        assert_eq!(defined.var_type(), spec.var_type());
        match store.update_variable("s", "v", bad) {
            Err(SessionError::InvalidVariable { reason: got, .. }) => {
                assert!(got.contains(reason), "`{got}` lacks `{reason}`");
            }
            other => panic!("{spec:?}: {other:?}"),
        }
    }

    #[test]
    fn each_typed_spec_holds_its_values_to_its_rules() {
        check(
            &VariableSpec::Float {
                min: Some(0.0),
                max: Some(1.0),
            },
            json!(0.5),
            json!(1.5),
            "1.5 is greater than the maximum 1",
        );
        check(
            &VariableSpec::Integer {
                min: Some(0),
                max: None,
            },
            json!(u64::MAX),
            json!(-1),
            "-1 is less than the minimum 0",
        );
        check(
            &VariableSpec::Integer {
                min: None,
                max: None,
            },
            json!(3),
            json!(3.0),
            "expected an integer, got a number (3.0)",
        );
        check(
            &VariableSpec::String {
                min_length: Some(1),
                max_length: Some(2),
            },
            json!("é"),
            json!("abc"),
            "string has 3 characters, more than max_length 2",
        );
        check(
            &VariableSpec::Choice {
                choices: vec![json!("a"), json!(1)],
            },
            json!(1),
            json!("1"),
            "\"1\" is not one of the choices",
        );
        check(
            &VariableSpec::List {
                item: Some(ItemSpec::Integer {
                    min: None,
                    max: Some(9),
                }),
                min_length: Some(1),
                max_length: None,
            },
            json!([1, 9]),
            json!([1, 10]),
            "item 1: 10 is greater than the maximum 9",
        );
        check(
            &VariableSpec::List {
                item: None,
                min_length: Some(1),
                max_length: None,
            },
            json!([null]),
            json!([]),
            "fewer than min_length 1",
        );
        check(
            &VariableSpec::Tensor {
                shape: Some(vec![2]),
                dtype: Some(Dtype::Bool),
            },
            json!([true, false]),
            json!([true, 1]),
            "element [1] is a number (1), expected a boolean for dtype bool",
        );
        check(
            &VariableSpec::Embedding {
                dimensions: Some(2),
            },
            json!([0.5, 1]),
            json!([0.5]),
            "embedding has 1 dimensions, expected 2",
        );
        check(
            &VariableSpec::Boolean,
            json!(true),
            json!(0),
            "expected a boolean",
        );
        check(&VariableSpec::Map, json!({}), json!([]), "expected a map");
    }

    #[test]
    fn inconsistent_specs_are_refused_and_nothing_is_defined() {
        let cases = [
            (
                VariableSpec::Float {
                    min: Some(2.0),
                    max: Some(1.0),
                },
                "min 2 is greater than max 1",
            ),
            (
                VariableSpec::Float {
                    min: None,
                    max: Some(f64::NAN),
                },
                "max is not a number",
            ),
            (
                VariableSpec::Integer {
                    min: Some(5),
                    max: Some(1),
                },
                "min 5 is greater than max 1",
            ),
            (
                VariableSpec::String {
                    min_length: Some(3),
                    max_length: Some(1),
                },
                "min_length 3 is greater than max_length 1",
            ),
            (
                VariableSpec::Choice {
                    choices: Vec::new(),
                },
                "a choice needs a non-empty `choices` list",
            ),
            (
                VariableSpec::List {
                    item: Some(ItemSpec::Choice {
                        choices: Vec::new(),
                    }),
                    min_length: None,
                    max_length: None,
                },
                "a choice needs a non-empty `choices` list",
            ),
        ];
        let store = store();
        for (spec, reason) in cases {
            let refused = store.define_variable("s", "v", spec.clone(), json!(1));
            assert_eq!(
                refused,
                Err(SessionError::InvalidVariable {
                    name: "v".into(),
                    reason: reason.into()
                }),
                "{spec:?}"
            );
        }
        assert!(store.list_variables("s").unwrap().is_empty());
    }
}
