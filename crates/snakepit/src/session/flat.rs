//! The flat JSON form of a [`VariableSpec`]: a `"type"` and a `"constraints"` object that has
//! a field for every rule of every type ([`Constraints`]). This is the shape variables have on
//! the wire to workers (`snakepit.get_variable` and friends) and in JSON; reading it back into
//! a spec refuses rules that do not apply to the type.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::{Dtype, ItemSpec, VariableSpec, VariableType};

/// The flat form of a spec's rules, as it appears in JSON under `"constraints"`: every rule
/// of every type, each optional. Only the rules of the variable's type may be set; see
/// [`VariableSpec`] for the typed form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Constraints {
    /// The smallest allowed number (integer, float, and numeric list items).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "number_as_json"
    )]
    pub min: Option<f64>,
    /// The largest allowed number (integer, float, and numeric list items).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "number_as_json"
    )]
    pub max: Option<f64>,
    /// The shortest allowed string (in characters) or list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    /// The longest allowed string (in characters) or list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// The allowed values of a choice, or of a list's choice items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<Value>>,
    /// The type of a list's elements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_type: Option<VariableType>,
    /// A tensor's exact shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<usize>>,
    /// A tensor's element type, by name (see [`Dtype`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// An embedding's exact length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<usize>,
}

/// Writes a whole bound as a JSON integer (`0`, not `0.0`), as an integer variable's bound.
fn number_as_json<S: Serializer>(bound: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every whole f64 below is exact
    match *bound {
        Some(number) if number.fract() == 0.0 && number.abs() < EXACT =>
        {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "a whole number below 2^53 converts exactly"
            )]
            serializer.serialize_i64(number as i64)
        }
        Some(number) => serializer.serialize_f64(number),
        None => serializer.serialize_none(),
    }
}

/// A spec in its flat JSON shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct FlatSpec {
    #[serde(rename = "type")]
    var_type: VariableType,
    #[serde(default)]
    constraints: Constraints,
}

impl From<VariableSpec> for FlatSpec {
    fn from(spec: VariableSpec) -> Self {
        Self {
            var_type: spec.var_type(),
            constraints: spec.to_flat(),
        }
    }
}

impl TryFrom<FlatSpec> for VariableSpec {
    type Error = String;

    fn try_from(flat: FlatSpec) -> Result<Self, String> {
        Self::from_flat(flat.var_type, &flat.constraints)
    }
}

impl VariableSpec {
    /// The typed spec of a type and its flat rules. Fails when a rule does not apply to the
    /// type (choices on a float), an integer bound is not whole, or a dtype is unknown.
    pub(super) fn from_flat(var_type: VariableType, rules: &Constraints) -> Result<Self, String> {
        let item_type = rules.item_type.filter(|_| var_type == VariableType::List);
        let allowed: &[&str] = match (var_type, item_type) {
            (VariableType::Float | VariableType::Integer, _) => &["min", "max"],
            (VariableType::String, _) => &["min_length", "max_length"],
            (VariableType::Choice, _) => &["choices"],
            (VariableType::List, Some(VariableType::Float | VariableType::Integer)) => {
                &["min_length", "max_length", "item_type", "min", "max"]
            }
            (VariableType::List, Some(VariableType::Choice)) => {
                &["min_length", "max_length", "item_type", "choices"]
            }
            (VariableType::List, _) => &["min_length", "max_length", "item_type"],
            (VariableType::Tensor, _) => &["shape", "dtype"],
            (VariableType::Embedding, _) => &["dimensions"],
            (VariableType::Boolean | VariableType::Map, _) => &[],
        };
        if let Some(rule) = set_rules(rules)
            .into_iter()
            .find(|rule| !allowed.contains(rule))
        {
            let of = match item_type {
                Some(item) => format!("a list of {item}"),
                None => format!("a {var_type}"),
            };
            return Err(format!("`{rule}` does not apply to {of} variable"));
        }
        let choices = || rules.choices.clone().unwrap_or_default();
        Ok(match var_type {
            VariableType::Float => Self::Float {
                min: rules.min,
                max: rules.max,
            },
            VariableType::Integer => Self::Integer {
                min: whole("min", rules.min)?,
                max: whole("max", rules.max)?,
            },
            VariableType::String => Self::String {
                min_length: rules.min_length,
                max_length: rules.max_length,
            },
            VariableType::Boolean => Self::Boolean,
            VariableType::Choice => Self::Choice { choices: choices() },
            VariableType::List => Self::List {
                item: match item_type {
                    None => None,
                    Some(VariableType::Float) => Some(ItemSpec::Float {
                        min: rules.min,
                        max: rules.max,
                    }),
                    Some(VariableType::Integer) => Some(ItemSpec::Integer {
                        min: whole("min", rules.min)?,
                        max: whole("max", rules.max)?,
                    }),
                    Some(VariableType::String) => Some(ItemSpec::String),
                    Some(VariableType::Boolean) => Some(ItemSpec::Boolean),
                    Some(VariableType::Choice) => Some(ItemSpec::Choice { choices: choices() }),
                    Some(VariableType::List) => Some(ItemSpec::List),
                    Some(VariableType::Map) => Some(ItemSpec::Map),
                    Some(VariableType::Tensor) => Some(ItemSpec::Tensor),
                    Some(VariableType::Embedding) => Some(ItemSpec::Embedding),
                },
                min_length: rules.min_length,
                max_length: rules.max_length,
            },
            VariableType::Map => Self::Map,
            VariableType::Tensor => Self::Tensor {
                shape: rules.shape.clone(),
                dtype: match &rules.dtype {
                    None => None,
                    Some(name) => Some(Dtype::parse(name).ok_or_else(|| {
                        let names: Vec<&str> =
                            Dtype::ALL.iter().map(|dtype| dtype.as_str()).collect();
                        format!(
                            "unknown dtype `{name}` (expected one of {})",
                            names.join(", ")
                        )
                    })?),
                },
            },
            VariableType::Embedding => Self::Embedding {
                dimensions: rules.dimensions,
            },
        })
    }

    /// The spec's rules in their flat form.
    pub(super) fn to_flat(&self) -> Constraints {
        let mut rules = Constraints::default();
        match self {
            Self::Float { min, max } => (rules.min, rules.max) = (*min, *max),
            Self::Integer { min, max } => (rules.min, rules.max) = (float(*min), float(*max)),
            Self::String {
                min_length,
                max_length,
            } => (rules.min_length, rules.max_length) = (*min_length, *max_length),
            Self::Choice { choices } => rules.choices = Some(choices.clone()),
            Self::List {
                item,
                min_length,
                max_length,
            } => {
                (rules.min_length, rules.max_length) = (*min_length, *max_length);
                rules.item_type = item.as_ref().map(ItemSpec::item_type);
                match item {
                    Some(ItemSpec::Float { min, max }) => (rules.min, rules.max) = (*min, *max),
                    Some(ItemSpec::Integer { min, max }) => {
                        (rules.min, rules.max) = (float(*min), float(*max));
                    }
                    Some(ItemSpec::Choice { choices }) => rules.choices = Some(choices.clone()),
                    _ => {}
                }
            }
            Self::Tensor { shape, dtype } => {
                rules.shape = shape.clone();
                rules.dtype = dtype.map(|dtype| dtype.as_str().to_owned());
            }
            Self::Embedding { dimensions } => rules.dimensions = *dimensions,
            Self::Boolean | Self::Map => {}
        }
        rules
    }
}

/// The names of the rules that are set.
fn set_rules(rules: &Constraints) -> Vec<&'static str> {
    [
        ("min", rules.min.is_some()),
        ("max", rules.max.is_some()),
        ("min_length", rules.min_length.is_some()),
        ("max_length", rules.max_length.is_some()),
        ("choices", rules.choices.is_some()),
        ("item_type", rules.item_type.is_some()),
        ("shape", rules.shape.is_some()),
        ("dtype", rules.dtype.is_some()),
        ("dimensions", rules.dimensions.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

/// An integer bound from its flat form, which must be a whole number. Bounds past the `i64`
/// range mean the same as the end of it (no integer variable holds more).
fn whole(label: &str, bound: Option<f64>) -> Result<Option<i64>, String> {
    match bound {
        None => Ok(None),
        Some(number) if number.is_finite() && number.fract() == 0.0 =>
        {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "whole numbers convert exactly inside the i64 range and saturate outside"
            )]
            Ok(Some(number as i64))
        }
        Some(number) => Err(format!(
            "{label} of an integer must be a whole number, got {number}"
        )),
    }
}

/// An integer bound in the flat form.
#[expect(
    clippy::cast_precision_loss,
    reason = "the flat form carries numbers as f64; bounds past 2^53 are shown rounded"
)]
fn float(bound: Option<i64>) -> Option<f64> {
    bound.map(|bound| bound as f64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The spec a type and flat rules make, checked.
    fn spec(var_type: VariableType, rules: Value) -> Result<(), String> {
        let rules: Constraints = serde_json::from_value(rules).unwrap();
        VariableSpec::from_flat(var_type, &rules)?.check()
    }

    #[test]
    fn flat_rules_that_do_not_fit_the_type_are_refused() {
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
                json!({"dtype": "complex256"}),
                "unknown dtype `complex256`",
            ),
            (
                VariableType::Float,
                json!({"choices": [1]}),
                "`choices` does not apply to a float variable",
            ),
            (
                VariableType::Boolean,
                json!({"min": 0}),
                "`min` does not apply to a boolean variable",
            ),
            (
                VariableType::List,
                json!({"item_type": "string", "min": 0}),
                "`min` does not apply to a list of string variable",
            ),
            (
                VariableType::String,
                json!({"shape": [2]}),
                "`shape` does not apply to a string variable",
            ),
            (
                VariableType::Integer,
                json!({"min": 0.5}),
                "min of an integer must be a whole number, got 0.5",
            ),
        ];
        for (var_type, rules, reason) in cases {
            let result = spec(var_type, rules.clone());
            let err = result.expect_err(&format!("{var_type} {rules} accepted"));
            assert!(err.contains(reason), "`{err}` lacks `{reason}`");
        }
        let nan = Constraints {
            min: Some(f64::NAN),
            ..Constraints::default()
        };
        let nan = VariableSpec::from_flat(VariableType::Float, &nan).unwrap();
        assert_eq!(nan.check(), Err("min is not a number".to_owned()));
        assert_eq!(spec(VariableType::Float, json!({})), Ok(()));
    }

    #[test]
    fn specs_cross_the_wire_in_the_flat_shape_and_come_back_the_same() {
        let cases = [
            (
                VariableSpec::Integer {
                    min: Some(0),
                    max: Some(10),
                },
                json!({"type": "integer", "constraints": {"min": 0, "max": 10}}),
            ),
            (
                VariableSpec::Float {
                    min: Some(0.5),
                    max: None,
                },
                json!({"type": "float", "constraints": {"min": 0.5}}),
            ),
            (
                VariableSpec::List {
                    item: Some(ItemSpec::Choice {
                        choices: vec![json!("a")],
                    }),
                    min_length: None,
                    max_length: Some(3),
                },
                json!({"type": "list", "constraints": {"item_type": "choice", "choices": ["a"], "max_length": 3}}),
            ),
            (
                VariableSpec::Tensor {
                    shape: Some(vec![2, 3]),
                    dtype: Some(Dtype::Uint8),
                },
                json!({"type": "tensor", "constraints": {"shape": [2, 3], "dtype": "uint8"}}),
            ),
            (VariableSpec::Map, json!({"type": "map", "constraints": {}})),
        ];
        for (spec, wire) in cases {
            assert_eq!(serde_json::to_value(&spec).unwrap(), wire);
            let back: VariableSpec = serde_json::from_value(wire).unwrap();
            assert_eq!(back, spec);
        }
        // A spec without constraints, and unknown or misplaced rules.
        let bare: VariableSpec = serde_json::from_value(json!({"type": "boolean"})).unwrap();
        assert_eq!(bare, VariableSpec::Boolean);
        for wrong in [
            json!({"type": "float", "constraints": {"minimum": 0}}),
            json!({"type": "float", "constraints": {"choices": [1]}}),
            json!({"type": "tensor", "constraints": {"dtype": "complex256"}}),
        ] {
            assert!(
                serde_json::from_value::<VariableSpec>(wrong.clone()).is_err(),
                "{wrong}"
            );
        }
    }
}
