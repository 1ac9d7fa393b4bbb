//! ERP delivery and results with the ERP simulator on loopback: sync and callback results,
//! success messages only with locking on, retries through an outage, 410, and refused callbacks.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shiphold_erp_adapter::sim::{SimConfig, SimHandle, SimMode, SimRules, Simulator};
use shiphold_erp_adapter::{ItemResult, Outcome, ResultsCallback, Secret, SignedHeaders};

use crate::on_every_backend;
use crate::support::{TestApp, fast, wait_for};

/// Links the shop to a simulator and returns it with the shop's secret.
async fn link_sim(
    app: &TestApp,
    key: &str,
    locking: bool,
    mode: SimMode,
    rules: SimRules,
) -> (SimHandle, Secret) {
    let (s, b) = app
        .call(
            Method::PUT,
            "/v1/settings/erp",
            key,
            Some(json!({"endpoint": "http://127.0.0.1:9/placeholder", "locking": locking})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let secret = Secret::parse(b["signing_secret"].as_str().unwrap()).unwrap();
    let mut config = SimConfig::new(secret.clone());
    config.mode = mode;
    config.rules = rules;
    let sim = Simulator::start(config).await.unwrap();
    let (s, b) = app
        .call(
            Method::PUT,
            "/v1/settings/erp",
            key,
            Some(json!({"endpoint": format!("{}/erp", sim.url()), "locking": locking})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    (sim, secret)
}

async fn line_states(app: &TestApp, key: &str, id: &str) -> Vec<String> {
    let (_, b) = app
        .call(Method::GET, &format!("/v1/interceptions/{id}"), key, None)
        .await;
    b["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["state"].as_str().unwrap().to_owned())
        .collect()
}

async fn kinds(app: &TestApp, key: &str, order: &str) -> Vec<String> {
    let (_, b) = app
        .call(
            Method::GET,
            &format!("/v1/orders/{order}/messages"),
            key,
            None,
        )
        .await;
    b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// Links an ERP, with locking, on a port where nothing listens (deliveries fail; callbacks are
/// what the test sends); the signing secret.
async fn link_unreachable_erp(app: &TestApp, key: &str) -> Secret {
    let (s, b) = app
        .call(
            Method::PUT,
            "/v1/settings/erp",
            key,
            Some(json!({"endpoint": "http://127.0.0.1:9/erp", "locking": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    Secret::parse(b["signing_secret"].as_str().unwrap()).unwrap()
}

async fn intercept(app: &TestApp, key: &str, order: &str, items: &[&str]) -> String {
    let pairs: Vec<(&str, &str)> = items.iter().map(|i| (*i, "awaiting_shipment")).collect();
    app.order(key, order, "buyer", &pairs).await;
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/orders/{order}/interceptions"),
            key,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn locked_in_the_response_tells_the_buyer_only_with_locking_on() {
    on_every_backend!(fast, |app| {
        for locking in [true, false] {
            let (_, key) = app.ready_shop().await;
            let (sim, _) = link_sim(&app, &key, locking, SimMode::Sync, SimRules::default()).await;
            let id = intercept(&app, &key, "E-1", &["s1"]).await;
            wait_for("locked", || async {
                line_states(&app, &key, &id).await == ["locked"]
            })
            .await;
            let k = kinds(&app, &key, "E-1").await;
            if locking {
                assert_eq!(k, vec!["acknowledgement", "lock_success"]);
            } else {
                assert_eq!(k, vec!["acknowledgement"], "no success without ERP locking");
            }
            // The message carried the memo and flag, and was signed with the shop's secret.
            let received = sim.accepted();
            assert_eq!(received.len(), 1);
            let body = serde_json::to_value(&received[0]).unwrap();
            assert_eq!(body["type"], "interception.requested");
            assert_eq!(body["data"]["flag"], "red");
            assert!(body["data"]["memo"].as_str().unwrap().contains("[s1]"));
            let (_, detail) = app
                .call(Method::GET, &format!("/v1/interceptions/{id}"), &key, None)
                .await;
            let history: Vec<_> = detail["lines"][0]["history"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["to"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(history, vec!["requested", "delivered_to_erp", "locked"]);
            sim.shutdown().await;
        }
    });
}

#[tokio::test]
async fn results_by_callback_failed_and_already_shipped() {
    on_every_backend!(fast, |app| {
        let (_, key) = app.ready_shop().await;
        let mut rules = SimRules::default();
        rules.overrides.insert("s2".into(), Outcome::Failed);
        rules.overrides.insert("s3".into(), Outcome::AlreadyShipped);
        let mode = SimMode::Callback {
            shiphold_base: app.base.clone(),
            delay: Duration::from_millis(50),
        };
        let (sim, _) = link_sim(&app, &key, true, mode, rules).await;
        let id = intercept(&app, &key, "E-2", &["s1", "s2", "s3"]).await;
        wait_for("callback results", || async {
            line_states(&app, &key, &id).await == ["locked", "lock_failed", "already_shipped"]
        })
        .await;
        // One of three was locked: the buyer is not told "the items you chose have been
        // stopped" but which item was.
        let k = kinds(&app, &key, "E-2").await;
        assert_eq!(k, vec!["acknowledgement", "partial_lock_success"]);
        let (_, msgs) = app
            .call(Method::GET, "/v1/orders/E-2/messages", &key, None)
            .await;
        let success = msgs["items"][1]["text"].as_str().unwrap();
        assert!(
            success.starts_with("亲,您选择的商品中,Item s1已拦截成功"),
            "{success}"
        );
        assert!(
            !success.contains("Item s2") && !success.contains("Item s3"),
            "{success}"
        );
        // already_shipped closes its line, so the memo names only the still intercepted items.
        let (_, order) = app.call(Method::GET, "/v1/orders/E-2", &key, None).await;
        assert_eq!(order["interception_note"], "拦截发货，请勿发出 [s1, s2]");
        let (_, detail) = app
            .call(Method::GET, &format!("/v1/interceptions/{id}"), &key, None)
            .await;
        assert_eq!(
            detail["lines"][1]["history"][2]["detail"],
            "the simulator was told to fail this item"
        );
        // The risk list shows the item whose lock failed.
        let (_, risk) = app.call(Method::GET, "/v1/risk", &key, None).await;
        let risky: Vec<_> = risk["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["sub_order_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(risky, vec!["s2"]);
        // Release: interception.released reaches the ERP.
        let (s, _) = app
            .call(
                Method::POST,
                &format!("/v1/interceptions/{id}/release"),
                &key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        wait_for("released message", || async {
            sim.accepted()
                .iter()
                .any(|m| serde_json::to_value(m).unwrap()["type"] == "interception.released")
        })
        .await;
        sim.shutdown().await;
    });
}

#[tokio::test]
async fn an_erp_outage_loses_nothing_and_keeps_order_per_order() {
    on_every_backend!(fast, |app| {
        let (_, key) = app.ready_shop().await;
        let (sim, _) = link_sim(&app, &key, true, SimMode::Sync, SimRules::default()).await;
        sim.go_down().await;
        let mut ids = Vec::new();
        for n in 0..5 {
            let id = intercept(&app, &key, &format!("D-{n}"), &["s1", "s2"]).await;
            // A release right after: its message must not overtake the request.
            let (s, _) = app
                .call(
                    Method::POST,
                    &format!("/v1/interceptions/{id}/release"),
                    &key,
                    Some(json!({"sub_order_ids": ["s2"]})),
                )
                .await;
            assert_eq!(s, StatusCode::OK);
            ids.push(id);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(sim.accepted().is_empty());
        sim.come_up().await.unwrap();
        assert!(
            sim.wait_for_accepted(10, Duration::from_secs(20)).await,
            "only {} arrived",
            sim.accepted().len()
        );
        let messages: Vec<Value> = sim
            .accepted()
            .iter()
            .map(|m| serde_json::to_value(m).unwrap())
            .collect();
        for id in &ids {
            let types: Vec<_> = messages
                .iter()
                .filter(|m| m["data"]["interception_id"] == id.as_str())
                .map(|m| m["type"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(
                types,
                vec!["interception.requested", "interception.released"],
                "{id}"
            );
        }
        for id in &ids {
            wait_for("lock", || async {
                line_states(&app, &key, id).await == ["locked", "released"]
            })
            .await;
        }
        sim.shutdown().await;
    });
}

#[tokio::test]
async fn gone_switches_the_link_off_and_dead_letters_can_be_redriven() {
    on_every_backend!(fast, |app| {
        let (shop, key) = app.ready_shop().await;
        let (sim, _) = link_sim(&app, &key, true, SimMode::Sync, SimRules::default()).await;
        sim.set_gone(true);
        let id = intercept(&app, &key, "G-1", &["s1"]).await;
        wait_for("switch-off", || async {
            let (_, b) = app.call(Method::GET, "/v1/settings", &key, None).await;
            b["advanced"]["erp"]["active"] == false
        })
        .await;
        let (_, b) = app.call(Method::GET, "/v1/settings", &key, None).await;
        assert!(
            b["advanced"]["erp"]["disabled_reason"]
                .as_str()
                .unwrap()
                .contains("410")
        );
        let (_, dead) = app
            .call(Method::GET, "/v1/erp/dead-letters", &key, None)
            .await;
        assert_eq!(dead["items"].as_array().unwrap().len(), 1);
        let entry = dead["items"][0]["id"].as_str().unwrap().to_owned();
        // A dead letter says why, and what it belongs to.
        let letter = &dead["items"][0];
        assert_eq!(letter["last_status"], 410, "{letter}");
        assert!(
            letter["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("410")),
            "{letter}"
        );
        assert_eq!(letter["order_id"], "G-1");
        assert_eq!(letter["interception_id"], id.as_str());
        let (s, one) = app
            .call(
                Method::GET,
                &format!("/v1/erp/dead-letters/{entry}"),
                &key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{one}");
        let history = one["history"].as_array().unwrap();
        assert_eq!(history.last().unwrap()["status"], 410, "{one}");
        assert_eq!(history.last().unwrap()["outcome"], "dead");
        // While the link is off, new interceptions still queue their ERP message: it waits,
        // and the admin sees how many wait.
        sim.set_gone(false);
        let waiting = intercept(&app, &key, "G-2", &["s1"]).await;
        wait_for("the message to wait", || async {
            let (_, b) = app.call(Method::GET, "/v1/settings", &key, None).await;
            b["advanced"]["erp"]["waiting_messages"] == 1
        })
        .await;
        assert_eq!(line_states(&app, &key, &waiting).await, ["requested"]);
        assert_eq!(
            sim.received().len(),
            1,
            "nothing was sent while the link was off"
        );
        let metrics = app
            .http
            .get(&app.metrics_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(&format!(
                "shiphold_outbox_entries{{topic=\"erp\",shop=\"{shop}\",status=\"held\"}} 1"
            )),
            "{metrics}"
        );
        let (_, dead) = app
            .call(Method::GET, "/v1/erp/dead-letters", &key, None)
            .await;
        assert_eq!(
            dead["items"].as_array().unwrap().len(),
            1,
            "a wait is no dead letter"
        );
        // The ERP is back; the admin links it again: what waited is delivered, and the 410'd
        // message is re-driven with the same webhook-id.
        let (s, b) = app
            .call(
                Method::PUT,
                "/v1/settings/erp",
                &key,
                Some(json!({"endpoint": format!("{}/erp", sim.url()), "locking": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["advanced"]["erp"]["active"], true);
        wait_for("the waiting message delivered", || async {
            line_states(&app, &key, &waiting).await == ["locked"]
        })
        .await;
        let (_, b) = app.call(Method::GET, "/v1/settings", &key, None).await;
        assert_eq!(b["advanced"]["erp"]["waiting_messages"], 0);
        let (s, _) = app
            .call(
                Method::POST,
                &format!("/v1/erp/dead-letters/{entry}/redrive"),
                &key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        wait_for("locked after redrive", || async {
            line_states(&app, &key, &id).await == ["locked"]
        })
        .await;
        let first = sim.received()[0].webhook_id.clone();
        let again = sim
            .received()
            .iter()
            .filter(|r| r.webhook_id == first)
            .count();
        assert!(again >= 2, "the re-driven message keeps its webhook-id");
        sim.shutdown().await;
    });
}

#[tokio::test]
async fn the_buyer_hears_once_per_real_lock_and_is_told_which_items_until_all_are() {
    on_every_backend!(|_| {}, |app| {
        let (shop, key) = app.ready_shop().await;
        let secret = link_unreachable_erp(&app, &key).await;
        let id = intercept(&app, &key, "P-1", &["s1", "s2", "s3"]).await;
        let url = app.url(&format!("/v1/erp/shops/{shop}/results"));
        let now = chrono::Utc::now();
        let report = |webhook_id: &'static str, results: Vec<ItemResult>| {
            let body = ResultsCallback::new(shop.clone(), id.clone(), results, now).to_body();
            let mut headers = reqwest::header::HeaderMap::new();
            SignedHeaders::sign(
                std::slice::from_ref(&secret),
                webhook_id,
                now.timestamp(),
                &body,
            )
            .apply(&mut headers);
            let request = app
                .http
                .post(&url)
                .headers(headers)
                .header("content-type", "application/json")
                .body(body);
            async move {
                let (s, b) = crate::support::read(request.send().await.unwrap()).await;
                assert_eq!(s, StatusCode::OK, "{b}");
                b
            }
        };
        let texts = || async {
            let (_, msgs) = app
                .call(Method::GET, "/v1/orders/P-1/messages", &key, None)
                .await;
            msgs["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["kind"].as_str().unwrap().to_owned(),
                        m["text"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        };

        report("msg_p1", vec![ItemResult::locked("s1")]).await;
        let t = texts().await;
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[1].0, "partial_lock_success");
        assert!(
            t[1].1.contains("Item s1") && !t[1].1.contains("Item s2"),
            "{t:?}"
        );

        // The same result again under a new webhook id changes nothing, so it tells nothing.
        let b = report("msg_p2", vec![ItemResult::locked("s1")]).await;
        assert_eq!(b["results"][0]["status"], "recorded");
        assert_eq!(texts().await.len(), 2);

        // A second item locked: a new message naming both stopped items.
        report("msg_p3", vec![ItemResult::locked("s2")]).await;
        let t = texts().await;
        assert_eq!(t.len(), 3, "{t:?}");
        assert_eq!(t[2].0, "partial_lock_success");
        assert!(
            t[2].1.contains("Item s1、Item s2") && !t[2].1.contains("Item s3"),
            "{t:?}"
        );

        // The last one locked: every chosen item is stopped, and the product's text says so.
        report(
            "msg_p4",
            vec![ItemResult::locked("s3"), ItemResult::locked("s2")],
        )
        .await;
        let t = texts().await;
        assert_eq!(t.len(), 4, "{t:?}");
        assert_eq!(t[3].0, "lock_success");
        assert_eq!(
            t[3].1,
            "亲,您选择的商品已拦截成功,暂时不发货。请及时申请退款,如未退款有可能继续发货。"
        );
        assert_eq!(
            line_states(&app, &key, &id).await,
            ["locked", "locked", "locked"]
        );
    });
}

#[tokio::test]
async fn bad_callbacks_are_refused_and_change_nothing() {
    on_every_backend!(|_| {}, |app| {
        let (shop, key) = app.ready_shop().await;
        let secret = link_unreachable_erp(&app, &key).await;
        let id = intercept(&app, &key, "C-1", &["s1"]).await;
        let url = app.url(&format!("/v1/erp/shops/{shop}/results"));
        let post = |body: Vec<u8>, secret: Secret, webhook_id: &str, ts: i64| {
            let mut headers = reqwest::header::HeaderMap::new();
            SignedHeaders::sign(&[secret], webhook_id, ts, &body).apply(&mut headers);
            app.http
                .post(&url)
                .headers(headers)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let now = chrono::Utc::now();
        let body = ResultsCallback::new(
            shop.clone(),
            id.clone(),
            vec![ItemResult::locked("s1")],
            now,
        )
        .to_body();

        let wrong = Secret::generate();
        let (s, _) = crate::support::read(
            post(body.clone(), wrong, "msg_a", now.timestamp())
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "bad signature");
        let (s, _) = crate::support::read(
            post(body.clone(), secret.clone(), "msg_b", now.timestamp() - 600)
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "ten minutes old");
        let other =
            ResultsCallback::new("shp_other", id.clone(), vec![ItemResult::locked("s1")], now)
                .to_body();
        let (s, _) = crate::support::read(
            post(other, secret.clone(), "msg_c", now.timestamp())
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "a body for another shop");
        assert_eq!(
            line_states(&app, &key, &id).await,
            vec!["requested"],
            "nothing changed"
        );

        let (s, b) = crate::support::read(
            post(body.clone(), secret.clone(), "msg_d", now.timestamp())
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["results"][0]["status"], "applied");
        let (s, b) = crate::support::read(
            post(body.clone(), secret.clone(), "msg_d", now.timestamp())
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (s, b["replayed"].as_bool()),
            (StatusCode::OK, Some(true)),
            "a replay does nothing"
        );
        assert_eq!(
            kinds(&app, &key, "C-1").await,
            vec!["acknowledgement", "lock_success"]
        );

        // A late, contradictory result is recorded but changes nothing; unknown items are named.
        let late = ResultsCallback::new(
            shop.clone(),
            id.clone(),
            vec![
                ItemResult::failed("s1", "too late"),
                ItemResult::locked("nope"),
            ],
            now,
        )
        .to_body();
        let (s, b) = crate::support::read(
            post(late, secret.clone(), "msg_e", now.timestamp())
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let statuses: Vec<_> = b["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["sub_order_id"].as_str().unwrap().to_owned(),
                    r["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            statuses.contains(&("nope".into(), "unknown".into()))
                && statuses.contains(&("s1".into(), "recorded".into())),
            "{statuses:?}"
        );
        assert_eq!(line_states(&app, &key, &id).await, vec!["locked"]);
        // ... and kept in the item's history.
        let (_, detail) = app
            .call(Method::GET, &format!("/v1/interceptions/{id}"), &key, None)
            .await;
        let last = detail["lines"][0]["history"]
            .as_array()
            .unwrap()
            .last()
            .cloned()
            .unwrap();
        assert_eq!(
            (
                last["from"].as_str(),
                last["to"].as_str(),
                last["event"].as_str()
            ),
            (Some("locked"), Some("locked"), Some("erp_lock_failed"))
        );
        assert!(
            last["detail"].as_str().unwrap().contains("too late"),
            "{last}"
        );
    });
}

/// Retries run on the wall clock the state was given, not on the system's: with the wall clock
/// held still a failed delivery waits, and moving it past the schedule sends it at once. (With
/// the system clock this test would wait the whole minute and time out.) The business clock
/// stays on the event day throughout.
#[tokio::test]
async fn retries_follow_the_injected_wall_clock() {
    for db in shiphold_testkit::TestDatabase::all() {
        let app = TestApp::start_with_wall_clock(db, |c| {
            c.run_jobs = true;
            c.delivery.retry_schedule = vec![Duration::ZERO, Duration::from_secs(60)];
        })
        .await;
        let wall = app.wall.clone().expect("a controlled wall clock");
        let (shop, key) = app.ready_shop().await;
        let shop = shiphold_domain::ShopId::parse(&shop).unwrap();
        let (sim, _) = link_sim(&app, &key, true, SimMode::Sync, SimRules::default()).await;
        sim.go_down().await;
        let id = intercept(&app, &key, "W-1", &["s1"]).await;
        // The first attempt goes out at once and fails; the retry is due a minute later. (The
        // ERP message is the only outbox entry of this fresh database: id 1.)
        wait_for("the first, failed attempt", || async {
            let shop = shop.clone();
            let attempts = app
                .state
                .store()
                .read(move |tx| tx.attempts(&shop, 1))
                .await
                .unwrap();
            attempts.iter().any(|a| a.outcome == "retry")
        })
        .await;
        sim.come_up().await.unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            sim.accepted().is_empty(),
            "retried before the wall clock reached the schedule"
        );
        wall.advance(chrono::Duration::seconds(75));
        assert!(
            sim.wait_for_accepted(1, Duration::from_secs(20)).await,
            "not retried after the wall clock passed the schedule"
        );
        wait_for("lock", || async {
            line_states(&app, &key, &id).await == ["locked"]
        })
        .await;
        sim.shutdown().await;
        app.stop().await;
    }
}

/// The callback keeps every rule the ERP protocol states: 1 to 1,000 results, JSON only, bodies
/// up to 1 MiB whatever the API's own limit, a `failed` reason cut to 500 characters, and a
/// distinct problem type for each kind of refusal — the same for an unknown shop as for a wrong
/// signature.
#[tokio::test]
async fn callbacks_keep_the_protocols_limits_and_types() {
    on_every_backend!(|_| {}, |app| {
        let (shop, key) = app.ready_shop().await;
        let secret = link_unreachable_erp(&app, &key).await;
        let id = intercept(&app, &key, "V-1", &["s1"]).await;
        let send =
            |shop: &str, body: Vec<u8>, secret: &Secret, webhook_id: &str, ts: i64, json: bool| {
                let mut headers = reqwest::header::HeaderMap::new();
                SignedHeaders::sign(std::slice::from_ref(secret), webhook_id, ts, &body)
                    .apply(&mut headers);
                app.http
                    .post(app.url(&format!("/v1/erp/shops/{shop}/results")))
                    .headers(headers)
                    .header(
                        "content-type",
                        if json {
                            "application/json"
                        } else {
                            "text/plain"
                        },
                    )
                    .body(body)
                    .send()
            };
        let now = chrono::Utc::now();
        let ts = now.timestamp();
        let callback = |results: Vec<ItemResult>| {
            ResultsCallback::new(shop.clone(), id.clone(), results, now).to_body()
        };
        let problem = |status: u16, kind: &str| (status, Some(format!("/problems/{kind}")));
        let check =
            |(s, b): (StatusCode, Value)| (s.as_u16(), b["type"].as_str().map(str::to_owned));

        type Answer = (u16, Option<String>);
        let cases: Vec<(&str, Vec<u8>, bool, Answer)> = vec![
            (
                "no results",
                callback(vec![]),
                true,
                problem(400, "malformed-request"),
            ),
            (
                "1,001 results",
                callback(
                    (0..1001)
                        .map(|i| ItemResult::locked(format!("x{i}")))
                        .collect(),
                ),
                true,
                problem(400, "malformed-request"),
            ),
            (
                "text/plain",
                callback(vec![ItemResult::locked("s1")]),
                false,
                problem(415, "unsupported-media-type"),
            ),
            (
                "over 1 MiB",
                vec![b' '; 1024 * 1024 + 1],
                true,
                problem(413, "payload-too-large"),
            ),
        ];
        for (what, body, json, expected) in cases {
            let got = check(
                crate::support::read(
                    send(&shop, body, &secret, &format!("msg_{what}"), ts, json)
                        .await
                        .unwrap(),
                )
                .await,
            );
            assert_eq!(got, expected, "{what}");
        }
        let body = callback(vec![ItemResult::locked("s1")]);
        assert_eq!(
            check(
                crate::support::read(
                    send(&shop, body.clone(), &Secret::generate(), "m1", ts, true)
                        .await
                        .unwrap()
                )
                .await
            ),
            problem(401, "signature-mismatch")
        );
        assert_eq!(
            check(
                crate::support::read(
                    send("shp_nobody", body.clone(), &secret, "m2", ts, true)
                        .await
                        .unwrap()
                )
                .await
            ),
            problem(401, "signature-mismatch"),
            "an unknown shop answers like a wrong signature"
        );
        assert_eq!(
            check(
                crate::support::read(
                    send(&shop, body.clone(), &secret, "m3", ts - 600, true)
                        .await
                        .unwrap()
                )
                .await
            ),
            problem(401, "stale-timestamp")
        );
        let unsigned = app
            .http
            .post(app.url(&format!("/v1/erp/shops/{shop}/results")))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            check(crate::support::read(unsigned).await),
            problem(401, "signature-missing")
        );
        let elsewhere =
            ResultsCallback::new("shp_other", id.clone(), vec![ItemResult::locked("s1")], now)
                .to_body();
        assert_eq!(
            check(
                crate::support::read(
                    send(&shop, elsewhere, &secret, "m4", ts, true)
                        .await
                        .unwrap()
                )
                .await
            ),
            problem(400, "shop-mismatch")
        );
        assert_eq!(
            line_states(&app, &key, &id).await,
            vec!["requested"],
            "nothing changed"
        );
        // Signed correctly, for an interception the shop does not have: 404.
        let unknown = ResultsCallback::new(
            shop.clone(),
            "icp_unknown",
            vec![ItemResult::locked("s1")],
            now,
        )
        .to_body();
        assert_eq!(
            check(
                crate::support::read(send(&shop, unknown, &secret, "m6", ts, true).await.unwrap())
                    .await
            ),
            problem(404, "not-found")
        );

        // A large callback under 1 MiB is taken (the API's own limit is 256 KiB); its long
        // reason is kept to 500 characters.
        let reason = "picked ".repeat(50_000);
        let big = callback(vec![ItemResult::failed("s1", reason.clone())]);
        assert!(big.len() > 300 * 1024 && big.len() < 1024 * 1024);
        let (s, b) =
            crate::support::read(send(&shop, big, &secret, "m5", ts, true).await.unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (_, detail) = app
            .call(Method::GET, &format!("/v1/interceptions/{id}"), &key, None)
            .await;
        let last = detail["lines"][0]["history"]
            .as_array()
            .unwrap()
            .last()
            .cloned()
            .unwrap();
        assert_eq!(last["to"], "lock_failed");
        assert_eq!(last["detail"].as_str().unwrap().chars().count(), 500);
    });
}

/// A rotation keeps both secrets: deliveries carry a signature with each, so an ERP still on the
/// old secret keeps verifying, and callbacks signed with either are taken — until the admin
/// drops the old one.
#[tokio::test]
async fn a_rotated_secret_keeps_working_until_it_is_dropped() {
    on_every_backend!(fast, |app| {
        let (shop, key) = app.ready_shop().await;
        // The simulator keeps the first secret throughout: an ERP that has not switched yet.
        let (sim, old) = link_sim(&app, &key, true, SimMode::Sync, SimRules::default()).await;
        let (s, b) = app
            .call(Method::POST, "/v1/settings/erp/rotate-secret", &key, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let new = Secret::parse(b["signing_secret"].as_str().unwrap()).unwrap();
        assert_eq!(
            b["settings"]["advanced"]["erp"]["previous_signing_secret"],
            "***"
        );
        let id = intercept(&app, &key, "R-1", &["s1", "s2"]).await;
        wait_for("locked through the old secret", || async {
            line_states(&app, &key, &id).await == ["locked", "locked"]
        })
        .await;
        // The message's memo is the order's memo as the warehouse reads it: the note with every
        // intercepted sub-order; every item carries its SKU (docs/erp-protocol.md §4).
        let message = serde_json::to_value(&sim.accepted()[0]).unwrap();
        let memo = message["data"]["memo"].as_str().unwrap();
        assert!(memo.ends_with(" [s1, s2]"), "{memo}");
        assert!(
            message["data"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["sku_id"].is_string()),
            "{message}"
        );
        let callback = |secret: &Secret, webhook_id: &str, sub: &str| {
            let body = ResultsCallback::new(
                shop.clone(),
                id.clone(),
                vec![ItemResult::locked(sub)],
                chrono::Utc::now(),
            )
            .to_body();
            let mut headers = reqwest::header::HeaderMap::new();
            SignedHeaders::sign(
                std::slice::from_ref(secret),
                webhook_id,
                chrono::Utc::now().timestamp(),
                &body,
            )
            .apply(&mut headers);
            app.http
                .post(app.url(&format!("/v1/erp/shops/{shop}/results")))
                .headers(headers)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        for (secret, webhook_id) in [(&old, "cb-old"), (&new, "cb-new")] {
            let (s, b) =
                crate::support::read(callback(secret, webhook_id, "s1").await.unwrap()).await;
            assert_eq!(s, StatusCode::OK, "{webhook_id}: {b}");
        }

        // The admin drops the old secret: the old one no longer signs nor is accepted.
        let (s, b) = app
            .call(
                Method::DELETE,
                "/v1/settings/erp/previous-secret",
                &key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["advanced"]["erp"]["previous_signing_secret"], "");
        let (s, b) = crate::support::read(callback(&old, "cb-old-2", "s1").await.unwrap()).await;
        assert_eq!(
            (s, b["type"].as_str()),
            (
                StatusCode::UNAUTHORIZED,
                Some("/problems/signature-mismatch")
            )
        );
        let (s, _) = crate::support::read(callback(&new, "cb-new-2", "s1").await.unwrap()).await;
        assert_eq!(s, StatusCode::OK);
        // A delivery now carries the new signature only, which this ERP does not know.
        intercept(&app, &key, "R-2", &["s1"]).await;
        wait_for("the refusal", || async {
            let (_, dead) = app
                .call(Method::GET, "/v1/erp/dead-letters", &key, None)
                .await;
            dead["items"].as_array().is_some_and(|d| d.len() == 1)
        })
        .await;
        let (s, b) = app
            .call(
                Method::DELETE,
                "/v1/settings/erp/previous-secret",
                &key,
                None,
            )
            .await;
        assert_eq!(
            (s, b["type"].as_str()),
            (StatusCode::CONFLICT, Some("/problems/conflict")),
            "nothing left to drop"
        );
        sim.shutdown().await;
    });
}

/// An ERP that takes every message and does not answer until told to: it counts how many it
/// holds at once.
struct HangingErp {
    url: String,
    held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    most: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    release: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

/// Two delivery slots per shop, with a timeout and lease longer than any test: a hanging ERP
/// holds its deliveries' slots the whole time.
fn hanging_config(c: &mut shiphold_api::ApiConfig) {
    fast(c);
    c.delivery.concurrency = 8;
    c.delivery.per_shop_concurrency = 2;
    c.delivery.timeout = Duration::from_secs(300);
    c.delivery.lease = Duration::from_secs(600);
}

impl HangingErp {
    /// Starts one and links it as the shop's ERP, with locking on.
    async fn linked(app: &TestApp, key: &str) -> HangingErp {
        let hanging = HangingErp::start().await;
        let (s, b) = app
            .call(
                Method::PUT,
                "/v1/settings/erp",
                key,
                Some(json!({"endpoint": hanging.url, "locking": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        hanging
    }

    async fn start() -> HangingErp {
        use std::sync::atomic::Ordering;
        let held = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let (h, m) = (held.clone(), most.clone());
        let app = axum::Router::new().route(
            "/erp",
            axum::routing::post(move || {
                let (held, most, mut released) = (h.clone(), m.clone(), released.clone());
                async move {
                    let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let _ = released.wait_for(|r| *r).await;
                    held.fetch_sub(1, Ordering::SeqCst);
                    StatusCode::SERVICE_UNAVAILABLE
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/erp", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HangingErp {
            url,
            held,
            most,
            release,
            server,
        }
    }

    fn held(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn most(&self) -> usize {
        self.most.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn stop(self) {
        let _ = self.release.send(true);
        self.server.abort();
    }
}

#[tokio::test]
async fn entries_claimed_ahead_of_a_busy_shops_slots_go_back_when_the_worker_stops() {
    async fn erp_counts(app: &TestApp, shop: &str) -> (i64, i64) {
        let now = app.state.now().wall;
        let counts = app.state.store().outbox_counts(now).await.unwrap();
        counts
            .iter()
            .find(|c| c.shop_id.as_str() == shop && c.topic == shiphold_storage::Topic::Erp)
            .map_or((0, 0), |c| (c.pending, c.leased))
    }
    on_every_backend!(hanging_config, |app| {
        let (shop, key) = app.ready_shop().await;
        let hanging = HangingErp::linked(&app, &key).await;
        for n in 0..6 {
            intercept(&app, &key, &format!("BUSY-{n}"), &["s1"]).await;
        }
        // Two deliveries run (the shop's concurrency) and two more are claimed ahead of them,
        // leased to this worker; the last two wait in the outbox.
        wait_for("two running and two claimed ahead", || async {
            hanging.held() == 2 && erp_counts(&app, &shop).await == (2, 4)
        })
        .await;
        // Stopping gives the two that never started back at once (another worker need not
        // wait out their leases); the two running keep theirs until they end.
        app.stop_jobs();
        wait_for("the entries claimed ahead to be given back", || async {
            erp_counts(&app, &shop).await == (4, 2)
        })
        .await;
        assert_eq!(hanging.most(), 2, "never more than two at once");
        hanging.stop();
    });
}

#[tokio::test]
async fn a_shop_whose_erp_hangs_still_gets_its_buyer_messages_out() {
    // The chat gateway is another peer than the ERP: the shop's slots for its ERP being full
    // does not stop its buyer messages.
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = received.clone();
    let gateway = axum::Router::new().route(
        "/chat",
        axum::routing::post(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { StatusCode::OK }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/chat", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, gateway).await;
    });
    let config = |c: &mut shiphold_api::ApiConfig| {
        hanging_config(c);
        c.chat_gateway = Some(shiphold_api::ChatGatewayConfig {
            url: url.clone(),
            secret: Secret::generate().to_whsec(),
        });
    };
    on_every_backend!(config, |app| {
        let (_, key) = app.ready_shop().await;
        let hanging = HangingErp::linked(&app, &key).await;
        let before = received.load(std::sync::atomic::Ordering::SeqCst);
        for n in 0..4 {
            intercept(&app, &key, &format!("HUNG-{n}"), &["s1"]).await;
        }
        wait_for("the hanging ERP to hold two messages", || async {
            hanging.held() >= 2
        })
        .await;
        wait_for("every buyer message at the gateway", || async {
            received.load(std::sync::atomic::Ordering::SeqCst) - before >= 4
        })
        .await;
        assert_eq!(hanging.most(), 2);
        hanging.stop();
    });
    server.abort();
}

#[tokio::test]
async fn a_shop_whose_erp_hangs_holds_up_only_its_own_messages() {
    on_every_backend!(hanging_config, |app| {
        let (_, slow_key) = app.ready_shop().await;
        let hanging = HangingErp::linked(&app, &slow_key).await;
        for n in 0..12 {
            intercept(&app, &slow_key, &format!("SLOW-{n}"), &["s1"]).await;
        }
        wait_for("the slow ERP to hold two messages", || async {
            hanging.held() >= 2
        })
        .await;

        // Another shop's message goes out on a free slot while the slow ERP holds its two,
        // though ten of the slow shop's messages are older and due.
        let (_, fast_key) = app.ready_shop().await;
        let (sim, _) = link_sim(&app, &fast_key, true, SimMode::Sync, SimRules::default()).await;
        let id = intercept(&app, &fast_key, "FAST-1", &["s1"]).await;
        wait_for("the other shop's lock", || async {
            line_states(&app, &fast_key, &id).await == ["locked"]
        })
        .await;
        assert_eq!(sim.accepted().len(), 1);
        assert_eq!(
            (hanging.held(), hanging.most()),
            (2, 2),
            "never more than two of one shop at once"
        );
        hanging.stop();
        sim.shutdown().await;
    });
}
