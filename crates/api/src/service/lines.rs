//! What happens to intercepted sub-orders after the decision: events applied through the
//! domain's state machine and recorded, and the order's memo note recomputed from what is
//! still active.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use shiphold_domain::{
    Interception, InterceptionSettings, Line, LineEvent, LineState, MemoState, Order, ShopId,
    SubOrderId, Transition, memo_after,
};
use shiphold_storage::{StoreError, Tx};

use super::{marketplace_outbox, qimen_outbox};
use crate::state::Now;

/// What one event did to one intercepted sub-order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The state changed.
    Changed,
    /// A repeat of the current state: nothing changed.
    Unchanged,
    /// The state machine refused the event, with why.
    Refused(String),
}

/// The outcome of applying one event to one intercepted sub-order.
#[derive(Debug, Clone)]
pub struct LineOutcome {
    /// The sub-order.
    pub sub_order_id: SubOrderId,
    /// What happened.
    pub applied: Applied,
    /// The state afterwards.
    pub state: LineState,
}

/// Applies events to the lines of one interception and records each change; refused events
/// are reported, not applied, so late or contradictory reports never corrupt state.
pub fn apply_events(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    interception: &mut Interception,
    events: &[(SubOrderId, LineEvent)],
    now: DateTime<Utc>,
    by: &str,
) -> Result<(Vec<Transition>, Vec<LineOutcome>), StoreError> {
    let mut transitions = Vec::new();
    let mut outcomes = Vec::new();
    // Every change is kept in memory and stored at the end: each changed line once, with all
    // its transitions in one insert, in the order they happened.
    let mut recorded: Vec<(SubOrderId, Transition)> = Vec::new();
    let mut changed: Vec<usize> = Vec::new();
    for (sub_order_id, event) in events {
        let Some(index) = interception
            .lines
            .iter()
            .position(|l| &l.sub_order_id == sub_order_id)
        else {
            continue;
        };
        let line = &mut interception.lines[index];
        let applied = match line.apply(event, now) {
            Ok(Some(mut transition)) => {
                transition.by = Some(by.to_owned());
                recorded.push((sub_order_id.clone(), transition.clone()));
                if !changed.contains(&index) {
                    changed.push(index);
                }
                transitions.push(transition);
                Applied::Changed
            }
            Ok(None) => Applied::Unchanged,
            Err(error) => {
                tracing::info!(interception = %interception.id, sub_order = %sub_order_id, %error, "event refused by the state machine");
                Applied::Refused(error.to_string())
            }
        };
        outcomes.push(LineOutcome {
            sub_order_id: sub_order_id.clone(),
            applied,
            state: line.state,
        });
    }
    if !recorded.is_empty() {
        let lines: Vec<&Line> = changed.iter().map(|&i| &interception.lines[i]).collect();
        tx.update_lines(shop_id, &interception.id, &lines, &recorded)?;
    }
    Ok((transitions, outcomes))
}

/// Recomputes an order's memo note and flag from its active lines and stores them. `order` is
/// the order as stored before (its memo the state this replaces). A change is queued for the
/// marketplace when the shop writes memos back, and a Qimen warehouse's hold is released when
/// nothing of the order is intercepted any more — however the last item left (a release, a
/// refund or shipment pushed by intake, an ERP report).
pub fn refresh_memo(
    tx: &mut Tx<'_>,
    shop_id: &ShopId,
    settings: &InterceptionSettings,
    order: &Order,
    now: Now,
) -> Result<MemoState, StoreError> {
    let active: BTreeSet<SubOrderId> = tx
        .active_lines_for_order(shop_id, &order.id)?
        .into_iter()
        .map(|(_, line)| line.sub_order_id)
        .collect();
    let memo = memo_after(settings.memo_text.as_ref(), settings.flag, &active);
    tx.set_order_memo(shop_id, &order.id, &memo)?;
    if settings.advanced.writes_memos_back() && order.memo != memo {
        let after = Order {
            memo: memo.clone(),
            ..order.clone()
        };
        marketplace_outbox::memo_changed(tx, shop_id, true, &order.memo, &after, now)?;
    }
    if settings.advanced.qimen.is_some() && order.memo.note.is_some() && memo.note.is_none() {
        qimen_outbox::restore(tx, shop_id, order, now)?;
    }
    Ok(memo)
}
