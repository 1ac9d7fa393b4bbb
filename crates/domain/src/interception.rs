//! Interceptions: the decision to stop items of an order, the per-item state machine, and the
//! memo note and flag that follow from which items are intercepted.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{FieldError, ValidationError};
use crate::ids::{BuyerId, CardId, InterceptionId, OrderId, SubOrderId};
use crate::order::{Order, ShippingStatus};
use crate::settings::{Flag, InterceptionSettings, MAX_MEMO_BYTES, MemoText};
use crate::window::EventWindow;

/// Where one intercepted item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineState {
    /// The memo is written; the ERP has not confirmed receipt (or no ERP is linked).
    Requested,
    /// The ERP accepted the interception message.
    DeliveredToErp,
    /// The ERP locked the item: it will not ship.
    Locked,
    /// The ERP could not lock the item. The memo stays, so the warehouse may still hold it.
    LockFailed,
    /// The ERP reports the item had already shipped. Closed.
    AlreadyShipped,
    /// Customer service released the item; it ships. Closed.
    Released,
    /// The refund arrived (or the order closed). Closed.
    Refunded,
    /// Order intake reported the item shipped while it was intercepted. Closed.
    ShippedAnyway,
}

impl LineState {
    /// Every state.
    pub const ALL: [LineState; 8] = [
        LineState::Requested,
        LineState::DeliveredToErp,
        LineState::Locked,
        LineState::LockFailed,
        LineState::AlreadyShipped,
        LineState::Released,
        LineState::Refunded,
        LineState::ShippedAnyway,
    ];

    /// Whether the item is still intercepted (its memo note stays on the order).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            LineState::Requested
                | LineState::DeliveredToErp
                | LineState::Locked
                | LineState::LockFailed
        )
    }

    /// The state as clients spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            LineState::Requested => "requested",
            LineState::DeliveredToErp => "delivered_to_erp",
            LineState::Locked => "locked",
            LineState::LockFailed => "lock_failed",
            LineState::AlreadyShipped => "already_shipped",
            LineState::Released => "released",
            LineState::Refunded => "refunded",
            LineState::ShippedAnyway => "shipped_anyway",
        }
    }

    /// Parses a state name.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                FieldError::new(
                    "state",
                    "invalid",
                    format!("unknown interception state '{raw}'"),
                )
                .zh(format!("未知的拦截状态“{raw}”"))
            })
    }

    /// The state that `event` leads to, `Ok(self)` when the event repeats what is already
    /// known (a redelivered result), or an error when the product does not allow it.
    pub fn apply(self, event: &LineEvent) -> Result<LineState, TransitionError> {
        use LineEvent as E;
        use LineState as S;
        if !self.is_active() {
            return Err(TransitionError::Closed {
                state: self,
                event: event.name(),
            });
        }
        let next = match (self, event) {
            (S::Requested, E::DeliveredToErp) => S::DeliveredToErp,
            // Delivery is confirmed after a result that came first by callback: nothing to do.
            (S::DeliveredToErp | S::Locked | S::LockFailed, E::DeliveredToErp) => self,
            (S::Requested | S::DeliveredToErp | S::LockFailed, E::ErpLocked) => S::Locked,
            (S::Locked, E::ErpLocked) => S::Locked,
            (S::Requested | S::DeliveredToErp, E::ErpLockFailed { .. }) => S::LockFailed,
            (S::LockFailed, E::ErpLockFailed { .. }) => S::LockFailed,
            (S::Requested | S::DeliveredToErp | S::LockFailed, E::ErpAlreadyShipped) => {
                S::AlreadyShipped
            }
            (S::Locked, E::ErpLockFailed { .. } | E::ErpAlreadyShipped) => {
                return Err(TransitionError::Contradicts {
                    state: self,
                    event: event.name(),
                });
            }
            (_, E::Released { .. }) => S::Released,
            (_, E::Refunded) => S::Refunded,
            (_, E::Shipped) => S::ShippedAnyway,
            // Every closed state returned above; these arms are only reachable for active ones.
            (S::AlreadyShipped | S::Released | S::Refunded | S::ShippedAnyway, _) => {
                return Err(TransitionError::Closed {
                    state: self,
                    event: event.name(),
                });
            }
        };
        Ok(next)
    }
}

impl fmt::Display for LineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of thing happened to an intercepted sub-order, as its history records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The interception was requested: the history's first entry.
    Requested,
    /// The ERP accepted the interception message.
    DeliveredToErp,
    /// The ERP reported the sub-order locked.
    ErpLocked,
    /// The ERP reported it could not lock the sub-order.
    ErpLockFailed,
    /// The ERP reported the sub-order had already shipped.
    ErpAlreadyShipped,
    /// Customer service released the sub-order.
    Released,
    /// Order intake reported the sub-order refunded or the order closed.
    Refunded,
    /// Order intake reported the sub-order shipped.
    Shipped,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 8] = [
        EventKind::Requested,
        EventKind::DeliveredToErp,
        EventKind::ErpLocked,
        EventKind::ErpLockFailed,
        EventKind::ErpAlreadyShipped,
        EventKind::Released,
        EventKind::Refunded,
        EventKind::Shipped,
    ];

    /// The kind's name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Requested => "requested",
            EventKind::DeliveredToErp => "delivered_to_erp",
            EventKind::ErpLocked => "erp_locked",
            EventKind::ErpLockFailed => "erp_lock_failed",
            EventKind::ErpAlreadyShipped => "erp_already_shipped",
            EventKind::Released => "released",
            EventKind::Refunded => "refunded",
            EventKind::Shipped => "shipped",
        }
    }

    /// Parses a kind's name.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| FieldError::new("event", "invalid", format!("unknown event '{raw}'")))
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happened to an intercepted item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LineEvent {
    /// The ERP answered the interception message with success.
    DeliveredToErp,
    /// The ERP reports the item locked.
    ErpLocked,
    /// The ERP reports it could not lock the item.
    ErpLockFailed {
        /// The ERP's reason.
        reason: String,
    },
    /// The ERP reports the item had already shipped.
    ErpAlreadyShipped,
    /// Customer service released the item.
    Released {
        /// Why, as the agent wrote it.
        reason: Option<String>,
    },
    /// Order intake reports the item refunded or the order closed.
    Refunded,
    /// Order intake reports the item shipped.
    Shipped,
}

impl LineEvent {
    /// The event's kind, as the history records it.
    pub fn kind(&self) -> EventKind {
        match self {
            LineEvent::DeliveredToErp => EventKind::DeliveredToErp,
            LineEvent::ErpLocked => EventKind::ErpLocked,
            LineEvent::ErpLockFailed { .. } => EventKind::ErpLockFailed,
            LineEvent::ErpAlreadyShipped => EventKind::ErpAlreadyShipped,
            LineEvent::Released { .. } => EventKind::Released,
            LineEvent::Refunded => EventKind::Refunded,
            LineEvent::Shipped => EventKind::Shipped,
        }
    }

    /// The event's name, for history and errors.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The event that an intake status change means for an intercepted item, if any.
    pub fn from_shipping_status(status: ShippingStatus) -> Option<LineEvent> {
        match status {
            ShippingStatus::AwaitingShipment => None,
            ShippingStatus::Shipped => Some(LineEvent::Shipped),
            ShippingStatus::Refunded | ShippingStatus::Closed => Some(LineEvent::Refunded),
        }
    }

    /// Extra words for the history (the ERP's reason).
    pub fn detail(&self) -> Option<&str> {
        match self {
            LineEvent::ErpLockFailed { reason } => Some(reason),
            LineEvent::Released { reason } => reason.as_deref(),
            _ => None,
        }
    }
}

/// A transition the product does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The line is closed; closed lines never reopen.
    #[error("the item is {state} and closed; '{event}' cannot change it")]
    Closed {
        /// The line's state.
        state: LineState,
        /// The refused event.
        event: &'static str,
    },
    /// The event contradicts what the ERP already reported.
    #[error("'{event}' contradicts the item's state {state}")]
    Contradicts {
        /// The line's state.
        state: LineState,
        /// The refused event.
        event: &'static str,
    },
}

/// One recorded change of a line's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The state before.
    pub from: LineState,
    /// The state after.
    pub to: LineState,
    /// What happened.
    pub event: EventKind,
    /// The event's detail (an ERP's reason), if any.
    pub detail: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// Who made the change (`staff:<login>`, `api_key:<id>`, `buyer:<id>`, `erp`), when known.
    /// The state machine does not know; the use case that applies the event says.
    #[serde(default)]
    pub by: Option<String>,
}

/// One intercepted item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The sub-order.
    pub sub_order_id: SubOrderId,
    /// The quantity intercepted (the whole sub-order).
    pub quantity: u32,
    /// The current state.
    pub state: LineState,
    /// When the state last changed.
    pub updated_at: DateTime<Utc>,
}

impl Line {
    /// A new line in state `requested`.
    pub fn requested(sub_order_id: SubOrderId, quantity: u32, at: DateTime<Utc>) -> Self {
        Self {
            sub_order_id,
            quantity,
            state: LineState::Requested,
            updated_at: at,
        }
    }

    /// Applies `event`; the transition to record, or `None` when nothing changed.
    pub fn apply(
        &mut self,
        event: &LineEvent,
        at: DateTime<Utc>,
    ) -> Result<Option<Transition>, TransitionError> {
        let next = self.state.apply(event)?;
        if next == self.state {
            return Ok(None);
        }
        let transition = Transition {
            from: self.state,
            to: next,
            event: event.kind(),
            detail: event.detail().map(str::to_owned),
            at,
            by: None,
        };
        self.state = next;
        self.updated_at = at;
        Ok(Some(transition))
    }
}

/// Who asked for an interception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Requester {
    /// The buyer, through a card.
    Buyer(BuyerId),
    /// A customer-service agent (the API key's id or the agent's name).
    Agent(String),
}

impl Requester {
    /// How history rows name the requester: `buyer:<id>`, or the agent's own name for itself
    /// (`staff:<login>`, `api_key:<id>`).
    pub fn actor(&self) -> String {
        match self {
            Requester::Buyer(id) => format!("buyer:{id}"),
            Requester::Agent(actor) => actor.clone(),
        }
    }
}

/// How an interception was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Method {
    /// Method 1: the buyer chose items on a card.
    Card {
        /// The card.
        card_id: CardId,
    },
    /// Method 2: customer service intercepted the whole order.
    Direct,
}

/// An interception: one request to stop items of one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interception {
    /// The interception's id.
    pub id: InterceptionId,
    /// The order.
    pub order_id: OrderId,
    /// The order's buyer.
    pub buyer_id: BuyerId,
    /// How it was started.
    pub method: Method,
    /// Who asked.
    pub requested_by: Requester,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Why, as customer service wrote it (none for a buyer's card).
    pub reason: Option<String>,
    /// The intercepted items.
    pub lines: Vec<Line>,
}

impl Interception {
    /// Whether any item is still intercepted.
    pub fn is_active(&self) -> bool {
        self.lines.iter().any(|l| l.state.is_active())
    }
}

/// Why an item was not intercepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// The item has shipped.
    Shipped,
    /// The item was refunded.
    Refunded,
    /// The sub-order is closed.
    Closed,
    /// The item is already intercepted.
    AlreadyIntercepted,
    /// No such sub-order in this order.
    UnknownItem,
}

impl RefusalReason {
    /// The reason as clients spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Shipped => "shipped",
            RefusalReason::Refunded => "refunded",
            RefusalReason::Closed => "closed",
            RefusalReason::AlreadyIntercepted => "already_intercepted",
            RefusalReason::UnknownItem => "unknown_item",
        }
    }

    /// A sentence for people.
    pub fn message(self) -> &'static str {
        match self {
            RefusalReason::Shipped => "the item has already shipped",
            RefusalReason::Refunded => "the item has been refunded",
            RefusalReason::Closed => "the sub-order is closed",
            RefusalReason::AlreadyIntercepted => "the item is already intercepted",
            RefusalReason::UnknownItem => "the order has no such sub-order",
        }
    }

    /// The same, in Chinese.
    pub fn message_zh(self) -> &'static str {
        match self {
            RefusalReason::Shipped => "该商品已发货",
            RefusalReason::Refunded => "该商品已退款",
            RefusalReason::Closed => "该子订单已关闭",
            RefusalReason::AlreadyIntercepted => "该商品已在拦截中",
            RefusalReason::UnknownItem => "订单中没有这个子订单",
        }
    }
}

/// An item that was not intercepted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The sub-order.
    pub sub_order_id: SubOrderId,
    /// Why.
    pub reason: RefusalReason,
}

/// Whether `sub` can be intercepted now, given the sub-orders that already have an active line.
pub fn check_item(
    sub: &crate::order::SubOrder,
    active: &BTreeSet<SubOrderId>,
) -> Result<(), RefusalReason> {
    match sub.shipping_status {
        ShippingStatus::Shipped => Err(RefusalReason::Shipped),
        ShippingStatus::Refunded => Err(RefusalReason::Refunded),
        ShippingStatus::Closed => Err(RefusalReason::Closed),
        ShippingStatus::AwaitingShipment if active.contains(&sub.id) => {
            Err(RefusalReason::AlreadyIntercepted)
        }
        ShippingStatus::AwaitingShipment => Ok(()),
    }
}

/// Shiphold's mark on an order: the note in the seller memo and the flag it set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemoState {
    /// The note appended to the seller memo, present exactly while an item is intercepted.
    pub note: Option<String>,
    /// The flag Shiphold set; `None` when the merchant's own flag shows.
    pub flag: Option<Flag>,
}

/// The memo note and flag an order carries when exactly `active` sub-orders are intercepted.
///
/// The note is computed from the whole set rather than appended to, which is what makes it
/// appear once however often a request is retried, and vanish with the last active item.
pub fn memo_after(
    memo_text: Option<&MemoText>,
    flag: Flag,
    active: &BTreeSet<SubOrderId>,
) -> MemoState {
    if active.is_empty() {
        return MemoState::default();
    }
    let text = memo_text.map_or("", MemoText::as_str);
    let ids: Vec<&str> = active.iter().map(SubOrderId::as_str).collect();
    MemoState {
        note: Some(note_text(text, &ids)),
        flag: (flag != Flag::None).then_some(flag),
    }
}

/// The note: the merchant's memo text and the intercepted sub-orders, kept within the
/// marketplace's memo limit by naming fewer sub-orders and counting the rest.
fn note_text(text: &str, ids: &[&str]) -> String {
    let full = format!("{text} [{}]", ids.join(", "));
    if full.len() <= MAX_MEMO_BYTES {
        return full;
    }
    for shown in (0..ids.len()).rev() {
        let rest = ids.len() - shown;
        let listed = ids[..shown].join(", ");
        let candidate = if shown == 0 {
            format!("{text} [+{rest}]")
        } else {
            format!("{text} [{listed}, +{rest}]")
        };
        if candidate.len() <= MAX_MEMO_BYTES {
            return candidate;
        }
    }
    // The memo text alone fits by construction (`MemoText` is bounded); the count is dropped.
    text.to_owned()
}

/// What a decision needs to know.
#[derive(Debug, Clone)]
pub struct DecisionInput<'a> {
    /// The shop's settings.
    pub settings: &'a InterceptionSettings,
    /// The order, as stored.
    pub order: &'a Order,
    /// The event window active now, if any.
    pub active_window: Option<&'a EventWindow>,
    /// Now.
    pub now: DateTime<Utc>,
    /// Who asks.
    pub requester: Requester,
    /// How.
    pub method: Method,
    /// The sub-orders chosen on a card; `None` for the whole order.
    pub chosen: Option<Vec<SubOrderId>>,
    /// Why, as customer service wrote it.
    pub reason: Option<String>,
    /// The sub-orders of this order that already have an active line.
    pub active_lines: BTreeSet<SubOrderId>,
    /// The id the new interception gets.
    pub new_id: InterceptionId,
}

/// What an accepted request does, to be applied in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The new interception with its lines in `requested`.
    pub interception: Interception,
    /// The items that were asked for and not intercepted.
    pub refusals: Vec<Refusal>,
    /// The order's memo note and flag afterwards.
    pub memo: MemoState,
    /// Whether an interception message goes to the ERP.
    pub notify_erp: bool,
    /// Whether the buyer is told the request was received (always, today; kept explicit).
    pub acknowledge_buyer: bool,
}

/// Why an interception request was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    /// The shop has not enabled the feature.
    #[error("interception is not enabled for this shop")]
    NotEnabled,
    /// No event window is active and the buyer is not a test buyer of a shop in test mode.
    #[error("no event window is active now")]
    OutsideEventWindow {
        /// Whether the shop is in test mode (the buyer is then not one of its test buyers).
        test_mode: bool,
    },
    /// The requester is not the order's buyer.
    #[error("the card does not belong to this order's buyer")]
    NotTheBuyer,
    /// The request itself is malformed.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No item could be intercepted; each is listed with its reason.
    #[error("no item of the order can be intercepted")]
    NothingToIntercept {
        /// Every item asked for, with why.
        refusals: Vec<Refusal>,
    },
}

/// Whether the feature may be used for this order now: enabled, and an active event window or
/// test mode with a test buyer.
pub fn check_open(
    settings: &InterceptionSettings,
    order: &Order,
    active_window: Option<&EventWindow>,
) -> Result<(), DecideError> {
    if !settings.enabled {
        return Err(DecideError::NotEnabled);
    }
    if active_window.is_none() && !settings.is_test_buyer(&order.buyer_id) {
        return Err(DecideError::OutsideEventWindow {
            test_mode: settings.advanced.test_mode,
        });
    }
    Ok(())
}

/// Decides an interception request (method 1 or 2).
pub fn decide(input: DecisionInput<'_>) -> Result<Decision, DecideError> {
    let DecisionInput {
        settings,
        order,
        active_window,
        now,
        requester,
        method,
        chosen,
        reason,
        active_lines,
        new_id,
    } = input;
    check_open(settings, order, active_window)?;
    if let Requester::Buyer(buyer) = &requester
        && buyer != &order.buyer_id
    {
        return Err(DecideError::NotTheBuyer);
    }

    // A shop that does not let buyers pick single items intercepts the whole order.
    let chosen = chosen.filter(|_| settings.advanced.single_item_choice);
    let mut refusals = Vec::new();
    let candidates: Vec<&crate::order::SubOrder> = match &chosen {
        None => order.sub_orders.iter().collect(),
        Some(ids) => {
            if ids.is_empty() {
                return Err(DecideError::Invalid(
                    FieldError::new("sub_order_ids", "required", "choose at least one item")
                        .zh("请至少选择一件商品")
                        .into(),
                ));
            }
            let mut seen = BTreeSet::new();
            let mut picked = Vec::new();
            for id in ids {
                if !seen.insert(id) {
                    continue;
                }
                match order.sub_order(id) {
                    Some(sub) => picked.push(sub),
                    None => refusals.push(Refusal {
                        sub_order_id: id.clone(),
                        reason: RefusalReason::UnknownItem,
                    }),
                }
            }
            picked
        }
    };

    let mut lines = Vec::new();
    for sub in candidates {
        match check_item(sub, &active_lines) {
            Ok(()) => lines.push(Line::requested(sub.id.clone(), sub.quantity, now)),
            Err(reason) => refusals.push(Refusal {
                sub_order_id: sub.id.clone(),
                reason,
            }),
        }
    }
    if lines.is_empty() {
        return Err(DecideError::NothingToIntercept { refusals });
    }

    let mut active_after = active_lines;
    active_after.extend(lines.iter().map(|l| l.sub_order_id.clone()));
    let memo = memo_after(settings.memo_text.as_ref(), settings.flag, &active_after);
    Ok(Decision {
        interception: Interception {
            id: new_id,
            order_id: order.id.clone(),
            buyer_id: order.buyer_id.clone(),
            method,
            requested_by: requester,
            created_at: now,
            reason,
            lines,
        },
        refusals,
        memo,
        // A linked ERP is told even while its link is switched off: the message waits and is
        // delivered when the link is switched on again.
        notify_erp: settings.advanced.erp.is_some(),
        acknowledge_buyer: true,
    })
}

/// What the buyer is told after an ERP report locked items: see [`lock_news`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockNews {
    /// Every item of the interception is locked: the product's "the items you chose have been
    /// stopped" is true as written.
    AllLocked,
    /// Only these items (every one locked so far, in the interception's order) are locked; the
    /// others are still waiting, failed or closed, so the message must name the stopped ones.
    SomeLocked(Vec<SubOrderId>),
}

/// Whether the buyer is told "stopped" after a report, and how. Only when the shop has ERP locking
/// on (or a Qimen warehouse, which reports by holding the parcel) and the report *changed* a line to locked (a repeated or late report changes nothing and
/// tells nothing, so the buyer gets one message per real change). `lines` are the interception's
/// lines after the report.
pub fn lock_news(
    settings: &InterceptionSettings,
    transitions: &[Transition],
    lines: &[Line],
) -> Option<LockNews> {
    if !settings.advanced.reports_locks() || !transitions.iter().any(|t| t.to == LineState::Locked)
    {
        return None;
    }
    let locked: Vec<SubOrderId> = lines
        .iter()
        .filter(|l| l.state == LineState::Locked)
        .map(|l| l.sub_order_id.clone())
        .collect();
    if locked.is_empty() {
        // A line locked and closed by the same report: nothing is stopped any more.
        return None;
    }
    Some(if locked.len() == lines.len() {
        LockNews::AllLocked
    } else {
        LockNews::SomeLocked(locked)
    })
}

#[cfg(test)]
mod tests;
