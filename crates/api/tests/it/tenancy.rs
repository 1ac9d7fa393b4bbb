//! Every route called with shop A's key on shop B's objects answers 404, exactly as if they
//! did not exist; shop-wide routes show A nothing of B. The table must name every route.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shiphold_api::{Auth, route_table};

use crate::on_every_backend;

enum Case {
    /// B's object at this path: A gets 404.
    Object(String, Option<Value>),
    /// A route about the caller's own shop: A's answer must not mention B's objects.
    ShopWide(String, Option<Value>),
    /// A write into the caller's own namespace under the same name as B's object: it makes
    /// A's own object and leaves B's alone. Run last, so it cannot hide the other cases.
    OwnNamespace(String, Value),
}

#[tokio::test]
async fn shop_a_cannot_reach_shop_b() {
    on_every_backend!(|_| {}, |app| {
        let (_, key_a) = app.ready_shop().await;
        let (shop_b, key_b) = app.ready_shop().await;
        app.order(
            &key_b,
            "B-ORDER",
            "buyer-b",
            &[("s1", "awaiting_shipment"), ("s2", "awaiting_shipment")],
        )
        .await;
        let (_, card) = app
            .call(Method::POST, "/v1/orders/B-ORDER/cards", &key_b, None)
            .await;
        let card_id = card["id"].as_str().expect("card").to_owned();
        let (_, icp) = app
            .call(
                Method::POST,
                "/v1/orders/B-ORDER/interceptions",
                &key_b,
                None,
            )
            .await;
        let icp_id = icp["id"].as_str().expect("interception").to_owned();
        let (_, windows) = app
            .call(Method::GET, "/v1/event-windows", &key_b, None)
            .await;
        let window_id = windows["items"][0]["id"]
            .as_str()
            .expect("window")
            .to_owned();
        let (_, keys) = app.call(Method::GET, "/v1/api-keys", &key_b, None).await;
        let key_id = keys["items"][0]["id"].as_str().expect("key").to_owned();
        let (_, invited) = app
            .call(
                Method::POST,
                "/v1/staff",
                &key_b,
                Some(json!({"login": "b.agent@shop-b.example", "name": "B's agent", "role": "agent"})),
            )
            .await;
        let staff_id = invited["staff"]["id"].as_str().expect("staff").to_owned();
        let window_body = json!({"name": "x", "refunds_off_from": "2030-01-01T00:00:00Z", "refunds_off_until": "2030-01-02T00:00:00Z", "time_zone": "UTC", "refunds_reopen_at": "2030-01-02T00:00:00Z"});

        let mut cases: BTreeMap<(&str, &str), Case> = BTreeMap::new();
        let mut add = |m, p, c| {
            cases.insert((m, p), c);
        };
        use Case::*;
        add("GET", "/v1/settings", ShopWide("/v1/settings".into(), None));
        add(
            "PUT",
            "/v1/settings/memo",
            ShopWide(
                "/v1/settings/memo".into(),
                Some(json!({"memo_text": "A's memo", "accept_terms": true})),
            ),
        );
        add(
            "POST",
            "/v1/settings/enable",
            ShopWide("/v1/settings/enable".into(), None),
        );
        add(
            "POST",
            "/v1/settings/disable",
            ShopWide("/v1/settings/disable".into(), None),
        );
        add(
            "PUT",
            "/v1/settings/advanced",
            ShopWide(
                "/v1/settings/advanced".into(),
                Some(json!({"test_mode": false})),
            ),
        );
        add(
            "PUT",
            "/v1/settings/erp",
            ShopWide(
                "/v1/settings/erp".into(),
                Some(json!({"endpoint": "https://erp.example.com/hook"})),
            ),
        );
        add(
            "DELETE",
            "/v1/settings/erp",
            ShopWide("/v1/settings/erp".into(), None),
        );
        add(
            "PUT",
            "/v1/settings/marketplace",
            ShopWide(
                "/v1/settings/marketplace".into(),
                Some(json!({"app_key": "12345678", "app_secret": "s", "session": "t"})),
            ),
        );
        add(
            "DELETE",
            "/v1/settings/marketplace",
            ShopWide("/v1/settings/marketplace".into(), None),
        );
        add(
            "PUT",
            "/v1/settings/marketplace-webhook",
            ShopWide(
                "/v1/settings/marketplace-webhook".into(),
                Some(json!({"endpoint": "https://shop.example.com/memo"})),
            ),
        );
        add(
            "DELETE",
            "/v1/settings/marketplace-webhook",
            ShopWide("/v1/settings/marketplace-webhook".into(), None),
        );
        add(
            "PUT",
            "/v1/settings/qimen",
            ShopWide(
                "/v1/settings/qimen".into(),
                Some(
                    json!({"endpoint": "https://qimen.example.com/service", "app_key": "k",
                            "app_secret": "s", "customer_id": "c", "warehouse_code": "w"}),
                ),
            ),
        );
        add(
            "DELETE",
            "/v1/settings/qimen",
            ShopWide("/v1/settings/qimen".into(), None),
        );
        add(
            "POST",
            "/v1/settings/erp/rotate-secret",
            ShopWide("/v1/settings/erp/rotate-secret".into(), None),
        );
        add(
            "DELETE",
            "/v1/settings/erp/previous-secret",
            ShopWide("/v1/settings/erp/previous-secret".into(), None),
        );
        add(
            "PUT",
            "/v1/settings/templates/{kind}/{locale}",
            ShopWide(
                "/v1/settings/templates/acknowledgement/en".into(),
                Some(json!({"text": "Got it {items}"})),
            ),
        );
        add(
            "DELETE",
            "/v1/settings/templates/{kind}/{locale}",
            ShopWide("/v1/settings/templates/acknowledgement/en".into(), None),
        );
        add("GET", "/v1/audit", ShopWide("/v1/audit".into(), None));
        add("GET", "/v1/api-keys", ShopWide("/v1/api-keys".into(), None));
        add(
            "POST",
            "/v1/api-keys",
            ShopWide(
                "/v1/api-keys".into(),
                Some(json!({"label": "a", "roles": ["agent"]})),
            ),
        );
        add(
            "DELETE",
            "/v1/api-keys/{key_id}",
            Object(format!("/v1/api-keys/{key_id}"), None),
        );
        add("GET", "/v1/staff", ShopWide("/v1/staff".into(), None));
        add(
            "POST",
            "/v1/staff",
            ShopWide(
                "/v1/staff".into(),
                Some(
                    json!({"login": "a.agent@shop-a.example", "name": "A's agent", "role": "agent"}),
                ),
            ),
        );
        add(
            "POST",
            "/v1/staff/{staff_id}/invitation",
            Object(format!("/v1/staff/{staff_id}/invitation"), None),
        );
        add(
            "DELETE",
            "/v1/staff/{staff_id}",
            Object(format!("/v1/staff/{staff_id}"), None),
        );
        add(
            "GET",
            "/v1/event-windows",
            ShopWide("/v1/event-windows".into(), None),
        );
        add(
            "POST",
            "/v1/event-windows",
            ShopWide("/v1/event-windows".into(), Some(window_body.clone())),
        );
        add(
            "GET",
            "/v1/event-windows/{window_id}",
            Object(format!("/v1/event-windows/{window_id}"), None),
        );
        add(
            "PUT",
            "/v1/event-windows/{window_id}",
            Object(format!("/v1/event-windows/{window_id}"), Some(window_body)),
        );
        add(
            "DELETE",
            "/v1/event-windows/{window_id}",
            Object(format!("/v1/event-windows/{window_id}"), None),
        );
        add("GET", "/v1/orders", ShopWide("/v1/orders".into(), None));
        add(
            "GET",
            "/v1/orders/{order_id}",
            Object("/v1/orders/B-ORDER".into(), None),
        );
        add(
            "PUT",
            "/v1/orders/{order_id}",
            OwnNamespace(
                "/v1/orders/B-ORDER".into(),
                json!({"buyer_id": "buyer-a", "version": 9, "sub_orders": [{"id": "s1", "item_id": "x", "title": "A's item", "quantity": 1, "amount": 1, "shipping_status": "shipped"}]}),
            ),
        );
        add(
            "GET",
            "/v1/orders/{order_id}/messages",
            Object("/v1/orders/B-ORDER/messages".into(), None),
        );
        add(
            "POST",
            "/v1/orders/{order_id}/cards",
            Object("/v1/orders/B-ORDER/cards".into(), None),
        );
        add(
            "POST",
            "/v1/orders/{order_id}/interceptions",
            Object("/v1/orders/B-ORDER/interceptions".into(), None),
        );
        add(
            "GET",
            "/v1/cards/{card_id}",
            Object(format!("/v1/cards/{card_id}"), None),
        );
        add(
            "POST",
            "/v1/cards/{card_id}/revoke",
            Object(format!("/v1/cards/{card_id}/revoke"), None),
        );
        add(
            "GET",
            "/v1/interceptions",
            ShopWide("/v1/interceptions".into(), None),
        );
        add(
            "GET",
            "/v1/interceptions/{interception_id}",
            Object(format!("/v1/interceptions/{icp_id}"), None),
        );
        add(
            "POST",
            "/v1/interceptions/{interception_id}/release",
            Object(format!("/v1/interceptions/{icp_id}/release"), None),
        );
        add("GET", "/v1/risk", ShopWide("/v1/risk".into(), None));
        add(
            "GET",
            "/v1/erp/dead-letters",
            ShopWide("/v1/erp/dead-letters".into(), None),
        );
        add(
            "POST",
            "/v1/erp/dead-letters/{entry_id}/redrive",
            Object("/v1/erp/dead-letters/1/redrive".into(), None),
        );
        add(
            "GET",
            "/v1/erp/dead-letters/{entry_id}",
            Object("/v1/erp/dead-letters/1".into(), None),
        );

        // The order in B must be unchanged whatever A did; capture it to compare afterwards.
        let (_, before) = app
            .call(Method::GET, "/v1/orders/B-ORDER", &key_b, None)
            .await;

        let mut last = Vec::new();
        let routes = route_table();
        for route in routes.iter().filter(|r| r.auth == Auth::Key) {
            let case = cases
                .remove(&(route.method, route.path.as_str()))
                .unwrap_or_else(|| {
                    panic!(
                        "no tenancy case for {} {}: add one to this table",
                        route.method, route.path
                    )
                });
            let method = Method::from_bytes(route.method.as_bytes()).unwrap();
            match case {
                Object(path, body) => {
                    let (s, b) = app.call(method, &path, &key_a, body).await;
                    assert_eq!(
                        s,
                        StatusCode::NOT_FOUND,
                        "{} {path} answered {s}: {b}",
                        route.method
                    );
                    assert_eq!(b["type"], "/problems/not-found");
                }
                ShopWide(path, body) => {
                    let (s, b) = app.call(method, &path, &key_a, body).await;
                    assert!(s.as_u16() < 500, "{} {path}: {s} {b}", route.method);
                    let text = b.to_string();
                    for secret in [
                        "B-ORDER",
                        icp_id.as_str(),
                        card_id.as_str(),
                        window_id.as_str(),
                        key_id.as_str(),
                        staff_id.as_str(),
                        "b.agent@shop-b.example",
                        shop_b.as_str(),
                    ] {
                        assert!(
                            !text.contains(secret),
                            "{} {path} leaked {secret}: {text}",
                            route.method
                        );
                    }
                }
                OwnNamespace(path, body) => last.push((method, path, body)),
            }
        }
        for (method, path, body) in last {
            let (s, b) = app.call(method, &path, &key_a, Some(body)).await;
            assert_eq!(s, StatusCode::CREATED, "{path}: {b}");
            assert_eq!(b["buyer_id"], "buyer-a");
        }
        let (_, after) = app
            .call(Method::GET, "/v1/orders/B-ORDER", &key_b, None)
            .await;
        assert_eq!(before, after, "A's calls changed B's order");
        assert!(
            cases.is_empty(),
            "cases for routes that no longer exist: {:?}",
            cases.keys().collect::<Vec<_>>()
        );
    });
}
