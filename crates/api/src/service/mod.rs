//! The application layer: one function per use case. Each takes the caller (shop, credential, roles)
//! and domain types, checks authorisation itself, lets the domain decide, applies the decision
//! through storage in one transaction, and answers with a typed outcome or a [`ServiceError`].
//! Routes, jobs and the command line all come in here; nothing in it knows HTTP.

mod caller;
pub(crate) mod error;

pub mod cards;
pub mod erp_outbox;
pub mod erp_results;
pub mod idempotency;
pub mod intercept;
pub mod interceptions;
pub mod keys;
pub mod lines;
pub mod marketplace_outbox;
pub mod messages;
pub mod operations;
pub mod orders;
pub mod outbox;
pub mod qimen_outbox;
pub mod release;
pub mod reminders;
pub mod setup;
pub mod shops;
pub mod staff;
pub mod windows;

pub use caller::{Caller, Credential, Role};

/// A command as the edge parsed it, or the fields that failed. Use cases take it unopened and
/// look inside only after the caller's roles are checked, so a caller who may not run a use
/// case learns nothing about what a valid request would look like.
pub type Parsed<T> = Result<T, shiphold_domain::ValidationError>;
pub use error::ServiceError;

use chrono::{DateTime, Utc};
use shiphold_domain::ShopId;
use shiphold_storage::{AuditRecord, StoreError, Tx};

/// Records an audit entry in the caller's transaction.
#[allow(clippy::too_many_arguments)] // each is one column of the entry; a struct would only rename them
pub(crate) fn audit(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    target: &str,
    before: serde_json::Value,
    after: serde_json::Value,
) -> Result<(), StoreError> {
    tx.insert_audit(&AuditRecord {
        shop_id: shop_id.clone(),
        id: 0,
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        before,
        after,
    })
    .map(|_| ())
}
