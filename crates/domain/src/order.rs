//! Orders and their sub-orders, as the merchant's or the marketplace's systems push them in.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, ValidationError};
use crate::ids::{BuyerId, ItemId, OrderId, SubOrderId};
use crate::settings::Flag;

/// A sub-order's shipping status, as order intake reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShippingStatus {
    /// Paid and not yet shipped: the only status that can be intercepted.
    AwaitingShipment,
    /// Left the warehouse.
    Shipped,
    /// Refunded to the buyer.
    Refunded,
    /// Closed for another reason (cancelled, completed).
    Closed,
}

impl ShippingStatus {
    /// The status as clients spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ShippingStatus::AwaitingShipment => "awaiting_shipment",
            ShippingStatus::Shipped => "shipped",
            ShippingStatus::Refunded => "refunded",
            ShippingStatus::Closed => "closed",
        }
    }

    /// Parses a status name.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "awaiting_shipment" => Ok(Self::AwaitingShipment),
            "shipped" => Ok(Self::Shipped),
            "refunded" => Ok(Self::Refunded),
            "closed" => Ok(Self::Closed),
            other => Err(FieldError::new(
                "shipping_status",
                "invalid",
                format!(
                    "unknown shipping status '{other}'; expected awaiting_shipment, shipped, refunded or closed"
                ),
            )
.zh(format!("未知的发货状态“{other}”;应为 awaiting_shipment、shipped、refunded 或 closed"))),
        }
    }
}

impl fmt::Display for ShippingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money in the currency's minor unit (fen, cents). Never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Money(i64);

impl Money {
    /// Parses an amount in minor units.
    pub fn from_minor(amount: i64) -> Result<Self, FieldError> {
        if amount < 0 {
            return Err(
                FieldError::new("amount", "out_of_range", "amount must not be negative")
                    .zh("金额不能为负数"),
            );
        }
        Ok(Self(amount))
    }

    /// The amount in minor units.
    pub fn minor(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Money {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, String> {
        Self::from_minor(value).map_err(|e| e.message)
    }
}

impl From<Money> for i64 {
    fn from(value: Money) -> i64 {
        value.0
    }
}

/// The caller's version of an order: updates older than the stored one are stale.
pub type OrderVersion = i64;

/// One item line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubOrder {
    /// The sub-order's id.
    pub id: SubOrderId,
    /// The merchant's item.
    pub item_id: ItemId,
    /// The item's title, as the buyer knows it.
    pub title: String,
    /// How many.
    pub quantity: u32,
    /// What the buyer paid for this line.
    pub amount: Money,
    /// Where it is.
    pub shipping_status: ShippingStatus,
}

impl SubOrder {
    /// The longest title accepted, in characters.
    pub const MAX_TITLE_CHARS: usize = 200;
    /// The largest quantity accepted.
    pub const MAX_QUANTITY: u32 = 1_000_000;

    /// Checks title and quantity, naming the field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = ValidationError::empty();
        let title = self.title.trim();
        if title.is_empty() {
            errors.push(
                FieldError::new("title", "required", "title is required").zh("请填写商品名称"),
            );
        } else if title.chars().count() > Self::MAX_TITLE_CHARS {
            errors.push(
                FieldError::new(
                    "title",
                    "too_long",
                    format!("title must be at most {} characters", Self::MAX_TITLE_CHARS),
                )
                .zh(format!("商品名称最多 {} 个字符", Self::MAX_TITLE_CHARS)),
            );
        }
        if self.quantity == 0 || self.quantity > Self::MAX_QUANTITY {
            errors.push(
                FieldError::new(
                    "quantity",
                    "out_of_range",
                    format!("quantity must be between 1 and {}", Self::MAX_QUANTITY),
                )
                .zh(format!("数量应在 1 到 {} 之间", Self::MAX_QUANTITY)),
            );
        }
        errors.into_result()
    }
}

/// An order with its sub-orders, and the memo and flag that Shiphold writes on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order's id.
    pub id: OrderId,
    /// Who bought it.
    pub buyer_id: BuyerId,
    /// The caller's version; a later push must carry a version at least as high.
    pub version: OrderVersion,
    /// The item lines.
    pub sub_orders: Vec<SubOrder>,
    /// The seller memo as pushed by order intake (the merchant's own words).
    pub seller_memo: String,
    /// The flag as pushed by order intake.
    pub seller_flag: Flag,
    /// Shiphold's memo note and flag, written while any item is intercepted.
    pub memo: crate::interception::MemoState,
}

impl Order {
    /// The most sub-orders one order may have.
    pub const MAX_SUB_ORDERS: usize = 200;
    /// The longest seller memo accepted from intake, in bytes.
    pub const MAX_SELLER_MEMO_BYTES: usize = 1000;

    /// Checks the order as a whole: at least one sub-order, no duplicates, each valid.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = ValidationError::empty();
        if self.sub_orders.is_empty() {
            errors.push(
                FieldError::new(
                    "sub_orders",
                    "required",
                    "an order needs at least one sub-order",
                )
                .zh("订单至少要有一个子订单"),
            );
        }
        if self.sub_orders.len() > Self::MAX_SUB_ORDERS {
            errors.push(
                FieldError::new(
                    "sub_orders",
                    "too_many",
                    format!(
                        "an order may have at most {} sub-orders",
                        Self::MAX_SUB_ORDERS
                    ),
                )
                .zh(format!("一个订单最多 {} 个子订单", Self::MAX_SUB_ORDERS)),
            );
        }
        if self.version < 0 {
            errors.push(
                FieldError::new("version", "out_of_range", "version must not be negative")
                    .zh("版本号不能为负数"),
            );
        }
        if self.seller_memo.len() > Self::MAX_SELLER_MEMO_BYTES {
            errors.push(
                FieldError::new(
                    "seller_memo",
                    "too_long",
                    format!(
                        "seller memo must be at most {} bytes",
                        Self::MAX_SELLER_MEMO_BYTES
                    ),
                )
                .zh(format!("卖家备注最多 {} 字节", Self::MAX_SELLER_MEMO_BYTES)),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (index, sub) in self.sub_orders.iter().enumerate() {
            if !seen.insert(&sub.id) {
                errors.push(
                    FieldError::new(
                        format!("sub_orders[{index}].id"),
                        "duplicate",
                        format!("sub-order '{}' appears twice", sub.id),
                    )
                    .zh(format!("子订单“{}”出现了两次", sub.id)),
                );
            }
            if let Err(sub_errors) = sub.validate() {
                for e in sub_errors.errors {
                    errors.push(e.under(&format!("sub_orders[{index}]")));
                }
            }
        }
        errors.into_result()
    }

    /// Whether `other` carries what intake pushed in this order: buyer, sub-orders, seller memo
    /// and flag. Shiphold's own memo is not the caller's, so it does not count.
    pub fn same_content(&self, other: &Order) -> bool {
        self.buyer_id == other.buyer_id
            && self.sub_orders == other.sub_orders
            && self.seller_memo == other.seller_memo
            && self.seller_flag == other.seller_flag
    }

    /// The sub-order with `id`.
    pub fn sub_order(&self, id: &SubOrderId) -> Option<&SubOrder> {
        self.sub_orders.iter().find(|s| &s.id == id)
    }

    /// The memo as the warehouse reads it: the merchant's memo, then Shiphold's note.
    pub fn effective_memo(&self) -> String {
        match (&self.seller_memo, &self.memo.note) {
            (memo, None) => memo.clone(),
            (memo, Some(note)) if memo.is_empty() => note.clone(),
            (memo, Some(note)) => format!("{memo}\n{note}"),
        }
    }

    /// The merchant's own memo in a memo pushed for this (stored) order. Once Shiphold's note is
    /// on the marketplace order — written back by Shiphold, or by an ERP from its message — the
    /// next push carries it back inside the seller memo; kept as the merchant's, the note would
    /// appear twice. The current note is taken off the end (with the line break before it), and
    /// a merchant memo that was cut to make room for it (ending in `…`) is the stored one again.
    pub fn merchant_memo_in(&self, pushed: &str) -> String {
        const CUT: &str = "…";
        let Some(note) = self.memo.note.as_deref() else {
            return pushed.to_owned();
        };
        if pushed == note {
            return String::new();
        }
        let Some(prefix) = pushed
            .strip_suffix(note)
            .and_then(|rest| rest.strip_suffix('\n'))
        else {
            return pushed.to_owned();
        };
        match prefix.strip_suffix(CUT) {
            Some(kept)
                if self.seller_memo.len() > kept.len() && self.seller_memo.starts_with(kept) =>
            {
                self.seller_memo.clone()
            }
            _ => prefix.to_owned(),
        }
    }

    /// The flag as the warehouse sees it: Shiphold's while it holds one, else the merchant's.
    pub fn effective_flag(&self) -> Flag {
        self.memo.flag.unwrap_or(self.seller_flag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: &str) -> SubOrder {
        SubOrder {
            id: SubOrderId::parse(id).unwrap(),
            item_id: ItemId::parse("sku-1").unwrap(),
            title: "Mug".into(),
            quantity: 1,
            amount: Money::from_minor(1999).unwrap(),
            shipping_status: ShippingStatus::AwaitingShipment,
        }
    }

    fn order(subs: Vec<SubOrder>) -> Order {
        Order {
            id: OrderId::parse("o1").unwrap(),
            buyer_id: BuyerId::parse("b1").unwrap(),
            version: 1,
            sub_orders: subs,
            seller_memo: String::new(),
            seller_flag: Flag::None,
            memo: Default::default(),
        }
    }

    #[test]
    fn a_pushed_memo_that_carries_shipholds_note_back_is_the_merchants_memo() {
        let mut stored = order(vec![sub("s1")]);
        stored.seller_memo = "gift wrap".into();
        // No note: whatever is pushed is the merchant's.
        assert_eq!(
            stored.merchant_memo_in("gift wrap\nSTOP [s1]"),
            "gift wrap\nSTOP [s1]"
        );
        stored.memo.note = Some("STOP [s1]".into());
        assert_eq!(stored.merchant_memo_in("gift wrap\nSTOP [s1]"), "gift wrap");
        assert_eq!(stored.merchant_memo_in("STOP [s1]"), "");
        // A merchant who changed their memo keeps the change; another note is not ours.
        assert_eq!(stored.merchant_memo_in("fragile\nSTOP [s1]"), "fragile");
        assert_eq!(stored.merchant_memo_in("fragile"), "fragile");
        assert_eq!(
            stored.merchant_memo_in("gift wrap\nSTOP [s2]"),
            "gift wrap\nSTOP [s2]"
        );
        // The merchant's memo was cut to make room for the note: the whole one is kept.
        stored.seller_memo = "a".repeat(995);
        let written = format!("{}…\nSTOP [s1]", "a".repeat(985));
        assert_eq!(stored.merchant_memo_in(&written), stored.seller_memo);
        // Repeating the push gives the same memo: intake stays idempotent.
        let once = stored.merchant_memo_in(&written);
        stored.seller_memo = once.clone();
        assert_eq!(stored.merchant_memo_in(&written), once);
    }

    #[test]
    fn validation_names_nested_fields() {
        let mut bad = sub("s1");
        bad.quantity = 0;
        bad.title = " ".into();
        let err = order(vec![sub("s1"), bad]).validate().unwrap_err();
        let fields: Vec<_> = err
            .errors
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("sub_orders[1].id", "duplicate"),
                ("sub_orders[1].title", "required"),
                ("sub_orders[1].quantity", "out_of_range"),
            ]
        );
        assert!(order(vec![]).validate().is_err());
        assert!(order(vec![sub("s1"), sub("s2")]).validate().is_ok());
    }

    #[test]
    fn effective_memo_appends_the_note() {
        let mut o = order(vec![sub("s1")]);
        o.seller_memo = "gift wrap".into();
        assert_eq!(o.effective_memo(), "gift wrap");
        o.memo.note = Some("STOP: s1".into());
        assert_eq!(o.effective_memo(), "gift wrap\nSTOP: s1");
        o.seller_memo.clear();
        assert_eq!(o.effective_memo(), "STOP: s1");
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            ShippingStatus::AwaitingShipment,
            ShippingStatus::Shipped,
            ShippingStatus::Refunded,
            ShippingStatus::Closed,
        ] {
            assert_eq!(ShippingStatus::parse(s.as_str()), Ok(s));
        }
        assert!(ShippingStatus::parse("lost").is_err());
        assert!(Money::from_minor(-1).is_err());
    }
}
