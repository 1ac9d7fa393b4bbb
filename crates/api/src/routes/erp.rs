//! The ERP's side: the signed callback through which ERPs report results later, and the dead
//! letters an admin can inspect and send again.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use shiphold_erp_adapter::CallbackReceipt;
use utoipa::ToSchema;

use super::{Listing, PageQuery, json};
use crate::extract::{Path, Query, SignedBody};
use crate::problem::ApiError;
use crate::service::erp_results::{self, SignedCallback};
use crate::service::{Caller, outbox};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(callback))
        .routes(routes!(dead_letters))
        .routes(routes!(dead_letter))
        .routes(routes!(redrive))
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
        (status = 400, response = crate::schema::CallbackRefused),
        (status = 401, response = crate::schema::CallbackUnauthenticated),
        (status = 404, response = crate::schema::NotFound),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
/// Applies an ERP's signed results. Verification, the replay guard and the changes share one
/// transaction, so a refused or failed request changes nothing and can be sent again.
async fn callback(
    State(state): State<AppState>,
    Path(shop_id): Path<String>,
    headers: HeaderMap,
    SignedBody(body): SignedBody,
) -> Result<Response, ApiError> {
    let receipt = erp_results::callback(&state, &shop_id, SignedCallback { headers, body }).await?;
    Ok(json(StatusCode::OK, &receipt))
}

/// A message Shiphold gave up delivering.
#[derive(Debug, Serialize, ToSchema)]
struct DeadLetterView {
    id: String,
    /// What kind of delivery: ERP messages or buyer messages.
    topic: &'static str,
    message_id: String,
    /// Deliveries with one ordering key (an order) go out in order.
    ordering_key: String,
    /// The order the message is about.
    order_id: Option<String>,
    /// The interception it is about, when it is about one.
    interception_id: Option<String>,
    attempts: i32,
    /// Why it was given up: the last attempt's error.
    last_error: Option<String>,
    /// The HTTP status of the last attempt, when the peer answered.
    last_status: Option<i32>,
    created_at: chrono::DateTime<chrono::Utc>,
    /// The message as it would be sent.
    #[schema(value_type = Object)]
    payload: serde_json::Value,
    /// Every attempt, oldest first; only when one dead letter is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<AttemptView>>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
struct AttemptView {
    at: chrono::DateTime<chrono::Utc>,
    /// `delivered`, `retry`, `held` or `dead`.
    outcome: String,
    /// The HTTP status, when the peer answered.
    status: Option<i32>,
    error: Option<String>,
    duration_ms: i64,
}

fn dead_letter_view(d: outbox::DeadLetter, with_history: bool) -> DeadLetterView {
    DeadLetterView {
        id: d.entry.id.to_string(),
        topic: d.entry.topic.as_str(),
        message_id: d.entry.message_id,
        ordering_key: d.entry.ordering_key,
        order_id: d.order_id,
        interception_id: d.interception_id,
        attempts: d.entry.attempts,
        last_error: d.entry.last_error,
        last_status: d.last_status,
        created_at: d.entry.created_at,
        payload: d.entry.payload,
        history: with_history.then(|| {
            d.attempts
                .into_iter()
                .map(|a| AttemptView {
                    at: a.at,
                    outcome: a.outcome,
                    status: a.status_code,
                    error: a.error,
                    duration_ms: a.duration_ms,
                })
                .collect()
        }),
    }
}

/// The answer to a redrive.
#[derive(Debug, Serialize, ToSchema)]
struct Redriven {
    /// Always `true`: the entry is queued again.
    redriven: bool,
}

/// Lists the messages Shiphold gave up delivering (admin or agent).
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
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn dead_letters(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let page = q.page()?;
    let result = outbox::dead_letters(&state, &caller, page).await?;
    let items = result
        .items
        .into_iter()
        .map(|d| dead_letter_view(d, false))
        .collect();
    Ok(json(
        StatusCode::OK,
        &Listing {
            items,
            next_cursor: result.next,
        },
    ))
}

/// A dead letter's id from the path; anything else names no dead letter.
fn dead_letter_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("dead letter"))
}

/// One dead letter with every delivery attempt: when, the answer's status, the error (admin or agent).
#[utoipa::path(
    get,
    path = "/v1/erp/dead-letters/{entry_id}",
    tag = "erp",
    operation_id = "get_dead_letter",
    security(("api_key" = [])),
    params(
        ("entry_id" = i64, Path, description = "The dead letter's id."),
    ),
    responses(
        (status = 200, description = "The dead letter and its attempts.", body = DeadLetterView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 404, response = crate::schema::NotFound),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn dead_letter(
    State(state): State<AppState>,
    caller: Caller,
    Path(entry_id): Path<String>,
) -> Result<Response, ApiError> {
    let entry_id = dead_letter_id(&entry_id)?;
    let found = outbox::get_dead_letter(&state, &caller, entry_id).await?;
    Ok(json(StatusCode::OK, &dead_letter_view(found, true)))
}

/// Queues a dead letter for delivery again (admin or agent).
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
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 404, response = crate::schema::NotFound),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn redrive(
    State(state): State<AppState>,
    caller: Caller,
    Path(entry_id): Path<String>,
) -> Result<Response, ApiError> {
    let entry_id = dead_letter_id(&entry_id)?;
    outbox::redrive(&state, &caller, entry_id).await?;
    Ok(json(StatusCode::OK, &Redriven { redriven: true }))
}
