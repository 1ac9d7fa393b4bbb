//! Idempotency records and the inbound webhook replay guard.

use std::time::Duration as StdDuration;

use chrono::Duration;
use shiphold_storage::{IdemBegin, ShopRecord, StoreError};

use crate::backend_tests;
use crate::support::{StoreExt, new_shop, shop_id, t0};

const LOCK: StdDuration = StdDuration::from_secs(10);

backend_tests! {
    async fn idempotency_keys_answer_new_in_flight_mismatch_done_and_take_over(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let begin = |key: &'static str, hash: &'static str, at| {
            let shop = shop.clone();
            async move { store.idempotency_begin(&shop, key, "POST /interceptions", hash, at, LOCK).await.unwrap() }
        };
        assert_eq!(begin("k1", "h1", t0()).await, IdemBegin::New);
        assert_eq!(begin("k1", "h1", t0()).await, IdemBegin::InFlight);
        assert_eq!(begin("k1", "h2", t0()).await, IdemBegin::Mismatch);
        // The same key on another route or shop is another record.
        let other = store.idempotency_begin(&shop, "k1", "POST /cards", "h1", t0(), LOCK).await.unwrap();
        assert_eq!(other, IdemBegin::New);
        let s2 = new_shop(store, "s2").await;
        assert_eq!(store.idempotency_begin(&s2, "k1", "POST /interceptions", "h1", t0(), LOCK).await.unwrap(), IdemBegin::New);

        assert!(store.idempotency_finish(&shop, "k1", "POST /interceptions", 201, b"{\"id\":1}".to_vec(), Some("application/json".into())).await.unwrap());
        let done = IdemBegin::Done { status: 201, body: b"{\"id\":1}".to_vec(), content_type: Some("application/json".into()) };
        assert_eq!(begin("k1", "h1", t0() + Duration::hours(1)).await, done);
        assert_eq!(begin("k1", "h2", t0()).await, IdemBegin::Mismatch);
        assert!(!store.idempotency_abandon(&shop, "k1", "POST /interceptions").await.unwrap(), "a finished record stays");

        // An abandoned attempt is deleted so a retry runs.
        assert_eq!(begin("k2", "h1", t0()).await, IdemBegin::New);
        assert!(store.idempotency_abandon(&shop, "k2", "POST /interceptions").await.unwrap());
        assert_eq!(begin("k2", "h1", t0()).await, IdemBegin::New);
        // An attempt whose lock ran out (its process died) is taken over, once.
        assert_eq!(begin("k2", "h1", t0() + Duration::seconds(9)).await, IdemBegin::InFlight);
        assert_eq!(begin("k2", "h1", t0() + Duration::seconds(11)).await, IdemBegin::New);
        assert_eq!(begin("k2", "h1", t0() + Duration::seconds(12)).await, IdemBegin::InFlight);

        // k1 on two routes of s1, k1 of s2, and k2.
        assert_eq!(store.purge_idempotency(t0() + Duration::seconds(1)).await.unwrap(), 4);
        assert_eq!(begin("k1", "h2", t0() + Duration::days(2)).await, IdemBegin::New, "purged keys are forgotten");
    }

    async fn concurrent_duplicates_see_one_new_request(db: TestDb) {
        let store = db.store.clone();
        let shop = new_shop(&store, "s1").await;
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let (store, shop) = (store.clone(), shop.clone());
            tasks.push(tokio::spawn(async move {
                store.idempotency_begin(&shop, "k", "POST /x", "h", t0(), LOCK).await.unwrap()
            }));
        }
        let mut new = 0;
        for task in tasks {
            match task.await.unwrap() {
                IdemBegin::New => new += 1,
                IdemBegin::InFlight => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(new, 1);
    }

    async fn webhook_ids_are_remembered_once_per_shop(db: TestDb) {
        let store = &db.store;
        let s1 = new_shop(store, "s1").await;
        let s2 = new_shop(store, "s2").await;
        assert!(store.remember_webhook(&s1, "msg_1", t0()).await.unwrap());
        assert!(!store.remember_webhook(&s1, "msg_1", t0()).await.unwrap(), "a replay");
        assert!(store.remember_webhook(&s2, "msg_1", t0()).await.unwrap(), "another shop's id");
        // A replay inside a larger unit of work does not spoil the rest of it (PostgreSQL
        // aborts a transaction on a failed statement unless it was in a savepoint).
        let s = s1.clone();
        let fresh = store
            .write(move |tx| {
                let seen = tx.remember_webhook(&s, "msg_1", t0())?;
                tx.insert_shop(&ShopRecord { id: shop_id("s3"), name: "S3".into(), created_at: t0() })?;
                Ok::<_, StoreError>(seen)
            })
            .await
            .unwrap();
        assert!(!fresh);
        assert!(store.read(|tx| tx.shop(&shop_id("s3"))).await.unwrap().is_some());
        assert_eq!(store.purge_webhooks(t0() + Duration::seconds(1)).await.unwrap(), 2);
        assert!(store.remember_webhook(&s1, "msg_1", t0() + Duration::days(2)).await.unwrap());
    }
}
