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
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
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

impl StoreError {
    /// A `Corrupt` error naming the table, column and what was wrong.
    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(what.to_string())
    }

    /// Whether the error is a unique-key (or other constraint) conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(kind, info) => {
                let message = info.message().to_owned();
                match kind {
                    DatabaseErrorKind::UniqueViolation
                    | DatabaseErrorKind::ForeignKeyViolation
                    | DatabaseErrorKind::SerializationFailure => StoreError::Conflict(message),
                    DatabaseErrorKind::ClosedConnection => StoreError::Unavailable(message),
                    // SQLite reports a busy database (the busy timeout ran out) only by its text.
                    _ if message.contains("database is locked") || message.contains("busy") => {
                        StoreError::Unavailable(message)
                    }
                    _ => StoreError::Database(message),
                }
            }
            DieselError::BrokenTransactionManager => {
                StoreError::Unavailable("the connection's transaction state is broken".into())
            }
            other => StoreError::Database(other.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

impl From<diesel::ConnectionError> for StoreError {
    fn from(error: diesel::ConnectionError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}
