//! Interceptions, their lines and history, the filters, and the locking that makes one
//! interception out of many concurrent identical requests.

use chrono::Duration;
use shiphold_domain::{
    BuyerId, Interception, InterceptionId, Line, LineEvent, LineState, Method, OrderId, Requester,
    ShopId, SubOrderId,
};
use shiphold_storage::{
    InterceptionFilter, MessageRecord, NewOutboxEntry, Page, REFUND_REMINDER_KIND, StoreError,
};

use crate::backend_tests;
use crate::support::{TestDb, new_shop, order, save_order, sub, t0};

fn interception(id: &str, order: &str, subs: &[&str], minutes: i64) -> Interception {
    let at = t0() + Duration::minutes(minutes);
    Interception {
        id: InterceptionId::parse(id).unwrap(),
        order_id: OrderId::parse(order).unwrap(),
        buyer_id: BuyerId::parse("b1").unwrap(),
        method: Method::Card {
            card_id: shiphold_domain::CardId::parse("crd_1").unwrap(),
        },
        requested_by: Requester::Buyer(BuyerId::parse("b1").unwrap()),
        created_at: at,
        reason: None,
        lines: subs
            .iter()
            .map(|s| Line::requested(SubOrderId::parse(s).unwrap(), 1, at))
            .collect(),
    }
}

fn filter() -> InterceptionFilter {
    InterceptionFilter::default()
}

async fn list(db: &TestDb, shop: &ShopId, f: InterceptionFilter) -> Vec<String> {
    let s = shop.clone();
    let page = db
        .store
        .read(move |tx| tx.interceptions(&s, &f, &Page::default()))
        .await
        .unwrap();
    page.items.iter().map(|i| i.id.to_string()).collect()
}

backend_tests! {
    async fn refund_reminders_are_due_once_refunds_reopen(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        // Refunds are off from t0 for a day and reopen a day after that.
        let tz = shiphold_domain::parse_time_zone("Asia/Shanghai").unwrap();
        let window = shiphold_domain::EventWindow {
            id: shiphold_domain::EventWindowId::parse("evw_1").unwrap(),
            name: "Double 11".into(),
            refunds_off_from: t0(),
            refunds_off_until: t0() + Duration::days(1),
            time_zone: tz,
            refunds_reopen_at: t0() + Duration::days(2),
        };
        let inside = interception("icp_in", "o1", &["a"], 60);
        let before = interception("icp_before", "o2", &["a"], -60);
        let mut released = interception("icp_released", "o3", &["a"], 60);
        released.lines[0].state = LineState::Released;
        let reminded = interception("icp_reminded", "o4", &["a"], 60);
        let s = shop.clone();
        store
            .write(move |tx| {
                tx.upsert_window(&s, &window)?;
                for icp in [&inside, &before, &released, &reminded] {
                    tx.insert_interception(&s, icp)?;
                }
                tx.insert_message(&MessageRecord {
                    id: "msg_r".into(),
                    shop_id: s.clone(),
                    order_id: OrderId::parse("o4").unwrap(),
                    buyer_id: BuyerId::parse("b1").unwrap(),
                    interception_id: Some(InterceptionId::parse("icp_reminded").unwrap()),
                    kind: REFUND_REMINDER_KIND.into(),
                    locale: "en".into(),
                    channel: shiphold_storage::MessageChannel::Inbox,
                    text: "Please request your refund".into(),
                    link: None,
                    status: shiphold_storage::MessageStatus::Pending,
                    created_at: t0(),
                    delivered_at: None,
                    last_error: None,
                })
            })
            .await
            .unwrap();
        let early = store.read(|tx| tx.interceptions_due_for_reminder(t0() + Duration::hours(47), 10)).await.unwrap();
        assert!(early.is_empty(), "refunds have not reopened yet: {early:?}");
        let due = store.read(|tx| tx.interceptions_due_for_reminder(t0() + Duration::days(2), 10)).await.unwrap();
        let due: Vec<(String, String)> = due.into_iter().map(|(s, i)| (s.to_string(), i.to_string())).collect();
        assert_eq!(due, [("s1".to_string(), "icp_in".to_string())]);
    }

    async fn interceptions_keep_lines_history_and_answer_filters(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        save_order(store, &shop, &order("o1", vec![sub("a", 1), sub("b", 1)])).await;
        let first = interception("icp_1", "o1", &["a", "b"], 0);
        let mut direct = interception("icp_2", "o2", &["x"], 10);
        direct.method = Method::Direct;
        direct.requested_by = Requester::Agent("agent-7".into());
        let (s, a, b) = (shop.clone(), first.clone(), direct.clone());
        store.write(move |tx| { tx.insert_interception(&s, &a)?; tx.insert_interception(&s, &b) }).await.unwrap();
        let s = shop.clone();
        let got = store.read(move |tx| tx.interception(&s, &InterceptionId::parse("icp_2").unwrap())).await.unwrap();
        assert_eq!(got, Some(direct.clone()));

        // a: requested → delivered → locked; b: released.
        let s = shop.clone();
        let mut lines = first.lines.clone();
        store
            .write(move |tx| {
                let id = InterceptionId::parse("icp_1").unwrap();
                for (i, events) in [(0, vec![LineEvent::DeliveredToErp, LineEvent::ErpLocked]), (1, vec![LineEvent::Released { reason: None }])] {
                    for (k, event) in events.iter().enumerate() {
                        let at = t0() + Duration::minutes(1 + k as i64);
                        let transition = lines[i].apply(event, at).unwrap().unwrap();
                        tx.update_line(&s, &id, &lines[i], &transition)?;
                    }
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let s = shop.clone();
        let (stored, history, active) = store
            .read(move |tx| {
                let id = InterceptionId::parse("icp_1").unwrap();
                Ok::<_, StoreError>((
                    tx.interception(&s, &id)?.unwrap(),
                    tx.line_history(&s, &id)?,
                    tx.active_lines_for_order(&s, &OrderId::parse("o1").unwrap())?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(stored.lines[0].state, LineState::Locked);
        assert_eq!(stored.lines[1].state, LineState::Released);
        assert_eq!(stored.lines[0].updated_at, t0() + Duration::minutes(2));
        let steps: Vec<(String, &str, &str, &str)> = history
            .iter()
            .map(|(sub, t)| (sub.to_string(), t.from.as_str(), t.to.as_str(), t.event.as_str()))
            .collect();
        assert_eq!(
            steps,
            vec![
                ("a".into(), "requested", "requested", "requested"),
                ("b".into(), "requested", "requested", "requested"),
                ("a".into(), "requested", "delivered_to_erp", "delivered_to_erp"),
                ("a".into(), "delivered_to_erp", "locked", "erp_locked"),
                ("b".into(), "requested", "released", "released"),
            ]
        );
        assert_eq!(active.len(), 1);
        assert_eq!((active[0].0.as_str(), active[0].1.sub_order_id.as_str()), ("icp_1", "a"));

        // A line that does not exist cannot be updated.
        let s = shop.clone();
        let missing = store
            .write(move |tx| {
                let line = Line::requested(SubOrderId::parse("zz").unwrap(), 1, t0());
                let t = shiphold_domain::Transition { from: LineState::Requested, to: LineState::Released, event: shiphold_domain::EventKind::Released, detail: None, at: t0(), by: None };
                tx.update_line(&s, &InterceptionId::parse("icp_1").unwrap(), &line, &t)
            })
            .await;
        assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");

        assert_eq!(list(&db, &shop, filter()).await, ["icp_2", "icp_1"], "newest first");
        assert_eq!(list(&db, &shop, InterceptionFilter { state: Some(LineState::Locked), ..filter() }).await, ["icp_1"]);
        assert_eq!(list(&db, &shop, InterceptionFilter { state: Some(LineState::Requested), ..filter() }).await, ["icp_2"]);
        assert!(list(&db, &shop, InterceptionFilter { state: Some(LineState::Refunded), ..filter() }).await.is_empty());
        assert_eq!(list(&db, &shop, InterceptionFilter { order_id: Some(OrderId::parse("o2").unwrap()), ..filter() }).await, ["icp_2"]);
        assert_eq!(list(&db, &shop, InterceptionFilter { created_before: Some(t0() + Duration::minutes(10)), ..filter() }).await, ["icp_1"]);
        assert_eq!(list(&db, &shop, InterceptionFilter { created_after: Some(t0() + Duration::minutes(10)), ..filter() }).await, ["icp_2"]);
        let other = new_shop(store, "s2").await;
        assert!(list(&db, &other, filter()).await.is_empty(), "shops see only their own");

        let s = shop.clone();
        let for_order = store.read(move |tx| tx.interceptions_for_order(&s, &OrderId::parse("o1").unwrap())).await.unwrap();
        assert_eq!(for_order.len(), 1);
        assert_eq!(for_order[0].lines.len(), 2);
    }

    async fn one_orders_reads_take_its_own_index_whatever_the_shops_history(db: TestDb) {
        // A shop with a long history (no statistics yet, as on a fresh event-day database):
        // reading one order's active lines and interceptions must search by the order, not walk
        // the shop's interceptions in the ORDER BY's order and filter the order out.
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let s = shop.clone();
        store
            .write(move |tx| {
                for i in 0..2_000 {
                    let id = format!("icp_{i}");
                    tx.insert_interception(&s, &interception(&id, &format!("o{i}"), &["a", "b"], i))?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let s = shop.clone();
        let plan = store
            .read(move |tx| tx.explain_order_reads(&s, &OrderId::parse("o7").unwrap()))
            .await
            .unwrap();
        let text = plan.join("\n");
        assert!(text.contains("interception_lines_order"), "the lines by the order's index:\n{text}");
        assert!(text.contains("interceptions_order"), "the interceptions by the order's index:\n{text}");
        for costly in ["SCAN ", "Seq Scan", "interceptions_created", "autoindex", "pkey"] {
            assert!(!text.contains(costly), "no {costly} in the order's reads:\n{text}");
        }
    }

    async fn many_lines_change_in_one_call_with_their_history_in_order(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let icp = interception("icp_1", "o1", &["a", "b"], 0);
        let (s, i) = (shop.clone(), icp.clone());
        store.write(move |tx| tx.insert_interception(&s, &i)).await.unwrap();
        // Both delivered, then both locked, as an ERP's answer does it.
        let mut lines = icp.lines.clone();
        let mut recorded = Vec::new();
        for (k, event) in [LineEvent::DeliveredToErp, LineEvent::ErpLocked].iter().enumerate() {
            for line in lines.iter_mut() {
                let t = line.apply(event, t0() + Duration::minutes(1 + k as i64)).unwrap().unwrap();
                recorded.push((line.sub_order_id.clone(), t));
            }
        }
        let (s, l, r) = (shop.clone(), lines.clone(), recorded.clone());
        store
            .write(move |tx| {
                let refs: Vec<&Line> = l.iter().collect();
                tx.update_lines(&s, &InterceptionId::parse("icp_1").unwrap(), &refs, &r)
            })
            .await
            .unwrap();
        let s = shop.clone();
        let (got, history) = store
            .read(move |tx| {
                let id = InterceptionId::parse("icp_1").unwrap();
                Ok::<_, StoreError>((tx.interception(&s, &id)?.unwrap(), tx.line_history(&s, &id)?))
            })
            .await
            .unwrap();
        assert!(got.lines.iter().all(|l| l.state == LineState::Locked), "{got:?}");
        let steps: Vec<(String, &str)> = history.iter().map(|(sub, t)| (sub.to_string(), t.to.as_str())).collect();
        assert_eq!(
            steps,
            [("a", "requested"), ("b", "requested"), ("a", "delivered_to_erp"), ("b", "delivered_to_erp"), ("a", "locked"), ("b", "locked")]
                .map(|(a, b)| (a.to_string(), b))
        );
        // A line the interception lacks: nothing of the call is kept.
        let (s, mut l) = (shop.clone(), lines.clone());
        l.push(Line::requested(SubOrderId::parse("zz").unwrap(), 1, t0()));
        let missing = store
            .write(move |tx| {
                let refs: Vec<&Line> = l.iter().collect();
                tx.update_lines(&s, &InterceptionId::parse("icp_1").unwrap(), &refs, &[])
            })
            .await;
        assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    }

    async fn interceptions_page_newest_first(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        for i in 0..7 {
            // Two share each creation time, so the cursor's tie-break on the id is exercised.
            let icp = interception(&format!("icp_{i}"), "o1", &["a"], i / 2);
            let s = shop.clone();
            store.write(move |tx| tx.insert_interception(&s, &icp)).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut page = Page::first(3);
        loop {
            let (s, p) = (shop.clone(), page.clone());
            let got = store.read(move |tx| tx.interceptions(&s, &InterceptionFilter::default(), &p)).await.unwrap();
            assert!(got.items.len() <= 3);
            seen.extend(got.items.iter().map(|i| i.id.to_string()));
            match got.next {
                Some(next) => page = Page::after(next, 3),
                None => break,
            }
        }
        assert_eq!(seen, ["icp_6", "icp_5", "icp_4", "icp_3", "icp_2", "icp_1", "icp_0"]);
    }

    async fn twenty_concurrent_identical_requests_make_one_interception(db: TestDb) {
        let store = db.store.clone();
        let shop = new_shop(&store, "s1").await;
        save_order(&store, &shop, &order("o1", vec![sub("a", 1), sub("b", 1)])).await;
        // Open every pooled connection first, so that the writers below really overlap.
        let warm: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .read(|_| {
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            Ok::<_, StoreError>(())
                        })
                        .await
                })
            })
            .collect();
        for task in warm {
            task.await.unwrap().unwrap();
        }
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(20));
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (store, shop, start) = (store.clone(), shop.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                store
                    .write(move |tx| {
                        let order_id = OrderId::parse("o1").unwrap();
                        let order = tx.order_for_update(&shop, &order_id)?.ok_or(StoreError::NotFound)?;
                        if !tx.active_lines_for_order(&shop, &order_id)?.is_empty() {
                            return Ok::<_, StoreError>(false);
                        }
                        // Widen the window in which a missing lock would let a second writer in.
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        let icp = interception(&format!("icp_{i}"), "o1", &["a", "b"], 0);
                        tx.insert_interception(&shop, &icp)?;
                        let mut order = order;
                        order.memo.note = Some("STOP [a, b]".into());
                        tx.save_order(&shop, &order, t0())?;
                        tx.enqueue(&NewOutboxEntry {
                            shop_id: shop.clone(),
                            topic: shiphold_storage::Topic::Erp,
                            ordering_key: "o1".into(),
                            message_id: format!("msg_{i}"),
                            payload: serde_json::json!({"interception": icp.id.as_str()}),
                            available_at: t0(),
                        })?;
                        Ok(true)
                    })
                    .await
            }));
        }
        let mut created = 0;
        for task in tasks {
            if task.await.unwrap().unwrap() {
                created += 1;
            }
        }
        assert_eq!(created, 1, "exactly one writer saw no active line");
        let s = shop.clone();
        let (all, active) = store
            .read(move |tx| {
                let order_id = OrderId::parse("o1").unwrap();
                Ok::<_, StoreError>((tx.interceptions_for_order(&s, &order_id)?, tx.active_lines_for_order(&s, &order_id)?))
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(active.len(), 2);
        let claimed = store.claim(shiphold_storage::Topic::Erp, "w", std::time::Duration::from_secs(30), 100, t0()).await.unwrap();
        assert_eq!(claimed.len(), 1, "one outbox entry");
    }
}
