//! Connecting, migrations, transactions, shops and API keys, settings with the audit trail,
//! event windows, messages, and rows that cannot be read back.

use chrono::{Duration, TimeZone};
use diesel::{Connection, RunQueryDsl};
use shiphold_domain::{
    AdvancedSettings, ApiKeyId, BuyerId, ErpLink, EventWindow, EventWindowId, Flag,
    InterceptionSettings, MarketplaceLink, MarketplaceSignMethod, MemoText, OrderId, QimenLink,
    TermsAcceptance, parse_time_zone,
};
use shiphold_storage::{
    ApiKeyRecord, AuditRecord, Backend, MessageRecord, Page, SettingsRecord, ShopRecord, Store,
    StoreError, StoreOptions,
};

use crate::backend_tests;
use crate::support::{new_shop, order, save_order, shop_id, sub, t0};

fn key(shop: &shiphold_domain::ShopId, id: &str, hash: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: ApiKeyId::parse(id).unwrap(),
        shop_id: shop.clone(),
        label: format!("key {id}"),
        roles: vec!["admin".into(), "agent".into()],
        secret_hash: hash.into(),
        created_at: t0(),
        revoked_at: None,
    }
}

fn window(id: &str, day: u32) -> EventWindow {
    let tz = parse_time_zone("Asia/Shanghai").unwrap();
    EventWindow {
        id: EventWindowId::parse(id).unwrap(),
        name: format!("Event {day}"),
        refunds_off_from: tz
            .with_ymd_and_hms(2026, 11, day, 0, 0, 0)
            .unwrap()
            .to_utc(),
        refunds_off_until: tz
            .with_ymd_and_hms(2026, 11, day + 1, 0, 0, 0)
            .unwrap()
            .to_utc(),
        time_zone: tz,
        refunds_reopen_at: tz
            .with_ymd_and_hms(2026, 11, day + 1, 0, 0, 0)
            .unwrap()
            .to_utc(),
    }
}

backend_tests! {
    async fn migrations_are_idempotent(db: TestDb) {
        // Every migration of the backend, in order, on the first run.
        let folder = if db.url.starts_with("sqlite") { "sqlite" } else { "postgres" };
        let shipped = std::fs::read_dir(format!("{}/migrations/{folder}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .count();
        assert_eq!(db.applied.len(), shipped, "first run applies the schema: {:?}", db.applied);
        assert!(db.applied[0].contains("initial"));
        assert!(db.applied.iter().any(|m| m.contains("erp_secret_previous")), "{:?}", db.applied);
        assert!(db.store.migrate().await.unwrap().is_empty(), "second run applies nothing");
        // A second store on the same database (another replica) sees it migrated too.
        let other = Store::connect(&db.url, StoreOptions::default()).await.unwrap();
        assert!(other.migrate().await.unwrap().is_empty());
        other.ping().await.unwrap();
        let expected = if db.url.starts_with("sqlite") { Backend::Sqlite } else { Backend::Postgres };
        assert_eq!(db.store.backend(), expected);
        assert_eq!(other.backend().as_str(), expected.as_str());
    }

    async fn a_failed_unit_of_work_leaves_nothing_behind(db: TestDb) {
        let store = &db.store;
        let result: Result<(), StoreError> = store
            .write(|tx| {
                tx.insert_shop(&ShopRecord { id: shop_id("s1"), name: "S".into(), created_at: t0() })?;
                Err(StoreError::Conflict("the decision said no".into()))
            })
            .await;
        assert!(matches!(result, Err(StoreError::Conflict(_))));
        let found = store.read(|tx| tx.shop(&shop_id("s1"))).await.unwrap();
        assert_eq!(found, None);
        // The connection went back to the pool in a usable state.
        new_shop(store, "s1").await;
        assert!(store.read(|tx| tx.shop(&shop_id("s1"))).await.unwrap().is_some());
    }

    async fn shops_and_api_keys_round_trip(db: TestDb) {
        let store = &db.store;
        let s1 = new_shop(store, "s1").await;
        let s2 = new_shop(store, "s2").await;
        let shop = store.read(move |tx| tx.shop(&shop_id("s1"))).await.unwrap().unwrap();
        assert_eq!((shop.id.as_str(), shop.name.as_str(), shop.created_at), ("s1", "Shop s1", t0()));
        let again = store
            .write(|tx| tx.insert_shop(&ShopRecord { id: shop_id("s1"), name: "x".into(), created_at: t0() }))
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

        let k1 = key(&s1, "key_1", "hash-1");
        let k2 = key(&s1, "key_2", "hash-2");
        let (a, b) = (k1.clone(), k2.clone());
        store.write(move |tx| { tx.insert_api_key(&a)?; tx.insert_api_key(&b) }).await.unwrap();
        let found = store.read(|tx| tx.api_key_by_hash("hash-2")).await.unwrap();
        assert_eq!(found.as_ref(), Some(&k2));
        assert_eq!(store.read(|tx| tx.api_key_by_hash("nope")).await.unwrap(), None);
        let dup = key(&s2, "key_3", "hash-1");
        let dup = store.write(move |tx| tx.insert_api_key(&dup)).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "secret hashes are unique: {dup:?}");

        let (s1c, s2c) = (s1.clone(), s2.clone());
        let (mine, theirs) = store
            .read(move |tx| Ok::<_, StoreError>((tx.api_keys(&s1c)?, tx.api_keys(&s2c)?)))
            .await
            .unwrap();
        assert_eq!(mine, vec![k1.clone(), k2.clone()]);
        assert!(theirs.is_empty());

        let s1c = s1.clone();
        let s2c = s2.clone();
        let (first, second, foreign) = store
            .write(move |tx| {
                let id = ApiKeyId::parse("key_1").unwrap();
                Ok::<_, StoreError>((
                    tx.revoke_api_key(&s1c, &id, t0() + Duration::minutes(1))?,
                    tx.revoke_api_key(&s1c, &id, t0() + Duration::minutes(2))?,
                    tx.revoke_api_key(&s2c, &ApiKeyId::parse("key_2").unwrap(), t0())?,
                ))
            })
            .await
            .unwrap();
        assert_eq!((first, second, foreign), (true, true, false));
        let revoked = store.read(|tx| tx.api_key_by_hash("hash-1")).await.unwrap().unwrap();
        assert_eq!(revoked.revoked_at, Some(t0() + Duration::minutes(1)), "the first revocation stays");
        let other = store.read(|tx| tx.api_key_by_hash("hash-2")).await.unwrap().unwrap();
        assert_eq!(other.revoked_at, None, "another shop cannot revoke it");
    }

    async fn settings_are_versioned_and_the_audit_trail_pages(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let s = shop.clone();
        let initial = store.read(move |tx| tx.settings(&s)).await.unwrap();
        assert_eq!(initial, SettingsRecord::default());

        let mut next = initial.clone();
        next.settings = InterceptionSettings {
            memo_text: Some(MemoText::parse("拦截发货,请勿发货").unwrap()),
            flag: Flag::Red,
            terms: Some(TermsAcceptance {
                version: shiphold_domain::TERMS_VERSION.into(),
                accepted_by: "admin".into(),
                accepted_at: t0(),
            }),
            enabled: true,
            advanced: AdvancedSettings {
                erp: Some(ErpLink {
                    endpoint: "https://erp.example/hook".into(),
                    locking: true,
                    active: true,
                    disabled_reason: None,
                }),
                marketplace: Some(MarketplaceLink {
                    gateway: "https://gw.api.taobao.com/router/rest".into(),
                    app_key: "12345678".into(),
                    sign_method: MarketplaceSignMethod::Md5,
                    active: true,
                    disabled_reason: None,
                }),
                qimen: Some(QimenLink {
                    endpoint: "https://qimen.api.taobao.com/router/qimen/service".into(),
                    app_key: "23456789".into(),
                    customer_id: "c1".into(),
                    warehouse_code: "WH-1".into(),
                    owner_code: None,
                    order_type: QimenLink::DEFAULT_ORDER_TYPE.into(),
                    active: true,
                    disabled_reason: None,
                }),
                test_mode: true,
                test_buyers: vec![BuyerId::parse("b9").unwrap()],
                ..AdvancedSettings::default()
            },
        };
        next.erp_secret = Some("whsec_abc".into());
        next.marketplace_secret = Some("app-secret".into());
        next.marketplace_session = Some("seller-session".into());
        next.qimen_secret = Some("qimen-secret".into());
        next.marketplace_webhook_secret = Some("whsec_def".into());
        next.templates = serde_json::json!({"ack": {"en": "hi {items}"}});
        let (s, n) = (shop.clone(), next.clone());
        let saved = store
            .write(move |tx| {
                tx.settings_for_update(&s)?;
                tx.save_settings(&s, &n, t0())
            })
            .await
            .unwrap();
        assert_eq!((saved.version, saved.updated_at), (1, Some(t0())));
        let s = shop.clone();
        let loaded = store.read(move |tx| tx.settings(&s)).await.unwrap();
        assert_eq!(loaded, saved);
        assert_eq!(loaded.settings, next.settings);

        // A save based on a stale read is refused and changes nothing.
        let (s, stale) = (shop.clone(), next.clone());
        let conflict = store.write(move |tx| tx.save_settings(&s, &stale, t0())).await;
        assert!(matches!(conflict, Err(StoreError::Conflict(_))), "{conflict:?}");
        let (s, fresh) = (shop.clone(), loaded.clone());
        let second = store.write(move |tx| tx.save_settings(&s, &fresh, t0())).await.unwrap();
        assert_eq!(second.version, 2);
        let missing = store.write(|tx| tx.settings_for_update(&shop_id("nope"))).await;
        assert!(matches!(missing, Err(StoreError::NotFound)));

        // Five audit entries, read newest first two at a time.
        for i in 0..5 {
            let entry = AuditRecord {
                id: 0,
                shop_id: shop.clone(),
                at: t0() + Duration::seconds(i),
                actor: "key_1".into(),
                action: "settings.memo".into(),
                target: "s1".into(),
                before: serde_json::json!({"n": i}),
                after: serde_json::json!({"n": i + 1}),
            };
            store.write(move |tx| tx.insert_audit(&entry)).await.unwrap();
        }
        let other = new_shop(store, "s2").await;
        let foreign = AuditRecord {
            id: 0, shop_id: other, at: t0(), actor: "x".into(), action: "y".into(),
            target: "z".into(), before: serde_json::Value::Null, after: serde_json::Value::Null,
        };
        store.write(move |tx| tx.insert_audit(&foreign)).await.unwrap();
        let mut page = Page::first(2);
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let (s, p) = (shop.clone(), page.clone());
            let got = store.read(move |tx| tx.audit(&s, &p)).await.unwrap();
            pages += 1;
            seen.extend(got.items.iter().map(|e| e.before["n"].as_i64().unwrap()));
            match got.next {
                Some(next) => page = Page::after(next, 2),
                None => break,
            }
        }
        assert_eq!(seen, vec![4, 3, 2, 1, 0]);
        assert_eq!(pages, 3);
        let s = shop.clone();
        let bad = store.read(move |tx| tx.audit(&s, &Page::after("not-a-cursor", 2))).await;
        assert!(matches!(bad, Err(StoreError::InvalidCursor(_))), "{bad:?}");
    }

    async fn event_windows_round_trip(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let (w11, w18) = (window("evw_11", 11), window("evw_18", 18));
        let (s, a, b) = (shop.clone(), w18.clone(), w11.clone());
        store.write(move |tx| { tx.upsert_window(&s, &a)?; tx.upsert_window(&s, &b) }).await.unwrap();
        let s = shop.clone();
        assert_eq!(store.read(move |tx| tx.windows(&s)).await.unwrap(), vec![w11.clone(), w18.clone()]);

        let mut renamed = w11.clone();
        renamed.name = "Double 11".into();
        renamed.time_zone = parse_time_zone("Europe/Berlin").unwrap();
        let (s, r) = (shop.clone(), renamed.clone());
        store.write(move |tx| tx.upsert_window(&s, &r)).await.unwrap();
        let s = shop.clone();
        let got = store.read(move |tx| tx.window(&s, &EventWindowId::parse("evw_11").unwrap())).await.unwrap();
        assert_eq!(got, Some(renamed));

        let other = new_shop(store, "s2").await;
        let s = shop.clone();
        let (deleted, again, foreign) = store
            .write(move |tx| {
                let id = EventWindowId::parse("evw_18").unwrap();
                Ok::<_, StoreError>((
                    tx.delete_window(&other, &id)?,
                    tx.delete_window(&s, &id)?,
                    tx.delete_window(&s, &id)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!((deleted, again, foreign), (false, true, false));
        let s = shop.clone();
        assert_eq!(store.read(move |tx| tx.windows(&s)).await.unwrap().len(), 1);
    }

    async fn messages_keep_their_delivery_status(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let message = |id: &str, buyer: &str, at| MessageRecord {
            id: id.into(),
            shop_id: shop.clone(),
            order_id: OrderId::parse("o1").unwrap(),
            buyer_id: BuyerId::parse(buyer).unwrap(),
            interception_id: None,
            kind: "acknowledgement".into(),
            locale: "zh-CN".into(),
            channel: shiphold_storage::MessageChannel::Inbox,
            text: "亲,11.11当天无法申请退款".into(),
            link: Some("https://shop.example/c/abc".into()),
            status: shiphold_storage::MessageStatus::Pending,
            created_at: at,
            delivered_at: None,
            last_error: None,
        };
        let (m1, m2, m3) = (
            message("m1", "b1", t0()),
            message("m2", "b1", t0() + Duration::seconds(1)),
            message("m3", "b2", t0() + Duration::seconds(2)),
        );
        let (a, b, c) = (m1.clone(), m2.clone(), m3.clone());
        store.write(move |tx| { tx.insert_message(&a)?; tx.insert_message(&b)?; tx.insert_message(&c) }).await.unwrap();
        let dup = m1.clone();
        assert!(matches!(store.write(move |tx| tx.insert_message(&dup)).await, Err(StoreError::Conflict(_))));
        let s = shop.clone();
        let delivered = store
            .write(move |tx| tx.set_message_status(&s, "m1", shiphold_storage::MessageStatus::Delivered, Some(t0() + Duration::seconds(5)), None))
            .await
            .unwrap();
        assert!(delivered);
        let s = shop.clone();
        let missing = store.write(move |tx| tx.set_message_status(&s, "nope", shiphold_storage::MessageStatus::Dead, None, Some("x"))).await.unwrap();
        assert!(!missing);
        let s = shop.clone();
        let (all, buyer) = store
            .read(move |tx| {
                let order = OrderId::parse("o1").unwrap();
                Ok::<_, StoreError>((
                    tx.messages_for_order(&s, &order)?,
                    tx.messages_for_buyer(&s, &order, &BuyerId::parse("b1").unwrap())?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(all.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m1", "m2", "m3"]);
        assert_eq!(buyer.len(), 2);
        assert_eq!(buyer[0].status, shiphold_storage::MessageStatus::Delivered);
        assert_eq!(buyer[0].delivered_at, Some(t0() + Duration::seconds(5)));
        assert_eq!(buyer[1], m2);
    }

    async fn a_row_that_cannot_be_parsed_is_reported_corrupt(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        save_order(store, &shop, &order("o1", vec![sub("s1", 1)])).await;
        // Tamper with the row behind the store's back.
        let url = db.url.clone();
        tokio::task::spawn_blocking(move || {
            let sql = "UPDATE orders SET seller_flag = 'magenta'";
            if let Some(path) = url.strip_prefix("sqlite://") {
                let mut c = diesel::SqliteConnection::establish(path).unwrap();
                diesel::sql_query(sql).execute(&mut c).unwrap();
            } else {
                let mut c = diesel::PgConnection::establish(&url).unwrap();
                diesel::sql_query(sql).execute(&mut c).unwrap();
            }
        })
        .await
        .unwrap();
        let got = store.read(move |tx| tx.order(&shop, &OrderId::parse("o1").unwrap())).await;
        match got {
            Err(StoreError::Corrupt(why)) => assert!(why.contains("seller_flag"), "{why}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}
