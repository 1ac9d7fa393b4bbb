//! Pieces the routes share: paging, idempotency, timestamps, and responses.

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shiphold_domain::{FieldError, ShopId};
use shiphold_storage::{IdemBegin, Page};

use crate::problem::{ApiError, ProblemKind};
use crate::state::AppState;

/// Query parameters of every list.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// The cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// How many items (1 to 200, default 50).
    pub limit: Option<u32>,
}

impl PageQuery {
    pub(crate) fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(FieldError::new(
                "limit",
                "out_of_range",
                "limit must be between 1 and 200",
            )
            .into());
        }
        Ok(Page {
            after: self.cursor.clone(),
            limit,
        })
    }
}

/// A page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Listing<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Parses an RFC 3339 timestamp, naming the field.
pub(crate) fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            FieldError::new(
                field,
                "invalid",
                "must be an RFC 3339 timestamp such as 2026-11-11T00:00:00+08:00",
            )
        })
}

/// A JSON response with a status.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    (status, Json(body)).into_response()
}

/// The header that makes a write safe to retry.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// How long a first request may hold its idempotency key before a retry may take it over.
const IDEMPOTENCY_LOCK: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs a write under the request's `Idempotency-Key`, if it sent one: the same key and body
/// replay the stored response; the same key with another body is refused (422); a key whose
/// first request is still running answers 409.
pub(crate) async fn idempotent<F, Fut>(
    state: &AppState,
    shop_id: &ShopId,
    headers: &HeaderMap,
    scope: &str,
    body: &[u8],
    run: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let Some(key) = headers.get(IDEMPOTENCY_KEY) else {
        return run().await.unwrap_or_else(IntoResponse::into_response);
    };
    let key = match key
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
    {
        Some(k) => k.to_owned(),
        None => {
            return ApiError::field(FieldError::new(
                "Idempotency-Key",
                "invalid",
                "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
            ))
            .into_response();
        }
    };
    let fingerprint = hex::encode(Sha256::digest([scope.as_bytes(), b"\n", body].concat()));
    let now = state.now();
    let begin = {
        let (shop, key, scope, fp) = (
            shop_id.clone(),
            key.clone(),
            scope.to_owned(),
            fingerprint.clone(),
        );
        state
            .store()
            .write(move |tx| tx.idempotency_begin(&shop, &key, &scope, &fp, now, IDEMPOTENCY_LOCK))
            .await
    };
    match begin {
        Err(error) => ApiError::from(error).into_response(),
        Ok(IdemBegin::InFlight) => ApiError::new(
            ProblemKind::IdempotencyKeyInUse,
            "a request with this Idempotency-Key is still being processed; retry later",
        )
        .into_response(),
        Ok(IdemBegin::Mismatch) => ApiError::new(
            ProblemKind::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request",
        )
        .into_response(),
        Ok(IdemBegin::Done {
            status,
            body,
            content_type,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = (status, body).into_response();
            let content_type = content_type.unwrap_or_else(|| "application/json".to_owned());
            if let Ok(value) = axum::http::HeaderValue::from_str(&content_type) {
                response
                    .headers_mut()
                    .insert(axum::http::header::CONTENT_TYPE, value);
            }
            response.headers_mut().insert(
                "idempotent-replayed",
                axum::http::HeaderValue::from_static("true"),
            );
            response
        }
        Ok(IdemBegin::New) => {
            let response = run().await.unwrap_or_else(IntoResponse::into_response);
            let status = response.status();
            // A 5xx is not a result: let the retry run the request again.
            let (parts, body) = response.into_parts();
            let bytes = match axum::body::to_bytes(body, usize::MAX).await {
                Ok(b) => b,
                Err(error) => return ApiError::internal(error).into_response(),
            };
            let content_type = parts
                .headers
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            let (shop, key2, scope2) = (shop_id.clone(), key, scope.to_owned());
            let stored = bytes.to_vec();
            let outcome = if status.is_server_error() {
                state
                    .store()
                    .write(move |tx| tx.idempotency_abandon(&shop, &key2, &scope2))
                    .await
            } else {
                state
                    .store()
                    .write(move |tx| {
                        tx.idempotency_finish(
                            &shop,
                            &key2,
                            &scope2,
                            status.as_u16(),
                            &stored,
                            Some(&content_type),
                        )
                    })
                    .await
            };
            if let Err(error) = outcome {
                tracing::warn!(%error, "could not record the idempotent response");
            }
            Response::from_parts(parts, axum::body::Body::from(bytes))
        }
    }
}

/// Records an audit entry in the caller's transaction.
#[allow(clippy::too_many_arguments)] // each is one column of the entry; a struct would only rename them
pub(crate) fn audit(
    tx: &mut shiphold_storage::Tx<'_>,
    shop_id: &ShopId,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    target: &str,
    before: serde_json::Value,
    after: serde_json::Value,
) -> Result<(), shiphold_storage::StoreError> {
    tx.insert_audit(&shiphold_storage::AuditRecord {
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
