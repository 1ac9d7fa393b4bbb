//! Shiphold's store: diesel on embedded SQLite (default) or PostgreSQL behind one async,
//! backend-neutral API, with embedded per-backend migrations, the outbox, idempotency records
//! and the inbound replay guard.
//!
//! Work runs in units: [`Store::write`] hands a [`Tx`] to a synchronous closure that loads,
//! lets the domain decide, and applies the decision, all in one transaction. Times are stored
//! as unix milliseconds, so sub-millisecond precision is not kept.

mod error;
mod explain;
mod idempotency;
mod interceptions;
mod messages;
mod orders;
mod outbox;
mod page;
mod reminders;
mod schema;
mod shops;
mod staff;
mod store;
mod writer;

pub use error::{Source, StoreError};
pub use idempotency::IdemBegin;
pub use interceptions::InterceptionFilter;
pub use messages::{MessageChannel, MessageRecord, MessageStatus};
pub use orders::OrderFilter;
pub use outbox::{
    AttemptRecord, ClaimLimits, ClaimedEntry, NewOutboxEntry, OutboxCount, OutboxEntry,
    OutboxStatus, Topic,
};
pub use page::{Page, PageOf};
pub use reminders::{REFUND_REMINDER_KIND, REMINDER_HORIZON_DAYS};
pub use shops::{ApiKeyRecord, AuditRecord, SettingsRecord, ShopRecord};
pub use staff::{SessionRecord, StaffRecord};
pub use store::{Backend, Store, StoreOptions, Tx};

use shiphold_domain::FieldError;

/// Parses a stored id into its domain type, or `Corrupt` naming the column.
pub(crate) fn parse_id<T>(raw: &str, column: &str) -> Result<T, StoreError>
where
    T: std::str::FromStr<Err = FieldError>,
{
    raw.parse::<T>()
        .map_err(|e| StoreError::corrupt(format!("{column}: {e}")))
}

/// Parses a stored JSON column, or `Corrupt` naming the column.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    raw: &str,
    column: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::corrupt(format!("{column}: {e}")))
}

/// A value as JSON text for a column.
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::database(format!("cannot encode a value as JSON: {e}")))
}
