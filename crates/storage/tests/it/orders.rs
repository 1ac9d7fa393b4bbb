//! Orders with sub-orders and memo state, and interception cards.

use chrono::Duration;
use shiphold_domain::{
    BuyerId, Card, CardExpiry, CardId, Flag, MemoState, OrderId, ShippingStatus,
};
use shiphold_storage::{OrderFilter, Page, StoreError};

use crate::backend_tests;
use crate::support::{new_shop, order, shop_id, sub, t0};

backend_tests! {
    async fn orders_are_saved_replaced_and_loaded_with_their_memo(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let mut first = order("o1", vec![sub("a", 1), sub("b", 2)]);
        first.memo = MemoState { note: Some("STOP [a]".into()), flag: Some(Flag::Red) };
        first.seller_flag = Flag::Blue;
        let (s, o) = (shop.clone(), first.clone());
        store.write(move |tx| tx.save_order(&s, &o, t0())).await.unwrap();
        let s = shop.clone();
        let loaded = store.read(move |tx| tx.order(&s, &OrderId::parse("o1").unwrap())).await.unwrap();
        assert_eq!(loaded.as_ref(), Some(&first));

        // A replacement keeps the new order of sub-orders and drops the missing one.
        let mut second = order("o1", vec![sub("c", 3), sub("b", 2)]);
        second.version = 2;
        second.sub_orders[1].shipping_status = ShippingStatus::Shipped;
        second.memo = MemoState::default();
        let (s, o) = (shop.clone(), second.clone());
        store.write(move |tx| tx.save_order(&s, &o, t0() + Duration::seconds(1))).await.unwrap();
        let s = shop.clone();
        let loaded = store.read(move |tx| tx.order_for_update(&s, &OrderId::parse("o1").unwrap())).await.unwrap();
        assert_eq!(loaded.as_ref(), Some(&second));

        let memo = MemoState { note: Some("STOP [c]".into()), flag: Some(Flag::Purple) };
        let (s, m) = (shop.clone(), memo.clone());
        let (set, missing) = store
            .write(move |tx| {
                Ok::<_, StoreError>((
                    tx.set_order_memo(&s, &OrderId::parse("o1").unwrap(), &m)?,
                    tx.set_order_memo(&s, &OrderId::parse("o9").unwrap(), &m)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!((set, missing), (true, false));
        let s = shop.clone();
        let loaded = store.read(move |tx| tx.order(&s, &OrderId::parse("o1").unwrap())).await.unwrap().unwrap();
        assert_eq!(loaded.memo, memo);
        assert_eq!(loaded.effective_flag(), Flag::Purple);

        // Another shop sees nothing.
        let other = new_shop(store, "s2").await;
        let got = store.read(move |tx| tx.order(&other, &OrderId::parse("o1").unwrap())).await.unwrap();
        assert_eq!(got, None);
    }

    async fn orders_list_by_buyer_and_time_in_pages(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        for i in 0..5 {
            let mut o = order(&format!("o{i}"), vec![sub("a", 1)]);
            if i == 4 {
                o.buyer_id = BuyerId::parse("b2").unwrap();
            }
            let s = shop.clone();
            store.write(move |tx| tx.save_order(&s, &o, t0() + Duration::seconds(i))).await.unwrap();
        }
        let mut ids = Vec::new();
        let mut page = Page::first(2);
        loop {
            let (s, p) = (shop.clone(), page.clone());
            let filter = OrderFilter { buyer_id: Some(BuyerId::parse("b1").unwrap()), ..Default::default() };
            let got = store.read(move |tx| tx.orders(&s, &filter, &p)).await.unwrap();
            ids.extend(got.items.iter().map(|o| o.id.to_string()));
            assert!(got.items.iter().all(|o| o.sub_orders.len() == 1));
            match got.next {
                Some(next) => page = Page::after(next, 2),
                None => break,
            }
        }
        assert_eq!(ids, ["o3", "o2", "o1", "o0"], "most recently saved first");
        let s = shop.clone();
        let recent = store
            .read(move |tx| {
                tx.orders(&s, &OrderFilter { updated_after: Some(t0() + Duration::seconds(2)), ..Default::default() }, &Page::default())
            })
            .await
            .unwrap();
        assert_eq!(recent.items.iter().map(|o| o.id.to_string()).collect::<Vec<_>>(), ["o4", "o3"]);
        assert_eq!(recent.next, None);
    }

    async fn cards_are_found_by_token_hash_and_revoked_once(db: TestDb) {
        let store = &db.store;
        let shop = new_shop(store, "s1").await;
        let card = |id: &str, minutes| {
            Card::new(
                CardId::parse(id).unwrap(),
                OrderId::parse("o1").unwrap(),
                BuyerId::parse("b1").unwrap(),
                t0() + Duration::minutes(minutes),
                CardExpiry::default(),
            )
        };
        let (c1, c2) = (card("crd_1", 0), card("crd_2", 1));
        let (s, a, b) = (shop.clone(), c1.clone(), c2.clone());
        store.write(move |tx| { tx.insert_card(&s, &a, "th-1")?; tx.insert_card(&s, &b, "th-2") }).await.unwrap();
        let (s, c) = (shop.clone(), card("crd_3", 2));
        let dup = store.write(move |tx| tx.insert_card(&s, &c, "th-1")).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "token hashes are unique: {dup:?}");

        let found = store.read(|tx| tx.card_by_token_hash("th-2")).await.unwrap();
        assert_eq!(found, Some((shop_id("s1"), c2.clone())));
        assert_eq!(store.read(|tx| tx.card_by_token_hash("th-x")).await.unwrap(), None);

        let s = shop.clone();
        let (first, second) = store
            .write(move |tx| {
                let id = CardId::parse("crd_1").unwrap();
                Ok::<_, StoreError>((
                    tx.revoke_card(&s, &id, t0() + Duration::minutes(5))?,
                    tx.revoke_card(&s, &id, t0() + Duration::minutes(9))?,
                ))
            })
            .await
            .unwrap();
        assert!(first && second);
        let s = shop.clone();
        let revoked = store.read(move |tx| tx.card(&s, &CardId::parse("crd_1").unwrap())).await.unwrap().unwrap();
        assert_eq!(revoked.revoked_at, Some(t0() + Duration::minutes(5)));
        let other = new_shop(store, "s2").await;
        let o = other.clone();
        let foreign = store.write(move |tx| tx.revoke_card(&o, &CardId::parse("crd_2").unwrap(), t0())).await.unwrap();
        assert!(!foreign);
        let s = shop.clone();
        let all = store.read(move |tx| tx.cards_for_order(&s, &OrderId::parse("o1").unwrap())).await.unwrap();
        assert_eq!(all.iter().map(|c| c.id.to_string()).collect::<Vec<_>>(), ["crd_1", "crd_2"]);
        assert_eq!(all[1], c2);
        let none = store.read(move |tx| tx.cards_for_order(&other, &OrderId::parse("o1").unwrap())).await.unwrap();
        assert!(none.is_empty());
    }
}
