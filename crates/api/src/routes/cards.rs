//! Interception cards (method 1), the customer-service side: create and send a card to the
//! order's buyer, read it, revoke it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shiphold_domain::{Card, CardId, OrderId};
use utoipa::ToSchema;

use super::{json, parse_locale, shown_once};
use crate::extract::{MaybeJson, Path};
use crate::problem::ApiError;
use crate::service::{Caller, cards};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(create))
        .routes(routes!(show))
        .routes(routes!(revoke))
}

/// Options of a new card; the body may be left out.
#[derive(Debug, Deserialize, Default, ToSchema)]
#[schema(as = CreateCardBody)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// The language of the message to the buyer: `zh-CN` (default) or `en`.
    #[serde(default)]
    #[schema(example = "en", value_type = Option<crate::schema::mirror::Locale>)]
    locale: Option<String>,
}

/// An interception card.
#[derive(Debug, Serialize, ToSchema)]
struct CardView {
    #[schema(value_type = String)]
    id: CardId,
    #[schema(value_type = String)]
    order_id: OrderId,
    buyer_id: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`.
    #[schema(example = "active")]
    status: &'static str,
}

fn card_view(card: &Card, now: DateTime<Utc>) -> CardView {
    let status = match card.check_usable(now) {
        Ok(()) => "active",
        Err(shiphold_domain::CardError::Expired) => "expired",
        Err(shiphold_domain::CardError::Revoked) => "revoked",
    };
    CardView {
        id: card.id.clone(),
        order_id: card.order_id.clone(),
        buyer_id: card.buyer_id.to_string(),
        created_at: card.created_at,
        expires_at: card.expires_at,
        revoked_at: card.revoked_at,
        status,
    }
}

/// A new card with its link.
#[derive(Debug, Serialize, ToSchema)]
struct CreatedCard {
    #[serde(flatten)]
    card: CardView,
    /// The link sent to the buyer; it is shown here once, since only its hash is stored.
    link: String,
    message_id: String,
}

/// Creates an interception card and sends its link to the order's buyer (agent).
#[utoipa::path(
    post,
    path = "/v1/orders/{order_id}/cards",
    tag = "cards",
    operation_id = "create_card",
    security(("api_key" = [])),
    params(
        ("order_id" = crate::schema::mirror::Id, Path, description = "The marketplace's order id."),
    ),
    request_body = Option<CreateBody>,
    responses(
        (status = 201, description = "The card and its link, shown once.", body = CreatedCard),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 404, response = crate::schema::NotFound),
        (status = 409, response = crate::schema::InterceptionClosedOrKeyInUse),
        (status = 422, response = crate::schema::ValidationFailedOrKeyReused),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    body: MaybeJson<CreateBody>,
) -> Result<Response, ApiError> {
    let order_id = OrderId::parse(&order_id).map_err(|_| ApiError::not_found("order"))?;
    let locale = parse_locale(body.value.unwrap_or_default().locale.as_deref());
    let created = cards::create(&state, &caller, order_id, locale).await?;
    let what = format!("card {}", created.card.id);
    Ok(shown_once(
        json(
            StatusCode::CREATED,
            &CreatedCard {
                card: card_view(&created.card, state.now().business),
                link: created.link,
                message_id: created.message_id,
            },
        ),
        what,
    ))
}

/// Reads a card.
#[utoipa::path(
    get,
    path = "/v1/cards/{card_id}",
    tag = "cards",
    operation_id = "get_card",
    security(("api_key" = [])),
    params(
        ("card_id" = String, Path, description = "The card's id."),
    ),
    responses(
        (status = 200, description = "The card.", body = CardView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 404, response = crate::schema::NotFound),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(card_id): Path<String>,
) -> Result<Response, ApiError> {
    let card_id = CardId::parse(&card_id).map_err(|_| ApiError::not_found("card"))?;
    let card = cards::get(&state, &caller, card_id).await?;
    Ok(json(
        StatusCode::OK,
        &card_view(&card, state.now().business),
    ))
}

/// Revokes a card: its link stops working (agent).
#[utoipa::path(
    post,
    path = "/v1/cards/{card_id}/revoke",
    tag = "cards",
    operation_id = "revoke_card",
    security(("api_key" = [])),
    params(
        ("card_id" = String, Path, description = "The card's id."),
    ),
    responses(
        (status = 200, description = "The revoked card.", body = CardView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 404, response = crate::schema::NotFound),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(card_id): Path<String>,
) -> Result<Response, ApiError> {
    let card_id = CardId::parse(&card_id).map_err(|_| ApiError::not_found("card"))?;
    let card = cards::revoke(&state, &caller, card_id).await?;
    Ok(json(
        StatusCode::OK,
        &card_view(&card, state.now().business),
    ))
}
