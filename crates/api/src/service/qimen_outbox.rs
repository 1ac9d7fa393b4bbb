//! Qimen warehouse calls on their way out: a hold (`pending`) of the order's outbound document
//! for a new interception, and its release (`restore`) once nothing of the order is intercepted
//! any more, queued in the caller's transaction and ordered per order, so a release never
//! overtakes its hold.

use serde::{Deserialize, Serialize};
use shiphold_domain::{Interception, Order, ShopId};
use shiphold_storage::{NewOutboxEntry, StoreError, Topic, Tx};

use crate::state::Now;

/// Hold or release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QimenAction {
    /// `actionType=pending`: hold the document.
    Pending,
    /// `actionType=restore`: release it.
    Restore,
}

/// What an outbox entry of the Qimen topic carries: one `taobao.qimen.order.pending` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QimenPayload {
    /// Hold or release.
    pub action: QimenAction,
    /// The order; its id is the document's `orderCode`.
    pub order_id: String,
    /// The interception a hold is for: the warehouse's answer locks or fails its items.
    pub interception_id: Option<String>,
    /// The interception's items (for a hold): the whole document is held, so the answer is
    /// every one's.
    #[serde(default)]
    pub sub_order_ids: Vec<String>,
    /// Why, for the warehouse's staff (`reason`).
    pub reason: String,
}

/// How long a `reason` may be: the warehouse shows it to people.
const MAX_REASON_CHARS: usize = 200;

fn enqueue(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    payload: &QimenPayload,
    now: Now,
) -> Result<(), StoreError> {
    let value = serde_json::to_value(payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.enqueue(&NewOutboxEntry {
        shop_id: shop_id.clone(),
        topic: Topic::Qimen,
        ordering_key: payload.order_id.clone(),
        message_id: format!("qmn_{}", uuid::Uuid::new_v4().simple()),
        payload: value,
        available_at: now.wall,
    })
    .map(|_| ())
}

/// Queues the hold of `order`'s document for a new interception; `order` carries its new memo,
/// whose note is the reason the warehouse sees.
pub fn hold(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    order: &Order,
    interception: &Interception,
    now: Now,
) -> Result<(), StoreError> {
    let reason = order
        .memo
        .note
        .as_deref()
        .unwrap_or("intercepted")
        .chars()
        .take(MAX_REASON_CHARS)
        .collect();
    enqueue(
        tx,
        shop_id,
        &QimenPayload {
            action: QimenAction::Pending,
            order_id: order.id.to_string(),
            interception_id: Some(interception.id.to_string()),
            sub_order_ids: interception
                .lines
                .iter()
                .map(|l| l.sub_order_id.to_string())
                .collect(),
            reason,
        },
        now,
    )
}

/// Queues the release of `order`'s document: nothing of it is intercepted any more.
pub fn restore(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    order: &Order,
    now: Now,
) -> Result<(), StoreError> {
    enqueue(
        tx,
        shop_id,
        &QimenPayload {
            action: QimenAction::Restore,
            order_id: order.id.to_string(),
            interception_id: None,
            sub_order_ids: Vec::new(),
            reason: "interception released by customer service".into(),
        },
        now,
    )
}
