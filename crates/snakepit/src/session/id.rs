//! Session ids.

use std::borrow::Borrow;
use std::fmt;

/// A session's id: any string the caller chooses, such as `user_123` or a conversation id.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    /// Wraps an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the id.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl From<&str> for SessionId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl From<String> for SessionId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&SessionId> for SessionId {
    fn from(id: &SessionId) -> Self {
        id.clone()
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// `Hash` and `Eq` of `SessionId` agree with those of `str`, so maps keyed by `SessionId` can
// be searched with a `&str`.
impl Borrow<str> for SessionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_and_display() {
        let id = SessionId::from("user_123");
        assert_eq!(id.as_str(), "user_123");
        assert_eq!(id.to_string(), "user_123");
        assert_eq!(SessionId::from(String::from("user_123")), id);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"user_123\"");
    }
}
