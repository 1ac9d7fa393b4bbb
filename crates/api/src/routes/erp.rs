//! The ERP's side: the signed callback through which ERPs report results later, and the dead
//! letters an admin can inspect and send again.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use shiphold_domain::{InterceptionId, ShopId};
use shiphold_erp_adapter::{CallbackReceipt, ReceiveError, Secret, receive_callback};
use utoipa::ToSchema;

use super::{Auth, Table};
use super::{Listing, PageQuery, audit, json};
use crate::auth::{Caller, Role};
use crate::problem::{ApiError, ProblemKind};
use crate::service;
use crate::state::AppState;

pub(super) fn routes(table: Table) -> Table {
    table
        .post("/v1/erp/shops/{shop_id}/results", Auth::Signature, callback)
        .get("/v1/erp/dead-letters", Auth::Key, dead_letters)
        .post(
            "/v1/erp/dead-letters/{entry_id}/redrive",
            Auth::Key,
            redrive,
        )
}

fn receive_error(error: ReceiveError) -> ApiError {
    let status = error.status();
    let kind = match status.as_u16() {
        401 => ProblemKind::Unauthenticated,
        413 => ProblemKind::PayloadTooLarge,
        _ => ProblemKind::MalformedRequest,
    };
    ApiError::new(kind, error.to_string())
}

#[utoipa::path(
    post,
    path = "/v1/erp/shops/{shop_id}/results",
    tag = "erp",
    operation_id = "erp_results",
    security(("webhook_signature" = [])),
    params(
        ("shop_id" = String, Path, description = "The shop's id, as in the messages."),
        ("webhook-id" = String, Header, description = "The message id, unique per callback and the same on every retry; a repeated id changes nothing (`replayed: true`)."),
        ("webhook-timestamp" = i64, Header, description = "When this attempt was signed, in unix seconds; at most 5 minutes from the server's clock."),
    ),
    request_body(content = shiphold_erp_adapter::ResultsCallback, description = "The results, signed with the shop's secret (Standard Webhooks v1). See docs/erp-protocol.md."),
    responses(
        (status = 200, description = "What Shiphold did with each result.", body = CallbackReceipt),
        (status = 400, response = crate::openapi::MalformedRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, response = crate::openapi::NotFound),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
/// Applies an ERP's signed results. Verification, the replay guard and the changes share one
/// transaction, so a refused or failed request changes nothing and can be sent again.
async fn callback(
    State(state): State<AppState>,
    Path(shop_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let shop = ShopId::parse(&shop_id).map_err(|_| ApiError::not_found("shop"))?;
    let (now, wire_now, config) = (state.now(), state.wire_now(), state.config().clone());
    let receipt = state
        .store()
        .write(move |tx| -> Result<CallbackReceipt, ApiError> {
            let record = tx.settings(&shop)?;
            let secret = record
                .erp_secret
                .as_deref()
                .and_then(|s| Secret::parse(s).ok())
                .ok_or_else(|| ApiError::not_found("shop with a linked ERP"))?;
            let (request, callback) =
                receive_callback(&headers, &body, &[secret], wire_now).map_err(receive_error)?;
            if callback.shop_id != shop.as_str() {
                return Err(ApiError::new(
                    ProblemKind::MalformedRequest,
                    "the body's shop_id does not match the shop in the URL",
                ));
            }
            if !tx.remember_webhook(&shop, &request.webhook_id, now)? {
                return Ok(CallbackReceipt {
                    replayed: true,
                    results: Vec::new(),
                });
            }
            let interception_id = InterceptionId::parse(&callback.interception_id)
                .map_err(|_| ApiError::not_found("interception"))?;
            if tx.interception(&shop, &interception_id)?.is_none() {
                return Err(ApiError::not_found("interception"));
            }
            let results = service::apply_erp_results(
                tx,
                &config,
                &shop,
                &interception_id,
                false,
                &callback.results,
                now,
            )?;
            audit(
                tx,
                &shop,
                now,
                "erp",
                "erp.results",
                interception_id.as_str(),
                serde_json::Value::Null,
                serde_json::to_value(&callback.results).unwrap_or_default(),
            )?;
            Ok(CallbackReceipt {
                replayed: false,
                results,
            })
        })
        .await?;
    state.wake_worker();
    Ok(json(StatusCode::OK, &receipt))
}

/// A message Shiphold gave up delivering.
#[derive(Debug, Serialize, ToSchema)]
struct DeadLetterView {
    id: String,
    /// What kind of delivery: ERP messages or buyer messages.
    topic: String,
    message_id: String,
    /// Deliveries with one ordering key (an order) go out in order.
    ordering_key: String,
    attempts: i32,
    last_error: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    /// The message as it would be sent.
    #[schema(value_type = Object)]
    payload: serde_json::Value,
}

/// The answer to a redrive.
#[derive(Debug, Serialize, ToSchema)]
struct Redriven {
    /// Always `true`: the entry is queued again.
    redriven: bool,
}

/// Lists the messages Shiphold gave up delivering (admin).
#[utoipa::path(
    get,
    path = "/v1/erp/dead-letters",
    tag = "erp",
    operation_id = "list_dead_letters",
    security(("api_key" = [])),
    params(
        PageQuery,
    ),
    responses(
        (status = 200, description = "A page of dead letters.", body = Listing<DeadLetterView>),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 422, response = crate::openapi::ValidationFailed),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn dead_letters(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let page = q.page()?;
    let shop = caller.shop_id.clone();
    let result = state
        .store()
        .read(move |tx| -> Result<_, ApiError> { Ok(tx.dead_letters(&shop, None, &page)?) })
        .await?;
    let items = result
        .items
        .into_iter()
        .map(|d| DeadLetterView {
            id: d.id.to_string(),
            topic: d.topic,
            message_id: d.message_id,
            ordering_key: d.ordering_key,
            attempts: d.attempts,
            last_error: d.last_error,
            created_at: d.created_at,
            payload: d.payload,
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &Listing {
            items,
            next_cursor: result.next,
        },
    ))
}

/// Queues a dead letter for delivery again (admin).
#[utoipa::path(
    post,
    path = "/v1/erp/dead-letters/{entry_id}/redrive",
    tag = "erp",
    operation_id = "redrive_dead_letter",
    security(("api_key" = [])),
    params(
        ("entry_id" = i64, Path, description = "The dead letter's id."),
    ),
    responses(
        (status = 200, description = "The entry is queued again.", body = Redriven),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn redrive(
    State(state): State<AppState>,
    caller: Caller,
    Path(entry_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let entry_id: i64 = entry_id
        .parse()
        .map_err(|_| ApiError::not_found("dead letter"))?;
    let (shop, actor, now) = (caller.shop_id.clone(), caller.actor(), state.now());
    state
        .store()
        .write(move |tx| -> Result<(), ApiError> {
            if !tx.redrive(&shop, entry_id, now)? {
                return Err(ApiError::not_found("dead letter"));
            }
            audit(
                tx,
                &shop,
                now,
                &actor,
                "outbox.redrive",
                &entry_id.to_string(),
                serde_json::Value::Null,
                serde_json::json!({"redriven_at": now}),
            )?;
            Ok(())
        })
        .await?;
    state.wake_worker();
    Ok(json(StatusCode::OK, &Redriven { redriven: true }))
}
