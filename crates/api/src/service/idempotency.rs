//! Idempotency records behind the `Idempotency-Key` header: a first request takes the key, a
//! retry with the same key and body gets the stored answer. Keys are held by wall time: a lock
//! runs out in real time whatever day the business clock says it is.

use std::time::Duration;

use shiphold_domain::ShopId;
use shiphold_storage::IdemBegin;

use super::ServiceError;
use crate::state::AppState;

/// How long a first request may hold its key before a retry may take it over.
const LOCK: Duration = Duration::from_secs(60);

/// What a request under `key` is: new, a replay, in flight elsewhere, or a mismatch.
pub async fn begin(
    app: &AppState,
    shop: ShopId,
    key: String,
    scope: String,
    fingerprint: String,
) -> Result<IdemBegin, ServiceError> {
    let now = app.now().wall;
    Ok(app
        .store()
        .write(move |tx| tx.idempotency_begin(&shop, &key, &scope, &fingerprint, now, LOCK))
        .await?)
}

/// Stores the answer of the request that held `key`.
pub async fn finish(
    app: &AppState,
    shop: ShopId,
    key: String,
    scope: String,
    status: u16,
    body: Vec<u8>,
    content_type: String,
) -> Result<(), ServiceError> {
    app.store()
        .write(move |tx| {
            tx.idempotency_finish(&shop, &key, &scope, status, &body, Some(&content_type))
        })
        .await?;
    Ok(())
}

/// Lets go of `key` without an answer (the request failed on the server's side), so that a
/// retry runs it again.
pub async fn abandon(
    app: &AppState,
    shop: ShopId,
    key: String,
    scope: String,
) -> Result<(), ServiceError> {
    app.store()
        .write(move |tx| tx.idempotency_abandon(&shop, &key, &scope))
        .await?;
    Ok(())
}
