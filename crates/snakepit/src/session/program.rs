//! Programs: JSON values stored under an id, per session or globally.
//!
//! A program is whatever the worker needs to rebuild a callable, such as a DSPy signature
//! and its settings. A session sees its own programs first and the global programs after
//! them, so a program stored once globally is visible to every session.

use serde_json::Value;

use super::shard::{read, write};
use super::{SessionError, SessionStore};

impl SessionStore {
    /// Stores a program in the session, replacing any program of the same id. Refreshes the
    /// session's last access.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when there is no live session with this id.
    pub fn store_program(
        &self,
        session: impl AsRef<str>,
        program_id: impl Into<String>,
        program: Value,
    ) -> Result<(), SessionError> {
        let program_id = program_id.into();
        self.inner.with_session(session.as_ref(), |session| {
            session.programs.insert(program_id, program);
        })
    }

    /// The session's program of this id, or else the global program of this id. Refreshes
    /// the session's last access.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when there is no live session with this id, and
    /// [`SessionError::ProgramNotFound`] when neither the session nor the global programs
    /// have the program.
    pub fn get_program(
        &self,
        session: impl AsRef<str>,
        program_id: impl AsRef<str>,
    ) -> Result<Value, SessionError> {
        let session = session.as_ref();
        let program_id = program_id.as_ref();
        let own = self
            .inner
            .with_session(session, |state| state.programs.get(program_id).cloned())?;
        own.or_else(|| self.get_global_program(program_id))
            .ok_or_else(|| SessionError::ProgramNotFound {
                session: session.to_owned(),
                program: program_id.to_owned(),
            })
    }

    /// Removes a program from the session (global programs are untouched). Refreshes the
    /// session's last access.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when there is no live session with this id, and
    /// [`SessionError::ProgramNotFound`] when the session has no program of this id.
    pub fn delete_program(
        &self,
        session: impl AsRef<str>,
        program_id: impl AsRef<str>,
    ) -> Result<(), SessionError> {
        let session = session.as_ref();
        let program_id = program_id.as_ref();
        let removed = self
            .inner
            .with_session(session, |state| state.programs.remove(program_id).is_some())?;
        if removed {
            Ok(())
        } else {
            Err(SessionError::ProgramNotFound {
                session: session.to_owned(),
                program: program_id.to_owned(),
            })
        }
    }

    /// The ids of the session's own programs (not the global ones), sorted. Refreshes the
    /// session's last access.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when there is no live session with this id.
    pub fn list_programs(&self, session: impl AsRef<str>) -> Result<Vec<String>, SessionError> {
        self.inner.with_session(session.as_ref(), |state| {
            state.programs.keys().cloned().collect()
        })
    }

    /// Stores a program every session can see, replacing any global program of the same id.
    pub fn store_global_program(&self, program_id: impl Into<String>, program: Value) {
        write(&self.inner.global_programs).insert(program_id.into(), program);
    }

    /// The global program of this id.
    pub fn get_global_program(&self, program_id: impl AsRef<str>) -> Option<Value> {
        read(&self.inner.global_programs)
            .get(program_id.as_ref())
            .cloned()
    }

    /// Removes a global program and returns it.
    pub fn delete_global_program(&self, program_id: impl AsRef<str>) -> Option<Value> {
        write(&self.inner.global_programs).remove(program_id.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::session::SessionStoreConfig;

    #[tokio::test]
    async fn session_programs_shadow_global_ones() {
        let store = SessionStore::new(SessionStoreConfig::default());
        store.create("a", None).unwrap();
        store.create("b", None).unwrap();

        store
            .store_program("a", "qa", json!({"signature": "question -> answer"}))
            .unwrap();
        store.store_global_program("shared", json!({"model": "gpt"}));
        store.store_global_program("qa", json!({"global": true}));

        assert_eq!(
            store.get_program("a", "qa").unwrap(),
            json!({"signature": "question -> answer"})
        );
        assert_eq!(
            store.get_program("b", "qa").unwrap(),
            json!({"global": true})
        );
        assert_eq!(
            store.get_program("b", "shared").unwrap(),
            json!({"model": "gpt"})
        );
        assert_eq!(store.list_programs("a").unwrap(), vec!["qa".to_owned()]);
        assert!(store.list_programs("b").unwrap().is_empty());
        assert_eq!(store.stats().global_programs, 2);

        store.delete_program("a", "qa").unwrap();
        assert_eq!(
            store.get_program("a", "qa").unwrap(),
            json!({"global": true})
        );
        assert_eq!(
            store.delete_program("a", "qa"),
            Err(SessionError::ProgramNotFound {
                session: "a".into(),
                program: "qa".into()
            })
        );

        assert_eq!(
            store.delete_global_program("qa"),
            Some(json!({"global": true}))
        );
        assert_eq!(store.get_global_program("qa"), None);
        assert!(matches!(
            store.get_program("b", "qa"),
            Err(SessionError::ProgramNotFound { .. })
        ));
        assert_eq!(
            store.get_program("missing", "shared"),
            Err(SessionError::NotFound("missing".into()))
        );
        assert!(matches!(
            store.store_program("missing", "x", json!(1)),
            Err(SessionError::NotFound(_))
        ));
    }
}
