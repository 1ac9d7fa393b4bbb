//! Unit and property tests of the release decision.

use super::*;
use crate::ids::{BuyerId, InterceptionId, OrderId};
use crate::interception::{Line, Method, Requester};
use chrono::{DateTime, Utc};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_794_326_400, 0).unwrap_or_default()
}

fn sid(s: &str) -> SubOrderId {
    SubOrderId::parse(s).unwrap()
}

fn line(id: &str, state: LineState) -> Line {
    Line {
        state,
        ..Line::requested(sid(id), 1, t0())
    }
}

fn interception(lines: Vec<Line>) -> Interception {
    Interception {
        id: InterceptionId::parse("icp_1").unwrap(),
        order_id: OrderId::parse("o1").unwrap(),
        buyer_id: BuyerId::parse("buyer").unwrap(),
        method: Method::Direct,
        requested_by: Requester::Agent("key_agent".into()),
        created_at: t0(),
        reason: None,
        lines,
    }
}

fn ids(list: &[&str]) -> Vec<SubOrderId> {
    list.iter().map(|s| sid(s)).collect()
}

#[test]
fn without_a_list_every_active_item_is_released() {
    let i = interception(vec![
        line("s1", LineState::Locked),
        line("s2", LineState::Released),
        line("s3", LineState::LockFailed),
    ]);
    let d = decide_release(&i, None).unwrap();
    assert_eq!(d.release, ids(&["s1", "s3"]));
    assert!(d.refused.is_empty(), "closed lines are not named: {d:?}");
    assert_eq!(
        d.events(None),
        vec![
            (sid("s1"), LineEvent::Released { reason: None }),
            (sid("s3"), LineEvent::Released { reason: None })
        ]
    );
}

#[test]
fn named_items_that_cannot_be_released_are_refused_one_by_one() {
    let i = interception(vec![
        line("s1", LineState::Requested),
        line("s2", LineState::AlreadyShipped),
    ]);
    let chosen = ids(&["nope", "s2", "s1"]);
    let d = decide_release(&i, Some(&chosen)).unwrap();
    assert_eq!(d.release, ids(&["s1"]));
    assert_eq!(
        d.refused,
        vec![
            ReleaseRefusal {
                sub_order_id: sid("nope"),
                reason: ReleaseRefusalReason::UnknownItem
            },
            ReleaseRefusal {
                sub_order_id: sid("s2"),
                reason: ReleaseRefusalReason::Closed(LineState::AlreadyShipped)
            },
        ]
    );
}

#[test]
fn an_empty_list_is_refused() {
    let i = interception(vec![line("s1", LineState::Locked)]);
    assert_eq!(decide_release(&i, Some(&[])), Err(ReleaseError::NoneChosen));
}

#[test]
fn nothing_to_release_lists_every_refusal() {
    let i = interception(vec![line("s1", LineState::Refunded)]);
    let chosen = ids(&["s1", "s9"]);
    let Err(ReleaseError::NothingToRelease { refused }) = decide_release(&i, Some(&chosen)) else {
        panic!("expected NothingToRelease");
    };
    let reasons: Vec<_> = refused
        .iter()
        .map(|r| (r.sub_order_id.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(reasons, vec![("s1", "refunded"), ("s9", "unknown_item")]);
    // Without a list and no active item, there is nothing to name.
    assert_eq!(
        decide_release(&i, None),
        Err(ReleaseError::NothingToRelease { refused: vec![] })
    );
}

#[test]
fn a_twice_named_item_is_released_once() {
    let i = interception(vec![
        line("s1", LineState::Locked),
        line("s2", LineState::Requested),
    ]);
    let chosen = ids(&["s2", "s1", "s2", "s1"]);
    let d = decide_release(&i, Some(&chosen)).unwrap();
    assert_eq!(d.release, ids(&["s2", "s1"]));
}

#[test]
fn reasons_are_spelled_for_clients_and_people() {
    let closed = ReleaseRefusalReason::Closed(LineState::ShippedAnyway);
    assert_eq!(closed.as_str(), "shipped_anyway");
    assert_eq!(closed.message(), "the item is shipped_anyway and closed");
    assert_eq!(ReleaseRefusalReason::UnknownItem.as_str(), "unknown_item");
    assert_eq!(
        ReleaseRefusalReason::UnknownItem.message(),
        "the interception has no such item"
    );
}

// ---- Property tests over arbitrary interceptions and choices. ----

/// Sub-order ids are drawn from a small pool so that choices hit, miss and repeat lines.
const POOL: usize = 6;

fn pool_id(i: usize) -> SubOrderId {
    sid(&format!("s{i}"))
}

/// An interception whose lines are distinct sub-orders of the pool, each in any state.
fn arb_interception() -> impl Strategy<Value = Interception> {
    proptest::collection::btree_map(
        0..POOL,
        proptest::sample::select(LineState::ALL.to_vec()),
        0..=POOL,
    )
    .prop_flat_map(|states| {
        // Line order is not the id order in real data; shuffle so the tests do not rely on it.
        Just(states.into_iter().collect::<Vec<_>>()).prop_shuffle()
    })
    .prop_map(|lines| {
        interception(
            lines
                .into_iter()
                .map(|(i, state)| Line {
                    state,
                    ..Line::requested(pool_id(i), 1, t0())
                })
                .collect(),
        )
    })
}

/// A choice: none, or a list over the pool and beyond it (unknown ids), with repeats.
fn arb_chosen() -> impl Strategy<Value = Option<Vec<SubOrderId>>> {
    proptest::option::of(
        proptest::collection::vec(0..POOL + 2, 0..10)
            .prop_map(|v| v.into_iter().map(pool_id).collect()),
    )
}

fn dedupe(ids: &[SubOrderId]) -> Vec<SubOrderId> {
    let mut out: Vec<SubOrderId> = Vec::new();
    for id in ids {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

proptest! {
    #[test]
    fn release_keeps_its_invariants(i in arb_interception(), chosen in arb_chosen()) {
        let active: Vec<SubOrderId> = i
            .lines
            .iter()
            .filter(|l| l.state.is_active())
            .map(|l| l.sub_order_id.clone())
            .collect();
        let targets = match &chosen {
            Some(c) => dedupe(c),
            None => active.clone(),
        };
        let releasable: Vec<&SubOrderId> = targets.iter().filter(|t| active.contains(t)).collect();

        match decide_release(&i, chosen.as_deref()) {
            Err(ReleaseError::NoneChosen) => {
                prop_assert_eq!(chosen.as_ref().map(Vec::len), Some(0));
            }
            Err(ReleaseError::NothingToRelease { refused }) => {
                prop_assert!(chosen.as_ref().is_none_or(|c| !c.is_empty()));
                prop_assert!(releasable.is_empty());
                let named: Vec<SubOrderId> = refused.iter().map(|r| r.sub_order_id.clone()).collect();
                prop_assert_eq!(&named, &targets);
            }
            Ok(d) => {
                prop_assert!(chosen.as_ref().is_none_or(|c| !c.is_empty()));
                prop_assert!(!d.release.is_empty());
                // Every released id is an active line, named once.
                for id in &d.release {
                    prop_assert!(active.contains(id), "{} is not active", id);
                }
                prop_assert_eq!(dedupe(&d.release), d.release.clone());
                prop_assert_eq!(&d.release.iter().collect::<Vec<_>>(), &releasable);
                // Released and refused split the deduped targets between them, keeping their order.
                for r in &d.refused {
                    prop_assert!(!d.release.contains(&r.sub_order_id));
                }
                let mut split: Vec<SubOrderId> = d
                    .release
                    .iter()
                    .cloned()
                    .chain(d.refused.iter().map(|r| r.sub_order_id.clone()))
                    .collect();
                prop_assert_eq!(split.len(), targets.len());
                split.sort();
                let mut sorted_targets = targets.clone();
                sorted_targets.sort();
                prop_assert_eq!(split, sorted_targets);
                if chosen.is_none() {
                    prop_assert_eq!(&d.release, &active);
                    prop_assert!(d.refused.is_empty());
                }
                // Each refusal says truthfully why.
                for r in &d.refused {
                    let line = i.lines.iter().find(|l| l.sub_order_id == r.sub_order_id);
                    match (line, r.reason) {
                        (None, ReleaseRefusalReason::UnknownItem) => {}
                        (Some(l), ReleaseRefusalReason::Closed(state)) => {
                            prop_assert_eq!(l.state, state);
                            prop_assert!(!state.is_active());
                        }
                        (line, reason) => prop_assert!(false, "{:?} refused as {:?}", line, reason),
                    }
                }
                // The events apply cleanly and close exactly the released lines.
                let mut lines = i.lines.clone();
                for (id, event) in d.events(Some("the buyer wants it after all")) {
                    let line = lines.iter_mut().find(|l| l.sub_order_id == id);
                    prop_assert!(line.is_some());
                    if let Some(line) = line {
                        prop_assert!(line.apply(&event, t0()).is_ok());
                        prop_assert_eq!(line.state, LineState::Released);
                    }
                }
            }
        }
        // Errors come exactly when the inputs say so.
        let expect_none_chosen = chosen.as_ref().is_some_and(Vec::is_empty);
        let expect_nothing = !expect_none_chosen && releasable.is_empty();
        let got = decide_release(&i, chosen.as_deref());
        prop_assert_eq!(matches!(got, Err(ReleaseError::NoneChosen)), expect_none_chosen);
        prop_assert_eq!(matches!(got, Err(ReleaseError::NothingToRelease { .. })), expect_nothing);
    }
}
