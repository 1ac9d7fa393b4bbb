//! Application services: the steps that routes and jobs share inside one transaction — the
//! messages an interception sends, and what ERP results and intake changes do to its lines.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use shiphold_domain::{
    EventWindow, Flag, Interception, InterceptionId, InterceptionSettings, LineEvent, MemoState,
    Order, OrderId, ShopId, SubOrderId, Transition, memo_after,
};
use shiphold_erp_adapter as wire;
use shiphold_messaging::{
    BuyerMessage, CardLink, Envelope, Locale, RenderContext, TemplateKind, TemplateSet,
};
use shiphold_storage::{MessageRecord, NewOutboxEntry, SettingsRecord, StoreError, Tx};

use crate::config::ApiConfig;

/// Outbox topic of ERP messages.
pub const TOPIC_ERP: &str = "erp";
/// Outbox topic of buyer messages for the chat gateway.
pub const TOPIC_CHAT: &str = "chat";

/// The time outbox entries are scheduled by: the wall clock, like leases and retries, since
/// delivery happens in real time even when the business clock is set to an event day.
pub fn scheduler_now() -> DateTime<Utc> {
    Utc::now()
}

/// What an outbox entry of the chat topic carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatPayload {
    /// The message record's id.
    pub message_id: String,
    /// The rendered message.
    pub message: BuyerMessage,
}

/// What an outbox entry of the ERP topic carries: the wire message, ready to sign.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErpPayload {
    /// The wire message as JSON.
    pub message: serde_json::Value,
}

/// The event window whose dates buyer messages quote: the active one, else the next, else the
/// latest. Without any, today and tomorrow (test mode before any window exists).
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
        None => {
            let today = now.date_naive();
            (today, today + Duration::days(1))
        }
    }
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
    /// The API configuration (channel choice).
    pub config: &'a ApiConfig,
    /// Now.
    pub now: DateTime<Utc>,
}

impl<'a> MessageContext<'a> {
    /// Loads what composing a shop's messages needs, in the caller's transaction.
    pub fn load(
        tx: &mut Tx<'_>,
        shop_id: &'a ShopId,
        settings: &SettingsRecord,
        config: &'a ApiConfig,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            shop_id,
            shop_name: tx.shop(shop_id)?.map(|s| s.name).unwrap_or_default(),
            templates: template_set(settings),
            windows: tx.windows(shop_id)?,
            config,
            now,
        })
    }
}

/// A shop's template overrides. They were checked when saved; a set that no longer parses (after
/// a placeholder was retired, say) falls back to the defaults rather than failing a request.
pub fn template_set(settings: &SettingsRecord) -> TemplateSet {
    serde_json::from_value(settings.templates.clone()).unwrap_or_default()
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
    let interception_id = interception_id.as_ref();
    let (event_day, reopen) = quoted_dates(&ctx.windows, ctx.now);
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
            created_at: ctx.now,
        },
    );
    let gateway = ctx.config.chat_gateway.is_some();
    tx.insert_message(&MessageRecord {
        id: message_id.clone(),
        shop_id: ctx.shop_id.clone(),
        order_id: order.id.clone(),
        buyer_id: order.buyer_id.clone(),
        interception_id: interception_id.cloned(),
        kind: kind.as_str().to_owned(),
        locale: locale.as_str().to_owned(),
        channel: if gateway { "chat_gateway" } else { "inbox" }.to_owned(),
        text: message.text.clone(),
        link: message.link.clone(),
        status: if gateway { "pending" } else { "delivered" }.to_owned(),
        created_at: ctx.now,
        delivered_at: (!gateway).then_some(ctx.now),
        last_error: None,
    })?;
    if gateway {
        let payload = ChatPayload {
            message_id: message_id.clone(),
            message: message.clone(),
        };
        tx.enqueue(&NewOutboxEntry {
            shop_id: ctx.shop_id.clone(),
            topic: TOPIC_CHAT.to_owned(),
            ordering_key: order.id.to_string(),
            message_id,
            payload: serde_json::to_value(&payload)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            available_at: scheduler_now(),
        })?;
    }
    Ok(message)
}

fn wire_flag(flag: Flag) -> wire::Flag {
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

fn actor(interception: &Interception) -> wire::Actor {
    match interception.requested_by {
        shiphold_domain::Requester::Buyer(_) => wire::Actor::Buyer,
        shiphold_domain::Requester::Agent(_) => wire::Actor::Agent,
    }
}

/// Queues an ERP message; ordered per order, so a release never overtakes its request.
fn enqueue_erp(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    order_id: &OrderId,
    event: wire::Event,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let message_id = wire::new_webhook_id();
    let message = wire::Message::new(message_id.clone(), now, event);
    let value = serde_json::to_value(&message).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.enqueue(&NewOutboxEntry {
        shop_id: shop_id.clone(),
        topic: TOPIC_ERP.to_owned(),
        ordering_key: order_id.to_string(),
        message_id,
        payload: serde_json::to_value(ErpPayload { message: value })
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        available_at: scheduler_now(),
    })
    .map(|_| ())
}

/// Queues `interception.requested` for a new interception.
pub fn enqueue_erp_requested(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    order: &Order,
    interception: &Interception,
    now: DateTime<Utc>,
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
        requested_by: actor(interception),
        items: wire_items(order, &ids),
        memo: order.effective_memo(),
        flag: wire_flag(order.effective_flag()),
    });
    enqueue_erp(tx, shop_id, &order.id, event, now)
}

/// Queues `interception.released` for released items.
pub fn enqueue_erp_released(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    order: &Order,
    interception_id: &InterceptionId,
    released: &[SubOrderId],
    by_agent: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let event = wire::Event::InterceptionReleased(wire::InterceptionReleased {
        shop_id: shop_id.to_string(),
        order_id: order.id.to_string(),
        interception_id: interception_id.to_string(),
        released_by: if by_agent {
            wire::Actor::Agent
        } else {
            wire::Actor::Buyer
        },
        items: wire_items(order, released),
    });
    enqueue_erp(tx, shop_id, &order.id, event, now)
}

/// Recomputes an order's memo note and flag from its active lines and stores them.
pub fn refresh_memo(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    settings: &InterceptionSettings,
    order_id: &OrderId,
) -> Result<MemoState, StoreError> {
    let active: BTreeSet<SubOrderId> = tx
        .active_lines_for_order(shop_id, order_id)?
        .into_iter()
        .map(|(_, line)| line.sub_order_id)
        .collect();
    let memo = memo_after(settings.memo_text.as_ref(), settings.flag, &active);
    tx.set_order_memo(shop_id, order_id, &memo)?;
    Ok(memo)
}

/// The outcome of applying one event to one line.
#[derive(Debug, Clone, Serialize)]
pub struct LineOutcome {
    /// The sub-order.
    pub sub_order_id: SubOrderId,
    /// What happened: `applied`, `unchanged` (a repeat), or `refused` with the reason.
    pub status: &'static str,
    /// The state afterwards.
    pub state: shiphold_domain::LineState,
    /// Why it was refused.
    pub reason: Option<String>,
}

/// Applies events to lines of one interception and records each change; refused events are
/// reported, not applied, so late or contradictory reports never corrupt state.
pub fn apply_events(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    interception: &mut Interception,
    events: &[(SubOrderId, LineEvent)],
    now: DateTime<Utc>,
) -> Result<(Vec<Transition>, Vec<LineOutcome>), StoreError> {
    let mut transitions = Vec::new();
    let mut outcomes = Vec::new();
    for (sub_order_id, event) in events {
        let Some(line) = interception
            .lines
            .iter_mut()
            .find(|l| &l.sub_order_id == sub_order_id)
        else {
            continue;
        };
        match line.apply(event, now) {
            Ok(Some(transition)) => {
                tx.update_line(shop_id, &interception.id, line, &transition)?;
                outcomes.push(LineOutcome {
                    sub_order_id: sub_order_id.clone(),
                    status: "applied",
                    state: line.state,
                    reason: None,
                });
                transitions.push(transition);
            }
            Ok(None) => outcomes.push(LineOutcome {
                sub_order_id: sub_order_id.clone(),
                status: "unchanged",
                state: line.state,
                reason: None,
            }),
            Err(error) => {
                tracing::info!(interception = %interception.id, sub_order = %sub_order_id, %error, "event refused by the state machine");
                outcomes.push(LineOutcome {
                    sub_order_id: sub_order_id.clone(),
                    status: "refused",
                    state: line.state,
                    reason: Some(error.to_string()),
                });
            }
        }
    }
    Ok((transitions, outcomes))
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

/// The line event an ERP outcome means.
pub fn erp_event(result: &wire::ItemResult) -> LineEvent {
    match result.outcome {
        wire::Outcome::Locked => LineEvent::ErpLocked,
        wire::Outcome::Failed => LineEvent::ErpLockFailed {
            reason: result
                .reason
                .clone()
                .unwrap_or_else(|| "no reason given".to_owned()),
        },
        wire::Outcome::AlreadyShipped => LineEvent::ErpAlreadyShipped,
    }
}

/// Applies an ERP's results (from a delivery's response or a callback) to one interception,
/// first marking it delivered when `delivered` is set. Tells the buyer "stopped" only when the
/// shop has ERP locking on and an item was locked. Returns a receipt per result.
pub fn apply_erp_results(
    tx: &mut Tx<'_>,
    config: &ApiConfig,
    shop_id: &ShopId,
    interception_id: &InterceptionId,
    delivered: bool,
    results: &[wire::ItemResult],
    now: DateTime<Utc>,
) -> Result<Vec<wire::ResultReceipt>, StoreError> {
    let Some(first) = tx.interception(shop_id, interception_id)? else {
        return Ok(results
            .iter()
            .map(|r| wire::ResultReceipt {
                sub_order_id: r.sub_order_id.clone(),
                status: wire::ResultStatus::Unknown,
            })
            .collect());
    };
    // Lock the order first, as every other writer of its lines does, then read the lines again.
    let Some(order) = tx.lock_order(shop_id, &first.order_id)? else {
        return Err(StoreError::Corrupt(format!(
            "interception {interception_id} has no order"
        )));
    };
    let mut interception = tx.interception(shop_id, interception_id)?.unwrap_or(first);
    let mut events: Vec<(SubOrderId, LineEvent)> = Vec::new();
    if delivered {
        events.extend(
            interception
                .lines
                .iter()
                .map(|l| (l.sub_order_id.clone(), LineEvent::DeliveredToErp)),
        );
    }
    let mut receipts = Vec::new();
    let mut result_events = Vec::new();
    for result in results {
        let known = SubOrderId::parse(&result.sub_order_id)
            .ok()
            .filter(|id| interception.lines.iter().any(|l| &l.sub_order_id == id));
        match known {
            Some(id) => result_events.push((id, erp_event(result))),
            None => receipts.push(wire::ResultReceipt {
                sub_order_id: result.sub_order_id.clone(),
                status: wire::ResultStatus::Unknown,
            }),
        }
    }
    // Receipts are for the results, not for the delivery marks that come first.
    let delivery_marks = events.len();
    events.extend(result_events);
    let (transitions, outcomes) = apply_events(tx, shop_id, &mut interception, &events, now)?;
    for (outcome, (_, event)) in outcomes
        .iter()
        .skip(delivery_marks)
        .zip(events.iter().skip(delivery_marks))
    {
        let applied = outcome.status == "applied";
        if !applied {
            // A late, repeated or contradictory result changes nothing but is kept in the item's
            // history, as the ERP protocol promises.
            if let Some(line) = interception
                .lines
                .iter()
                .find(|l| l.sub_order_id == outcome.sub_order_id)
            {
                let why = outcome
                    .reason
                    .as_deref()
                    .unwrap_or("repeats the current state");
                let note = Transition {
                    from: line.state,
                    to: line.state,
                    event: event.name().to_owned(),
                    detail: Some(match event.detail() {
                        Some(detail) => format!("recorded, state unchanged ({why}): {detail}"),
                        None => format!("recorded, state unchanged ({why})"),
                    }),
                    at: now,
                };
                tx.update_line(shop_id, &interception.id, line, &note)?;
            }
        }
        receipts.push(wire::ResultReceipt {
            sub_order_id: outcome.sub_order_id.to_string(),
            status: if applied {
                wire::ResultStatus::Applied
            } else {
                wire::ResultStatus::Recorded
            },
        });
    }
    if transitions.is_empty() {
        return Ok(receipts);
    }
    let record = tx.settings(shop_id)?;
    if transitions.iter().any(|t| !t.to.is_active()) {
        refresh_memo(tx, shop_id, &record.settings, &order.id)?;
    }
    if shiphold_domain::tells_success(&record.settings, &transitions) {
        // The message names the items locked by this report, not earlier ones.
        let locked: Vec<SubOrderId> = outcomes
            .iter()
            .skip(delivery_marks)
            .filter(|o| o.status == "applied" && o.state == shiphold_domain::LineState::Locked)
            .map(|o| o.sub_order_id.clone())
            .collect();
        let locale = interception_locale(tx, shop_id, &order, interception_id)?;
        let ctx = MessageContext::load(tx, shop_id, &record, config, now)?;
        send_buyer_message(
            tx,
            &ctx,
            &order,
            Outgoing {
                kind: TemplateKind::LockSuccess,
                locale,
                interception_id: Some(interception_id.clone()),
                items: titles(&order, locked),
                card: None,
            },
        )?;
    }
    Ok(receipts)
}
