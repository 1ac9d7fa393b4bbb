//! Idempotency records for write routes (`Idempotency-Key`) and the replay guard for inbound
//! webhooks (ERP callbacks).
//!
//! `idempotency_begin` and `idempotency_finish` run in separate transactions on purpose: begin
//! commits an in-flight record, so that a concurrent duplicate sees it and is told to wait.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use shiphold_domain::ShopId;

use crate::error::StoreError;
use crate::page::ms;
use crate::schema::{idempotency_keys, inbound_webhooks};
use crate::store::{Store, Tx};

const IN_FLIGHT: &str = "in_flight";
const DONE: &str = "done";

/// What an idempotency key says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdemBegin {
    /// First time (or an abandoned attempt was taken over): run the request, then `finish`.
    New,
    /// The same key is being processed right now (409).
    InFlight,
    /// The key was used with a different request (422).
    Mismatch,
    /// Already done: answer this again without doing anything.
    Done {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: Vec<u8>,
        /// The body's content type.
        content_type: Option<String>,
    },
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
struct KeyRow {
    request_hash: String,
    state: String,
    locked_until: i64,
    status: Option<i32>,
    body: Option<Vec<u8>>,
    content_type: Option<String>,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Tx<'_> {
    /// Claims `key` for a request on `scope` (the route) whose body hashes to `request_hash`.
    /// A record still in flight after `lock_for` is taken to be abandoned (its process died)
    /// and is taken over. Commit right after (use [`Store::idempotency_begin`]).
    pub fn idempotency_begin(
        &mut self,
        shop: &ShopId,
        key: &str,
        scope: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        lock_for: Duration,
    ) -> Result<IdemBegin, StoreError> {
        let now_ms = ms(now);
        let locked_until = now_ms.saturating_add(millis(lock_for));
        let inserted = self.savepoint(|c| {
            diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::shop_id.eq(shop.as_str()),
                    idempotency_keys::scope.eq(scope),
                    idempotency_keys::key.eq(key),
                    idempotency_keys::request_hash.eq(request_hash),
                    idempotency_keys::state.eq(IN_FLIGHT),
                    idempotency_keys::locked_until.eq(locked_until),
                    idempotency_keys::created_at.eq(now_ms),
                ))
                .execute(c)
        });
        match inserted.map_err(StoreError::from) {
            Ok(_) => return Ok(IdemBegin::New),
            Err(StoreError::Conflict(_)) => {}
            Err(other) => return Err(other),
        }
        let record = idempotency_keys::table
            .find((shop.as_str(), scope, key))
            .select(KeyRow::as_select())
            .first(self.db())
            .optional()?;
        // Gone between the insert and this read: it was abandoned; the caller may retry.
        let Some(record) = record else {
            return Ok(IdemBegin::InFlight);
        };
        if record.request_hash != request_hash {
            return Ok(IdemBegin::Mismatch);
        }
        match record.state.as_str() {
            DONE => {
                let status = record
                    .status
                    .and_then(|s| u16::try_from(s).ok())
                    .ok_or_else(|| {
                        StoreError::corrupt(format!(
                            "idempotency_keys.status: {:?} on a finished record",
                            record.status
                        ))
                    })?;
                Ok(IdemBegin::Done {
                    status,
                    body: record.body.unwrap_or_default(),
                    content_type: record.content_type,
                })
            }
            IN_FLIGHT if record.locked_until > now_ms => Ok(IdemBegin::InFlight),
            IN_FLIGHT => {
                // Take over only if nobody else did since we read it.
                let taken = diesel::update(
                    idempotency_keys::table
                        .find((shop.as_str(), scope, key))
                        .filter(idempotency_keys::state.eq(IN_FLIGHT))
                        .filter(idempotency_keys::locked_until.eq(record.locked_until)),
                )
                .set(idempotency_keys::locked_until.eq(locked_until))
                .execute(self.db())?;
                Ok(if taken == 1 {
                    IdemBegin::New
                } else {
                    IdemBegin::InFlight
                })
            }
            other => Err(StoreError::corrupt(format!(
                "idempotency_keys.state: '{other}'"
            ))),
        }
    }

    /// Stores the response of a request begun with `idempotency_begin`; later duplicates get
    /// it back. `false` if there was no record.
    pub fn idempotency_finish(
        &mut self,
        shop: &ShopId,
        key: &str,
        scope: &str,
        status: u16,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<bool, StoreError> {
        let updated = diesel::update(idempotency_keys::table.find((shop.as_str(), scope, key)))
            .set((
                idempotency_keys::state.eq(DONE),
                idempotency_keys::status.eq(Some(i32::from(status))),
                idempotency_keys::body.eq(Some(body)),
                idempotency_keys::content_type.eq(content_type),
            ))
            .execute(self.db())?;
        Ok(updated > 0)
    }

    /// Deletes an in-flight record (the request failed in a way a retry may fix), so that a
    /// retry with the same key runs. A finished record is kept. `true` if one was deleted.
    pub fn idempotency_abandon(
        &mut self,
        shop: &ShopId,
        key: &str,
        scope: &str,
    ) -> Result<bool, StoreError> {
        let deleted = diesel::delete(
            idempotency_keys::table
                .find((shop.as_str(), scope, key))
                .filter(idempotency_keys::state.eq(IN_FLIGHT)),
        )
        .execute(self.db())?;
        Ok(deleted > 0)
    }

    /// Deletes idempotency records created before `before`; returns how many.
    pub fn purge_idempotency(&mut self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        Ok(diesel::delete(
            idempotency_keys::table.filter(idempotency_keys::created_at.lt(ms(before))),
        )
        .execute(self.db())?)
    }

    /// Remembers an inbound webhook's id: `true` the first time, `false` for a replay.
    pub fn remember_webhook(
        &mut self,
        shop: &ShopId,
        webhook_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = self.savepoint(|c| {
            diesel::insert_into(inbound_webhooks::table)
                .values((
                    inbound_webhooks::shop_id.eq(shop.as_str()),
                    inbound_webhooks::webhook_id.eq(webhook_id),
                    inbound_webhooks::received_at.eq(ms(now)),
                ))
                .execute(c)
        });
        match inserted.map_err(StoreError::from) {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Forgets inbound webhook ids received before `before`; returns how many.
    pub fn purge_webhooks(&mut self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        Ok(diesel::delete(
            inbound_webhooks::table.filter(inbound_webhooks::received_at.lt(ms(before))),
        )
        .execute(self.db())?)
    }
}

impl Store {
    /// [`Tx::purge_idempotency`] in a transaction of its own.
    pub async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        self.write(move |tx| tx.purge_idempotency(before)).await
    }

    /// [`Tx::purge_webhooks`] in a transaction of its own.
    pub async fn purge_webhooks(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        self.write(move |tx| tx.purge_webhooks(before)).await
    }
}
