//! The chat gateway's body, built from a composed message.

use chrono::{TimeZone, Utc};
use shiphold_messaging::gateway::{BUYER_MESSAGE_CREATED, GatewayEvent};
use shiphold_messaging::{BuyerMessage, Channel, Envelope, Locale, TemplateKind, TemplateSet};

use crate::{card_context, date};

fn envelope() -> Envelope {
    Envelope {
        message_id: "msg_01".to_owned(),
        shop_id: "shop_7".to_owned(),
        order_id: "T-20251111-0001".to_owned(),
        buyer_id: "buyer_9".to_owned(),
        created_at: Utc
            .with_ymd_and_hms(2025, 11, 11, 2, 0, 0)
            .single()
            .expect("valid time"),
    }
}

#[test]
fn a_card_message_becomes_the_documented_body() {
    let ctx = card_context(
        date(2025, 11, 11),
        date(2025, 11, 12),
        "2025-11-12T10:00:00+08:00",
    );
    let msg = BuyerMessage::compose(
        &TemplateSet::new(),
        TemplateKind::Card,
        Locale::ZhCn,
        &ctx,
        envelope(),
    );
    let event = GatewayEvent::buyer_message_created(&msg);
    let body: serde_json::Value =
        serde_json::from_slice(&event.to_body().expect("serialise")).expect("json");

    assert_eq!(body["type"], BUYER_MESSAGE_CREATED);
    assert_eq!(body["timestamp"], "2025-11-11T02:00:00Z");
    let data = &body["data"];
    assert_eq!(data["message_id"], "msg_01");
    assert_eq!(data["shop_id"], "shop_7");
    assert_eq!(data["order_id"], "T-20251111-0001");
    assert_eq!(data["buyer_id"], "buyer_9");
    assert_eq!(data["kind"], "card");
    assert_eq!(data["locale"], "zh-CN");
    assert_eq!(data["text"], msg.text.as_str());
    assert_eq!(data["link"], "https://shiphold.example/card/abc123");
    assert_eq!(data["link_expires_at"], "2025-11-12T02:00:00Z");
    let keys: Vec<_> = data.as_object().expect("object").keys().cloned().collect();
    assert_eq!(keys.len(), 9, "{keys:?}");
    assert_eq!(event.webhook_id(), "msg_01");
}

#[test]
fn channels_parse() {
    assert_eq!(Channel::parse("inbox"), Ok(Channel::Inbox));
    assert_eq!(Channel::parse("chat_gateway"), Ok(Channel::ChatGateway));
    let err = Channel::parse("sms").expect_err("unknown channel");
    assert_eq!(err.value(), "sms");
    assert!(err.to_string().contains("chat_gateway"));
}
