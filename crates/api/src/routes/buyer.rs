//! The buyer's side of a card: the page behind the link, the card's items (which can be chosen
//! and why not), the submission, and the buyer's inbox. The token in the link is the only
//! credential; it is bound to one shop, order and buyer, and expires.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shiphold_domain::interception::check_item;
use shiphold_domain::{FieldError, SubOrderId};
use shiphold_messaging::Locale;
use utoipa::ToSchema;

use super::{json, parse_sub_order_ids};
use crate::extract::{JsonBody, Path};
use crate::problem::ApiError;
use crate::service::cards::{self, BuyerCard};
use crate::state::AppState;
use crate::views::{InterceptionView, MessageView, intercepted, interception_view, message_view};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(page))
        .routes(routes!(show))
        .routes(routes!(submit))
}

/// An item of the card's order, and whether the buyer may choose it.
#[derive(Debug, Serialize, ToSchema)]
struct ItemView {
    #[schema(value_type = String)]
    sub_order_id: SubOrderId,
    title: String,
    quantity: u32,
    amount: i64,
    choosable: bool,
    /// Why the item cannot be chosen.
    reason: Option<&'static str>,
    reason_message: Option<&'static str>,
}

/// What the buyer sees behind the card link.
#[derive(Debug, Serialize, ToSchema)]
struct BuyerCardView {
    shop_name: String,
    order_id: String,
    expires_at: DateTime<Utc>,
    single_item_choice: bool,
    /// The shop's warehouse holds whole parcels: any item chosen holds the whole parcel (the
    /// other items are not stopped one by one, but they wait with it).
    whole_parcel: bool,
    items: Vec<ItemView>,
    interceptions: Vec<InterceptionView>,
    messages: Vec<MessageView>,
    /// The card expired after the buyer submitted: its status stays readable for 30 days, and
    /// nothing can be submitted.
    status_only: bool,
}

fn card_view(card: BuyerCard) -> BuyerCardView {
    let items = card
        .order
        .sub_orders
        .iter()
        .map(|s| {
            let check = check_item(s, &card.active);
            ItemView {
                sub_order_id: s.id.clone(),
                title: s.title.clone(),
                quantity: s.quantity,
                amount: s.amount.minor(),
                choosable: check.is_ok(),
                reason: check.err().map(|r| r.as_str()),
                reason_message: check.err().map(|r| r.message()),
            }
        })
        .collect();
    BuyerCardView {
        shop_name: card.shop_name,
        order_id: card.order.id.to_string(),
        expires_at: card.card.expires_at,
        single_item_choice: card.single_item_choice,
        whole_parcel: card.whole_parcel,
        items,
        interceptions: card
            .interceptions
            .iter()
            .map(|i| interception_view(i, None, Vec::new()))
            .collect(),
        messages: card.messages.into_iter().map(message_view).collect(),
        status_only: card.status_only,
    }
}

/// The card as the buyer sees it: the order's items (which can be chosen and why not), the interceptions and the messages.
#[utoipa::path(
    get,
    path = "/v1/buyer/cards/{token}",
    tag = "buyer",
    operation_id = "get_buyer_card",
    params(
        ("token" = String, Path, description = "The card token from the buyer's link (`ct_…`); it is the credential."),
    ),
    responses(
        (status = 200, description = "The card.", body = BuyerCardView),
        (status = 404, response = crate::schema::NotFound),
        (status = 410, response = crate::schema::CardGone),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let card = cards::buyer_card(&state, token).await?;
    Ok(json(StatusCode::OK, &card_view(card)))
}

/// The buyer's choice.
#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    /// The chosen items; the whole order when absent.
    #[schema(value_type = Option<Vec<crate::schema::mirror::Id>>, min_items = 1)]
    sub_order_ids: Option<Vec<String>>,
    /// The buyer's language (`zh-CN` or `en`); else `Accept-Language`, else Chinese.
    #[schema(value_type = Option<crate::schema::mirror::Locale>)]
    locale: Option<String>,
}

/// The buyer's language: the body's, else the browser's, else Chinese.
fn buyer_locale(body: Option<&str>, headers: &HeaderMap) -> Result<Locale, ApiError> {
    if let Some(raw) = body {
        return Locale::parse(raw)
            .map_err(|e| FieldError::new("locale", "invalid", e.to_string()).into());
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(accept
        .split(',')
        .filter_map(|part| Locale::parse(part.split(';').next().unwrap_or("").trim()).ok())
        .next()
        .unwrap_or_default())
}

/// The buyer's choice: intercepts the chosen items. Submitting again answers with the same interception.
#[utoipa::path(
    post,
    path = "/v1/buyer/cards/{token}/interceptions",
    tag = "buyer",
    operation_id = "submit_buyer_card",
    params(
        ("token" = String, Path, description = "The card token from the buyer's link (`ct_…`); it is the credential."),
        ("Accept-Language" = Option<String>, Header, description = "The buyer's language when the body names none."),
    ),
    request_body = SubmitBody,
    responses(
        (status = 201, description = "The interception.", body = InterceptionView),
        (status = 200, description = "The interception an earlier submission of this card made.", body = InterceptionView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 404, response = crate::schema::NotFound),
        (status = 409, response = crate::schema::InterceptionRefused),
        (status = 410, response = crate::schema::CardGone),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: JsonBody<SubmitBody>,
) -> Result<Response, ApiError> {
    let body = body.value;
    let locale = buyer_locale(body.locale.as_deref(), &headers)?;
    let chosen = body
        .sub_order_ids
        .as_deref()
        .map(|ids| parse_sub_order_ids(ids, "sub_order_ids"))
        .transpose()?;
    let outcome = cards::submit(&state, token, chosen, locale).await?;
    Ok(intercepted(&outcome))
}

/// The page behind the card link: it reads the card and submits the choice through the JSON
/// routes above, so the page holds no logic the API does not check again.
/// The page behind the card link (HTML); it reads and submits the card through the JSON routes.
#[utoipa::path(
    get,
    path = "/c/{token}",
    tag = "buyer",
    operation_id = "card_page",
    params(
        ("token" = String, Path, description = "The card token from the buyer's link (`ct_…`); it is the credential."),
    ),
    responses(
        (status = 200, description = "The card page.", content_type = "text/html", body = String),
        (status = 404, response = crate::schema::NotFound),
    ),
)]
async fn page(Path(token): Path<String>) -> Response {
    if !cards::is_token_shaped(&token) {
        return ApiError::not_found("card").into_response();
    }
    super::page::serve(CARD_PAGE, &CARD_POLICY)
}

const CARD_PAGE: &str = include_str!("../../assets/card.html");

/// The card page's policy: the token sits in its URL, so only its own script may run, and only
/// against this origin.
static CARD_POLICY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| super::page::policy(CARD_PAGE));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::page::{block, hash_source};

    #[test]
    fn the_card_page_runs_only_its_own_hashed_script_and_style() {
        assert_eq!(CARD_PAGE.matches("<script").count(), 1);
        assert_eq!(CARD_PAGE.matches("<style").count(), 1);
        assert!(CARD_POLICY.contains(&hash_source(block(CARD_PAGE, "<script>", "</script>"))));
        assert!(CARD_POLICY.contains(&hash_source(block(CARD_PAGE, "<style>", "</style>"))));
        assert!(CARD_POLICY.contains("frame-ancestors 'none'"));
        // Inline handlers and style attributes would be refused by the policy.
        assert!(!CARD_PAGE.contains(" onclick="), "inline handler");
        assert!(!CARD_PAGE.contains(" style=\""), "style attribute");
        assert!(!CARD_PAGE.contains("innerHTML"), "markup from data");
    }
}
