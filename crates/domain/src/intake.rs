//! Order intake: whether a pushed order creates, updates or repeats the stored one, and what
//! its shipping statuses mean for the items intercepted on it.

use crate::ids::{InterceptionId, SubOrderId};
use crate::interception::{Line, LineEvent};
use crate::order::{Order, OrderVersion};

/// What an accepted push does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeDecision {
    /// Store the incoming order, then apply `events`.
    Accept {
        /// Whether the order is new (else it replaces the stored one).
        created: bool,
        /// For each interception (in the order its first line was given), the events its
        /// lines take from the incoming shipping statuses. Interceptions without an event are
        /// left out.
        events: Vec<(InterceptionId, Vec<(SubOrderId, LineEvent)>)>,
    },
    /// The same version with the same content again: nothing changes.
    Replay,
}

/// Why a pushed order was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// The push is older than the stored order, or reuses its version with other content.
    #[error("the stored order has version {stored_version}; send a higher version to change it")]
    Stale {
        /// The stored order's version.
        stored_version: OrderVersion,
    },
    /// The push names another buyer.
    #[error("an order's buyer cannot change")]
    BuyerChanged,
    /// The push leaves out a sub-order that is intercepted.
    #[error("sub-order '{sub_order_id}' is intercepted and cannot be removed")]
    InterceptedItemRemoved {
        /// The first such sub-order, in the order the active lines were given.
        sub_order_id: SubOrderId,
    },
}

/// Decides a push of `incoming` (already validated) over `stored`, given the order's `active`
/// interception lines.
///
/// Versions order the pushes, so a retried or reordered delivery can neither undo a later
/// update nor be mistaken for one.
pub fn decide_intake(
    stored: Option<&Order>,
    incoming: &Order,
    active: &[(InterceptionId, Line)],
) -> Result<IntakeDecision, IntakeError> {
    if let Some(old) = stored {
        if incoming.version < old.version
            || (incoming.version == old.version && !old.same_content(incoming))
        {
            return Err(IntakeError::Stale {
                stored_version: old.version,
            });
        }
        if incoming.version == old.version {
            return Ok(IntakeDecision::Replay);
        }
        if old.buyer_id != incoming.buyer_id {
            return Err(IntakeError::BuyerChanged);
        }
    }
    // Checked on creation too: lines can only exist for a stored order, but if the store ever
    // disagrees, refusing is safer than dropping an intercepted item.
    if let Some((_, line)) = active
        .iter()
        .find(|(_, line)| incoming.sub_order(&line.sub_order_id).is_none())
    {
        return Err(IntakeError::InterceptedItemRemoved {
            sub_order_id: line.sub_order_id.clone(),
        });
    }

    // Groups are opened in the order each interception's first line comes, whether or not that
    // line gets an event, and groups left empty are dropped.
    let mut events: Vec<(InterceptionId, Vec<(SubOrderId, LineEvent)>)> = Vec::new();
    for (interception_id, line) in active {
        let index = match events.iter().position(|(id, _)| id == interception_id) {
            Some(index) => index,
            None => {
                events.push((interception_id.clone(), Vec::new()));
                events.len() - 1
            }
        };
        let Some(sub) = incoming.sub_order(&line.sub_order_id) else {
            continue;
        };
        let Some(event) = LineEvent::from_shipping_status(sub.shipping_status) else {
            continue;
        };
        let group = &mut events[index].1;
        // A line given twice gets one event: a second would fail on the line the first closed.
        if !group.iter().any(|(id, _)| id == &line.sub_order_id) {
            group.push((line.sub_order_id.clone(), event));
        }
    }
    events.retain(|(_, group)| !group.is_empty());
    Ok(IntakeDecision::Accept {
        created: stored.is_none(),
        events,
    })
}

#[cfg(test)]
mod tests;
