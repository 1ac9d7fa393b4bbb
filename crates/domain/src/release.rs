//! Releasing intercepted items: which of an interception's items customer service may let ship,
//! and why the others cannot be.

use std::collections::BTreeSet;

use crate::ids::SubOrderId;
use crate::interception::{Interception, LineEvent, LineState};

/// Why an item named for release is not released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseRefusalReason {
    /// The interception has no line for this sub-order.
    UnknownItem,
    /// The line is closed (in the given state); closed lines never reopen.
    Closed(LineState),
}

impl ReleaseRefusalReason {
    /// The reason as clients spell it: `unknown_item`, or the closed line's state.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReleaseRefusalReason::UnknownItem => "unknown_item",
            ReleaseRefusalReason::Closed(state) => state.as_str(),
        }
    }

    /// A sentence for people.
    pub fn message(&self) -> String {
        match self {
            ReleaseRefusalReason::UnknownItem => "the interception has no such item".to_owned(),
            ReleaseRefusalReason::Closed(state) => format!("the item is {state} and closed"),
        }
    }

    /// The same, in Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            ReleaseRefusalReason::UnknownItem => "这次拦截中没有这件商品".to_owned(),
            ReleaseRefusalReason::Closed(state) => format!("该商品的拦截已结束({state}),不能撤销"),
        }
    }
}

/// An item that was named for release and is not released, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRefusal {
    /// The sub-order.
    pub sub_order_id: SubOrderId,
    /// Why.
    pub reason: ReleaseRefusalReason,
}

/// What an accepted release does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseDecision {
    /// The items released, each once, in the order they were named (or the lines' order).
    pub release: Vec<SubOrderId>,
    /// The items named that are not released, with why.
    pub refused: Vec<ReleaseRefusal>,
}

impl ReleaseDecision {
    /// The line events to apply: `Released` for each released item, with the agent's reason.
    pub fn events(&self, reason: Option<&str>) -> Vec<(SubOrderId, LineEvent)> {
        self.release
            .iter()
            .map(|id| {
                (
                    id.clone(),
                    LineEvent::Released {
                        reason: reason.map(str::to_owned),
                    },
                )
            })
            .collect()
    }
}

/// Why a release was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// An empty list of items was sent; leaving the list out is how to release all.
    #[error("name at least one item, or leave the field out to release all")]
    NoneChosen,
    /// No named item (or, without a list, no item at all) can be released.
    #[error("no item of the interception can be released")]
    NothingToRelease {
        /// Every item named, with why; empty when the interception has no active item.
        refused: Vec<ReleaseRefusal>,
    },
}

/// Decides a release: the `chosen` sub-orders, or every active item of `interception` when
/// `None`.
///
/// Items that cannot be released are refused one by one; the release as a whole fails only when
/// nothing at all can be released.
pub fn decide_release(
    interception: &Interception,
    chosen: Option<&[SubOrderId]>,
) -> Result<ReleaseDecision, ReleaseError> {
    let targets: Vec<&SubOrderId> = match chosen {
        Some([]) => return Err(ReleaseError::NoneChosen),
        Some(ids) => ids.iter().collect(),
        None => interception
            .lines
            .iter()
            .filter(|l| l.state.is_active())
            .map(|l| &l.sub_order_id)
            .collect(),
    };
    // A retried or sloppy client may name an item twice; releasing it twice would make the
    // second event fail on a line the first one just closed.
    let mut seen = BTreeSet::new();
    let mut release = Vec::new();
    let mut refused = Vec::new();
    for target in targets {
        if !seen.insert(target) {
            continue;
        }
        let line = interception
            .lines
            .iter()
            .find(|l| &l.sub_order_id == target);
        let reason = match line {
            None => ReleaseRefusalReason::UnknownItem,
            Some(line) if !line.state.is_active() => ReleaseRefusalReason::Closed(line.state),
            Some(_) => {
                release.push(target.clone());
                continue;
            }
        };
        refused.push(ReleaseRefusal {
            sub_order_id: target.clone(),
            reason,
        });
    }
    if release.is_empty() {
        return Err(ReleaseError::NothingToRelease { refused });
    }
    Ok(ReleaseDecision { release, refused })
}

#[cfg(test)]
mod tests;
