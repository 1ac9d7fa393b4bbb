//! Unit and property tests of the interception rules and the line state machine.

use super::*;
use crate::ids::ItemId;
use crate::order::{Money, SubOrder};
use crate::settings::{TERMS_VERSION, TermsAcceptance};
use chrono::Duration;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_794_326_400, 0).unwrap_or_default()
}

fn sid(s: &str) -> SubOrderId {
    SubOrderId::parse(s).unwrap()
}

fn sub(id: &str, status: ShippingStatus) -> SubOrder {
    SubOrder {
        id: sid(id),
        item_id: ItemId::parse("sku").unwrap(),
        title: format!("item {id}"),
        quantity: 2,
        amount: Money::from_minor(100).unwrap(),
        shipping_status: status,
    }
}

fn order(subs: Vec<SubOrder>) -> Order {
    Order {
        id: OrderId::parse("o1").unwrap(),
        buyer_id: BuyerId::parse("buyer").unwrap(),
        version: 1,
        sub_orders: subs,
        seller_memo: String::new(),
        seller_flag: Flag::Blue,
        memo: MemoState::default(),
    }
}

fn enabled() -> InterceptionSettings {
    let mut s = InterceptionSettings {
        memo_text: MemoText::parse("拦截发货，勿发").ok(),
        flag: Flag::Red,
        terms: Some(TermsAcceptance {
            version: TERMS_VERSION.into(),
            accepted_by: "admin".into(),
            accepted_at: t0(),
        }),
        ..InterceptionSettings::default()
    };
    s.enable().unwrap();
    s
}

fn window() -> EventWindow {
    EventWindow {
        id: crate::ids::EventWindowId::parse("evw_1").unwrap(),
        name: "11.11".into(),
        refunds_off_from: t0(),
        refunds_off_until: t0() + Duration::days(1),
        time_zone: chrono_tz::Asia::Shanghai,
        refunds_reopen_at: t0() + Duration::days(1),
    }
}

fn input<'a>(
    settings: &'a InterceptionSettings,
    order: &'a Order,
    window: Option<&'a EventWindow>,
    chosen: Option<Vec<&str>>,
) -> DecisionInput<'a> {
    DecisionInput {
        settings,
        order,
        active_window: window,
        now: t0(),
        requester: Requester::Buyer(order.buyer_id.clone()),
        method: Method::Card {
            card_id: CardId::parse("crd_1").unwrap(),
        },
        chosen: chosen.map(|c| c.into_iter().map(sid).collect()),
        reason: None,
        active_lines: BTreeSet::new(),
        new_id: InterceptionId::parse("icp_1").unwrap(),
    }
}

#[test]
fn buyer_picks_one_of_two_items() {
    let settings = enabled();
    let o = order(vec![
        sub("s1", ShippingStatus::AwaitingShipment),
        sub("s2", ShippingStatus::AwaitingShipment),
    ]);
    let w = window();
    let d = decide(input(&settings, &o, Some(&w), Some(vec!["s2"]))).unwrap();
    let ids: Vec<_> = d
        .interception
        .lines
        .iter()
        .map(|l| l.sub_order_id.as_str())
        .collect();
    assert_eq!(ids, vec!["s2"]);
    assert!(d.refusals.is_empty());
    assert_eq!(d.memo.note.as_deref(), Some("拦截发货，勿发 [s2]"));
    assert_eq!(d.memo.flag, Some(Flag::Red));
    assert!(!d.notify_erp, "no ERP linked");
    assert!(d.acknowledge_buyer);
}

#[test]
fn whole_order_skips_shipped_items_and_says_why() {
    let settings = enabled();
    let o = order(vec![
        sub("s1", ShippingStatus::Shipped),
        sub("s2", ShippingStatus::AwaitingShipment),
        sub("s3", ShippingStatus::Refunded),
    ]);
    let w = window();
    let mut i = input(&settings, &o, Some(&w), None);
    i.requester = Requester::Agent("key_agent".into());
    i.method = Method::Direct;
    let d = decide(i).unwrap();
    assert_eq!(d.interception.lines.len(), 1);
    assert_eq!(
        d.refusals,
        vec![
            Refusal {
                sub_order_id: sid("s1"),
                reason: RefusalReason::Shipped
            },
            Refusal {
                sub_order_id: sid("s3"),
                reason: RefusalReason::Refunded
            },
        ]
    );
}

#[test]
fn nothing_to_intercept_lists_each_reason() {
    let settings = enabled();
    let o = order(vec![
        sub("s1", ShippingStatus::Shipped),
        sub("s2", ShippingStatus::AwaitingShipment),
    ]);
    let w = window();
    let mut i = input(&settings, &o, Some(&w), Some(vec!["s1", "s2", "nope"]));
    i.active_lines.insert(sid("s2"));
    let err = decide(i).unwrap_err();
    let DecideError::NothingToIntercept { refusals } = err else {
        panic!("wrong error {err:?}")
    };
    let reasons: Vec<_> = refusals
        .iter()
        .map(|r| (r.sub_order_id.as_str(), r.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("nope", RefusalReason::UnknownItem),
            ("s1", RefusalReason::Shipped),
            ("s2", RefusalReason::AlreadyIntercepted),
        ]
    );
}

#[test]
fn outside_the_window_only_test_buyers_of_a_test_shop() {
    let mut settings = enabled();
    let o = order(vec![sub("s1", ShippingStatus::AwaitingShipment)]);
    assert_eq!(
        decide(input(&settings, &o, None, None)).unwrap_err(),
        DecideError::OutsideEventWindow { test_mode: false }
    );
    settings.advanced.test_mode = true;
    assert_eq!(
        decide(input(&settings, &o, None, None)).unwrap_err(),
        DecideError::OutsideEventWindow { test_mode: true }
    );
    settings.advanced.test_buyers.push(o.buyer_id.clone());
    assert!(decide(input(&settings, &o, None, None)).is_ok());
}

#[test]
fn disabled_shops_and_other_buyers_are_refused() {
    let mut settings = enabled();
    let o = order(vec![sub("s1", ShippingStatus::AwaitingShipment)]);
    let w = window();
    let mut i = input(&settings, &o, Some(&w), None);
    i.requester = Requester::Buyer(BuyerId::parse("someone_else").unwrap());
    assert_eq!(decide(i).unwrap_err(), DecideError::NotTheBuyer);
    settings.disable();
    assert_eq!(
        decide(input(&settings, &o, Some(&w), None)).unwrap_err(),
        DecideError::NotEnabled
    );
}

#[test]
fn without_single_item_choice_a_card_takes_the_whole_order() {
    let mut settings = enabled();
    settings.advanced.single_item_choice = false;
    let o = order(vec![
        sub("s1", ShippingStatus::AwaitingShipment),
        sub("s2", ShippingStatus::AwaitingShipment),
    ]);
    let w = window();
    let d = decide(input(&settings, &o, Some(&w), Some(vec!["s1"]))).unwrap();
    assert_eq!(d.interception.lines.len(), 2);
}

#[test]
fn an_empty_choice_is_invalid() {
    let settings = enabled();
    let o = order(vec![sub("s1", ShippingStatus::AwaitingShipment)]);
    let w = window();
    let err = decide(input(&settings, &o, Some(&w), Some(vec![]))).unwrap_err();
    assert!(matches!(err, DecideError::Invalid(ref v) if v.errors[0].field == "sub_order_ids"));
}

#[test]
fn state_machine_table() {
    use LineEvent as E;
    use LineState as S;
    let failed = E::ErpLockFailed {
        reason: "busy".into(),
    };
    let cases: Vec<(S, E, Result<S, ()>)> = vec![
        (S::Requested, E::DeliveredToErp, Ok(S::DeliveredToErp)),
        (S::DeliveredToErp, E::ErpLocked, Ok(S::Locked)),
        (S::Requested, E::ErpLocked, Ok(S::Locked)),
        (S::DeliveredToErp, failed.clone(), Ok(S::LockFailed)),
        (S::LockFailed, E::ErpLocked, Ok(S::Locked)),
        (
            S::DeliveredToErp,
            E::ErpAlreadyShipped,
            Ok(S::AlreadyShipped),
        ),
        (S::Locked, E::ErpLocked, Ok(S::Locked)),
        (S::Locked, E::DeliveredToErp, Ok(S::Locked)),
        (S::Locked, failed.clone(), Err(())),
        (S::Locked, E::ErpAlreadyShipped, Err(())),
        (S::Locked, E::Released { reason: None }, Ok(S::Released)),
        (S::Locked, E::Refunded, Ok(S::Refunded)),
        (S::LockFailed, E::Shipped, Ok(S::ShippedAnyway)),
        (S::Released, E::ErpLocked, Err(())),
        (S::Refunded, E::Released { reason: None }, Err(())),
        (S::AlreadyShipped, E::Refunded, Err(())),
        (S::ShippedAnyway, E::Shipped, Err(())),
    ];
    for (from, event, expected) in cases {
        let got = from.apply(&event).map_err(|_| ());
        assert_eq!(got, expected, "{from} + {}", event.name());
    }
}

#[test]
fn line_records_transitions_but_not_repeats() {
    let mut line = Line::requested(sid("s1"), 1, t0());
    let first = line
        .apply(&LineEvent::ErpLocked, t0() + Duration::seconds(5))
        .unwrap();
    assert_eq!(
        first.map(|t| (t.from, t.to)),
        Some((LineState::Requested, LineState::Locked))
    );
    assert_eq!(line.apply(&LineEvent::ErpLocked, t0()).unwrap(), None);
    assert_eq!(line.updated_at, t0() + Duration::seconds(5));
}

#[test]
fn success_is_told_only_with_erp_locking_and_names_the_items_when_not_all_are_stopped() {
    let mut settings = enabled();
    let locked = Transition {
        from: LineState::DeliveredToErp,
        to: LineState::Locked,
        event: EventKind::ErpLocked,
        detail: None,
        at: t0(),
        by: None,
    };
    let line = |id: &str, state: LineState| Line {
        state,
        ..Line::requested(sid(id), 1, t0())
    };
    let all = [line("s1", LineState::Locked), line("s2", LineState::Locked)];
    let news = |settings: &InterceptionSettings, t: &[Transition], lines: &[Line]| {
        lock_news(settings, t, lines)
    };
    assert_eq!(
        news(&settings, std::slice::from_ref(&locked), &all),
        None,
        "no ERP"
    );
    settings.advanced.erp = Some(crate::settings::ErpLink {
        endpoint: "https://erp.example/hook".into(),
        locking: false,
        active: true,
        disabled_reason: None,
    });
    assert_eq!(
        news(&settings, std::slice::from_ref(&locked), &all),
        None,
        "locking off"
    );
    if let Some(erp) = settings.advanced.erp.as_mut() {
        erp.locking = true;
    }
    assert_eq!(
        news(&settings, std::slice::from_ref(&locked), &all),
        Some(LockNews::AllLocked)
    );
    // One of three locked: the others failed or still wait, so the stopped one is named.
    let some = [
        line("s1", LineState::LockFailed),
        line("s2", LineState::Locked),
        line("s3", LineState::DeliveredToErp),
    ];
    assert_eq!(
        news(&settings, std::slice::from_ref(&locked), &some),
        Some(LockNews::SomeLocked(vec![sid("s2")]))
    );
    // A report that locked nothing (a repeat, a failure) tells nothing.
    let failed = Transition {
        to: LineState::LockFailed,
        ..locked.clone()
    };
    assert_eq!(news(&settings, &[failed], &some), None);
    assert_eq!(news(&settings, &[], &all), None);
    // Locked and then shipped by the same report: nothing is stopped any more.
    let gone = [line("s1", LineState::ShippedAnyway)];
    assert_eq!(news(&settings, std::slice::from_ref(&locked), &gone), None);
}

#[test]
fn the_note_stays_within_the_memo_limit() {
    let text = MemoText::parse(&"x".repeat(950)).unwrap();
    let active: BTreeSet<SubOrderId> = (0..40).map(|i| sid(&format!("sub-order-{i:03}"))).collect();
    let memo = memo_after(Some(&text), Flag::None, &active);
    let note = memo.note.unwrap();
    assert!(note.len() <= MAX_MEMO_BYTES, "{}", note.len());
    assert!(note.ends_with("+40]") || note.contains(", +"), "{note}");
    assert_eq!(
        memo.flag, None,
        "no flag configured: the merchant's flag shows"
    );
}

// ---- Property tests: no sequence of events breaks the invariants. ----

#[derive(Debug, Clone)]
enum Step {
    Intercept(Vec<usize>),
    Event(usize, LineEvent),
    Ship(usize),
}

fn event() -> impl Strategy<Value = LineEvent> {
    prop_oneof![
        Just(LineEvent::DeliveredToErp),
        Just(LineEvent::ErpLocked),
        Just(LineEvent::ErpLockFailed { reason: "r".into() }),
        Just(LineEvent::ErpAlreadyShipped),
        Just(LineEvent::Released { reason: None }),
        Just(LineEvent::Refunded),
        Just(LineEvent::Shipped),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        proptest::collection::vec(0usize..4, 0..4).prop_map(Step::Intercept),
        (0usize..4, event()).prop_map(|(i, e)| Step::Event(i, e)),
        (0usize..4).prop_map(Step::Ship),
    ]
}

proptest! {
    #[test]
    fn no_sequence_breaks_the_invariants(steps in proptest::collection::vec(step(), 1..40)) {
        let settings = enabled();
        let w = window();
        let mut o = order((0..4).map(|i| sub(&format!("s{i}"), ShippingStatus::AwaitingShipment)).collect());
        // Every line ever created, newest last; a sub-order may be intercepted again once closed.
        let mut lines: Vec<Line> = Vec::new();
        let mut n = 0;
        for step in steps {
            let active: BTreeSet<SubOrderId> =
                lines.iter().filter(|l| l.state.is_active()).map(|l| l.sub_order_id.clone()).collect();
            match step {
                Step::Intercept(picks) => {
                    n += 1;
                    let chosen = (!picks.is_empty()).then(|| picks.iter().map(|i| sid(&format!("s{i}"))).collect());
                    let mut i = input(&settings, &o, Some(&w), None);
                    i.chosen = chosen;
                    i.active_lines = active.clone();
                    i.new_id = InterceptionId::parse(&format!("icp_{n}")).unwrap();
                    match decide(i) {
                        Ok(d) => {
                            for l in &d.interception.lines {
                                // Never two active lines for one item.
                                prop_assert!(!active.contains(&l.sub_order_id));
                                prop_assert_eq!(o.sub_order(&l.sub_order_id).map(|s| s.shipping_status), Some(ShippingStatus::AwaitingShipment));
                            }
                            lines.extend(d.interception.lines);
                            o.memo = d.memo;
                        }
                        Err(DecideError::NothingToIntercept { refusals }) => prop_assert!(!refusals.is_empty()),
                        Err(other) => prop_assert!(false, "unexpected {other:?}"),
                    }
                }
                Step::Event(index, event) => {
                    if let Some(line) = lines.get_mut(index) {
                        let before = line.state;
                        match line.apply(&event, t0()) {
                            Ok(_) => prop_assert!(before.is_active(), "a closed line changed"),
                            Err(_) => prop_assert_eq!(line.state, before),
                        }
                        // A closed line never reopens.
                        prop_assert!(before.is_active() || line.state == before);
                    }
                }
                Step::Ship(index) => {
                    let id = sid(&format!("s{index}"));
                    if let Some(s) = o.sub_orders.iter_mut().find(|s| s.id == id) {
                        s.shipping_status = ShippingStatus::Shipped;
                    }
                    for line in lines.iter_mut().filter(|l| l.sub_order_id == id && l.state.is_active()) {
                        let t = line.apply(&LineEvent::Shipped, t0());
                        prop_assert!(t.is_ok());
                        prop_assert_eq!(line.state, LineState::ShippedAnyway);
                    }
                }
            }
            // Recompute the memo from the active set, as the services do after every change.
            let active: BTreeSet<SubOrderId> =
                lines.iter().filter(|l| l.state.is_active()).map(|l| l.sub_order_id.clone()).collect();
            o.memo = memo_after(settings.memo_text.as_ref(), settings.flag, &active);
            // The memo note is present exactly while some line of the order is active,
            // it names each active item exactly once, and the flag follows it.
            prop_assert_eq!(o.memo.note.is_some(), !active.is_empty());
            if let Some(note) = &o.memo.note {
                prop_assert_eq!(note.matches("拦截发货，勿发").count(), 1);
                for id in &active {
                    prop_assert_eq!(note.matches(&format!("{id}]")).count() + note.matches(&format!("{id},")).count(), 1);
                }
                prop_assert_eq!(o.effective_flag(), Flag::Red);
            } else {
                prop_assert_eq!(o.effective_flag(), Flag::Blue);
            }
            let mut seen = BTreeSet::new();
            for l in lines.iter().filter(|l| l.state.is_active()) {
                prop_assert!(seen.insert(l.sub_order_id.clone()), "two active lines for {}", l.sub_order_id);
            }
        }
    }

    #[test]
    fn every_event_on_every_state_is_total(state in proptest::sample::select(LineState::ALL.to_vec()), e in event()) {
        // apply never panics, and only active states move.
        // apply never panics; closed states refuse everything; active states either stay (a
        // repeated report) or move on, and a move to a closed state matches its event.
        match state.apply(&e) {
            Ok(next) => {
                prop_assert!(state.is_active());
                match &e {
                    LineEvent::Released { .. } => prop_assert_eq!(next, LineState::Released),
                    LineEvent::Refunded => prop_assert_eq!(next, LineState::Refunded),
                    LineEvent::Shipped => prop_assert_eq!(next, LineState::ShippedAnyway),
                    _ => prop_assert!(next.is_active() || next == LineState::AlreadyShipped),
                }
            }
            Err(_) => prop_assert!(!state.is_active() || state == LineState::Locked),
        }
    }
}
