//! Unit and property tests of the order-intake decision.

use std::collections::BTreeSet;

use super::*;
use crate::ids::{BuyerId, ItemId, OrderId};
use crate::interception::{LineState, MemoState};
use crate::order::{Money, ShippingStatus, SubOrder};
use crate::settings::Flag;
use chrono::{DateTime, Utc};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_794_326_400, 0).unwrap_or_default()
}

fn sid(s: &str) -> SubOrderId {
    SubOrderId::parse(s).unwrap()
}

fn icp(s: &str) -> InterceptionId {
    InterceptionId::parse(s).unwrap()
}

fn sub(id: &str, status: ShippingStatus) -> SubOrder {
    SubOrder {
        id: sid(id),
        item_id: ItemId::parse("sku").unwrap(),
        title: format!("item {id}"),
        quantity: 1,
        amount: Money::from_minor(100).unwrap(),
        shipping_status: status,
    }
}

fn order(version: OrderVersion, subs: Vec<SubOrder>) -> Order {
    Order {
        id: OrderId::parse("o1").unwrap(),
        buyer_id: BuyerId::parse("buyer").unwrap(),
        version,
        sub_orders: subs,
        seller_memo: String::new(),
        seller_flag: Flag::None,
        memo: MemoState::default(),
    }
}

fn active(interception: &str, sub_order: &str, state: LineState) -> (InterceptionId, Line) {
    let line = Line {
        state,
        ..Line::requested(sid(sub_order), 1, t0())
    };
    (icp(interception), line)
}

use ShippingStatus::{AwaitingShipment as Awaiting, Refunded, Shipped};

#[test]
fn a_new_order_is_created() {
    let incoming = order(1, vec![sub("s1", Awaiting)]);
    assert_eq!(
        decide_intake(None, &incoming, &[]),
        Ok(IntakeDecision::Accept {
            created: true,
            events: vec![]
        })
    );
}

#[test]
fn older_or_conflicting_pushes_are_stale() {
    let stored = order(3, vec![sub("s1", Awaiting)]);
    let older = order(2, vec![sub("s1", Awaiting)]);
    assert_eq!(
        decide_intake(Some(&stored), &older, &[]),
        Err(IntakeError::Stale { stored_version: 3 })
    );
    let mut conflicting = stored.clone();
    conflicting.seller_memo = "other words".into();
    assert_eq!(
        decide_intake(Some(&stored), &conflicting, &[]),
        Err(IntakeError::Stale { stored_version: 3 })
    );
    assert_eq!(
        IntakeError::Stale { stored_version: 3 }.to_string(),
        "the stored order has version 3; send a higher version to change it"
    );
}

#[test]
fn the_same_push_again_is_a_replay_whatever_shipholds_memo_says() {
    let stored = order(3, vec![sub("s1", Awaiting)]);
    let mut again = stored.clone();
    again.memo.note = Some("STOP [s1]".into());
    again.memo.flag = Some(Flag::Red);
    assert_eq!(
        decide_intake(Some(&stored), &again, &[]),
        Ok(IntakeDecision::Replay)
    );
}

#[test]
fn the_buyer_cannot_change() {
    let stored = order(1, vec![sub("s1", Awaiting)]);
    let mut incoming = order(2, vec![sub("s1", Awaiting)]);
    incoming.buyer_id = BuyerId::parse("someone_else").unwrap();
    assert_eq!(
        decide_intake(Some(&stored), &incoming, &[]),
        Err(IntakeError::BuyerChanged)
    );
}

#[test]
fn an_intercepted_sub_order_cannot_be_removed() {
    let stored = order(1, vec![sub("s1", Awaiting), sub("s2", Awaiting)]);
    let incoming = order(2, vec![sub("s2", Awaiting)]);
    let lines = [active("icp_1", "s1", LineState::Locked)];
    let err = decide_intake(Some(&stored), &incoming, &lines).unwrap_err();
    assert_eq!(
        err,
        IntakeError::InterceptedItemRemoved {
            sub_order_id: sid("s1")
        }
    );
    assert_eq!(
        err.to_string(),
        "sub-order 's1' is intercepted and cannot be removed"
    );
    // A sub-order without an active line may go.
    let incoming = order(2, vec![sub("s1", Awaiting)]);
    assert!(matches!(
        decide_intake(Some(&stored), &incoming, &lines),
        Ok(IntakeDecision::Accept { created: false, .. })
    ));
}

#[test]
fn shipped_and_refunded_items_close_their_lines_per_interception() {
    let stored = order(
        1,
        vec![
            sub("s1", Awaiting),
            sub("s2", Awaiting),
            sub("s3", Awaiting),
        ],
    );
    let incoming = order(
        2,
        vec![sub("s1", Shipped), sub("s2", Awaiting), sub("s3", Refunded)],
    );
    let lines = [
        active("icp_2", "s3", LineState::Requested),
        active("icp_1", "s1", LineState::Locked),
        active("icp_1", "s2", LineState::LockFailed),
    ];
    assert_eq!(
        decide_intake(Some(&stored), &incoming, &lines),
        Ok(IntakeDecision::Accept {
            created: false,
            events: vec![
                (icp("icp_2"), vec![(sid("s3"), LineEvent::Refunded)]),
                (icp("icp_1"), vec![(sid("s1"), LineEvent::Shipped)]),
            ],
        })
    );
}

#[test]
fn a_line_given_twice_gets_one_event() {
    let stored = order(1, vec![sub("s1", Awaiting)]);
    let incoming = order(2, vec![sub("s1", Shipped)]);
    let line = active("icp_1", "s1", LineState::Locked);
    assert_eq!(
        decide_intake(Some(&stored), &incoming, &[line.clone(), line]),
        Ok(IntakeDecision::Accept {
            created: false,
            events: vec![(icp("icp_1"), vec![(sid("s1"), LineEvent::Shipped)])],
        })
    );
}

#[test]
fn groups_come_in_the_order_of_each_interceptions_first_line() {
    // icp_2's first line gets no event (still awaiting), its second does; icp_0's only line
    // comes between them. The groups follow the first lines given: icp_2, then icp_0.
    let stored = order(
        1,
        vec![
            sub("s1", Awaiting),
            sub("s3", Awaiting),
            sub("s4", Awaiting),
        ],
    );
    let incoming = order(
        2,
        vec![sub("s1", Awaiting), sub("s3", Shipped), sub("s4", Refunded)],
    );
    let lines = [
        active("icp_2", "s1", LineState::Requested),
        active("icp_0", "s3", LineState::Requested),
        active("icp_2", "s4", LineState::Requested),
    ];
    assert_eq!(
        decide_intake(Some(&stored), &incoming, &lines),
        Ok(IntakeDecision::Accept {
            created: false,
            events: vec![
                (icp("icp_2"), vec![(sid("s4"), LineEvent::Refunded)]),
                (icp("icp_0"), vec![(sid("s3"), LineEvent::Shipped)]),
            ],
        })
    );
}

// ---- Property tests over arbitrary stored and incoming orders. ----

/// Sub-order ids are drawn from a small pool so that pushes keep, drop and add sub-orders.
const POOL: usize = 5;

fn arb_status() -> impl Strategy<Value = ShippingStatus> {
    proptest::sample::select(vec![
        ShippingStatus::AwaitingShipment,
        ShippingStatus::Shipped,
        ShippingStatus::Refunded,
        ShippingStatus::Closed,
    ])
}

fn arb_order() -> impl Strategy<Value = Order> {
    (
        0i64..4,
        proptest::sample::select(vec!["b1", "b2"]),
        proptest::collection::btree_map(0..POOL, arb_status(), 1..=POOL),
        proptest::sample::select(vec!["", "gift wrap"]),
        proptest::sample::select(vec![Flag::None, Flag::Blue]),
        proptest::option::of(Just("STOP".to_owned())),
    )
        .prop_map(|(version, buyer, subs, memo, flag, note)| Order {
            buyer_id: BuyerId::parse(buyer).unwrap(),
            version,
            sub_orders: subs
                .into_iter()
                .map(|(i, status)| sub(&format!("s{i}"), status))
                .collect(),
            seller_memo: memo.to_owned(),
            seller_flag: flag,
            memo: MemoState { note, flag: None },
            ..order(0, vec![])
        })
}

/// Which fields of the incoming order are copied from the stored one, so that replays, pure
/// version bumps and single-field changes all come up often.
#[derive(Debug, Clone)]
struct Keep {
    version: bool,
    buyer: bool,
    subs: bool,
    memo: bool,
    flag: bool,
}

fn arb_keep() -> impl Strategy<Value = Keep> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(version, buyer, subs, memo, flag)| Keep {
            version,
            buyer,
            subs,
            memo,
            flag,
        })
}

/// For each possible sub-order: whether it has an active line, on which interception, in which
/// active state. Only sub-orders of the stored order get one.
fn arb_lines() -> impl Strategy<Value = Vec<Option<(usize, LineState)>>> {
    let active_states: Vec<LineState> = LineState::ALL
        .into_iter()
        .filter(|s| s.is_active())
        .collect();
    proptest::collection::vec(
        proptest::option::of((0usize..3, proptest::sample::select(active_states))),
        POOL,
    )
}

fn case() -> impl Strategy<Value = (Option<Order>, Order, Vec<(InterceptionId, Line)>)> {
    (
        proptest::option::of(arb_order()),
        arb_order(),
        arb_keep(),
        arb_lines(),
    )
        .prop_map(|(stored, raw, keep, picks)| {
            let mut incoming = raw;
            if let Some(old) = &stored {
                if keep.version {
                    incoming.version = old.version;
                }
                if keep.buyer {
                    incoming.buyer_id = old.buyer_id.clone();
                }
                if keep.subs {
                    incoming.sub_orders = old.sub_orders.clone();
                }
                if keep.memo {
                    incoming.seller_memo = old.seller_memo.clone();
                }
                if keep.flag {
                    incoming.seller_flag = old.seller_flag;
                }
            }
            let lines = stored
                .iter()
                .flat_map(|old| old.sub_orders.iter())
                .zip(picks)
                .filter_map(|(s, pick)| {
                    pick.map(|(i, state)| {
                        let line = Line {
                            state,
                            ..Line::requested(s.id.clone(), 1, t0())
                        };
                        (icp(&format!("icp_{i}")), line)
                    })
                })
                .collect();
            (stored, incoming, lines)
        })
}

proptest! {
    #[test]
    fn intake_keeps_its_invariants((stored, incoming, lines) in case()) {
        let got = decide_intake(stored.as_ref(), &incoming, &lines);
        // The house definition of "same content", spelled out rather than calling same_content.
        let same = stored.as_ref().is_some_and(|old| {
            old.buyer_id == incoming.buyer_id
                && old.sub_orders == incoming.sub_orders
                && old.seller_memo == incoming.seller_memo
                && old.seller_flag == incoming.seller_flag
        });
        let same_version = stored.as_ref().is_some_and(|old| old.version == incoming.version);
        let older = stored.as_ref().is_some_and(|old| incoming.version < old.version);
        let removed: Vec<&SubOrderId> = lines
            .iter()
            .map(|(_, l)| &l.sub_order_id)
            .filter(|id| incoming.sub_order(id).is_none())
            .collect();

        prop_assert_eq!(matches!(got, Ok(IntakeDecision::Replay)), same_version && same);
        let stale = older || (same_version && !same);
        prop_assert_eq!(matches!(got, Err(IntakeError::Stale { .. })), stale);
        if let (Err(IntakeError::Stale { stored_version }), Some(old)) = (&got, &stored) {
            prop_assert_eq!(*stored_version, old.version);
        }
        let newer = stored.as_ref().is_some_and(|old| incoming.version > old.version);
        let buyer_changed = stored.as_ref().is_some_and(|old| old.buyer_id != incoming.buyer_id);
        prop_assert_eq!(matches!(got, Err(IntakeError::BuyerChanged)), newer && buyer_changed);
        match &got {
            Err(IntakeError::InterceptedItemRemoved { sub_order_id }) => {
                prop_assert_eq!(Some(&sub_order_id), removed.first());
            }
            _ => prop_assert!(
                removed.is_empty() || stale || (newer && buyer_changed),
                "{:?} accepted without {:?}", got, removed
            ),
        }
        if stored.is_none() {
            prop_assert!(matches!(got, Ok(IntakeDecision::Accept { created: true, .. })), "{:?}", got);
        }

        if let Ok(IntakeDecision::Accept { created, events }) = &got {
            prop_assert_eq!(*created, stored.is_none());
            if let Some(old) = &stored {
                prop_assert!(incoming.version > old.version);
                prop_assert_eq!(&incoming.buyer_id, &old.buyer_id);
            }
            for (_, line) in &lines {
                prop_assert!(incoming.sub_order(&line.sub_order_id).is_some(), "{} dropped", line.sub_order_id);
            }
            // Each interception is one group, non-empty, in the order its lines came.
            let groups: Vec<&InterceptionId> = events.iter().map(|(id, _)| id).collect();
            let mut first_seen: Vec<&InterceptionId> = Vec::new();
            for (id, _) in &lines {
                if !first_seen.contains(&id) && groups.contains(&id) {
                    first_seen.push(id);
                }
            }
            prop_assert_eq!(&groups, &first_seen);
            // Events name exactly the active lines whose incoming status means one, each once,
            // and carry that status's event.
            let mut named = BTreeSet::new();
            for (interception_id, group) in events {
                prop_assert!(!group.is_empty());
                for (sub_order_id, event) in group {
                    prop_assert!(lines.iter().any(|(i, l)| i == interception_id && &l.sub_order_id == sub_order_id));
                    prop_assert!(named.insert((interception_id.clone(), sub_order_id.clone())), "{} twice", sub_order_id);
                    let status = incoming.sub_order(sub_order_id).map(|s| s.shipping_status);
                    prop_assert_eq!(status.and_then(LineEvent::from_shipping_status), Some(event.clone()));
                }
            }
            let expected: BTreeSet<(InterceptionId, SubOrderId)> = lines
                .iter()
                .filter(|(_, l)| {
                    incoming
                        .sub_order(&l.sub_order_id)
                        .and_then(|s| LineEvent::from_shipping_status(s.shipping_status))
                        .is_some()
                })
                .map(|(i, l)| (i.clone(), l.sub_order_id.clone()))
                .collect();
            prop_assert_eq!(named, expected);
            // The events apply cleanly to the lines.
            let mut lines = lines.clone();
            for (interception_id, group) in events {
                for (sub_order_id, event) in group {
                    if let Some((_, line)) = lines.iter_mut().find(|(i, l)| i == interception_id && &l.sub_order_id == sub_order_id) {
                        prop_assert!(line.apply(event, t0()).is_ok());
                    }
                }
            }
        }
    }
}
