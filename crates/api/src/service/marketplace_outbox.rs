//! Memo write-backs on their way to the marketplace: whenever an order's memo note or flag
//! changes while the shop has a marketplace link, the memo and flag the marketplace order must
//! now carry are queued in the same transaction, ordered per order, so the last write is always
//! the order's current state.

use serde::{Deserialize, Serialize};
use shiphold_domain::{Flag, MemoState, Order, ShopId};
use shiphold_marketplace_adapter as top;
use shiphold_storage::{NewOutboxEntry, StoreError, Topic, Tx};

use crate::state::Now;

/// What an outbox entry of the marketplace topic carries: one `taobao.trade.memo.update`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketplacePayload {
    /// The order (its marketplace number is the `tid`).
    pub order_id: String,
    /// The memo to write; `None` with `reset`.
    pub memo: Option<String>,
    /// Clears the memo (the merchant had none and Shiphold's note is gone).
    pub reset: bool,
    /// The flag, in the platform's numbers (0 grey … 5).
    pub flag: u8,
}

/// The flags' names by the platform's numbers.
const FLAG_NAMES: [&str; 6] = ["none", "red", "yellow", "green", "blue", "purple"];

/// The body of a write-back POSTed to a marketplace webhook: `order.memo_updated` with the
/// memo and flag the marketplace order must now carry.
pub fn webhook_body(
    shop_id: &ShopId,
    payload: &MarketplacePayload,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    let body = serde_json::json!({
        "type": "order.memo_updated",
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {
            "shop_id": shop_id.as_str(),
            "order_id": payload.order_id,
            "memo": payload.memo,
            "reset": payload.reset,
            "flag": payload.flag,
            "flag_name": FLAG_NAMES.get(usize::from(payload.flag)).copied().unwrap_or("none"),
        }
    });
    body.to_string().into_bytes()
}

/// The domain's flag in the platform's numbers.
pub fn platform_flag(flag: Flag) -> top::Flag {
    match flag {
        Flag::None => top::Flag::Grey,
        Flag::Red => top::Flag::Red,
        Flag::Yellow => top::Flag::Yellow,
        Flag::Green => top::Flag::Green,
        Flag::Blue => top::Flag::Blue,
        Flag::Purple => top::Flag::Purple,
    }
}

/// The write that makes the marketplace order show `order`'s memo and flag: the merchant's memo
/// with Shiphold's note after it, cut to the platform's 1,000 bytes as [`top::Memo::fit`] does
/// (the merchant's memo gives way, the note stays whole); a memo cleared when neither is left.
pub fn write_for(order: &Order) -> Result<MarketplacePayload, StoreError> {
    let note = order.memo.note.as_deref().unwrap_or("");
    let (memo, reset) = match top::Memo::fit(&order.seller_memo, note) {
        Ok(memo) => (Some(memo.into_string()), false),
        Err(top::MemoError::Empty) => (None, true),
        // The note is bounded by the domain to the same 1,000 bytes.
        Err(e) => return Err(StoreError::Corrupt(format!("memo write-back: {e}"))),
    };
    Ok(MarketplacePayload {
        order_id: order.id.to_string(),
        memo,
        reset,
        flag: platform_flag(order.effective_flag()).number(),
    })
}

/// Queues the write-back of `order`'s memo and flag when the shop has a marketplace link
/// (switched off or not: a write waits, held, while it is off) and `before` — the order's memo
/// state before this change — differs from the order's. Called wherever an order's memo state
/// is stored.
pub fn memo_changed(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    linked: bool,
    before: &MemoState,
    order: &Order,
    now: Now,
) -> Result<(), StoreError> {
    if !linked || *before == order.memo {
        return Ok(());
    }
    let payload =
        serde_json::to_value(write_for(order)?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.enqueue(&NewOutboxEntry {
        shop_id: shop_id.clone(),
        topic: Topic::Marketplace,
        ordering_key: order.id.to_string(),
        message_id: format!("mkt_{}", uuid::Uuid::new_v4().simple()),
        payload,
        available_at: now.wall,
    })
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiphold_domain::{BuyerId, OrderId};

    fn order(seller_memo: &str, note: Option<&str>, flag: Option<Flag>) -> Order {
        Order {
            id: OrderId::parse("4012345678901234567").unwrap(),
            buyer_id: BuyerId::parse("b1").unwrap(),
            version: 1,
            sub_orders: Vec::new(),
            seller_memo: seller_memo.into(),
            seller_flag: Flag::Blue,
            memo: MemoState {
                note: note.map(str::to_owned),
                flag,
            },
        }
    }

    #[test]
    fn the_write_is_the_merchants_memo_then_the_note_with_shipholds_flag() {
        let w = write_for(&order("gift wrap", Some("STOP [s1]"), Some(Flag::Red))).unwrap();
        assert_eq!(
            (w.memo.as_deref(), w.reset, w.flag),
            (Some("gift wrap\nSTOP [s1]"), false, 1)
        );
        assert_eq!(w.order_id, "4012345678901234567");
    }

    #[test]
    fn released_the_merchants_memo_and_flag_come_back_or_the_memo_is_cleared() {
        let w = write_for(&order("gift wrap", None, None)).unwrap();
        assert_eq!(
            (w.memo.as_deref(), w.reset, w.flag),
            (Some("gift wrap"), false, 4)
        );
        let w = write_for(&order("", None, None)).unwrap();
        assert_eq!((w.memo, w.reset, w.flag), (None, true, 4));
    }

    #[test]
    fn a_long_merchant_memo_gives_way_to_the_note() {
        let long = "备".repeat(400); // 1,200 bytes
        let w = write_for(&order(&long, Some("STOP [s1]"), Some(Flag::Red))).unwrap();
        let memo = w.memo.unwrap();
        assert!(memo.len() <= 1000, "{}", memo.len());
        assert!(memo.ends_with("…\nSTOP [s1]"), "{memo}");
    }
}
