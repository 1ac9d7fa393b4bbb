//! The JSON body a chat gateway receives for each buyer message.
//!
//! # Transport
//! The api crate POSTs the body to the shop's configured gateway URL with
//! `Content-Type: application/json`, signed as [Standard Webhooks](https://www.standardwebhooks.com/)
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature` headers; the same scheme as ERP
//! messages). `webhook-id` is the message's `message_id`, which stays the same on every retry:
//! delivery is at least once, so a gateway de-duplicates on it. Any 2xx answer means delivered;
//! anything else, or no answer, is retried with back-off.
//!
//! # Body
//! ```json
//! {
//!   "type": "buyer_message.created",
//!   "timestamp": "2025-11-11T01:02:03Z",
//!   "data": {
//!     "message_id": "msg-1",
//!     "shop_id": "shop-1",
//!     "order_id": "order-1",
//!     "buyer_id": "buyer-1",
//!     "kind": "card",
//!     "locale": "zh-CN",
//!     "text": "亲,11.11当天无法申请退款。……",
//!     "link": "https://shiphold.example/card/…",
//!     "link_expires_at": "2025-11-12T01:00:00Z"
//!   }
//! }
//! ```
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `type` | string | always `buyer_message.created` for now ([`BUYER_MESSAGE_CREATED`]) |
//! | `timestamp` | string, RFC 3339, UTC | when the message was created (not when this attempt was sent) |
//! | `data.message_id` | string | unique per message, equal to the `webhook-id` header |
//! | `data.shop_id` | string | the sending shop |
//! | `data.order_id` | string | the order the message is about |
//! | `data.buyer_id` | string | the buyer to show it to |
//! | `data.kind` | string | `card`, `acknowledgement`, `lock_success`, `refund_reminder` or `release_notice` |
//! | `data.locale` | string | `zh-CN` or `en`: the language of `text` |
//! | `data.text` | string | the rendered message, plain text, may contain line breaks; show as is |
//! | `data.link` | string or `null` | the interception card's URL; non-null only when `kind` is `card` |
//! | `data.link_expires_at` | string (RFC 3339, UTC) or `null` | when `link` stops working |
//!
//! Card messages already contain the link in `text`; `link` is there so that a chat system can show
//! a button instead. Receivers must ignore fields they do not know: fields and `type`s may be added.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{BuyerMessage, Locale, TemplateKind};

/// The `type` of the only event sent today.
pub const BUYER_MESSAGE_CREATED: &str = "buyer_message.created";

/// What happened: the body's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GatewayEventType {
    /// A buyer message was created and should be shown to the buyer.
    #[serde(rename = "buyer_message.created")]
    BuyerMessageCreated,
}

impl GatewayEventType {
    /// The text form, as in the body.
    pub const fn as_str(self) -> &'static str {
        match self {
            GatewayEventType::BuyerMessageCreated => BUYER_MESSAGE_CREATED,
        }
    }
}

/// The whole body POSTed to a chat gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayEvent {
    /// `type`: what happened.
    #[serde(rename = "type")]
    pub event_type: GatewayEventType,
    /// When the message was created, UTC.
    pub timestamp: DateTime<Utc>,
    /// The message.
    pub data: GatewayMessage,
}

/// The `data` of a [`GatewayEvent`]: the message itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayMessage {
    /// Unique per message, stable across retries; equals the `webhook-id` header.
    pub message_id: String,
    /// The sending shop.
    pub shop_id: String,
    /// The order the message is about.
    pub order_id: String,
    /// The buyer to show it to.
    pub buyer_id: String,
    /// Which message it is.
    pub kind: TemplateKind,
    /// The language of `text`.
    pub locale: Locale,
    /// The rendered text.
    pub text: String,
    /// The card's URL (card messages only); `null` otherwise.
    #[serde(default)]
    pub link: Option<String>,
    /// When `link` stops working; `null` without a link.
    #[serde(default)]
    pub link_expires_at: Option<DateTime<Utc>>,
}

impl GatewayEvent {
    /// The `buyer_message.created` event for `message`.
    pub fn buyer_message_created(message: &BuyerMessage) -> Self {
        Self {
            event_type: GatewayEventType::BuyerMessageCreated,
            timestamp: message.created_at,
            data: GatewayMessage {
                message_id: message.message_id.clone(),
                shop_id: message.shop_id.clone(),
                order_id: message.order_id.clone(),
                buyer_id: message.buyer_id.clone(),
                kind: message.kind,
                locale: message.locale,
                text: message.text.clone(),
                link: message.link.clone(),
                link_expires_at: message.link_expires_at,
            },
        }
    }

    /// The value for the Standard Webhooks `webhook-id` header: the message id.
    pub fn webhook_id(&self) -> &str {
        &self.data.message_id
    }

    /// The body bytes to sign and send.
    pub fn to_body(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn message(link: bool) -> BuyerMessage {
        let at = Utc
            .with_ymd_and_hms(2025, 11, 11, 1, 2, 3)
            .single()
            .expect("valid time");
        BuyerMessage {
            message_id: "msg-1".into(),
            shop_id: "shop-1".into(),
            order_id: "order-1".into(),
            buyer_id: "buyer-1".into(),
            kind: if link {
                TemplateKind::Card
            } else {
                TemplateKind::Acknowledgement
            },
            locale: Locale::ZhCn,
            text: "亲".into(),
            link: link.then(|| "https://x.test/c".into()),
            link_expires_at: link.then(|| at + chrono::Duration::hours(24)),
            created_at: at,
        }
    }

    #[test]
    fn body_has_the_documented_shape() {
        let event = GatewayEvent::buyer_message_created(&message(true));
        let body = event.to_body().expect("serialise");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "type": "buyer_message.created",
                "timestamp": "2025-11-11T01:02:03Z",
                "data": {
                    "message_id": "msg-1",
                    "shop_id": "shop-1",
                    "order_id": "order-1",
                    "buyer_id": "buyer-1",
                    "kind": "card",
                    "locale": "zh-CN",
                    "text": "亲",
                    "link": "https://x.test/c",
                    "link_expires_at": "2025-11-12T01:02:03Z"
                }
            })
        );
        assert_eq!(event.webhook_id(), "msg-1");
        assert_eq!(event.event_type.as_str(), BUYER_MESSAGE_CREATED);
    }

    #[test]
    fn no_link_is_null_and_round_trips() {
        let event = GatewayEvent::buyer_message_created(&message(false));
        let json = serde_json::to_value(&event).expect("serialise");
        assert_eq!(json["data"]["link"], serde_json::Value::Null);
        assert_eq!(json["data"]["link_expires_at"], serde_json::Value::Null);
        assert_eq!(json["data"]["kind"], "acknowledgement");
        let back: GatewayEvent = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, event);
    }

    #[test]
    fn receivers_may_ignore_new_fields() {
        let mut json = serde_json::to_value(GatewayEvent::buyer_message_created(&message(false)))
            .expect("serialise");
        json["data"]["future_field"] = serde_json::json!(1);
        json["also_new"] = serde_json::json!("x");
        assert!(serde_json::from_value::<GatewayEvent>(json).is_ok());
    }
}
