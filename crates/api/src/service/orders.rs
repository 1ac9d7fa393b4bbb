//! Orders: intake from the merchant's or the marketplace's systems (create or update, ordered by
//! version, idempotent), and reading orders and their buyer messages back.

use shiphold_domain::{
    IntakeDecision, IntakeError, Interception, Order, OrderId, ShopId, decide_intake,
};
use shiphold_storage::{MessageChannel, MessageRecord, OrderFilter, OutboxEntry, Page, Topic, Tx};

use super::lines::{apply_events, refresh_memo};
use super::{Caller, Parsed, Role, ServiceError};
use crate::state::{AppState, Now};

/// An order with its interceptions, as read back.
#[derive(Debug)]
pub struct OrderRead {
    /// The order.
    pub order: Order,
    /// Every interception of it.
    pub interceptions: Vec<Interception>,
    /// The latest write-back of its memo and flag to the marketplace, if there was one.
    pub marketplace_write: Option<OutboxEntry>,
}

/// What intake did with an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// A new order.
    Created,
    /// A newer version replaced the stored one.
    Updated,
    /// The same version and content again: nothing changed.
    Replayed,
}

fn read_in_tx(
    tx: &mut Tx<'_>,
    shop: &ShopId,
    order_id: &OrderId,
) -> Result<OrderRead, ServiceError> {
    let order = tx
        .order(shop, order_id)?
        .ok_or(ServiceError::NotFound("order"))?;
    let interceptions = tx.interceptions_for_order(shop, order_id)?;
    let marketplace_write = tx.latest_outbox_entry(shop, Topic::Marketplace, order_id.as_str())?;
    Ok(OrderRead {
        order,
        interceptions,
        marketplace_write,
    })
}

/// Creates or updates an order. Reports of shipped or refunded items close their lines.
pub async fn put_order(
    app: &AppState,
    caller: &Caller,
    incoming: Parsed<Order>,
) -> Result<(Intake, OrderRead), ServiceError> {
    caller.require(Role::Integration)?;
    let incoming = incoming?;
    let (shop, actor, now) = (caller.shop_id.clone(), caller.actor(), app.now());
    app.store()
        .write(move |tx| put_order_in_tx(tx, &shop, &actor, incoming, now))
        .await
}

/// Intake of one order in the caller's transaction, `actor` as the history records it. Public
/// for callers that put several in one transaction (the benchmark's raw limit of the same
/// writes); requests go through [`put_order`].
pub fn put_order_in_tx(
    tx: &mut Tx<'_>,
    shop: &ShopId,
    actor: &str,
    mut incoming: Order,
    now: Now,
) -> Result<(Intake, OrderRead), ServiceError> {
    let stored = tx.order_for_update(shop, &incoming.id)?;
    if let Some(stored) = &stored {
        incoming.seller_memo = stored.merchant_memo_in(&incoming.seller_memo);
    }
    let active = tx.active_lines_for_order(shop, &incoming.id)?;
    let (created, by_interception) = match decide_intake(stored.as_ref(), &incoming, &active) {
        Ok(IntakeDecision::Replay) => {
            return Ok((Intake::Replayed, read_in_tx(tx, shop, &incoming.id)?));
        }
        Ok(IntakeDecision::Accept { created, events }) => (created, events),
        Err(IntakeError::Stale { stored_version }) => {
            return Err(ServiceError::StaleUpdate { stored_version });
        }
        // Valid pushes that the stored order refuses: conflicts, not bad input.
        Err(IntakeError::BuyerChanged) => {
            return Err(ServiceError::Conflict(
                "buyer_id: an order's buyer cannot change".into(),
            ));
        }
        Err(IntakeError::InterceptedItemRemoved { sub_order_id }) => {
            return Err(ServiceError::Conflict(format!(
                "sub_orders: sub-order '{sub_order_id}' is intercepted and cannot be removed"
            )));
        }
    };
    // The memo note is Shiphold's, not the merchant's: intake keeps it.
    incoming.memo = stored.map(|o| o.memo).unwrap_or_default();
    tx.save_order(shop, &incoming, now.business)?;
    let mut touched = false;
    for (interception_id, events) in by_interception {
        if let Some(mut interception) = tx.interception(shop, &interception_id)? {
            let (transitions, _) =
                apply_events(tx, shop, &mut interception, &events, now.business, actor)?;
            touched |= !transitions.is_empty();
        }
    }
    if touched {
        let settings = tx.settings(shop)?.settings;
        refresh_memo(tx, shop, &settings, &incoming, now)?;
    }
    // The answer is the order as stored: what was just saved, unless closing lines rewrote its
    // memo; a new order has no interceptions yet.
    let read = if touched {
        read_in_tx(tx, shop, &incoming.id)?
    } else {
        let interceptions = if created {
            Vec::new()
        } else {
            tx.interceptions_for_order(shop, &incoming.id)?
        };
        let marketplace_write = if created {
            None
        } else {
            tx.latest_outbox_entry(shop, Topic::Marketplace, incoming.id.as_str())?
        };
        OrderRead {
            order: incoming,
            interceptions,
            marketplace_write,
        }
    };
    Ok((
        if created {
            Intake::Created
        } else {
            Intake::Updated
        },
        read,
    ))
}

/// Reads an order with its interceptions.
pub async fn get_order(
    app: &AppState,
    caller: &Caller,
    order_id: OrderId,
) -> Result<OrderRead, ServiceError> {
    let shop = caller.shop_id.clone();
    app.store()
        .read(move |tx| read_in_tx(tx, &shop, &order_id))
        .await
}

/// A page of orders, newest first, optionally of one buyer.
pub async fn list_orders(
    app: &AppState,
    caller: &Caller,
    filter: OrderFilter,
    page: Page,
) -> Result<(Vec<OrderRead>, Option<String>), ServiceError> {
    let shop = caller.shop_id.clone();
    app.store()
        .read(move |tx| -> Result<_, ServiceError> {
            let result = tx.orders(&shop, &filter, &page)?;
            let mut items = Vec::new();
            for order in result.items {
                let interceptions = tx.interceptions_for_order(&shop, &order.id)?;
                let marketplace_write =
                    tx.latest_outbox_entry(&shop, Topic::Marketplace, order.id.as_str())?;
                items.push(OrderRead {
                    order,
                    interceptions,
                    marketplace_write,
                });
            }
            Ok((items, result.next))
        })
        .await
}

/// A buyer message as the order's history shows it.
#[derive(Debug)]
pub struct OrderMessage {
    /// The message.
    pub record: MessageRecord,
    /// Delivery attempts to the chat gateway so far (`None` for the inbox).
    pub attempts: Option<i32>,
}

/// The messages sent to an order's buyer, with their delivery status and attempts.
pub async fn order_messages(
    app: &AppState,
    caller: &Caller,
    order_id: OrderId,
) -> Result<Vec<OrderMessage>, ServiceError> {
    let shop = caller.shop_id.clone();
    app.store()
        .read(move |tx| -> Result<_, ServiceError> {
            if tx.order(&shop, &order_id)?.is_none() {
                return Err(ServiceError::NotFound("order"));
            }
            let records = tx.messages_for_order(&shop, &order_id)?;
            let gateway: Vec<String> = records
                .iter()
                .filter(|m| m.channel == MessageChannel::ChatGateway)
                .map(|m| m.id.clone())
                .collect();
            let attempts = tx.attempts_by_message(&shop, Topic::Chat, &gateway)?;
            Ok(records
                .into_iter()
                .map(|record| OrderMessage {
                    attempts: attempts
                        .iter()
                        .find(|(id, _)| *id == record.id)
                        .map(|(_, n)| *n),
                    record,
                })
                .collect())
        })
        .await
}
