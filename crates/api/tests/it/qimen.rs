//! The Qimen warehouse link: interceptions hold the order's document at a Qimen WMS and the
//! warehouse's answer locks or fails every item; the release restores it. Against the WMS
//! simulator on 127.0.0.1 (which checks every signature), on every backend.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shiphold_qimen_adapter::sim::{SimConfig, SimHandle, Simulator};
use shiphold_qimen_adapter::{Action, Credentials, Secret};

use crate::on_every_backend;
use crate::support::{TestApp, fast, wait_for};

const ORDER: &str = "TB-5001";
const WAREHOUSE: &str = "WH-HZ-01";
const APP_KEY: &str = "23456789";
const SECRET: &str = "the-qimen-secret";
const CUSTOMER: &str = "stub-cust-code";

async fn simulator() -> SimHandle {
    let credentials = Credentials::new(APP_KEY, Secret::new(SECRET).unwrap(), CUSTOMER).unwrap();
    Simulator::start(SimConfig::new(credentials).with_document(WAREHOUSE, ORDER))
        .await
        .unwrap()
}

async fn link(app: &TestApp, key: &str, sim: &SimHandle, secret: Option<&str>) -> Value {
    let mut body = json!({"endpoint": sim.url(), "app_key": APP_KEY, "customer_id": CUSTOMER,
                          "warehouse_code": WAREHOUSE, "owner_code": "OWNER-1"});
    if let Some(secret) = secret {
        body["app_secret"] = secret.into();
    }
    let (s, b) = app
        .call(Method::PUT, "/v1/settings/qimen", key, Some(body))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

/// A card for the order; its token.
async fn card(app: &TestApp, key: &str) -> String {
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/orders/{ORDER}/cards"),
            key,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["link"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

/// The buyer chooses `items` on a card of the order.
async fn intercept(app: &TestApp, key: &str, items: &[&str]) -> String {
    let token = card(app, key).await;
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/buyer/cards/{token}/interceptions"),
            "",
            Some(json!({"sub_order_ids": items})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["id"].as_str().unwrap().to_owned()
}

async fn release(app: &TestApp, key: &str, id: &str) {
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/interceptions/{id}/release"),
            key,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

async fn interception(app: &TestApp, key: &str, id: &str) -> Value {
    let (s, b) = app
        .call(Method::GET, &format!("/v1/interceptions/{id}"), key, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

async fn states(app: &TestApp, key: &str, id: &str) -> Vec<String> {
    interception(app, key, id).await["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["state"].as_str().unwrap().to_owned())
        .collect()
}

fn actions(sim: &SimHandle) -> Vec<Action> {
    sim.calls()
        .iter()
        .filter(|c| c.verified)
        .filter_map(|c| c.request.as_ref().map(|r| r.action))
        .collect()
}

async fn shop_with_order(app: &TestApp) -> (String, String) {
    let (shop, key) = app.ready_shop().await;
    app.order(
        &key,
        ORDER,
        "buyer",
        &[("s1", "awaiting_shipment"), ("s2", "awaiting_shipment")],
    )
    .await;
    (shop, key)
}

#[tokio::test]
async fn a_hold_locks_the_items_and_the_document_is_restored_when_nothing_is_intercepted() {
    on_every_backend!(fast, |app| {
        let sim = simulator().await;
        let (_, key) = shop_with_order(&app).await;
        link(&app, &key, &sim, Some(SECRET)).await;
        // Only s1 is intercepted, but the warehouse holds the whole document.
        let first = intercept(&app, &key, &["s1"]).await;
        wait_for("s1 locked", || async {
            states(&app, &key, &first).await == ["locked"]
        })
        .await;
        assert!(sim.is_held(WAREHOUSE, ORDER));
        let held = interception(&app, &key, &first).await;
        let history = held["lines"][0]["history"].to_string();
        assert!(
            history.contains("qimen"),
            "the warehouse is named: {history}"
        );
        let call = sim.calls().into_iter().find(|c| c.verified).unwrap();
        let request = call.request.unwrap();
        assert_eq!(
            (
                request.owner_code.as_deref(),
                request.order_type.as_ref().map(|t| t.code().to_owned())
            ),
            (Some("OWNER-1"), Some("JYCK".to_owned()))
        );
        assert!(request.reason.unwrap().contains("[s1]"));
        // Locked by the warehouse: the buyer hears "stopped" (no ERP is linked).
        let (_, messages) = app
            .call(
                Method::GET,
                &format!("/v1/orders/{ORDER}/messages"),
                &key,
                None,
            )
            .await;
        assert!(messages.to_string().contains("lock_success"), "{messages}");

        // A second interception holds the held document again; releasing the first leaves it
        // held, because s2 is still intercepted.
        let second = intercept(&app, &key, &["s2"]).await;
        wait_for("s2 locked", || async {
            states(&app, &key, &second).await == ["locked"]
        })
        .await;
        release(&app, &key, &first).await;
        release(&app, &key, &second).await;
        wait_for("the document restored", || async {
            !sim.is_held(WAREHOUSE, ORDER)
        })
        .await;
        assert_eq!(
            actions(&sim),
            [Action::Pending, Action::Pending, Action::Restore],
            "one restore, after the last release"
        );
        let document = sim.document(WAREHOUSE, ORDER).unwrap();
        assert_eq!(
            document.changes, 2,
            "held once, released once: {document:?}"
        );
        sim.shutdown().await;
    });
}

#[tokio::test]
async fn a_refused_hold_fails_every_item_with_the_warehouses_message() {
    on_every_backend!(fast, |app| {
        let sim = simulator().await;
        sim.ship(WAREHOUSE, ORDER);
        let (_, key) = shop_with_order(&app).await;
        link(&app, &key, &sim, Some(SECRET)).await;
        let id = intercept(&app, &key, &["s1", "s2"]).await;
        wait_for("lock_failed", || async {
            states(&app, &key, &id).await == ["lock_failed", "lock_failed"]
        })
        .await;
        let shown = interception(&app, &key, &id).await.to_string();
        assert!(shown.contains("已出库"), "the warehouse's words: {shown}");
        sim.shutdown().await;
    });
}

#[tokio::test]
async fn a_refused_signature_switches_the_link_off_and_relinking_sends_what_waited() {
    on_every_backend!(fast, |app| {
        let sim = simulator().await;
        let (_, key) = shop_with_order(&app).await;
        link(&app, &key, &sim, Some("not-the-secret")).await;
        let id = intercept(&app, &key, &["s1"]).await;
        wait_for("the link switched off", || async {
            let (_, settings) = app.call(Method::GET, "/v1/settings", &key, None).await;
            let shown = &settings["advanced"]["qimen"];
            shown["active"] == false && shown["waiting_calls"] == 1
        })
        .await;
        let (_, settings) = app.call(Method::GET, "/v1/settings", &key, None).await;
        let shown = &settings["advanced"]["qimen"];
        assert!(
            shown["disabled_reason"]
                .as_str()
                .unwrap()
                .contains("sign-check-failure"),
            "{shown}"
        );
        assert_eq!(states(&app, &key, &id).await, ["requested"]);
        assert!(!sim.is_held(WAREHOUSE, ORDER));
        // The right secret: the held call goes out and the item is locked.
        link(&app, &key, &sim, Some(SECRET)).await;
        wait_for("locked", || async {
            states(&app, &key, &id).await == ["locked"]
        })
        .await;
        assert!(sim.is_held(WAREHOUSE, ORDER));
        sim.shutdown().await;
    });
}

#[tokio::test]
async fn the_qimen_secret_is_never_shown_and_the_card_says_the_whole_parcel_is_held() {
    on_every_backend!(|_| {}, |app| {
        let sim = simulator().await;
        let (_, key) = shop_with_order(&app).await;
        // The first link needs the secret; a query string in the endpoint is refused.
        let (s, b) = app
            .call(
                Method::PUT,
                "/v1/settings/qimen",
                &key,
                Some(
                    json!({"endpoint": sim.url(), "app_key": APP_KEY, "customer_id": CUSTOMER,
                            "warehouse_code": WAREHOUSE}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["errors"][0]["field"], "app_secret", "{b}");
        let (s, b) = app
            .call(
                Method::PUT,
                "/v1/settings/qimen",
                &key,
                Some(
                    json!({"endpoint": format!("{}?method=x", sim.url()), "app_key": APP_KEY,
                            "app_secret": SECRET, "customer_id": CUSTOMER,
                            "warehouse_code": WAREHOUSE}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(
            b["type"]
                .as_str()
                .unwrap()
                .ends_with("endpoint-not-allowed"),
            "{b}"
        );

        let linked = link(&app, &key, &sim, Some(SECRET)).await;
        let shown = &linked["advanced"]["qimen"];
        assert_eq!(
            (shown["app_secret"].as_str(), shown["order_type"].as_str()),
            (Some("***"), Some("JYCK"))
        );
        // Changed without the secret: the stored one stays.
        let relinked = link(&app, &key, &sim, None).await;
        assert_eq!(relinked["advanced"]["qimen"]["app_secret"], "***");
        let (_, audit) = app.call(Method::GET, "/v1/audit", &key, None).await;
        assert!(!audit.to_string().contains(SECRET), "{audit}");
        assert!(audit.to_string().contains("settings.qimen"), "{audit}");

        let token = card(&app, &key).await;
        let (s, card) = app
            .call(Method::GET, &format!("/v1/buyer/cards/{token}"), "", None)
            .await;
        assert_eq!(s, StatusCode::OK, "{card}");
        assert_eq!(card["whole_parcel"], true, "{card}");

        let (s, b) = app
            .call(Method::DELETE, "/v1/settings/qimen", &key, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(b["advanced"]["qimen"].is_null(), "{b}");
        sim.shutdown().await;
    });
}

#[tokio::test]
async fn the_document_is_restored_when_intake_refunds_the_last_intercepted_item() {
    on_every_backend!(fast, |app| {
        let sim = simulator().await;
        let (_, key) = shop_with_order(&app).await;
        link(&app, &key, &sim, Some(SECRET)).await;
        let id = intercept(&app, &key, &["s1"]).await;
        wait_for("s1 locked", || async {
            states(&app, &key, &id).await == ["locked"]
        })
        .await;
        // The buyer got a refund for s1 once refunds reopened: nothing of the order is
        // intercepted any more, so s2 may ship and the warehouse lets the parcel go.
        let (s, b) = app
            .call(
                Method::PUT,
                &format!("/v1/orders/{ORDER}"),
                &key,
                Some(json!({"buyer_id": "buyer", "version": 2, "sub_orders": [
                    {"id": "s1", "item_id": "sku-s1", "title": "Item s1", "quantity": 1,
                     "amount": 1999, "shipping_status": "refunded"},
                    {"id": "s2", "item_id": "sku-s2", "title": "Item s2", "quantity": 1,
                     "amount": 1999, "shipping_status": "awaiting_shipment"}]})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        wait_for("the document restored", || async {
            !sim.is_held(WAREHOUSE, ORDER)
        })
        .await;
        assert_eq!(actions(&sim), [Action::Pending, Action::Restore]);
        sim.shutdown().await;
    });
}
