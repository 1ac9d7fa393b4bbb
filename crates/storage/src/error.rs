//! The store's one error type. Callers map it at their edge: `NotFound` → 404, `Conflict` → 409,
//! `Unavailable` → 503, the rest → 500.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row that the operation needs does not exist.
    #[error("not found")]
    NotFound,
    /// A unique key is taken, or an optimistic version check failed.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or is too busy right now; retrying later may succeed.
    #[error("database unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
        /// The driver's or pool's error, kept for the log.
        #[source]
        source: Option<Source>,
    },
    /// Any other database error.
    #[error("database error: {message}")]
    Database {
        /// What happened.
        message: String,
        /// The driver's error, kept for the log.
        #[source]
        source: Option<Source>,
    },
    /// A stored row cannot be read back into the domain's types.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A page cursor that this store did not hand out (a client's mistake: 400).
    #[error("invalid page cursor '{0}'")]
    InvalidCursor(String),
    /// Migrations could not be run.
    #[error("migration failed: {0}")]
    Migration(String),
}

/// The underlying error a store error was made from.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// SQLite reports a busy database only through its result code (`SQLITE_BUSY`,
/// `SQLITE_LOCKED`), and diesel passes on the message but not the code. For these codes the
/// message is always the library's fixed text for the code (`sqlite3_errstr`), so comparing
/// the whole message is comparing the code; a message that merely mentions "busy" is not one.
const SQLITE_BUSY_TEXTS: [&str; 2] = ["database is locked", "database table is locked"];

impl StoreError {
    /// `Unavailable` without an underlying error.
    pub fn unavailable(message: impl Into<String>) -> Self {
        StoreError::Unavailable {
            message: message.into(),
            source: None,
        }
    }

    /// `Database` without an underlying error.
    pub fn database(message: impl Into<String>) -> Self {
        StoreError::Database {
            message: message.into(),
            source: None,
        }
    }

    /// `Unavailable`, keeping `source`.
    pub fn unavailable_from(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Unavailable {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// A `Corrupt` error naming the table, column and what was wrong.
    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(what.to_string())
    }

    /// The same error for another caller (a group commit's failure goes to every write in it);
    /// the underlying error stays with the first, for the log.
    pub(crate) fn for_another(&self) -> StoreError {
        match self {
            StoreError::NotFound => StoreError::NotFound,
            StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
            StoreError::Unavailable { message, .. } => StoreError::unavailable(message.clone()),
            StoreError::Database { message, .. } => StoreError::database(message.clone()),
            StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
            StoreError::InvalidCursor(m) => StoreError::InvalidCursor(m.clone()),
            StoreError::Migration(m) => StoreError::Migration(m.clone()),
        }
    }

    /// Whether the error is a unique-key (or other constraint) conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}

/// Whether a driver message is SQLite's text for a busy or locked database.
fn is_sqlite_busy(message: &str) -> bool {
    SQLITE_BUSY_TEXTS.contains(&message)
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        let (message, unavailable) = match &error {
            DieselError::NotFound => return StoreError::NotFound,
            DieselError::DatabaseError(kind, info) => {
                let message = info.message().to_owned();
                match kind {
                    DatabaseErrorKind::UniqueViolation
                    | DatabaseErrorKind::ForeignKeyViolation
                    | DatabaseErrorKind::SerializationFailure => {
                        return StoreError::Conflict(message);
                    }
                    DatabaseErrorKind::ClosedConnection => (message, true),
                    _ => {
                        let busy = is_sqlite_busy(&message);
                        (message, busy)
                    }
                }
            }
            DieselError::BrokenTransactionManager => (
                "the connection's transaction state is broken".to_owned(),
                true,
            ),
            other => (other.to_string(), false),
        };
        let source: Option<Source> = Some(Box::new(error));
        if unavailable {
            StoreError::Unavailable { message, source }
        } else {
            StoreError::Database { message, source }
        }
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        StoreError::unavailable_from(error.to_string(), error)
    }
}

impl From<diesel::ConnectionError> for StoreError {
    fn from(error: diesel::ConnectionError) -> Self {
        StoreError::unavailable_from(error.to_string(), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::DatabaseErrorInformation;

    struct Info(&'static str);

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn unknown(message: &'static str) -> StoreError {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(Info(message))).into()
    }

    #[test]
    fn sqlite_busy_is_known_by_its_code_text_alone() {
        assert!(matches!(
            unknown("database is locked"),
            StoreError::Unavailable { .. }
        ));
        assert!(matches!(
            unknown("database table is locked"),
            StoreError::Unavailable { .. }
        ));
        // A message that only mentions the word is some other failure.
        assert!(matches!(
            unknown("CHECK constraint failed: status <> 'busy'"),
            StoreError::Database { .. }
        ));
    }

    #[test]
    fn driver_errors_are_kept_as_the_source() {
        let error = unknown("no such table: shops");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("no such table: shops"));
    }
}
