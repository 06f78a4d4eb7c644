//! Typed variables: named, validated values kept per session, such as a temperature the
//! host tunes while a worker reads it.
//!
//! A variable has a [`VariableSpec`]: its type with the rules of that type. Defining one
//! checks the spec and the first value; every update is validated the same way, and a
//! rejected update leaves the old value and version in place.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use super::{Constraints, SessionError, SessionStore, VariableSpec, binary};
use crate::value::NdArray;

/// The type of a session variable: the kind of a [`VariableSpec`], whose variant of the same
/// name carries the type's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum VariableType {
    /// Any JSON number.
    Float,
    /// A JSON integer (no fractional part in the JSON text).
    Integer,
    /// A JSON string.
    String,
    /// `true` or `false`.
    Boolean,
    /// One of a list of JSON values.
    Choice,
    /// A JSON array.
    List,
    /// A JSON object.
    Map,
    /// Nested JSON arrays of numbers.
    Tensor,
    /// A flat JSON array of numbers.
    Embedding,
}

impl VariableType {
    /// The type's name as it appears in JSON, such as `integer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Float => "float",
            Self::Integer => "integer",
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Choice => "choice",
            Self::List => "list",
            Self::Map => "map",
            Self::Tensor => "tensor",
            Self::Embedding => "embedding",
        }
    }
}

impl std::fmt::Display for VariableType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of a session variable.
///
/// In JSON: `{"name", "type", "value", "constraints", "version"}`, with the spec in its flat
/// form (the shape workers read through `snakepit.get_variable`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Variable {
    /// The variable's name, unique within its session.
    pub name: String,
    /// Its type and rules.
    #[serde(flatten)]
    pub spec: VariableSpec,
    /// Its current value. A tensor or embedding is kept as binary (`array`); its snapshots
    /// show it here as nested JSON lists too.
    pub value: Value,
    /// A tensor's or embedding's value as binary (a numpy array in Python); `None` for
    /// other types.
    #[serde(skip)]
    pub array: Option<NdArray>,
    /// 0 when registered, one more after each successful update.
    pub version: u64,
    /// When it was registered or last updated. Not serialized: an `Instant` means nothing
    /// outside this process.
    #[serde(skip)]
    pub updated_at: Instant,
}

impl Variable {
    /// The variable's type.
    pub fn var_type(&self) -> VariableType {
        self.spec.var_type()
    }
}

impl SessionStore {
    /// Defines a variable in the session from its spec and first value. Refreshes the
    /// session's last access.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when there is no live session with this id,
    /// [`SessionError::VariableExists`] when the session already has the variable, and
    /// [`SessionError::InvalidVariable`] when the spec is inconsistent (`min > max`, a choice
    /// without choices) or the value breaks it.
    pub fn define_variable(
        &self,
        session: impl AsRef<str>,
        name: impl Into<String>,
        spec: VariableSpec,
        value: Value,
    ) -> Result<Variable, SessionError> {
        let session_id = session.as_ref();
        let name = name.into();
        self.inner.with_session(session_id, |session| {
            if session.variables.contains_key(&name) {
                return Err(SessionError::VariableExists {
                    session: session_id.to_owned(),
                    name: name.clone(),
                });
            }
            let array = match spec.check().and_then(|()| binary::admit(&spec, &value)) {
                Ok(array) => array,
                Err(reason) => return Err(SessionError::InvalidVariable { name, reason }),
            };
            let variable = Variable {
                name: name.clone(),
                spec,
                value: if array.is_some() { Value::Null } else { value },
                array,
                version: 0,
                updated_at: session.last_access,
            };
            let snapshot = variable.snapshot();
            session.variables.insert(name, variable);
            Ok(snapshot)
        })?
    }

    /// Registers a variable from a type and its rules in the flat form: the same as
    /// [`define_variable`](Self::define_variable) with the spec those make.
    ///
    /// # Errors
    ///
    /// As [`define_variable`](Self::define_variable), and
    /// [`SessionError::InvalidVariable`] when a rule does not apply to the type (choices on a
    /// float), an integer bound is not whole, or a dtype is unknown.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "the flat form keeps the signature it always had"
    )]
    pub fn register_variable(
        &self,
        session: impl AsRef<str>,
        name: impl Into<String>,
        var_type: VariableType,
        value: Value,
        constraints: Constraints,
    ) -> Result<Variable, SessionError> {
        let name = name.into();
        match VariableSpec::from_flat(var_type, &constraints) {
            Ok(spec) => self.define_variable(session, name, spec, value),
            Err(reason) => Err(SessionError::InvalidVariable { name, reason }),
        }
    }

    /// A snapshot of one variable. Refreshes the session's last access.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when there is no live session with this id, and
    /// [`SessionError::VariableNotFound`] when it has no such variable.
    pub fn get_variable(
        &self,
        session: impl AsRef<str>,
        name: impl AsRef<str>,
    ) -> Result<Variable, SessionError> {
        let session_id = session.as_ref();
        let name = name.as_ref();
        self.get_stored_variable(session_id, name)
            .map(|variable| variable.snapshot())
    }

    /// Validates a new value and stores it, bumping the version. Refreshes the session's last
    /// access.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when there is no live session with this id,
    /// [`SessionError::VariableNotFound`] when it has no such variable, and
    /// [`SessionError::InvalidVariable`] when the value does not fit the variable's type or
    /// constraints; the old value and version stay.
    pub fn update_variable(
        &self,
        session: impl AsRef<str>,
        name: impl AsRef<str>,
        value: Value,
    ) -> Result<Variable, SessionError> {
        let session_id = session.as_ref();
        let name = name.as_ref();
        self.inner.with_session(session_id, |session| {
            let now = session.last_access;
            let Some(variable) = session.variables.get_mut(name) else {
                return Err(variable_not_found(session_id, name));
            };
            let array = binary::admit(&variable.spec, &value).map_err(|reason| {
                SessionError::InvalidVariable {
                    name: name.to_owned(),
                    reason,
                }
            })?;
            variable.value = if array.is_some() { Value::Null } else { value };
            variable.array = array;
            variable.version += 1;
            variable.updated_at = now;
            Ok(variable.snapshot())
        })?
    }

    /// Snapshots of the session's variables, sorted by name. Refreshes the session's last
    /// access.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when there is no live session with this id.
    pub fn list_variables(&self, session: impl AsRef<str>) -> Result<Vec<Variable>, SessionError> {
        self.inner.with_session(session.as_ref(), |session| {
            session.variables.values().map(Variable::snapshot).collect()
        })
    }

    /// Removes a variable. Refreshes the session's last access.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when there is no live session with this id, and
    /// [`SessionError::VariableNotFound`] when it has no such variable.
    pub fn delete_variable(
        &self,
        session: impl AsRef<str>,
        name: impl AsRef<str>,
    ) -> Result<(), SessionError> {
        let session_id = session.as_ref();
        let name = name.as_ref();
        let removed = self.inner.with_session(session_id, |session| {
            session.variables.remove(name).is_some()
        })?;
        if removed {
            Ok(())
        } else {
            Err(variable_not_found(session_id, name))
        }
    }
}

pub(super) fn variable_not_found(session: &str, name: &str) -> SessionError {
    SessionError::VariableNotFound {
        session: session.to_owned(),
        name: name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::session::SessionStoreConfig;

    fn store_with_session() -> SessionStore {
        let store = SessionStore::new(SessionStoreConfig::default());
        store.create("s", None).unwrap();
        store
    }

    #[tokio::test]
    async fn register_get_update_list_delete() {
        let store = store_with_session();
        let temperature = VariableSpec::Float {
            min: Some(0.0),
            max: Some(1.0),
        };
        let registered = store
            .define_variable("s", "temperature", temperature, json!(0.7))
            .unwrap();
        assert_eq!(registered.version, 0);
        assert_eq!(
            store.register_variable(
                "s",
                "temperature",
                VariableType::Float,
                json!(0.1),
                Constraints::default()
            ),
            Err(SessionError::VariableExists {
                session: "s".into(),
                name: "temperature".into()
            })
        );

        let updated = store
            .update_variable("s", "temperature", json!(0.9))
            .unwrap();
        assert_eq!((updated.value.clone(), updated.version), (json!(0.9), 1));
        assert_eq!(store.get_variable("s", "temperature").unwrap(), updated);

        let err = store
            .update_variable("s", "temperature", json!(1.5))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid variable `temperature`: 1.5 is greater than the maximum 1"
        );
        let unchanged = store.get_variable("s", "temperature").unwrap();
        assert_eq!((unchanged.value, unchanged.version), (json!(0.9), 1));

        store
            .register_variable(
                "s",
                "mode",
                VariableType::Boolean,
                json!(true),
                Constraints::default(),
            )
            .unwrap();
        let names: Vec<String> = store
            .list_variables("s")
            .unwrap()
            .into_iter()
            .map(|variable| variable.name)
            .collect();
        assert_eq!(names, ["mode", "temperature"]);

        store.delete_variable("s", "mode").unwrap();
        assert_eq!(
            store.get_variable("s", "mode"),
            Err(SessionError::VariableNotFound {
                session: "s".into(),
                name: "mode".into()
            })
        );
        assert!(matches!(
            store.update_variable("s", "mode", json!(false)),
            Err(SessionError::VariableNotFound { .. })
        ));
        assert!(matches!(
            store.list_variables("missing"),
            Err(SessionError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn invalid_initial_values_and_constraints_are_rejected() {
        let store = store_with_session();
        let err = store
            .register_variable(
                "s",
                "x",
                VariableType::Integer,
                json!(1.5),
                Constraints::default(),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid variable `x`: expected an integer, got a number (1.5)"
        );
        let err = store
            .register_variable(
                "s",
                "pick",
                VariableType::Choice,
                json!("a"),
                Constraints::default(),
            )
            .unwrap_err();
        assert!(matches!(err, SessionError::InvalidVariable { ref name, .. } if name == "pick"));
        assert!(store.list_variables("s").unwrap().is_empty());
    }

    #[test]
    fn serializes_with_snake_case_types() {
        let variable = Variable {
            name: "v".into(),
            spec: VariableSpec::Embedding {
                dimensions: Some(2),
            },
            value: json!([0.5, 1.0]),
            array: None,
            version: 3,
            updated_at: Instant::now(),
        };
        assert_eq!(
            serde_json::to_value(&variable).unwrap(),
            json!({
                "name": "v",
                "type": "embedding",
                "value": [0.5, 1.0],
                "constraints": {"dimensions": 2},
                "version": 3
            })
        );
        let constraints: Constraints =
            serde_json::from_value(json!({"item_type": "integer", "min": 0})).unwrap();
        assert_eq!(constraints.item_type, Some(VariableType::Integer));
        assert_eq!(constraints.min, Some(0.0));
        let spec = VariableSpec::from_flat(VariableType::List, &constraints).unwrap();
        assert_eq!(
            spec,
            VariableSpec::List {
                item: Some(crate::session::ItemSpec::Integer {
                    min: Some(0),
                    max: None
                }),
                min_length: None,
                max_length: None,
            }
        );
    }
}
