//! Interception end to end: cards (method 1), direct interception (method 2), the rules,
//! memo and flag, idempotency, release, and buyer messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_every_backend;
use crate::support::{TestApp, event_time};

const ACK_ZH: &str = "亲,11.11当天无法申请退款,但我们已尝试拦截发货(可能拦截失败),请于11.12起尽快申请退款,如果需要继续发货,请及时联系我们!";
const ACK_EN: &str = "Refunds can't be requested on 11.11, but we have tried to stop the shipment (it may fail). Please request a refund from 11.12 as soon as possible. If you want the order shipped after all, contact us.";

fn token_of(link: &str) -> String {
    link.rsplit('/').next().unwrap_or_default().to_owned()
}

async fn card(app: &TestApp, key: &str, order: &str, locale: Option<&str>) -> String {
    let body = locale.map(|l| json!({"locale": l}));
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/orders/{order}/cards"),
            key,
            body,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let link = b["link"].as_str().unwrap();
    assert!(link.starts_with(&format!("{}/c/ct_", app.base)), "{link}");
    token_of(link)
}

async fn messages(app: &TestApp, key: &str, order: &str) -> Vec<Value> {
    let (s, b) = app
        .call(
            Method::GET,
            &format!("/v1/orders/{order}/messages"),
            key,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    b["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn method_1_buyer_picks_one_of_two_items() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        app.order(
            &key,
            "O-1",
            "buyer-1",
            &[("s1", "awaiting_shipment"), ("s2", "awaiting_shipment")],
        )
        .await;
        let token = card(&app, &key, "O-1", None).await;

        // The buyer opens the card: both items can be chosen.
        let (s, view) = app
            .call(Method::GET, &format!("/v1/buyer/cards/{token}"), "", None)
            .await;
        assert_eq!(s, StatusCode::OK, "{view}");
        assert_eq!(
            view["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["choosable"] == true)
                .count(),
            2
        );
        // The page behind the link is served.
        let page = app
            .http
            .get(app.url(&format!("/c/{token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("/v1/buyer/cards/"));

        let (s, icp) = app
            .call(
                Method::POST,
                &format!("/v1/buyer/cards/{token}/interceptions"),
                "",
                Some(json!({"sub_order_ids": ["s2"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{icp}");
        assert_eq!(icp["lines"].as_array().unwrap().len(), 1);
        assert_eq!(icp["lines"][0]["sub_order_id"], "s2");
        assert_eq!(icp["lines"][0]["state"], "requested");
        assert_eq!(icp["method"]["kind"], "card");

        let (_, order) = app.call(Method::GET, "/v1/orders/O-1", &key, None).await;
        assert_eq!(order["interception_note"], "拦截发货，请勿发出 [s2]");
        assert_eq!(order["seller_memo"], "拦截发货，请勿发出 [s2]");
        assert_eq!(order["flag"], "red");
        assert_eq!(order["sub_orders"][0]["interception_state"], Value::Null);
        assert_eq!(order["sub_orders"][1]["interception_state"], "requested");

        // Now s2 cannot be chosen again, and says why.
        let (_, view) = app
            .call(Method::GET, &format!("/v1/buyer/cards/{token}"), "", None)
            .await;
        assert_eq!(view["items"][1]["choosable"], false);
        assert_eq!(view["items"][1]["reason"], "already_intercepted");

        let kinds: Vec<_> = messages(&app, &key, "O-1")
            .await
            .iter()
            .map(|m| m["kind"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kinds, vec!["card", "acknowledgement"]);
    });
}

#[tokio::test]
async fn method_2_whole_order_and_per_item_refusals() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        app.order(
            &key,
            "O-2",
            "buyer-2",
            &[
                ("s1", "shipped"),
                ("s2", "awaiting_shipment"),
                ("s3", "refunded"),
            ],
        )
        .await;
        let (s, b) = app
            .call(Method::POST, "/v1/orders/O-2/interceptions", &key, None)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["method"]["kind"], "direct");
        assert_eq!(b["lines"].as_array().unwrap().len(), 1);
        let refused: Vec<_> = b["refused"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["sub_order_id"].as_str().unwrap().to_owned(),
                    r["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            refused,
            vec![
                ("s1".into(), "shipped".into()),
                ("s3".into(), "refunded".into())
            ]
        );

        // Nothing left: refused with a reason per item.
        let (s, b) = app
            .call(Method::POST, "/v1/orders/O-2/interceptions", &key, None)
            .await;
        assert_eq!(
            (s, b["type"].as_str()),
            (StatusCode::CONFLICT, Some("/problems/nothing-to-intercept"))
        );
        let reasons: Vec<_> = b["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["reason"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(reasons, vec!["shipped", "already_intercepted", "refunded"]);
        let (s, _) = app
            .call(Method::POST, "/v1/orders/NOPE/interceptions", &key, None)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    });
}

#[tokio::test]
async fn outside_the_window_only_test_buyers_of_a_test_shop() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        app.order(&key, "O-T", "tester", &[("s1", "awaiting_shipment")])
            .await;
        app.order(&key, "O-R", "real-buyer", &[("s1", "awaiting_shipment")])
            .await;
        app.clock.set(event_time() + chrono::Duration::days(3));
        for path in ["/v1/orders/O-R/cards", "/v1/orders/O-R/interceptions"] {
            let (s, b) = app.call(Method::POST, path, &key, None).await;
            assert_eq!(
                (s, b["type"].as_str()),
                (StatusCode::CONFLICT, Some("/problems/outside-event-window")),
                "{path}"
            );
        }
        let (s, _) = app
            .call(
                Method::PUT,
                "/v1/settings/advanced",
                &key,
                Some(json!({"test_mode": true, "test_buyers": ["tester"]})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, b) = app
            .call(Method::POST, "/v1/orders/O-R/cards", &key, None)
            .await;
        assert_eq!(
            s,
            StatusCode::CONFLICT,
            "a real buyer gets no card on an ordinary day: {b}"
        );
        assert!(b["detail"].as_str().unwrap().contains("test buyers"));
        let token = card(&app, &key, "O-T", None).await;
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/buyer/cards/{token}/interceptions"),
                "",
                Some(json!({"sub_order_ids": ["s1"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        // The acknowledgement quotes the shop's window even when sent in test mode.
        let ack = messages(&app, &key, "O-T")
            .await
            .into_iter()
            .find(|m| m["kind"] == "acknowledgement")
            .unwrap();
        assert_eq!(ack["text"], ACK_ZH);
    });
}

#[tokio::test]
async fn expired_and_revoked_cards_are_refused() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let (s, _) = app
            .call(
                Method::PUT,
                "/v1/settings/advanced",
                &key,
                Some(json!({"card_expiry_seconds": 300})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        app.order(&key, "O-3", "buyer-3", &[("s1", "awaiting_shipment")])
            .await;
        let expiring = card(&app, &key, "O-3", None).await;
        let revoked = card(&app, &key, "O-3", None).await;
        let (_, list) = app
            .call(Method::GET, "/v1/orders/O-3/messages", &key, None)
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 2);

        // Revoke the second card by its id.
        let (_, cards) = app
            .call(Method::GET, &format!("/v1/buyer/cards/{revoked}"), "", None)
            .await;
        assert_eq!(cards["order_id"], "O-3");
        let (s, b) = app
            .call(Method::POST, "/v1/orders/O-3/cards", &key, None)
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let third_id = b["id"].as_str().unwrap().to_owned();
        let third = token_of(b["link"].as_str().unwrap());
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/cards/{third_id}/revoke"),
                &key,
                None,
            )
            .await;
        assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("revoked")));
        let (s, b) = app
            .call(Method::GET, &format!("/v1/buyer/cards/{third}"), "", None)
            .await;
        assert_eq!(
            (s, b["type"].as_str()),
            (StatusCode::GONE, Some("/problems/card-revoked"))
        );
        let (s, _) = app
            .call(
                Method::POST,
                &format!("/v1/buyer/cards/{third}/interceptions"),
                "",
                Some(json!({})),
            )
            .await;
        assert_eq!(s, StatusCode::GONE);

        app.clock.advance(chrono::Duration::minutes(6));
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/buyer/cards/{expiring}/interceptions"),
                "",
                Some(json!({"sub_order_ids": ["s1"]})),
            )
            .await;
        assert_eq!(
            (s, b["type"].as_str()),
            (StatusCode::GONE, Some("/problems/card-expired"))
        );
        // An unknown or forged token is simply not found.
        let (s, _) = app
            .call(Method::GET, "/v1/buyer/cards/ct_forged", "", None)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    });
}

/// A buyer who submitted keeps a read-only status page after the card expires (so the later
/// "stopped" is not lost), for 30 days; nothing more can be submitted, and a card never
/// submitted is simply gone.
#[tokio::test]
async fn a_submitted_card_stays_readable_after_it_expires() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let (s, _) = app
            .call(
                Method::PUT,
                "/v1/settings/advanced",
                &key,
                Some(json!({"card_expiry_seconds": 300, "single_item_choice": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        app.order(
            &key,
            "O-4",
            "buyer-4",
            &[("s1", "awaiting_shipment"), ("s2", "awaiting_shipment")],
        )
        .await;
        let used = card(&app, &key, "O-4", None).await;
        let unused = card(&app, &key, "O-4", None).await;
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/buyer/cards/{used}/interceptions"),
                "",
                Some(json!({"sub_order_ids": ["s1"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (_, open) = app
            .call(Method::GET, &format!("/v1/buyer/cards/{used}"), "", None)
            .await;
        assert_eq!(open["status_only"], false);

        app.clock.advance(chrono::Duration::minutes(6));
        let (s, b) = app
            .call(Method::GET, &format!("/v1/buyer/cards/{used}"), "", None)
            .await;
        assert_eq!(
            (s, b["status_only"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{b}"
        );
        assert_eq!(
            b["interceptions"][0]["lines"][0]["sub_order_id"], "s1",
            "{b}"
        );
        assert!(!b["messages"].as_array().unwrap().is_empty(), "{b}");
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/buyer/cards/{used}/interceptions"),
                "",
                Some(json!({"sub_order_ids": ["s2"]})),
            )
            .await;
        assert_eq!(
            (s, b["type"].as_str()),
            (StatusCode::GONE, Some("/problems/card-expired"))
        );
        let (s, _) = app
            .call(Method::GET, &format!("/v1/buyer/cards/{unused}"), "", None)
            .await;
        assert_eq!(s, StatusCode::GONE, "a card never submitted is gone");

        app.clock.advance(chrono::Duration::days(30));
        let (s, _) = app
            .call(Method::GET, &format!("/v1/buyer/cards/{used}"), "", None)
            .await;
        assert_eq!(s, StatusCode::GONE, "kept 30 days, not for ever");
    });
}

#[tokio::test]
async fn release_restores_memo_and_flag_and_tells_the_erp() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let (s, b) = app
            .call(
                Method::PUT,
                "/v1/settings/erp",
                &key,
                Some(json!({"endpoint": "http://127.0.0.1:9/erp", "locking": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(
            b["signing_secret"].as_str().unwrap().starts_with("whsec_"),
            "the secret is shown once: {b}"
        );
        let (_, settings) = app.call(Method::GET, "/v1/settings", &key, None).await;
        assert_eq!(settings["advanced"]["erp"]["signing_secret"], "***");

        let (s, b) = app
            .call(Method::PUT, "/v1/orders/O-4", &key, Some(json!({"buyer_id": "b4", "version": 1, "seller_memo": "gift wrap", "seller_flag": "blue", "sub_orders": [
                {"id": "s1", "item_id": "i1", "title": "Mug", "quantity": 1, "amount": 100, "shipping_status": "awaiting_shipment"},
                {"id": "s2", "item_id": "i2", "title": "Tea", "quantity": 1, "amount": 100, "shipping_status": "awaiting_shipment"}]})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (_, icp) = app
            .call(Method::POST, "/v1/orders/O-4/interceptions", &key, None)
            .await;
        let id = icp["id"].as_str().unwrap().to_owned();
        let (_, order) = app.call(Method::GET, "/v1/orders/O-4", &key, None).await;
        assert_eq!(
            order["seller_memo"],
            "gift wrap\n拦截发货，请勿发出 [s1, s2]"
        );
        assert_eq!(order["flag"], "red");

        // A reason longer than 200 characters is refused, naming the field, and releases
        // nothing.
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/interceptions/{id}/release"),
                &key,
                Some(json!({"sub_order_ids": ["s1"], "reason": "x".repeat(201)})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["errors"][0]["field"], "reason");
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/interceptions/{id}/release"),
                &key,
                Some(json!({"sub_order_ids": ["s1"], "reason": "  买家改主意，要这个杯子  "})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        // The chosen item only; its history keeps the reason and who released it.
        let states: Vec<_> = b["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["sub_order_id"].as_str().unwrap(),
                    l["state"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(states, vec![("s1", "released"), ("s2", "requested")]);
        let released = b["lines"][0]["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["event"] == "released")
            .unwrap_or_else(|| panic!("no release in the history: {b}"));
        assert_eq!(released["detail"], "买家改主意，要这个杯子");
        assert!(
            released["by"].as_str().unwrap().starts_with("api_key:key_"),
            "{released}"
        );
        let (_, audit) = app.call(Method::GET, "/v1/audit", &key, None).await;
        assert!(
            audit.to_string().contains("买家改主意，要这个杯子"),
            "{audit}"
        );
        let (_, order) = app.call(Method::GET, "/v1/orders/O-4", &key, None).await;
        assert_eq!(order["seller_memo"], "gift wrap\n拦截发货，请勿发出 [s2]");
        assert_eq!(order["flag"], "red");

        let (s, _) = app
            .call(
                Method::POST,
                &format!("/v1/interceptions/{id}/release"),
                &key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (_, order) = app.call(Method::GET, "/v1/orders/O-4", &key, None).await;
        assert_eq!(order["seller_memo"], "gift wrap");
        assert_eq!(order["flag"], "blue", "the merchant's flag is back");
        assert_eq!(order["interception_note"], Value::Null);

        // Released lines are closed: releasing again is refused per item.
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/interceptions/{id}/release"),
                &key,
                Some(json!({"sub_order_ids": ["s1"]})),
            )
            .await;
        assert_eq!(
            (s, b["type"].as_str()),
            (StatusCode::CONFLICT, Some("/problems/invalid-transition"))
        );

        let (_, detail) = app
            .call(Method::GET, &format!("/v1/interceptions/{id}"), &key, None)
            .await;
        let history: Vec<_> = detail["lines"][0]["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["to"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(history, vec!["requested", "released"]);
        // One requested and two released messages wait for the ERP, in order.
        let counts = app
            .state
            .store()
            .outbox_counts(app.state.now().wall)
            .await
            .unwrap();
        let erp = counts
            .iter()
            .find(|c| c.topic == shiphold_storage::Topic::Erp)
            .unwrap();
        assert_eq!(erp.pending, 3);
        let kinds: Vec<_> = messages(&app, &key, "O-4")
            .await
            .iter()
            .map(|m| m["kind"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            kinds,
            vec!["acknowledgement", "release_notice", "release_notice"]
        );
    });
}

#[tokio::test]
async fn intake_answers_the_order_as_a_read_of_it_does() {
    // Intake answers from what it saved rather than reading the order back: the answer must be
    // what GET answers, for a new order, an update of an intercepted one, and one whose update
    // closes lines (and so rewrites the memo).
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let push = |version: u32, statuses: [&str; 3]| {
            json!({"buyer_id": "b9", "version": version, "seller_memo": "请尽快发货 (fragile)", "seller_flag": "blue",
                "sub_orders": [
                    {"id": "z1", "item_id": "sku-z1", "title": "茶 Tea", "quantity": 2, "amount": 1999, "shipping_status": statuses[0]},
                    {"id": "a2", "item_id": "sku-a2", "title": "Cup", "quantity": 1, "amount": 0, "shipping_status": statuses[1]},
                    {"id": "m3", "item_id": "sku-m3", "title": "Lid", "quantity": 7, "amount": 5, "shipping_status": statuses[2]}]})
        };
        let mut answers = Vec::new();
        for (version, statuses, status) in [
            (1, ["awaiting_shipment"; 3], StatusCode::CREATED),
            (2, ["awaiting_shipment"; 3], StatusCode::OK),
            (
                3,
                ["shipped", "awaiting_shipment", "refunded"],
                StatusCode::OK,
            ),
        ] {
            let (s, answer) = app
                .call(
                    Method::PUT,
                    "/v1/orders/O-9",
                    &key,
                    Some(push(version, statuses)),
                )
                .await;
            assert_eq!(s, status, "{answer}");
            let (_, read) = app.call(Method::GET, "/v1/orders/O-9", &key, None).await;
            assert_eq!(
                answer, read,
                "the answer to version {version} and a read of the order"
            );
            if version == 1 {
                let (s, b) = app
                    .call(Method::POST, "/v1/orders/O-9/interceptions", &key, None)
                    .await;
                assert_eq!(s, StatusCode::CREATED, "{b}");
            }
            answers.push(answer);
        }
        assert_ne!(
            answers[1]["interception_note"],
            Value::Null,
            "intercepted: the note is on"
        );
        assert_ne!(answers[1], answers[2], "closing lines changed the order");
        assert_eq!(
            answers[0]["sub_orders"][0]["id"], "z1",
            "items keep the pushed order"
        );
        assert_eq!(answers[0]["sub_orders"][2]["id"], "m3");
    });
}

#[tokio::test]
async fn intake_closes_lines_refunded_or_shipped_anyway() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        app.order(
            &key,
            "O-5",
            "b5",
            &[("s1", "awaiting_shipment"), ("s2", "awaiting_shipment")],
        )
        .await;
        let (_, icp) = app
            .call(Method::POST, "/v1/orders/O-5/interceptions", &key, None)
            .await;
        let id = icp["id"].as_str().unwrap().to_owned();
        let body = json!({"buyer_id": "b5", "version": 2, "sub_orders": [
            {"id": "s1", "item_id": "sku-s1", "title": "Item s1", "quantity": 1, "amount": 1999, "shipping_status": "refunded"},
            {"id": "s2", "item_id": "sku-s2", "title": "Item s2", "quantity": 1, "amount": 1999, "shipping_status": "shipped"}]});
        let (s, order) = app
            .call(Method::PUT, "/v1/orders/O-5", &key, Some(body))
            .await;
        assert_eq!(s, StatusCode::OK, "{order}");
        assert_eq!(order["sub_orders"][0]["interception_state"], "refunded");
        assert_eq!(
            order["sub_orders"][1]["interception_state"],
            "shipped_anyway"
        );
        assert_eq!(order["interception_note"], Value::Null);
        let (_, detail) = app
            .call(Method::GET, &format!("/v1/interceptions/{id}"), &key, None)
            .await;
        assert_eq!(detail["active"], false);
        let (_, list) = app
            .call(
                Method::GET,
                "/v1/interceptions?state=shipped_anyway",
                &key,
                None,
            )
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
    });
}

#[tokio::test]
async fn twenty_concurrent_submissions_make_one_interception() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let (s, _) = app
            .call(
                Method::PUT,
                "/v1/settings/erp",
                &key,
                Some(json!({"endpoint": "http://127.0.0.1:9/erp", "locking": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        app.order(
            &key,
            "O-6",
            "b6",
            &[("s1", "awaiting_shipment"), ("s2", "awaiting_shipment")],
        )
        .await;
        let token = card(&app, &key, "O-6", None).await;
        let url = app.url(&format!("/v1/buyer/cards/{token}/interceptions"));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (http, url) = (app.http.clone(), url.clone());
            tasks.spawn(async move {
                let r = http
                    .post(url)
                    .json(&json!({"sub_order_ids": ["s1", "s2"]}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body: Value = r.json().await.unwrap();
                (status, body["id"].as_str().unwrap_or_default().to_owned())
            });
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut created = 0;
        while let Some(result) = tasks.join_next().await {
            let (status, id) = result.unwrap();
            assert!(
                status == StatusCode::CREATED || status == StatusCode::OK,
                "{status}"
            );
            created += usize::from(status == StatusCode::CREATED);
            ids.insert(id);
        }
        assert_eq!(
            (created, ids.len()),
            (1, 1),
            "one interception, every answer names it"
        );
        let (_, list) = app
            .call(Method::GET, "/v1/interceptions?order_id=O-6", &key, None)
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let (_, order) = app.call(Method::GET, "/v1/orders/O-6", &key, None).await;
        assert_eq!(
            order["interception_note"]
                .as_str()
                .unwrap()
                .matches("拦截发货")
                .count(),
            1
        );
        let counts = app
            .state
            .store()
            .outbox_counts(app.state.now().wall)
            .await
            .unwrap();
        assert_eq!(
            counts
                .iter()
                .find(|c| c.topic == shiphold_storage::Topic::Erp)
                .map(|c| c.pending),
            Some(1)
        );
        let acks = messages(&app, &key, "O-6")
            .await
            .iter()
            .filter(|m| m["kind"] == "acknowledgement")
            .count();
        assert_eq!(acks, 1);
    });
}

#[tokio::test]
async fn idempotency_keys_replay_refuse_reuse_and_guard_in_flight() {
    on_every_backend!(|_| {}, |app| {
        let (shop, key) = app.ready_shop().await;
        app.order(&key, "O-7", "b7", &[("s1", "awaiting_shipment")])
            .await;
        let send = |k: &'static str, body: Value| {
            app.req(Method::POST, "/v1/orders/O-7/interceptions", &key)
                .header("idempotency-key", k)
                .json(&body)
                .send()
        };
        let first = send("k-1", json!({"locale": "en"})).await.unwrap();
        assert_eq!(first.status(), StatusCode::CREATED);
        let first: Value = first.json().await.unwrap();
        let again = send("k-1", json!({"locale": "en"})).await.unwrap();
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(
            again
                .headers()
                .get("idempotent-replayed")
                .map(|v| v.to_str().unwrap()),
            Some("true")
        );
        assert_eq!(again.json::<Value>().await.unwrap(), first);
        let other = send("k-1", json!({"locale": "zh-CN"})).await.unwrap();
        let (s, b) = crate::support::read(other).await;
        assert_eq!(
            (s, b["type"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("/problems/idempotency-key-reused")
            )
        );
        // A key whose first request is still running.
        let shop_id = shiphold_domain::ShopId::parse(&shop).unwrap();
        let now = app.state.now().wall;
        let key2 = key.clone();
        app.state
            .store()
            .write(move |tx| {
                // The scope and fingerprint the server computes for this key, route and body.
                use sha2::Digest;
                let scope = format!(
                    "POST /v1/orders/{{order_id}}/interceptions {}",
                    hex::encode(sha2::Sha256::digest(key2.as_bytes()))
                );
                let fingerprint = hex::encode(sha2::Sha256::digest(format!("{scope}\n{{}}")));
                tx.idempotency_begin(
                    &shop_id,
                    "k-busy",
                    &scope,
                    &fingerprint,
                    now,
                    Duration::from_secs(60),
                )
            })
            .await
            .unwrap();
        let (s, b) = crate::support::read(send("k-busy", json!({})).await.unwrap()).await;
        assert_eq!(
            (s, b["type"].as_str()),
            (
                StatusCode::CONFLICT,
                Some("/problems/idempotency-key-in-use")
            )
        );
        let acks = messages(&app, &key, "O-7").await.len();
        assert_eq!(acks, 1);
    });
}

#[tokio::test]
async fn acknowledgement_quotes_the_shops_dates_in_chinese_and_english() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        app.order(
            &key,
            "O-8",
            "b8",
            &[("s1", "awaiting_shipment"), ("s2", "awaiting_shipment")],
        )
        .await;
        let token = card(&app, &key, "O-8", Some("en")).await;
        let (s, _) = app
            .call(
                Method::POST,
                &format!("/v1/buyer/cards/{token}/interceptions"),
                "",
                Some(json!({"sub_order_ids": ["s1"], "locale": "en"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let r = app
            .http
            .post(app.url(&format!("/v1/buyer/cards/{token}/interceptions")))
            .header("accept-language", "zh-CN,zh;q=0.9")
            .json(&json!({"sub_order_ids": ["s2"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let acks: Vec<String> = messages(&app, &key, "O-8")
            .await
            .iter()
            .filter(|m| m["kind"] == "acknowledgement")
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(acks, vec![ACK_EN.to_owned(), ACK_ZH.to_owned()]);

        // Another event's dates come from its window, not from fixed text.
        let (other, other_key) = app.shop("June").await;
        let _ = other;
        app.call(
            Method::PUT,
            "/v1/settings/memo",
            &other_key,
            Some(json!({"memo_text": "stop", "accept_terms": true})),
        )
        .await;
        app.call(Method::POST, "/v1/settings/enable", &other_key, None)
            .await;
        let (s, _) = app.call(Method::POST, "/v1/event-windows", &other_key, Some(json!({"name": "618", "refunds_off_from": "2026-11-11T00:00:00+08:00", "refunds_off_until": "2026-11-13T00:00:00+08:00", "time_zone": "Asia/Shanghai", "refunds_reopen_at": "2026-11-14T09:00:00+08:00"}))).await;
        assert_eq!(s, StatusCode::CREATED);
        app.order(&other_key, "J-1", "b9", &[("s1", "awaiting_shipment")])
            .await;
        app.call(
            Method::POST,
            "/v1/orders/J-1/interceptions",
            &other_key,
            Some(json!({"locale": "en"})),
        )
        .await;
        let text = messages(&app, &other_key, "J-1").await[0]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(text, ACK_EN.replace("11.12", "11.14"));
    });
}

/// A chat gateway on loopback that refuses connections until started, then counts messages.
#[tokio::test]
async fn a_chat_gateway_that_was_down_gets_every_message() {
    let secret = shiphold_erp_adapter::Secret::generate();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let whsec = secret.to_whsec();
    on_every_backend!(
        |c| {
            c.run_jobs = true;
            c.chat_gateway = Some(shiphold_api::ChatGatewayConfig {
                url: format!("http://127.0.0.1:{port}/chat"),
                secret: whsec.clone(),
            });
            c.delivery.retry_schedule = vec![Duration::from_millis(50); 100];
        },
        |app| {
            let (_, key) = app.ready_shop().await;
            for n in 0..3 {
                app.order(
                    &key,
                    &format!("G-{n}"),
                    "gb",
                    &[("s1", "awaiting_shipment")],
                )
                .await;
                let (s, _) = app
                    .call(
                        Method::POST,
                        &format!("/v1/orders/G-{n}/interceptions"),
                        &key,
                        None,
                    )
                    .await;
                assert_eq!(s, StatusCode::CREATED);
            }
            // The gateway is down: messages wait, pending, and say how often and why they failed.
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let m = messages(&app, &key, "G-0").await;
                assert_eq!(m[0]["status"], "pending", "{m:?}");
                assert_eq!(m[0]["channel"], "chat_gateway");
                if m[0]["attempts"].as_i64().unwrap_or(0) >= 2 && m[0]["last_error"].is_string() {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "no attempts shown: {m:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }

            // It comes up; every message arrives, signed, none lost.
            let seen = Arc::new(AtomicUsize::new(0));
            let ids = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
            let (seen2, ids2, secret2) = (seen.clone(), ids.clone(), secret.clone());
            let gateway = axum::Router::new().route(
                "/chat",
                axum::routing::post(
                    move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                        let (seen, ids, secret) = (seen2.clone(), ids2.clone(), secret2.clone());
                        async move {
                            match shiphold_erp_adapter::verify_now(&headers, &body, &[secret]) {
                                Ok(req) => {
                                    seen.fetch_add(1, Ordering::SeqCst);
                                    ids.lock().unwrap().insert(req.webhook_id);
                                    StatusCode::OK
                                }
                                Err(_) => StatusCode::UNAUTHORIZED,
                            }
                        }
                    },
                ),
            );
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            let server = tokio::spawn(async move { axum::serve(listener, gateway).await });
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let statuses: Vec<String> = {
                    let mut all = Vec::new();
                    for n in 0..3 {
                        for m in messages(&app, &key, &format!("G-{n}")).await {
                            all.push(m["status"].as_str().unwrap().to_owned());
                        }
                    }
                    all
                };
                if statuses.iter().all(|s| s == "delivered") {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "not delivered: {statuses:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(ids.lock().unwrap().len(), 3);
            assert!(seen.load(Ordering::SeqCst) >= 3);
            server.abort();
            // The next backend's gateway starts down again.
            seen.store(0, Ordering::SeqCst);
        }
    );
}

#[tokio::test]
async fn an_empty_body_sent_as_json_means_no_options() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        app.order(&key, "O-9", "b9", &[("s1", "awaiting_shipment")])
            .await;
        // curl users often send the JSON content type on every request, body or not.
        let r = app
            .req(Method::POST, "/v1/orders/O-9/cards", &key)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = app
            .req(Method::POST, "/v1/orders/O-9/interceptions", &key)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        // A body that is there must still be JSON.
        let r = app
            .req(Method::POST, "/v1/orders/O-9/cards", &key)
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    });
}

#[tokio::test]
async fn buyers_are_reminded_once_when_refunds_reopen() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        app.order(&key, "R-1", "b1", &[("s1", "awaiting_shipment")])
            .await;
        app.order(&key, "R-2", "b2", &[("s1", "awaiting_shipment")])
            .await;
        for order in ["R-1", "R-2"] {
            let (s, _) = app
                .call(
                    Method::POST,
                    &format!("/v1/orders/{order}/interceptions"),
                    &key,
                    Some(json!({"locale": "en"})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED);
        }
        // R-2's refund arrives before refunds reopen: nothing to remind.
        let body = json!({"buyer_id": "b2", "version": 2, "sub_orders": [{"id": "s1", "item_id": "sku-s1", "title": "Item s1", "quantity": 1, "amount": 1999, "shipping_status": "refunded"}]});
        assert_eq!(
            app.call(Method::PUT, "/v1/orders/R-2", &key, Some(body))
                .await
                .0,
            StatusCode::OK
        );

        assert_eq!(
            shiphold_api::service::reminders::remind_refunds(&app.state)
                .await
                .unwrap(),
            0,
            "refunds are still off"
        );
        app.clock.set(event_time() + chrono::Duration::days(1));
        assert_eq!(
            shiphold_api::service::reminders::remind_refunds(&app.state)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            shiphold_api::service::reminders::remind_refunds(&app.state)
                .await
                .unwrap(),
            0,
            "once only"
        );
        let reminder = messages(&app, &key, "R-1")
            .await
            .into_iter()
            .find(|m| m["kind"] == "refund_reminder")
            .unwrap();
        assert_eq!(
            reminder["locale"], "en",
            "in the language the buyer was first told in"
        );
        assert!(
            reminder["text"].as_str().unwrap().contains("Item s1"),
            "{reminder}"
        );
        assert!(
            messages(&app, &key, "R-2")
                .await
                .iter()
                .all(|m| m["kind"] != "refund_reminder")
        );
    });
}

#[tokio::test]
async fn template_overrides_are_checked_when_saved_and_used() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let (s, b) = app
            .call(
                Method::PUT,
                "/v1/settings/templates/acknowledgement/en",
                &key,
                Some(json!({"text": "Hi {buyer_name}"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(
            b["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("buyer_name"),
            "{b}"
        );
        let (s, _) = app
            .call(
                Method::PUT,
                "/v1/settings/templates/klingon/en",
                &key,
                Some(json!({"text": "x"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let (s, b) = app.call(Method::PUT, "/v1/settings/templates/acknowledgement/en", &key, Some(json!({"text": "We are trying to stop {items}; refunds reopen on {reopen_day}."}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        app.order(&key, "T-1", "b1", &[("s1", "awaiting_shipment")])
            .await;
        app.call(
            Method::POST,
            "/v1/orders/T-1/interceptions",
            &key,
            Some(json!({"locale": "en"})),
        )
        .await;
        let text = messages(&app, &key, "T-1").await[0]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            text,
            "We are trying to stop Item s1; refunds reopen on 11.12."
        );
        // The Chinese default is untouched by an English override.
        app.order(&key, "T-2", "b2", &[("s1", "awaiting_shipment")])
            .await;
        app.call(Method::POST, "/v1/orders/T-2/interceptions", &key, None)
            .await;
        assert_eq!(messages(&app, &key, "T-2").await[0]["text"], ACK_ZH);
    });
}

/// With a chat gateway, what an interception tells the buyer goes out in order, but a card is a
/// message of its own: a card the gateway keeps refusing does not hold the acknowledgement back.
#[tokio::test]
async fn a_card_message_never_holds_the_acknowledgement_back() {
    on_every_backend!(
        |c| {
            c.chat_gateway = Some(shiphold_api::ChatGatewayConfig {
                url: "http://127.0.0.1:9/chat".into(),
                secret: shiphold_erp_adapter::Secret::generate().to_whsec(),
            });
        },
        |app| {
            let (_, key) = app.ready_shop().await;
            app.order(&key, "Q-1", "qb", &[("s1", "awaiting_shipment")])
                .await;
            card(&app, &key, "Q-1", None).await;
            let (s, b) = app
                .call(Method::POST, "/v1/orders/Q-1/interceptions", &key, None)
                .await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            let id = b["id"].as_str().unwrap().to_owned();
            let (s, _) = app
                .call(
                    Method::POST,
                    &format!("/v1/interceptions/{id}/release"),
                    &key,
                    None,
                )
                .await;
            assert_eq!(s, StatusCode::OK);
            // Card, acknowledgement and release notice are queued; the card and the
            // acknowledgement may go now, the release notice only after the acknowledgement.
            let claimed = app
                .state
                .store()
                .claim(
                    shiphold_storage::Topic::Chat,
                    "test",
                    Duration::from_secs(30),
                    10,
                    chrono::Utc::now(),
                )
                .await
                .unwrap();
            let kinds: Vec<String> = claimed
                .iter()
                .map(|e| {
                    e.payload["message"]["kind"]
                        .as_str()
                        .unwrap_or("?")
                        .to_owned()
                })
                .collect();
            assert_eq!(kinds.len(), 2, "{kinds:?}");
            assert!(kinds.contains(&"card".to_owned()), "{kinds:?}");
            assert!(kinds.contains(&"acknowledgement".to_owned()), "{kinds:?}");
        }
    );
}

/// In test mode before any event window exists, messages quote today and tomorrow as the
/// marketplace's days (China Standard Time), not UTC's.
#[tokio::test]
async fn without_any_window_the_dates_are_the_marketplaces_days() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.shop("No Window").await;
        for (method, path, body) in [
            (
                Method::PUT,
                "/v1/settings/memo",
                Some(json!({"memo_text": "stop", "accept_terms": true})),
            ),
            (Method::POST, "/v1/settings/enable", None),
            (
                Method::PUT,
                "/v1/settings/advanced",
                Some(json!({"test_mode": true, "test_buyers": ["tester"]})),
            ),
        ] {
            let (s, b) = app.call(method, path, &key, body).await;
            assert_eq!(s, StatusCode::OK, "{path}: {b}");
        }
        // 20:00 UTC on 11 November is already 04:00 on 12 November in Shanghai.
        app.clock.set(
            chrono::DateTime::parse_from_rfc3339("2026-11-11T20:00:00Z")
                .unwrap()
                .to_utc(),
        );
        app.order(&key, "T-1", "tester", &[("s1", "awaiting_shipment")])
            .await;
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/orders/T-1/interceptions",
                &key,
                Some(json!({"locale": "en"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let text = messages(&app, &key, "T-1").await[0]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            text.contains("on 11.12") && text.contains("from 11.13"),
            "{text}"
        );
    });
}

/// A push that is valid in itself but that the stored order refuses — another buyer, or an
/// intercepted item dropped — is a conflict (409), not invalid input, and changes nothing.
#[tokio::test]
async fn pushes_the_stored_order_refuses_are_conflicts() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        app.order(
            &key,
            "K-1",
            "b1",
            &[("s1", "awaiting_shipment"), ("s2", "awaiting_shipment")],
        )
        .await;
        let (s, _) = app
            .call(Method::POST, "/v1/orders/K-1/interceptions", &key, None)
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let push = |buyer: &str, subs: &[&str]| {
            let subs: Vec<Value> = subs
                .iter()
                .map(|id| json!({"id": id, "item_id": "sku", "title": "Item", "quantity": 1, "amount": 1, "shipping_status": "awaiting_shipment"}))
                .collect();
            json!({"buyer_id": buyer, "version": 2, "sub_orders": subs})
        };
        for (body, names) in [
            (push("b2", &["s1", "s2"]), "buyer_id"),
            (push("b1", &["s1"]), "s2"),
        ] {
            let (s, b) = app
                .call(Method::PUT, "/v1/orders/K-1", &key, Some(body))
                .await;
            assert_eq!(
                (s, b["type"].as_str()),
                (StatusCode::CONFLICT, Some("/problems/conflict")),
                "{b}"
            );
            assert!(b["detail"].as_str().unwrap().contains(names), "{b}");
        }
        let (_, order) = app.call(Method::GET, "/v1/orders/K-1", &key, None).await;
        assert_eq!(order["version"], 1, "{order}");
        assert_eq!(order["buyer_id"], "b1");
    });
}
