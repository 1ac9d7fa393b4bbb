//! Identifiers. Each kind of id is its own type, valid by construction.
//!
//! Ids that come from the merchant's systems (orders, sub-orders, items, buyers) keep the caller's
//! spelling; ids that Shiphold makes are a short prefix and a time-ordered UUID.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::FieldError;

/// The longest id Shiphold accepts, in bytes.
pub const MAX_ID_LEN: usize = 64;

fn check_id(field: &str, raw: &str) -> Result<(), FieldError> {
    if raw.is_empty() {
        return Err(FieldError::new(field, "required", "must not be empty").zh("不能为空"));
    }
    if raw.len() > MAX_ID_LEN {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("must be at most {MAX_ID_LEN} bytes"),
        )
        .zh(format!("最多 {MAX_ID_LEN} 字节")));
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return Err(FieldError::new(
            field,
            "invalid",
            "may contain only ASCII letters, digits, '-', '_', '.' and ':'",
        )
        .zh("只能包含英文字母、数字和 - _ . :"));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal $(, prefix = $prefix:literal)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses an id, naming the field in the error.
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                check_id($field, raw)?;
                Ok(Self(raw.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            $(
            /// A new, unique, time-ordered id.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }
            )?
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(|e| serde::de::Error::custom(e.message))
            }
        }

        impl std::str::FromStr for $name {
            type Err = FieldError;
            fn from_str(raw: &str) -> Result<Self, FieldError> {
                Self::parse(raw)
            }
        }
    };
}

id_type!(
    /// A merchant's shop: the tenant. Everything in Shiphold belongs to exactly one shop.
    ShopId, "shop_id", prefix = "shp"
);
id_type!(
    /// An order as the marketplace numbers it.
    OrderId, "order_id"
);
id_type!(
    /// A sub-order: one item line of an order, the unit that is intercepted.
    SubOrderId, "sub_order_id"
);
id_type!(
    /// The merchant's item (SKU) of a sub-order.
    ItemId, "item_id"
);
id_type!(
    /// The buyer of an order, as the marketplace names them.
    BuyerId, "buyer_id"
);
id_type!(
    /// An interception: one request to stop one or more sub-orders of an order.
    InterceptionId, "interception_id", prefix = "icp"
);
id_type!(
    /// An interception card sent to a buyer.
    CardId, "card_id", prefix = "crd"
);
id_type!(
    /// An event window (a period when refunds are off).
    EventWindowId, "event_window_id", prefix = "evw"
);
id_type!(
    /// An API key (the id, not the secret).
    ApiKeyId, "api_key_id", prefix = "key"
);
id_type!(
    /// A person of a shop who signs in to the console (an admin or an agent).
    StaffId, "staff_id", prefix = "stf"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_by_construction() {
        assert!(OrderId::parse("TB-2026.11:11_0001").is_ok());
        let empty = OrderId::parse("").unwrap_err();
        assert_eq!((empty.field.as_str(), empty.code), ("order_id", "required"));
        let long = SubOrderId::parse(&"x".repeat(65)).unwrap_err();
        assert_eq!(
            (long.field.as_str(), long.code),
            ("sub_order_id", "too_long")
        );
        let bad = BuyerId::parse("a b").unwrap_err();
        assert_eq!(bad.code, "invalid");
        assert!(BuyerId::parse("买家").is_err());
    }

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = InterceptionId::generate();
        let b = InterceptionId::generate();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("icp_"));
        assert_eq!(InterceptionId::parse(a.as_str()).ok(), Some(a));
    }

    #[test]
    fn serde_refuses_invalid_ids() {
        let ok: Result<ShopId, _> = serde_json::from_str("\"shp_1\"");
        assert!(ok.is_ok());
        let bad: Result<ShopId, _> = serde_json::from_str("\"\"");
        assert!(bad.is_err());
    }
}
