//! A rendered message addressed to a buyer, and the channels it can travel over.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::names::{UnknownName, string_name};
use crate::{Locale, RenderContext, TemplateKind, TemplateSet};

/// How buyer messages reach the buyer.
///
/// Text form (`as_str`, serde, `Display`): `inbox`, `chat_gateway`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// Kept in the store and shown to the buyer through the card page. Needs nothing else
    /// running, so it is the default.
    #[default]
    Inbox,
    /// An HTTP POST of the [`gateway`](crate::gateway) body to a configured URL, signed with
    /// Standard Webhooks, for a platform team to bridge to its chat system.
    ChatGateway,
}

string_name!(Channel);

impl Channel {
    /// Every channel, in a stable order.
    pub const ALL: [Channel; 2] = [Channel::Inbox, Channel::ChatGateway];

    /// Parses the text form (exact, lower case).
    pub fn parse(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName::new("channel", s, "inbox, chat_gateway"))
    }

    /// The text form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Inbox => "inbox",
            Channel::ChatGateway => "chat_gateway",
        }
    }
}

/// Who a message is for and its identity, as the caller knows them.
///
/// The ids are opaque here; the api crate maps its domain ids to their text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Unique id of this message; stays the same across delivery attempts, so receivers can
    /// de-duplicate (it is the Standard Webhooks `webhook-id`).
    pub message_id: String,
    /// The shop that sends it.
    pub shop_id: String,
    /// The order it is about.
    pub order_id: String,
    /// The buyer it is for.
    pub buyer_id: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A rendered message to a buyer, ready for the outbox.
///
/// Serde derives are for storing it (for example as the outbox payload); the chat gateway gets
/// the separate [`gateway::GatewayEvent`](crate::gateway::GatewayEvent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyerMessage {
    /// Unique id of this message, stable across delivery attempts.
    pub message_id: String,
    /// The shop that sends it.
    pub shop_id: String,
    /// The order it is about.
    pub order_id: String,
    /// The buyer it is for.
    pub buyer_id: String,
    /// Which message it is.
    pub kind: TemplateKind,
    /// The language it is written in.
    pub locale: Locale,
    /// The rendered text.
    pub text: String,
    /// The card's URL; present only on card messages.
    pub link: Option<String>,
    /// When the card link expires; present only on card messages.
    pub link_expires_at: Option<DateTime<Utc>>,
    /// When the message was created.
    pub created_at: DateTime<Utc>,
}

impl BuyerMessage {
    /// Renders the shop's template for `kind` in `locale` and addresses the result.
    ///
    /// The link (and its expiry) is carried only by card messages, so that a gateway can show the
    /// card as a button; other kinds never carry one, even if the context has it.
    pub fn compose(
        templates: &TemplateSet,
        kind: TemplateKind,
        locale: Locale,
        ctx: &RenderContext,
        envelope: Envelope,
    ) -> Self {
        let card = ctx.card.as_ref().filter(|_| kind == TemplateKind::Card);
        Self {
            message_id: envelope.message_id,
            shop_id: envelope.shop_id,
            order_id: envelope.order_id,
            buyer_id: envelope.buyer_id,
            kind,
            locale,
            text: templates.render(kind, locale, ctx),
            link: card.map(|c| c.url.clone()),
            link_expires_at: card.map(|c| c.expires_at.with_timezone(&Utc)),
            created_at: envelope.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::CardLink;

    fn envelope() -> Envelope {
        Envelope {
            message_id: "msg-1".into(),
            shop_id: "shop-1".into(),
            order_id: "order-1".into(),
            buyer_id: "buyer-1".into(),
            created_at: Utc
                .with_ymd_and_hms(2025, 11, 11, 1, 2, 3)
                .single()
                .expect("valid time"),
        }
    }

    fn ctx() -> RenderContext {
        let d = |m, d| NaiveDate::from_ymd_opt(2025, m, d).expect("valid test date");
        RenderContext::new(
            "Shop",
            "order-1",
            d(11, 11),
            d(11, 12),
            vec!["Kettle".into()],
        )
        .with_card(CardLink {
            url: "https://x.test/c/t".into(),
            expires_at: chrono::DateTime::parse_from_rfc3339("2025-11-12T09:00:00+08:00")
                .expect("time"),
        })
    }

    #[test]
    fn channels_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Ok(c));
            let json = serde_json::to_string(&c).expect("serialise");
            assert_eq!(json, format!("\"{c}\""));
        }
        assert!(Channel::parse("chat-gateway").is_err());
        assert!(Channel::parse("").is_err());
    }

    #[test]
    fn card_messages_carry_the_link_in_utc() {
        let m = BuyerMessage::compose(
            &TemplateSet::new(),
            TemplateKind::Card,
            Locale::En,
            &ctx(),
            envelope(),
        );
        assert_eq!(m.link.as_deref(), Some("https://x.test/c/t"));
        assert_eq!(
            m.link_expires_at,
            Utc.with_ymd_and_hms(2025, 11, 12, 1, 0, 0).single()
        );
        assert!(m.text.ends_with(": https://x.test/c/t"), "{}", m.text);
        assert!(m.text.contains("before 11.12 09:00"), "{}", m.text);
        assert_eq!(m.message_id, "msg-1");
    }

    #[test]
    fn other_messages_never_carry_a_link() {
        for kind in TemplateKind::ALL {
            if kind == TemplateKind::Card {
                continue;
            }
            let m =
                BuyerMessage::compose(&TemplateSet::new(), kind, Locale::ZhCn, &ctx(), envelope());
            assert_eq!(m.link, None, "{kind}");
            assert_eq!(m.link_expires_at, None, "{kind}");
            assert!(!m.text.contains("https://"), "{kind}");
        }
    }

    #[test]
    fn stored_form_round_trips() {
        let m = BuyerMessage::compose(
            &TemplateSet::new(),
            TemplateKind::Acknowledgement,
            Locale::ZhCn,
            &ctx(),
            envelope(),
        );
        let json = serde_json::to_string(&m).expect("serialise");
        let back: BuyerMessage = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, m);
    }
}
