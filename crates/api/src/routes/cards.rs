//! Interception cards (method 1), the customer-service side: create and send a card to the
//! order's buyer, read it, revoke it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use shiphold_domain::{Card, CardId, FieldError, OrderId};
use shiphold_messaging::{CardLink, Locale, TemplateKind};
use utoipa::ToSchema;

use super::{Auth, Table};
use super::{audit, json};
use crate::auth::{Caller, Role, hash_secret};
use crate::extract::MaybeJson;
use crate::problem::ApiError;
use crate::routes::interceptions::check_card_allowed;
use crate::service::{self, MessageContext};
use crate::state::AppState;

/// The prefix of card tokens in links.
pub(crate) const TOKEN_PREFIX: &str = "ct_";

pub(super) fn routes(table: Table) -> Table {
    table
        .post("/v1/orders/{order_id}/cards", Auth::Key, create)
        .get("/v1/cards/{card_id}", Auth::Key, show)
        .post("/v1/cards/{card_id}/revoke", Auth::Key, revoke)
}

/// A new card token: 256 random bits; only its hash is stored.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Options of a new card; the body may be left out.
#[derive(Debug, Deserialize, Default, ToSchema)]
#[schema(as = CreateCardBody)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// The language of the message to the buyer: `zh-CN` (default) or `en`.
    #[serde(default)]
    #[schema(example = "en")]
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
        ("order_id" = String, Path, description = "The marketplace's order id."),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: the same key and body replay the first answer (with `Idempotent-Replayed: true`)."),
    ),
    request_body = Option<CreateBody>,
    responses(
        (status = 201, description = "The card and its link, shown once.", body = CreatedCard),
        (status = 400, response = crate::openapi::MalformedRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::InterceptionClosedOrKeyInUse),
        (status = 422, response = crate::openapi::ValidationFailedOrKeyReused),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    body: MaybeJson<CreateBody>,
) -> Result<Response, ApiError> {
    caller.require(Role::Agent)?;
    let order_id = OrderId::parse(&order_id).map_err(|_| ApiError::not_found("order"))?;
    let body = body.value.unwrap_or_default();
    let locale = match body.locale.as_deref() {
        None => Locale::default(),
        Some(raw) => {
            Locale::parse(raw).map_err(|e| FieldError::new("locale", "invalid", e.to_string()))?
        }
    };
    let token = new_token();
    let link = format!(
        "{}/c/{}",
        state.config().public_base_url.trim_end_matches('/'),
        token
    );
    let token_hash = hash_secret(&token);
    let (shop, actor, now, config) = (
        caller.shop_id.clone(),
        caller.actor(),
        state.now(),
        state.config().clone(),
    );
    let link_for_tx = link.clone();
    let (card, message_id) = state
        .store()
        .write(move |tx| -> Result<(Card, String), ApiError> {
            let order = tx
                .lock_order(&shop, &order_id)?
                .ok_or_else(|| ApiError::not_found("order"))?;
            // Cards must not reach real buyers on ordinary days.
            check_card_allowed(tx, &shop, &order, now)?;
            let record = tx.settings(&shop)?;
            let card = Card::new(
                CardId::generate(),
                order.id.clone(),
                order.buyer_id.clone(),
                now,
                record.settings.advanced.card_expiry,
            );
            tx.insert_card(&shop, &card, &token_hash)?;
            let ctx = MessageContext::load(tx, &shop, &record, &config, now)?;
            let tz = ctx
                .windows
                .first()
                .map(|w| w.time_zone)
                .unwrap_or(chrono_tz::Asia::Shanghai);
            let items = order
                .sub_orders
                .iter()
                .filter(|s| s.shipping_status == shiphold_domain::ShippingStatus::AwaitingShipment)
                .map(|s| s.title.clone())
                .collect();
            let card_link = CardLink {
                url: link_for_tx,
                expires_at: card.expires_at.with_timezone(&tz).fixed_offset(),
            };
            let message = service::send_buyer_message(
                tx,
                &ctx,
                &order,
                service::Outgoing {
                    kind: TemplateKind::Card,
                    locale,
                    interception_id: None,
                    items,
                    card: Some(card_link),
                },
            )?;
            audit(
                tx,
                &shop,
                now,
                &actor,
                "card.create",
                card.id.as_str(),
                serde_json::Value::Null,
                serde_json::json!({"order_id": order.id, "expires_at": card.expires_at}),
            )?;
            Ok((card, message.message_id))
        })
        .await?;
    state.wake_worker();
    Ok(json(
        StatusCode::CREATED,
        &CreatedCard {
            card: card_view(&card, state.now()),
            link,
            message_id,
        },
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
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(card_id): Path<String>,
) -> Result<Response, ApiError> {
    let card_id = CardId::parse(&card_id).map_err(|_| ApiError::not_found("card"))?;
    let shop = caller.shop_id.clone();
    let card = state
        .store()
        .read(move |tx| tx.card(&shop, &card_id))
        .await?;
    let card = card.ok_or_else(|| ApiError::not_found("card"))?;
    Ok(json(StatusCode::OK, &card_view(&card, state.now())))
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
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(card_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Agent)?;
    let card_id = CardId::parse(&card_id).map_err(|_| ApiError::not_found("card"))?;
    let (shop, actor, now) = (caller.shop_id.clone(), caller.actor(), state.now());
    let card = state
        .store()
        .write(move |tx| -> Result<Card, ApiError> {
            if tx.card(&shop, &card_id)?.is_none() {
                return Err(ApiError::not_found("card"));
            }
            tx.revoke_card(&shop, &card_id, now)?;
            audit(
                tx,
                &shop,
                now,
                &actor,
                "card.revoke",
                card_id.as_str(),
                serde_json::Value::Null,
                serde_json::json!({"revoked_at": now}),
            )?;
            tx.card(&shop, &card_id)?
                .ok_or_else(|| ApiError::not_found("card"))
        })
        .await?;
    Ok(json(StatusCode::OK, &card_view(&card, now)))
}
