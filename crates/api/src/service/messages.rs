//! Buyer messages: what composing one needs (shop name, templates, the quoted dates), storing
//! it in the order's history, and queueing it for the chat gateway when one is configured.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use shiphold_domain::{EventWindow, InterceptionId, Order, ShopId, SubOrderId};
use shiphold_messaging::{
    BuyerMessage, CardLink, Envelope, Locale, RenderContext, TemplateKind, TemplateSet,
};
use shiphold_storage::{
    MessageChannel, MessageRecord, MessageStatus, NewOutboxEntry, SettingsRecord, StoreError,
    Topic, Tx,
};

use crate::state::Now;

/// What an outbox entry of the chat topic carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatPayload {
    /// The message record's id.
    pub message_id: String,
    /// The rendered message.
    pub message: BuyerMessage,
}

/// The event window whose dates buyer messages quote: the active one, else the next, else the
/// latest. Without any, today and tomorrow in China Standard Time (test mode before any window
/// exists).
pub fn quoted_dates(windows: &[EventWindow], now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let pick = windows
        .iter()
        .find(|w| w.is_active(now))
        .or_else(|| {
            windows
                .iter()
                .filter(|w| w.refunds_off_from > now)
                .min_by_key(|w| w.refunds_off_from)
        })
        .or_else(|| windows.iter().max_by_key(|w| w.refunds_off_until));
    match pick {
        Some(w) => (w.event_day(), w.reopen_day()),
        // No window at all (test mode): today and tomorrow where the marketplace is, not in UTC.
        None => {
            let today = now.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
            (today, today + Duration::days(1))
        }
    }
}

/// A shop's template overrides. They were checked when saved; a set that no longer parses (after
/// a placeholder was retired, say) falls back to the defaults rather than failing a request.
pub fn template_set(settings: &SettingsRecord) -> TemplateSet {
    serde_json::from_value(settings.templates.clone()).unwrap_or_default()
}

/// Everything needed to compose buyer messages for one order.
pub struct MessageContext<'a> {
    /// The shop.
    pub shop_id: &'a ShopId,
    /// The shop's name.
    pub shop_name: String,
    /// The shop's template overrides.
    pub templates: TemplateSet,
    /// The shop's event windows.
    pub windows: Vec<EventWindow>,
    /// Where buyer messages go: the chat gateway when one is configured, else the inbox.
    pub channel: MessageChannel,
    /// Now.
    pub now: Now,
}

impl<'a> MessageContext<'a> {
    /// Loads what composing a shop's messages needs, in the caller's transaction.
    pub fn load(
        tx: &mut Tx<'_>,
        shop_id: &'a ShopId,
        settings: &SettingsRecord,
        channel: MessageChannel,
        now: Now,
    ) -> Result<Self, StoreError> {
        let windows = tx.windows(shop_id)?;
        Self::with_windows(tx, shop_id, settings, windows, channel, now)
    }

    /// As [`MessageContext::load`], with the shop's event windows the caller has read already
    /// in this transaction.
    pub fn with_windows(
        tx: &mut Tx<'_>,
        shop_id: &'a ShopId,
        settings: &SettingsRecord,
        windows: Vec<EventWindow>,
        channel: MessageChannel,
        now: Now,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            shop_id,
            shop_name: tx.shop(shop_id)?.map(|s| s.name).unwrap_or_default(),
            templates: template_set(settings),
            windows,
            channel,
            now,
        })
    }
}

/// One message to a buyer of an order.
pub struct Outgoing {
    /// Which message.
    pub kind: TemplateKind,
    /// In which language.
    pub locale: Locale,
    /// The interception it is about, if any.
    pub interception_id: Option<InterceptionId>,
    /// The titles of the items it names.
    pub items: Vec<String>,
    /// The card link, for card messages.
    pub card: Option<CardLink>,
}

/// Composes a buyer message, stores it in the order's history, and queues it for the chat
/// gateway when one is configured; otherwise the built-in inbox holds it, delivered at once.
pub fn send_buyer_message(
    tx: &mut Tx<'_>,
    ctx: &MessageContext<'_>,
    order: &Order,
    outgoing: Outgoing,
) -> Result<BuyerMessage, StoreError> {
    let Outgoing {
        kind,
        locale,
        interception_id,
        items,
        card,
    } = outgoing;
    let now = ctx.now.business;
    let (event_day, reopen) = quoted_dates(&ctx.windows, now);
    let mut render =
        RenderContext::new(&ctx.shop_name, order.id.as_str(), event_day, reopen, items);
    if let Some(card) = card {
        render = render.with_card(card);
    }
    let message_id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let message = BuyerMessage::compose(
        &ctx.templates,
        kind,
        locale,
        &render,
        Envelope {
            message_id: message_id.clone(),
            shop_id: ctx.shop_id.to_string(),
            order_id: order.id.to_string(),
            buyer_id: order.buyer_id.to_string(),
            created_at: now,
        },
    );
    let gateway = ctx.channel == MessageChannel::ChatGateway;
    tx.insert_message(&MessageRecord {
        id: message_id.clone(),
        shop_id: ctx.shop_id.clone(),
        order_id: order.id.clone(),
        buyer_id: order.buyer_id.clone(),
        interception_id,
        kind: kind.as_str().to_owned(),
        locale: locale.as_str().to_owned(),
        channel: ctx.channel,
        text: message.text.clone(),
        link: message.link.clone(),
        status: if gateway {
            MessageStatus::Pending
        } else {
            MessageStatus::Delivered
        },
        created_at: now,
        delivered_at: (!gateway).then_some(now),
        last_error: None,
    })?;
    if gateway {
        let payload = ChatPayload {
            message_id: message_id.clone(),
            message: message.clone(),
        };
        // What an interception tells the buyer must arrive in order (received, then stopped,
        // released or the refund reminder), so those share the order's key. A card is a message
        // of its own: one the gateway keeps refusing must not hold the acknowledgement back.
        let ordering_key = if kind == TemplateKind::Card {
            format!("{}/{message_id}", order.id)
        } else {
            order.id.to_string()
        };
        tx.enqueue(&NewOutboxEntry {
            shop_id: ctx.shop_id.clone(),
            topic: Topic::Chat,
            ordering_key,
            message_id,
            payload: serde_json::to_value(&payload)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            available_at: ctx.now.wall,
        })?;
    }
    Ok(message)
}

/// The locale an interception's buyer was first told in, so later messages match it.
pub fn interception_locale(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    order: &Order,
    interception_id: &InterceptionId,
) -> Result<Locale, StoreError> {
    let messages = tx.messages_for_order(shop_id, &order.id)?;
    Ok(messages
        .iter()
        .filter(|m| m.interception_id.as_ref() == Some(interception_id))
        .find_map(|m| Locale::parse(&m.locale).ok())
        .unwrap_or_default())
}

/// Item titles of `ids`, for messages.
pub fn titles(order: &Order, ids: impl IntoIterator<Item = SubOrderId>) -> Vec<String> {
    ids.into_iter()
        .filter_map(|id| order.sub_order(&id).map(|s| s.title.clone()))
        .collect()
}
