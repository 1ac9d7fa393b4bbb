//! The outbox: claim by lease, complete, retry, dead letter and re-drive, lease expiry and
//! stale tokens, head-of-line order per key, and concurrent claimers.

use std::collections::HashSet;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use shiphold_domain::ShopId;
use shiphold_storage::{
    AttemptRecord, ClaimLimits, NewOutboxEntry, OutboxStatus, Page, Store, StoreError,
};

use crate::backend_tests;
use crate::support::{StoreExt, new_shop, shop_id, t0};

const LEASE: StdDuration = StdDuration::from_secs(30);

async fn enqueue(store: &Store, shop: &ShopId, key: &str, message: &str, at: DateTime<Utc>) -> i64 {
    let entry = NewOutboxEntry {
        shop_id: shop.clone(),
        topic: shiphold_storage::Topic::Erp,
        ordering_key: key.into(),
        message_id: message.into(),
        payload: serde_json::json!({"message": message}),
        available_at: at,
    };
    store.write(move |tx| tx.enqueue(&entry)).await.unwrap()
}

fn attempt(outcome: &str, at: DateTime<Utc>) -> AttemptRecord {
    AttemptRecord {
        at,
        outcome: outcome.into(),
        status_code: Some(if outcome == "delivered" { 200 } else { 503 }),
        error: (outcome != "delivered").then(|| "ERP answered 503".to_string()),
        duration_ms: 12,
    }
}

async fn claim_ids(store: &Store, worker: &str, at: DateTime<Utc>) -> Vec<String> {
    let claimed = store
        .claim(shiphold_storage::Topic::Erp, worker, LEASE, 10, at)
        .await
        .unwrap();
    claimed.iter().map(|c| c.message_id.clone()).collect()
}

backend_tests! {
    async fn a_held_entry_waits_without_an_attempt_and_keeps_its_keys_line(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let first = enqueue(store, &shop, "o1", "msg_1", t0()).await;
        enqueue(store, &shop, "o1", "msg_2", t0()).await;
        let claimed = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, 10, t0()).await.unwrap();
        assert_eq!(claimed.len(), 1, "msg_2 waits behind msg_1");
        assert!(store.hold(first, &claimed[0].lease_token, attempt("held", t0())).await.unwrap());
        // Held: not claimable, not dead, and its order's later message still waits behind it.
        assert!(claim_ids(store, "w1", t0() + Duration::hours(1)).await.is_empty());
        let s = shop.clone();
        let entry = store.read(move |tx| tx.outbox_entry(&s, first)).await.unwrap().unwrap();
        assert_eq!((entry.status, entry.attempts), (OutboxStatus::Held, 0), "the claim did not count");
        let s = shop.clone();
        assert_eq!(store.read(move |tx| tx.held_count(&s, shiphold_storage::Topic::Erp)).await.unwrap(), 1);
        // Released: due at once, in order.
        let s = shop.clone();
        let released = store
            .write(move |tx| tx.release_held(&s, shiphold_storage::Topic::Erp, t0() + Duration::hours(2)))
            .await
            .unwrap();
        assert_eq!(released, 1);
        assert_eq!(claim_ids(store, "w1", t0() + Duration::hours(2)).await, vec!["msg_1".to_owned()]);
    }

    async fn an_entry_given_back_is_claimable_at_once_without_an_attempt(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let first = enqueue(store, &shop, "o1", "msg_1", t0()).await;
        enqueue(store, &shop, "o1", "msg_2", t0()).await;
        let other = enqueue(store, &shop, "o2", "msg_3", t0()).await;
        let claimed = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, 10, t0()).await.unwrap();
        assert_eq!(claimed.len(), 2);
        let token = claimed[0].lease_token.clone();
        // A stale token gives nothing back; the right one ends the lease of exactly its entries.
        let given = store
            .give_back(vec![(first, "not-the-token".into()), (first, token.clone())])
            .await
            .unwrap();
        assert_eq!(given, 1);
        let s = shop.clone();
        let entry = store.read(move |tx| tx.outbox_entry(&s, first)).await.unwrap().unwrap();
        assert_eq!((entry.status, entry.attempts), (OutboxStatus::Pending, 0), "untried: no attempt");
        assert_eq!((entry.lease_until, entry.leased_by), (None, None));
        // Well before the lease would have run out, another worker gets it, still ahead of
        // msg_2 on its key, while msg_3 stays with the first worker.
        assert_eq!(claim_ids(store, "w2", t0() + Duration::seconds(1)).await, vec!["msg_1".to_owned()]);
        assert!(store.complete(other, &token, t0(), attempt("delivered", t0())).await.unwrap());
    }

    async fn the_latest_entry_of_a_key_is_the_newest_of_its_topic_whatever_its_status(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let other = new_shop(store, "s2").await;
        let first = enqueue(store, &shop, "o1", "msg_1", t0()).await;
        let claimed = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, 10, t0()).await.unwrap();
        assert!(store.complete(first, &claimed[0].lease_token, t0(), attempt("delivered", t0())).await.unwrap());
        let latest = |shop: ShopId, topic, key: &'static str| async move {
            store.read(move |tx| tx.latest_outbox_entry(&shop, topic, key)).await.unwrap()
        };
        let seen = latest(shop.clone(), shiphold_storage::Topic::Erp, "o1").await.unwrap();
        assert_eq!((seen.id, seen.status), (first, OutboxStatus::Delivered));
        let second = enqueue(store, &shop, "o1", "msg_2", t0()).await;
        enqueue(store, &shop, "o2", "msg_3", t0()).await;
        enqueue(store, &other, "o1", "msg_4", t0()).await;
        let seen = latest(shop.clone(), shiphold_storage::Topic::Erp, "o1").await.unwrap();
        assert_eq!((seen.id, seen.status, seen.message_id.as_str()), (second, OutboxStatus::Pending, "msg_2"));
        // Another topic's, another key's and another shop's entries are not the order's.
        assert!(latest(shop.clone(), shiphold_storage::Topic::Marketplace, "o1").await.is_none());
        assert!(latest(shop.clone(), shiphold_storage::Topic::Erp, "o3").await.is_none());
    }

    async fn outbox_counts_are_per_topic_and_shop_with_the_oldest_pending(db: TestDb) {
        let store = &db.store;
        let one = new_shop(store, "s1").await;
        let zero = new_shop(store, "s0").await;
        enqueue(store, &one, "o1", "msg_1", t0()).await;
        enqueue(store, &zero, "o9", "msg_9", t0() - Duration::seconds(30)).await;
        enqueue(store, &zero, "o8", "msg_8", t0() - Duration::seconds(90)).await;
        let counts = store.outbox_counts(t0()).await.unwrap();
        let seen: Vec<_> = counts.iter().map(|c| (c.shop_id.as_str(), c.pending, c.leased, c.oldest_pending)).collect();
        assert_eq!(seen, vec![("s0", 2, 0, Some(t0() - Duration::seconds(90))), ("s1", 1, 0, Some(t0()))]);
        // A leased entry is still pending for the oldest age, and counted as leased.
        let claimed = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, 1, t0()).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let counts = store.outbox_counts(t0()).await.unwrap();
        let s0 = counts.iter().find(|c| c.shop_id.as_str() == "s0").unwrap();
        assert_eq!((s0.pending + s0.leased, s0.oldest_pending), (2, Some(t0() - Duration::seconds(90))));
    }

    async fn outbox_entries_complete_retry_die_and_are_redriven(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let id = enqueue(store, &shop, "o1", "msg_1", t0()).await;
        assert!(store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, 10, t0() - Duration::seconds(1)).await.unwrap().is_empty(), "not due yet");
        assert!(store.claim(shiphold_storage::Topic::Chat, "w1", LEASE, 10, t0()).await.unwrap().is_empty(), "other topic");
        let claimed = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, 10, t0()).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let entry = &claimed[0];
        assert_eq!((entry.id, entry.attempts, entry.message_id.as_str()), (id, 1, "msg_1"));
        assert_eq!(entry.payload, serde_json::json!({"message": "msg_1"}));
        assert_eq!((entry.shop_id.as_str(), entry.topic.as_str(), entry.ordering_key.as_str()), ("s1", "erp", "o1"));
        assert!(claim_ids(store, "w2", t0()).await.is_empty(), "a leased entry is not handed out twice");

        // Retry: back in line at next_at, with the attempt recorded.
        assert!(!store.retry(id, "stale-token", t0() + Duration::seconds(5), attempt("retry", t0())).await.unwrap());
        assert!(store.retry(id, &entry.lease_token, t0() + Duration::seconds(5), attempt("retry", t0())).await.unwrap());
        assert!(!store.complete(id, &entry.lease_token, t0(), attempt("delivered", t0())).await.unwrap(), "the token was used up");
        assert!(claim_ids(store, "w1", t0() + Duration::seconds(4)).await.is_empty());
        let again = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, 10, t0() + Duration::seconds(5)).await.unwrap();
        assert_eq!((again.len(), again[0].attempts), (1, 2));
        assert_ne!(again[0].lease_token, entry.lease_token);

        // Dead letter, listed, then re-driven with the same message id.
        assert!(store.dead_letter(id, &again[0].lease_token, attempt("dead", t0() + Duration::seconds(5))).await.unwrap());
        assert!(claim_ids(store, "w1", t0() + Duration::hours(1)).await.is_empty());
        let s = shop.clone();
        let dead = store.read(move |tx| tx.dead_letters(&s, Some(shiphold_storage::Topic::Erp), &Page::default())).await.unwrap();
        assert_eq!(dead.items.len(), 1);
        assert_eq!((dead.items[0].status, dead.items[0].attempts), (OutboxStatus::Dead, 2));
        assert_eq!(dead.items[0].last_error.as_deref(), Some("ERP answered 503"));
        let counts = store.outbox_counts(t0()).await.unwrap();
        assert_eq!((counts.len(), counts[0].topic.as_str(), counts[0].dead, counts[0].pending), (1, "erp", 1, 0));
        let other = new_shop(store, "s2").await;
        assert!(!store.redrive(&other, id, t0()).await.unwrap(), "another shop cannot re-drive it");
        assert!(store.redrive(&shop, id, t0() + Duration::hours(1)).await.unwrap());
        assert!(!store.redrive(&shop, id, t0()).await.unwrap(), "only dead letters are re-driven");
        let redriven = store.claim(shiphold_storage::Topic::Erp, "w3", LEASE, 10, t0() + Duration::hours(1)).await.unwrap();
        assert_eq!((redriven[0].id, redriven[0].attempts, redriven[0].message_id.as_str()), (id, 1, "msg_1"));
        let counts = store.outbox_counts(t0() + Duration::hours(1)).await.unwrap();
        assert_eq!((counts[0].pending, counts[0].leased, counts[0].dead), (0, 1, 0));
        assert!(store.complete(id, &redriven[0].lease_token, t0() + Duration::hours(1), attempt("delivered", t0() + Duration::hours(1))).await.unwrap());
        assert!(claim_ids(store, "w1", t0() + Duration::hours(2)).await.is_empty());

        let s = shop.clone();
        let (attempts, stored) = store
            .read(move |tx| Ok::<_, StoreError>((tx.attempts(&s, id)?, tx.outbox_entry(&s, id)?)))
            .await
            .unwrap();
        let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["retry", "dead", "delivered"]);
        assert_eq!(attempts[0], attempt("retry", t0()));
        let stored = stored.unwrap();
        assert_eq!((stored.status, stored.finished_at), (OutboxStatus::Delivered, Some(t0() + Duration::hours(1))));
        assert_eq!(store.outbox_counts(t0()).await.unwrap(), vec![]);
        assert_eq!(store.purge_outbox(t0() + Duration::hours(2)).await.unwrap(), 1);
        let s = shop.clone();
        assert_eq!(store.read(move |tx| tx.outbox_entry(&s, id)).await.unwrap(), None);
    }

    async fn an_expired_lease_lets_another_worker_claim_and_the_stale_token_is_refused(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let id = enqueue(store, &shop, "o1", "msg_1", t0()).await;
        let first = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, 10, t0()).await.unwrap();
        assert_eq!(first.len(), 1);
        assert!(claim_ids(store, "w2", t0() + Duration::seconds(29)).await.is_empty(), "lease still held");
        let second = store.claim(shiphold_storage::Topic::Erp, "w2", LEASE, 10, t0() + Duration::seconds(30)).await.unwrap();
        assert_eq!((second.len(), second[0].attempts), (1, 2), "the lease ran out");
        let at = t0() + Duration::seconds(31);
        assert!(!store.complete(id, &first[0].lease_token, at, attempt("delivered", at)).await.unwrap());
        assert!(!store.dead_letter(id, &first[0].lease_token, attempt("dead", at)).await.unwrap());
        let s = shop.clone();
        let entry = store.read(move |tx| tx.outbox_entry(&s, id)).await.unwrap().unwrap();
        assert_eq!((entry.status, entry.leased_by.as_deref()), (OutboxStatus::Pending, Some("w2")), "the stale worker changed nothing");
        let s = shop.clone();
        assert!(store.read(move |tx| tx.attempts(&s, id)).await.unwrap().is_empty());
        assert!(store.complete(id, &second[0].lease_token, at, attempt("delivered", at)).await.unwrap());
    }

    async fn entries_of_one_ordering_key_go_one_at_a_time_in_order(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let other = new_shop(store, "s2").await;
        enqueue(store, &shop, "A", "a1", t0()).await;
        enqueue(store, &shop, "A", "a2", t0()).await;
        enqueue(store, &shop, "B", "b1", t0()).await;
        enqueue(store, &other, "A", "x1", t0()).await;
        let first = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, 10, t0()).await.unwrap();
        let ids: Vec<&str> = first.iter().map(|c| c.message_id.as_str()).collect();
        assert_eq!(ids, ["a1", "b1", "x1"], "a2 waits for a1; keys are per shop");
        for done in &first[1..] {
            assert!(store.complete(done.id, &done.lease_token, t0(), attempt("delivered", t0())).await.unwrap());
        }
        let a1 = &first[0];
        assert!(claim_ids(store, "w2", t0() + Duration::seconds(10)).await.is_empty(), "a2 waits while a1 is leased");
        // Retrying a1 keeps a2 behind it.
        store.retry(a1.id, &a1.lease_token, t0() + Duration::minutes(1), attempt("retry", t0())).await.unwrap();
        assert!(claim_ids(store, "w2", t0()).await.is_empty());
        let a1 = store.claim(shiphold_storage::Topic::Erp, "w2", LEASE, 10, t0() + Duration::minutes(1)).await.unwrap();
        assert_eq!(a1.iter().map(|c| c.message_id.as_str()).collect::<Vec<_>>(), ["a1"]);
        store.complete(a1[0].id, &a1[0].lease_token, t0(), attempt("delivered", t0())).await.unwrap();
        let a2 = store.claim(shiphold_storage::Topic::Erp, "w2", LEASE, 10, t0() + Duration::minutes(1)).await.unwrap();
        assert_eq!(a2.iter().map(|c| c.message_id.as_str()).collect::<Vec<_>>(), ["a2"]);
        // A dead letter no longer holds its key back.
        enqueue(store, &shop, "A", "a3", t0()).await;
        store.dead_letter(a2[0].id, &a2[0].lease_token, attempt("dead", t0())).await.unwrap();
        assert_eq!(claim_ids(store, "w2", t0() + Duration::minutes(1)).await, ["a3"]);
    }

    async fn concurrent_claimers_never_get_the_same_entry(db: TestDb) {
        let store = db.store.clone();
        let shop = new_shop(&store, "s1").await;
        const KEYS: usize = 30;
        const PER_KEY: usize = 4;
        let s = shop.clone();
        store
            .write(move |tx| {
                for n in 0..PER_KEY {
                    for k in 0..KEYS {
                        tx.enqueue(&NewOutboxEntry {
                            shop_id: s.clone(),
                            topic: shiphold_storage::Topic::Erp,
                            ordering_key: format!("order-{k}"),
                            message_id: format!("m-{k}-{n}"),
                            payload: serde_json::json!({"k": k, "n": n}),
                            available_at: t0(),
                        })?;
                    }
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let total = KEYS * PER_KEY;
        let mut workers = Vec::new();
        for w in 0..6 {
            let store = store.clone();
            workers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                let mut idle = 0;
                let start = std::time::Instant::now();
                while idle < 20 && start.elapsed() < StdDuration::from_secs(60) {
                    let claimed = store.claim(shiphold_storage::Topic::Erp, &format!("w{w}"), LEASE, 7, t0()).await.unwrap();
                    if claimed.is_empty() {
                        idle += 1;
                        tokio::time::sleep(StdDuration::from_millis(10)).await;
                        continue;
                    }
                    idle = 0;
                    for entry in claimed {
                        let done = store
                            .complete(entry.id, &entry.lease_token, t0(), attempt("delivered", t0()))
                            .await
                            .unwrap();
                        assert!(done, "a fresh claim's token is valid");
                        mine.push(entry.message_id);
                    }
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.unwrap());
        }
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), all.len(), "no entry was handed to two claimers");
        assert_eq!(all.len(), total, "every entry was delivered");
        // Within each key, delivery followed creation order.
        for k in 0..KEYS {
            let order: Vec<&String> = all.iter().filter(|m| m.starts_with(&format!("m-{k}-"))).collect();
            assert_eq!(order.len(), PER_KEY);
        }
    }
}

/// The claim's plan and its batch.
mod claim {
    use super::*;

    backend_tests! {
            async fn the_claim_walks_only_due_entries_and_probes_each_key_once(db: TestDb) {
                // A backlog as after an outage: many entries with keys of their own, some keys with a
                // long line, a delivered history in front. The plan is read before any statistics
                // exist (a fresh database, as on the event day), and must not depend on them: the
                // claim reads candidates from `outbox_claimable` in the order they fell due and asks
                // `outbox_open_key` once per candidate, with no scan, sort or join over the backlog.
                let store = &db.store;
                let shop = new_shop(store, "s1").await;
                let entries: Vec<NewOutboxEntry> = (0..3_000)
                    .map(|i| NewOutboxEntry {
                        shop_id: shop.clone(),
                        topic: shiphold_storage::Topic::Erp,
                        ordering_key: if i % 3 == 0 { "long-line".into() } else { format!("o{i}") },
                        message_id: format!("msg_{i}"),
                        payload: serde_json::json!({"n": i}),
                        available_at: t0(),
                    })
                    .collect();
                store
                    .write(move |tx| {
                        for entry in &entries {
                            tx.enqueue(entry)?;
                        }
                        Ok::<_, StoreError>(())
                    })
                    .await
                    .unwrap();
                let claimed = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, 500, t0()).await.unwrap();
                for entry in &claimed {
                    assert!(store.complete(entry.id, &entry.lease_token, t0(), attempt("delivered", t0())).await.unwrap());
                }
                // With a shop left out (its deliveries are all running) as well.
                let busy = vec![shop.clone(), shop_id("s2")];
                let plan = store
                    .read(move |tx| {
                        let mut plan = tx.explain_claim(shiphold_storage::Topic::Erp, t0(), &[])?;
                        plan.extend(tx.explain_claim(shiphold_storage::Topic::Erp, t0(), &busy)?);
                        Ok::<_, StoreError>(plan)
                    })
                    .await
                    .unwrap();
                let text = plan.join("\n");
                assert!(text.contains("outbox_claimable"), "candidates by the claimable index:\n{text}");
                assert!(text.contains("outbox_open_key"), "the head of each key by its index:\n{text}");
                // (PostgreSQL joins the at most `limit` claimed ids back to their rows by primary key.)
                for costly in ["SCAN", "TEMP B-TREE", "Seq Scan", "Sort", "Hash Join", "Anti Join", "Merge Join", "Bitmap"] {
                    assert!(!text.contains(costly), "no {costly} in the claim:\n{text}");
                }
            }

            async fn one_claim_leases_its_batch_with_one_token_in_creation_order(db: TestDb) {
                let store = &db.store;
                let shop = new_shop(store, "s1").await;
                let mut ids = Vec::new();
                for (key, message) in [("o1", "msg_1"), ("o2", "msg_2"), ("o1", "msg_3"), ("o3", "msg_4")] {
                    ids.push(enqueue(store, &shop, key, message, t0()).await);
                }
                let claimed = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, 10, t0()).await.unwrap();
                let messages: Vec<&str> = claimed.iter().map(|c| c.message_id.as_str()).collect();
                assert_eq!(messages, ["msg_1", "msg_2", "msg_4"], "msg_3 waits behind msg_1 of its key");
                let tokens: HashSet<&str> = claimed.iter().map(|c| c.lease_token.as_str()).collect();
                assert_eq!(tokens.len(), 1, "one lease token for the batch");
                assert!(claimed.iter().all(|c| c.attempts == 1));
                // The shared token proves the claim of each entry, and only with its own id.
                assert!(store.complete(ids[1], &claimed[1].lease_token, t0(), attempt("delivered", t0())).await.unwrap());
                assert!(!store.complete(ids[2], &claimed[0].lease_token, t0(), attempt("delivered", t0())).await.unwrap(), "msg_3 was not claimed");
                // An entry that fell due earlier goes first, whatever its id.
                let late = enqueue(store, &shop, "o9", "msg_early", t0() - Duration::minutes(5)).await;
                assert!(late > ids[3]);
                let next = store.claim(shiphold_storage::Topic::Erp, "w2", LEASE, 1, t0() + Duration::hours(1)).await.unwrap();
                assert_eq!(next.iter().map(|c| c.message_id.as_str()).collect::<Vec<_>>(), ["msg_early"]);
            }
                async fn a_shop_with_every_slot_it_may_have_is_passed_over(db: TestDb) {
                let store = &db.store;
                let slow = new_shop(store, "slow").await;
                let other = new_shop(store, "other").await;
                for i in 0..100 {
                    enqueue(store, &slow, &format!("o{i}"), &format!("slow_{i}"), t0()).await;
                }
                enqueue(store, &other, "o1", "other_1", t0() + Duration::seconds(1)).await;
                let at = t0() + Duration::seconds(2);
                let limits = |in_flight: Vec<(ShopId, u32)>| ClaimLimits {
                    total: 8,
                    per_shop: 2,
                    in_flight: in_flight.into_iter().collect(),
                };
                // Nothing running: the slow shop's backlog comes first, two of it at most.
                let first = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, limits(vec![]), at).await.unwrap();
                assert_eq!(first.iter().map(|c| c.message_id.as_str()).collect::<Vec<_>>(), ["slow_0", "slow_1"]);
                // Its two still running: the claim passes its backlog over and finds the other shop.
                let second = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, limits(vec![(slow.clone(), 2)]), at).await.unwrap();
                assert_eq!(second.iter().map(|c| c.message_id.as_str()).collect::<Vec<_>>(), ["other_1"]);
                // One of them done: one more of the slow shop, no more.
                let third = store.claim(shiphold_storage::Topic::Erp, "w1", LEASE, limits(vec![(slow.clone(), 1), (other.clone(), 1)]), at).await.unwrap();
                assert_eq!(third.iter().map(|c| c.message_id.as_str()).collect::<Vec<_>>(), ["slow_2"]);
            }
    }
}
