//! The marketplace link: memos and flags written back to the marketplace order through the
//! outbox, against the marketplace simulator on 127.0.0.1 (which checks every signature), on
//! every backend.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shiphold_marketplace_adapter::sim::{PATH, SimConfig, SimHandle, Simulator};
use shiphold_marketplace_adapter::{AppSecret, Flag};

use crate::on_every_backend;
use crate::support::{TestApp, fast, wait_for};

const TID: u64 = 4_012_345_678_901_234_567;
const ORDER: &str = "4012345678901234567";
const APP_KEY: &str = "12345678";
const SECRET: &str = "the-app-secret";
const SESSION: &str = "the-sellers-session";
/// The note ready_shop's memo text makes for sub-order s1.
const NOTE: &str = "拦截发货，请勿发出 [s1]";

async fn simulator() -> SimHandle {
    let config = SimConfig::new()
        .app(APP_KEY, AppSecret::new(SECRET).unwrap())
        .session(APP_KEY, SESSION)
        .order_with(TID, "gift wrap", None);
    Simulator::start(config).await.unwrap()
}

fn gateway(sim: &SimHandle) -> String {
    format!("http://{}{PATH}", sim.addr())
}

async fn link(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, "/v1/settings/marketplace", key, Some(body))
        .await
}

async fn link_sim(app: &TestApp, key: &str, sim: &SimHandle, secret: &str) {
    let (s, b) = link(
        app,
        key,
        json!({"gateway": gateway(sim), "app_key": APP_KEY, "app_secret": secret,
               "session": SESSION, "sign_method": "md5"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// Pushes the order with the merchant's memo `memo` and one item awaiting shipment.
async fn push(app: &TestApp, key: &str, version: i64, memo: &str) -> Value {
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/v1/orders/{ORDER}"),
            key,
            Some(
                json!({"buyer_id": "buyer", "version": version, "seller_memo": memo,
                        "sub_orders": [{"id": "s1", "item_id": "sku-1", "title": "Item 1",
                                        "quantity": 1, "amount": 1999,
                                        "shipping_status": "awaiting_shipment"}]}),
            ),
        )
        .await;
    assert!(s == StatusCode::CREATED || s == StatusCode::OK, "{s} {b}");
    b
}

async fn intercept(app: &TestApp, key: &str) -> String {
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/orders/{ORDER}/interceptions"),
            key,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["id"].as_str().unwrap().to_owned()
}

async fn write_back(app: &TestApp, key: &str, order: &str) -> Value {
    let (s, b) = app
        .call(Method::GET, &format!("/v1/orders/{order}"), key, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["marketplace_write_back"].clone()
}

async fn wait_for_state(app: &TestApp, key: &str, order: &str, state: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let last = write_back(app, key, order).await;
        if last["state"] == state {
            return last;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for write-back {state}; last {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_interception_writes_memo_and_flag_back_once_and_a_release_restores_them() {
    on_every_backend!(fast, |app| {
        let sim = simulator().await;
        let (_, key) = app.ready_shop().await;
        link_sim(&app, &key, &sim, SECRET).await;
        push(&app, &key, 1, "gift wrap").await;
        assert!(
            write_back(&app, &key, ORDER).await.is_null(),
            "intake alone writes nothing"
        );
        // The platform fails twice: the write is tried again, and applied once.
        sim.fail_next_with_isp(2);
        let id = intercept(&app, &key).await;
        let wb = wait_for_state(&app, &key, ORDER, "written").await;
        let written = sim.order(TID).unwrap();
        assert_eq!(written.memo, format!("gift wrap\n{NOTE}"));
        assert_eq!(written.flag, Some(Flag::Red));
        assert_eq!(written.writes, 1, "retries included, written once");
        assert_eq!(wb["attempts"], 3, "{wb}");
        assert_eq!(wb["memo"], format!("gift wrap\n{NOTE}"));
        assert_eq!(wb["flag"], 1);

        // The merchant's next push carries the written memo back: it stays the merchant's
        // memo, the note is not doubled, and nothing new is written.
        let pushed = push(&app, &key, 2, &format!("gift wrap\n{NOTE}")).await;
        assert_eq!(
            pushed["seller_memo"],
            format!("gift wrap\n{NOTE}"),
            "{pushed}"
        );
        assert_eq!(pushed["marketplace_write_back"]["state"], "written");

        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/interceptions/{id}/release"),
                &key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        wait_for("the memo restored", || async {
            sim.order(TID).unwrap().writes == 2
        })
        .await;
        let restored = sim.order(TID).unwrap();
        assert_eq!(restored.memo, "gift wrap");
        assert_eq!(restored.flag, Some(Flag::Grey), "the merchant had no flag");
        let wb = wait_for_state(&app, &key, ORDER, "written").await;
        assert_eq!(
            (wb["memo"].as_str(), wb["attempts"].as_i64()),
            (Some("gift wrap"), Some(1))
        );
        assert_eq!(sim.applied_writes(), 2, "exactly one write per change");
        sim.shutdown().await;
    });
}

#[tokio::test]
async fn refused_credentials_switch_the_link_off_and_relinking_writes_what_waited() {
    on_every_backend!(fast, |app| {
        let sim = simulator().await;
        let (_, key) = app.ready_shop().await;
        // A wrong secret: the simulator refuses the signature (code 25).
        link_sim(&app, &key, &sim, "not-the-secret").await;
        push(&app, &key, 1, "gift wrap").await;
        let id = intercept(&app, &key).await;
        let wb = wait_for_state(&app, &key, ORDER, "held").await;
        assert!(
            wb["last_error"]
                .as_str()
                .unwrap()
                .contains("Invalid Signature"),
            "{wb}"
        );
        let (_, settings) = app.call(Method::GET, "/v1/settings", &key, None).await;
        let shown = &settings["advanced"]["marketplace"];
        assert_eq!(shown["active"], false, "{shown}");
        assert!(
            shown["disabled_reason"]
                .as_str()
                .unwrap()
                .contains("credentials"),
            "{shown}"
        );
        assert_eq!(shown["waiting_writes"], 1, "{shown}");
        assert_eq!(sim.order(TID).unwrap().writes, 0);

        // The admin puts the right secret in (the session stays): the held write goes out.
        let (s, b) = link(
            &app,
            &key,
            json!({"gateway": gateway(&sim), "app_key": APP_KEY, "app_secret": SECRET,
                   "sign_method": "md5"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["advanced"]["marketplace"]["active"], true, "{b}");
        wait_for_state(&app, &key, ORDER, "written").await;
        assert_eq!(sim.order(TID).unwrap().memo, format!("gift wrap\n{NOTE}"));

        // A session the seller revoked switches it off again, at the next write (the release).
        sim.revoke_session(APP_KEY, SESSION);
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/interceptions/{id}/release"),
                &key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let wb = wait_for_state(&app, &key, ORDER, "held").await;
        assert!(
            wb["last_error"]
                .as_str()
                .unwrap()
                .contains("27 Invalid session"),
            "{wb}"
        );
        assert_eq!(
            sim.order(TID).unwrap().writes,
            1,
            "the release is not written yet"
        );
        sim.shutdown().await;
    });
}

#[tokio::test]
async fn an_order_without_a_marketplace_number_is_a_dead_letter_that_says_why() {
    on_every_backend!(fast, |app| {
        let sim = simulator().await;
        let (_, key) = app.ready_shop().await;
        link_sim(&app, &key, &sim, SECRET).await;
        app.order(&key, "E-1", "buyer", &[("s1", "awaiting_shipment")])
            .await;
        let (s, b) = app
            .call(Method::POST, "/v1/orders/E-1/interceptions", &key, None)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let wb = wait_for_state(&app, &key, "E-1", "failed").await;
        assert!(wb["last_error"].as_str().unwrap().contains("tid"), "{wb}");
        let (_, dead) = app
            .call(Method::GET, "/v1/erp/dead-letters", &key, None)
            .await;
        let items = dead["items"].as_array().unwrap();
        assert!(
            items
                .iter()
                .any(|d| d["topic"] == "marketplace" && d["order_id"] == "E-1"),
            "{dead}"
        );
        assert_eq!(sim.applied_writes(), 0);
        sim.shutdown().await;
    });
}

#[tokio::test]
async fn the_links_secret_and_session_are_never_shown_or_audited_and_bad_links_are_refused() {
    on_every_backend!(|_| {}, |app| {
        let (shop, key) = app.ready_shop().await;
        // The first link needs both the secret and the session.
        let (s, b) = link(&app, &key, json!({"app_key": APP_KEY})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let fields: Vec<&str> = b["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["app_secret", "session"], "{b}");
        let (s, b) = link(
            &app,
            &key,
            json!({"app_key": APP_KEY, "app_secret": SECRET, "session": SESSION,
                   "sign_method": "sha1"}),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["errors"][0]["field"], "sign_method", "{b}");
        // Plain http to anything but a loopback simulator would carry the session in clear.
        let (s, b) = link(
            &app,
            &key,
            json!({"gateway": "http://gw.example.com/router/rest", "app_key": APP_KEY,
                   "app_secret": SECRET, "session": SESSION}),
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

        // Without a gateway, the platform's; without a method, hmac-sha256.
        let (s, b) = link(
            &app,
            &key,
            json!({"app_key": APP_KEY, "app_secret": SECRET, "session": SESSION}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let shown = &b["advanced"]["marketplace"];
        assert_eq!(shown["gateway"], "https://gw.api.taobao.com/router/rest");
        assert_eq!(shown["sign_method"], "hmac-sha256");
        assert_eq!(
            (shown["app_secret"].as_str(), shown["session"].as_str()),
            (Some("***"), Some("***"))
        );
        let (_, settings) = app.call(Method::GET, "/v1/settings", &key, None).await;
        let (_, audit) = app.call(Method::GET, "/v1/audit", &key, None).await;
        for text in [settings.to_string(), audit.to_string()] {
            assert!(!text.contains(SECRET) && !text.contains(SESSION), "{text}");
        }
        assert!(
            audit.to_string().contains("settings.marketplace"),
            "{audit}"
        );

        // Removed: no link, and no secret kept.
        let (s, b) = app
            .call(Method::DELETE, "/v1/settings/marketplace", &key, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(b["advanced"]["marketplace"].is_null(), "{b}");
        let shop = shiphold_domain::ShopId::parse(&shop).unwrap();
        let record = app
            .state
            .store()
            .read(move |tx| tx.settings(&shop))
            .await
            .unwrap();
        assert_eq!(
            (record.marketplace_secret, record.marketplace_session),
            (None, None)
        );
    });
}

#[tokio::test]
async fn removing_the_link_turns_the_waiting_writes_into_dead_letters() {
    on_every_backend!(fast, |app| {
        let sim = simulator().await;
        let (_, key) = app.ready_shop().await;
        link_sim(&app, &key, &sim, "not-the-secret").await;
        push(&app, &key, 1, "gift wrap").await;
        intercept(&app, &key).await;
        wait_for_state(&app, &key, ORDER, "held").await;
        let (s, b) = app
            .call(Method::DELETE, "/v1/settings/marketplace", &key, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let wb = wait_for_state(&app, &key, ORDER, "failed").await;
        assert!(
            wb["last_error"]
                .as_str()
                .unwrap()
                .contains("no longer has a marketplace"),
            "{wb}"
        );
        assert_eq!(sim.applied_writes(), 0);
        sim.shutdown().await;
    });
}

/// A marketplace's webhook on loopback: verifies each write-back's signature with the shop's
/// secret (set once linked), keeps the bodies, and answers with `status`.
struct MemoEndpoint {
    url: String,
    secret: std::sync::Arc<std::sync::Mutex<Option<shiphold_erp_adapter::Secret>>>,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    server: tokio::task::JoinHandle<()>,
}

impl MemoEndpoint {
    async fn start() -> Self {
        use std::sync::atomic::Ordering;
        let secret = std::sync::Arc::new(std::sync::Mutex::new(None));
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(200));
        let (s2, b2, st2) = (secret.clone(), bodies.clone(), status.clone());
        let app = axum::Router::new().route(
            "/memo",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let (secret, bodies, status) = (s2.clone(), b2.clone(), st2.clone());
                    async move {
                        let Some(secret) = secret.lock().unwrap().clone() else {
                            return axum::http::StatusCode::UNAUTHORIZED;
                        };
                        if shiphold_erp_adapter::verify_now(&headers, &body, &[secret]).is_err() {
                            return axum::http::StatusCode::UNAUTHORIZED;
                        }
                        bodies
                            .lock()
                            .unwrap()
                            .push(serde_json::from_slice(&body).unwrap());
                        axum::http::StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap()
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/memo", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            secret,
            bodies,
            status,
            server,
        }
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn a_marketplace_without_the_open_platform_gets_signed_write_backs_at_its_webhook() {
    on_every_backend!(fast, |app| {
        let hook = MemoEndpoint::start().await;
        let (shop, key) = app.ready_shop().await;
        let (s, b) = app
            .call(
                Method::PUT,
                "/v1/settings/marketplace-webhook",
                &key,
                Some(json!({"endpoint": hook.url})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let secret = b["signing_secret"]
            .as_str()
            .expect("the secret, shown once");
        assert_eq!(
            b["settings"]["advanced"]["marketplace_webhook"]["signing_secret"],
            "***"
        );
        *hook.secret.lock().unwrap() = Some(shiphold_erp_adapter::Secret::parse(secret).unwrap());
        // One way back at a time: the open-platform link is refused while the webhook is set.
        let (s, b) = link(
            &app,
            &key,
            json!({"app_key": APP_KEY, "app_secret": SECRET, "session": SESSION}),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");

        // Any order id will do: the webhook is not the open platform.
        app.order(&key, "MK-1", "buyer", &[("s1", "awaiting_shipment")])
            .await;
        let (s, b) = app
            .call(Method::POST, "/v1/orders/MK-1/interceptions", &key, None)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let id = b["id"].as_str().unwrap().to_owned();
        wait_for_state(&app, &key, "MK-1", "written").await;
        let sent = hook.bodies();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0]["type"], "order.memo_updated");
        let data = &sent[0]["data"];
        assert_eq!(
            (data["shop_id"].as_str(), data["order_id"].as_str()),
            (Some(shop.as_str()), Some("MK-1"))
        );
        assert_eq!(
            (data["memo"].as_str(), data["reset"].as_bool()),
            (Some(NOTE), Some(false))
        );
        assert_eq!(
            (data["flag"].as_i64(), data["flag_name"].as_str()),
            (Some(1), Some("red"))
        );

        // 410: the link is switched off and the release's write waits; linking again sends it.
        hook.status.store(410, std::sync::atomic::Ordering::SeqCst);
        let (s, b) = app
            .call(
                Method::POST,
                &format!("/v1/interceptions/{id}/release"),
                &key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        wait_for_state(&app, &key, "MK-1", "held").await;
        hook.status.store(200, std::sync::atomic::Ordering::SeqCst);
        let (s, b) = app
            .call(
                Method::PUT,
                "/v1/settings/marketplace-webhook",
                &key,
                Some(json!({"endpoint": hook.url})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(b.get("signing_secret").is_none(), "the secret stays: {b}");
        wait_for_state(&app, &key, "MK-1", "written").await;
        let last = hook.bodies().pop().unwrap();
        assert_eq!(
            (
                last["data"]["memo"].clone(),
                last["data"]["reset"].as_bool()
            ),
            (Value::Null, Some(true)),
            "nothing left of the memo: {last}"
        );
        hook.server.abort();
    });
}
