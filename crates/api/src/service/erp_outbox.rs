//! ERP messages on their way out: the wire message an interception or a release means, queued
//! in the caller's transaction, ordered per order so a release never overtakes its request.

use serde::{Deserialize, Serialize};
use shiphold_domain::{Flag, Interception, InterceptionId, Order, Requester, ShopId, SubOrderId};
use shiphold_erp_adapter as wire;
use shiphold_storage::{NewOutboxEntry, StoreError, Topic, Tx};

use crate::state::Now;

/// What an outbox entry of the ERP topic carries: the wire message, ready to sign.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErpPayload {
    /// The wire message.
    pub message: wire::Message,
}

/// The domain's flag on the wire.
pub fn wire_flag(flag: Flag) -> wire::Flag {
    match flag {
        Flag::None => wire::Flag::None,
        Flag::Red => wire::Flag::Red,
        Flag::Yellow => wire::Flag::Yellow,
        Flag::Green => wire::Flag::Green,
        Flag::Blue => wire::Flag::Blue,
        Flag::Purple => wire::Flag::Purple,
    }
}

fn wire_items(order: &Order, ids: &[SubOrderId]) -> Vec<wire::Item> {
    ids.iter()
        .filter_map(|id| order.sub_order(id))
        .map(|s| {
            wire::Item::new(s.id.as_str(), s.title.as_str(), s.quantity)
                .with_sku_id(s.item_id.as_str())
        })
        .collect()
}

fn enqueue(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    order: &Order,
    event: wire::Event,
    now: Now,
) -> Result<(), StoreError> {
    let message_id = wire::new_webhook_id();
    let message = wire::Message::new(message_id.clone(), now.wall, event);
    let payload = serde_json::to_value(ErpPayload { message })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.enqueue(&NewOutboxEntry {
        shop_id: shop_id.clone(),
        topic: Topic::Erp,
        ordering_key: order.id.to_string(),
        message_id,
        payload,
        available_at: now.wall,
    })
    .map(|_| ())
}

/// Queues `interception.requested` for a new interception; `order` carries its new memo.
pub fn requested(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    order: &Order,
    interception: &Interception,
    now: Now,
) -> Result<(), StoreError> {
    let ids: Vec<SubOrderId> = interception
        .lines
        .iter()
        .map(|l| l.sub_order_id.clone())
        .collect();
    let event = wire::Event::InterceptionRequested(wire::InterceptionRequested {
        shop_id: shop_id.to_string(),
        order_id: order.id.to_string(),
        interception_id: interception.id.to_string(),
        requested_by: match interception.requested_by {
            Requester::Buyer(_) => wire::Actor::Buyer,
            Requester::Agent(_) => wire::Actor::Agent,
        },
        items: wire_items(order, &ids),
        memo: order.effective_memo(),
        flag: wire_flag(order.effective_flag()),
    });
    enqueue(tx, shop_id, order, event, now)
}

/// Queues `interception.released` for the released items.
pub fn released(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    order: &Order,
    interception_id: &InterceptionId,
    released: &[SubOrderId],
    now: Now,
) -> Result<(), StoreError> {
    let event = wire::Event::InterceptionReleased(wire::InterceptionReleased {
        shop_id: shop_id.to_string(),
        order_id: order.id.to_string(),
        interception_id: interception_id.to_string(),
        // Only customer service releases today.
        released_by: wire::Actor::Agent,
        items: wire_items(order, released),
    });
    enqueue(tx, shop_id, order, event, now)
}
