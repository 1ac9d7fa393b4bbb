//! Interception cards (method 1): customer service creates one for an order and it is sent to
//! the buyer; the buyer opens it through the token in the link and submits a choice.

use std::collections::BTreeSet;

use base64::Engine;
use rand::RngCore;
use shiphold_domain::interception::check_open;
use shiphold_domain::{
    Card, CardAccess, CardId, Interception, Method, Order, Requester, ShippingStatus, ShopId,
    SubOrderId, active_at,
};
use shiphold_messaging::{CardLink, Locale, TemplateKind};
use shiphold_storage::{MessageRecord, Tx};

use super::intercept::{InterceptRequest, Intercepted, in_tx};
use super::messages::{MessageContext, Outgoing, send_buyer_message};
use super::{Caller, Parsed, Role, ServiceError, audit};
use crate::auth::hash_secret;
use crate::state::AppState;

/// The prefix of card tokens in links.
pub const TOKEN_PREFIX: &str = "ct_";

/// Whether `token` has the shape of a card token; anything else is not looked up at all.
pub fn is_token_shaped(token: &str) -> bool {
    token.starts_with(TOKEN_PREFIX)
        && token.len() <= 100
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
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

/// A card just made, with its link (shown once: only the token's hash is stored).
#[derive(Debug)]
pub struct CreatedCard {
    /// The card.
    pub card: Card,
    /// The link sent to the buyer.
    pub link: String,
    /// The id of the buyer message that carries it.
    pub message_id: String,
}

/// Creates a card for an order and sends its link to the order's buyer.
pub async fn create(
    app: &AppState,
    caller: &Caller,
    order_id: shiphold_domain::OrderId,
    locale: Parsed<Locale>,
) -> Result<CreatedCard, ServiceError> {
    caller.require(Role::Agent)?;
    let locale = locale?;
    let token = new_token();
    let link = format!(
        "{}/c/{}",
        app.config().public_base_url.trim_end_matches('/'),
        token
    );
    let token_hash = hash_secret(&token);
    let (shop, actor, now, app2) = (
        caller.shop_id.clone(),
        caller.actor(),
        app.now(),
        app.clone(),
    );
    let link_for_tx = link.clone();
    let (card, message_id) = app
        .store()
        .write(move |tx| -> Result<(Card, String), ServiceError> {
            let order = tx
                .order_for_update(&shop, &order_id)?
                .ok_or(ServiceError::NotFound("order"))?;
            let record = tx.settings(&shop)?;
            let windows = tx.windows(&shop)?;
            // Cards must not reach real buyers on ordinary days.
            check_open(&record.settings, &order, active_at(&windows, now.business))?;
            let card = Card::new(
                CardId::generate(),
                order.id.clone(),
                order.buyer_id.clone(),
                now.business,
                record.settings.advanced.card_expiry,
            );
            tx.insert_card(&shop, &card, &token_hash)?;
            let ctx = MessageContext::load(tx, &shop, &record, app2.message_channel(), now)?;
            let tz = ctx
                .windows
                .first()
                .map(|w| w.time_zone)
                .unwrap_or(chrono_tz::Asia::Shanghai);
            let items = order
                .sub_orders
                .iter()
                .filter(|s| s.shipping_status == ShippingStatus::AwaitingShipment)
                .map(|s| s.title.clone())
                .collect();
            let card_link = CardLink {
                url: link_for_tx,
                expires_at: card.expires_at.with_timezone(&tz).fixed_offset(),
            };
            let message = send_buyer_message(
                tx,
                &ctx,
                &order,
                Outgoing {
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
                now.business,
                &actor,
                "card.create",
                card.id.as_str(),
                serde_json::Value::Null,
                serde_json::json!({"order_id": order.id, "expires_at": card.expires_at}),
            )?;
            Ok((card, message.message_id))
        })
        .await?;
    app.wake_worker();
    Ok(CreatedCard {
        card,
        link,
        message_id,
    })
}

/// Reads a card of the caller's shop.
pub async fn get(app: &AppState, caller: &Caller, card_id: CardId) -> Result<Card, ServiceError> {
    let shop = caller.shop_id.clone();
    app.store()
        .read(move |tx| tx.card(&shop, &card_id))
        .await?
        .ok_or(ServiceError::NotFound("card"))
}

/// Revokes a card: its link stops working.
pub async fn revoke(
    app: &AppState,
    caller: &Caller,
    card_id: CardId,
) -> Result<Card, ServiceError> {
    caller.require(Role::Agent)?;
    let (shop, actor, now) = (caller.shop_id.clone(), caller.actor(), app.now().business);
    app.store()
        .write(move |tx| -> Result<Card, ServiceError> {
            if tx.card(&shop, &card_id)?.is_none() {
                return Err(ServiceError::NotFound("card"));
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
                .ok_or(ServiceError::NotFound("card"))
        })
        .await
}

/// Finds the card behind a token; unknown tokens are not found, used-up ones are gone.
fn open(
    tx: &mut Tx<'_>,
    token: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(ShopId, Card), ServiceError> {
    if !is_token_shaped(token) {
        return Err(ServiceError::NotFound("card"));
    }
    let (shop, card) = tx
        .card_by_token_hash(&hash_secret(token))?
        .ok_or(ServiceError::NotFound("card"))?;
    card.check_usable(now)?;
    Ok((shop, card))
}

/// The shop a card token belongs to, if it names a card (used or not).
pub async fn token_shop(app: &AppState, token: &str) -> Result<Option<ShopId>, ServiceError> {
    if !is_token_shaped(token) {
        return Ok(None);
    }
    let hash = hash_secret(token);
    let card = app
        .store()
        .read(move |tx| tx.card_by_token_hash(&hash))
        .await?;
    Ok(card.map(|(shop, _)| shop))
}

/// What the buyer sees behind a card link.
#[derive(Debug)]
pub struct BuyerCard {
    /// The shop's name.
    pub shop_name: String,
    /// The card.
    pub card: Card,
    /// The card's order.
    pub order: Order,
    /// The sub-orders intercepted now, by any interception.
    pub active: BTreeSet<SubOrderId>,
    /// Whether buyers may choose single items.
    pub single_item_choice: bool,
    /// Whether the shop's warehouse holds whole parcels (a Qimen link): choosing some items
    /// holds the whole parcel.
    pub whole_parcel: bool,
    /// This buyer's interceptions of the order.
    pub interceptions: Vec<Interception>,
    /// The messages sent to this buyer about the order.
    pub messages: Vec<MessageRecord>,
    /// The card expired after the buyer submitted: its status can be read, nothing submitted.
    pub status_only: bool,
}

/// Opens a card for its buyer.
pub async fn buyer_card(app: &AppState, token: String) -> Result<BuyerCard, ServiceError> {
    let now = app.now().business;
    app.store()
        .read(move |tx| -> Result<BuyerCard, ServiceError> {
            if !is_token_shaped(&token) {
                return Err(ServiceError::NotFound("card"));
            }
            let (shop, card) = tx
                .card_by_token_hash(&hash_secret(&token))?
                .ok_or(ServiceError::NotFound("card"))?;
            let order = tx
                .order(&shop, &card.order_id)?
                .ok_or(ServiceError::NotFound("card"))?;
            let active = tx
                .active_lines_for_order(&shop, &order.id)?
                .into_iter()
                .map(|(_, l)| l.sub_order_id)
                .collect();
            let record = tx.settings(&shop)?;
            let interceptions: Vec<Interception> = tx
                .interceptions_for_order(&shop, &order.id)?
                .into_iter()
                .filter(|i| i.buyer_id == card.buyer_id)
                .collect();
            let submitted = interceptions
                .iter()
                .any(|i| matches!(&i.method, Method::Card { card_id } if card_id == &card.id));
            let status_only = card.access(now, submitted)? == CardAccess::StatusOnly;
            let messages = tx.messages_for_buyer(&shop, &order.id, &card.buyer_id)?;
            Ok(BuyerCard {
                shop_name: tx.shop(&shop)?.map(|s| s.name).unwrap_or_default(),
                order,
                active,
                single_item_choice: record.settings.advanced.single_item_choice,
                whole_parcel: record.settings.advanced.qimen.is_some(),
                interceptions,
                messages,
                card,
                status_only,
            })
        })
        .await
}

/// The buyer's choice: intercepts the chosen items (the whole order when `None`). Submitting
/// again answers with the interception the first submission made.
pub async fn submit(
    app: &AppState,
    token: String,
    chosen: Option<Vec<SubOrderId>>,
    locale: Locale,
) -> Result<Intercepted, ServiceError> {
    let (now, channel) = (app.now(), app.message_channel());
    let outcome = app
        .store()
        .write(move |tx| {
            let (shop, card) = open(tx, &token, now.business)?;
            let request = InterceptRequest {
                shop_id: shop,
                order_id: card.order_id.clone(),
                requester: Requester::Buyer(card.buyer_id.clone()),
                method: Method::Card {
                    card_id: card.id.clone(),
                },
                chosen,
                reason: None,
                locale,
                actor: format!("buyer:{}", card.buyer_id),
            };
            in_tx(tx, channel, request, now)
        })
        .await?;
    app.intercepted(&outcome);
    Ok(outcome)
}
