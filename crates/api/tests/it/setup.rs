//! The three-step set-up, API keys and roles, event windows, order intake, errors and limits.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::on_every_backend;

#[tokio::test]
async fn enabling_needs_memo_text_and_terms_and_names_both() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.shop("Acme").await;
        let (s, b) = app
            .call(Method::POST, "/v1/settings/enable", &key, None)
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
        assert_eq!(b["type"], "/problems/setup-incomplete");
        let fields: Vec<_> = b["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(fields, vec!["memo_text", "terms_accepted"]);

        let (s, b) = app.call(Method::GET, "/v1/settings", &key, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["missing"].as_array().unwrap().len(), 2);
        assert_eq!(b["enabled"], false);

        // Memo text alone is not enough.
        let (s, _) = app
            .call(
                Method::PUT,
                "/v1/settings/memo",
                &key,
                Some(json!({"memo_text": "do not ship"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, b) = app
            .call(Method::POST, "/v1/settings/enable", &key, None)
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(b["errors"][0]["field"], "terms_accepted");

        let (s, b) = app
            .call(
                Method::PUT,
                "/v1/settings/memo",
                &key,
                Some(json!({"memo_text": "do not ship", "accept_terms": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["terms"]["accepted"], true);
        assert!(
            b["terms"]["accepted_by"]
                .as_str()
                .unwrap()
                .starts_with("api_key:key_")
        );
        let (s, b) = app
            .call(Method::POST, "/v1/settings/enable", &key, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["enabled"], true);
        assert_eq!(b["flag"], "none", "the flag is optional");

        // Every change is in the audit trail, newest first.
        let (s, b) = app
            .call(Method::GET, "/v1/audit?limit=10", &key, None)
            .await;
        assert_eq!(s, StatusCode::OK);
        let actions: Vec<_> = b["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            actions,
            vec!["settings.enable", "settings.memo", "settings.memo"]
        );
        assert_eq!(b["items"][0]["before"]["enabled"], false);
        assert_eq!(b["items"][0]["after"]["enabled"], true);
    });
}

#[tokio::test]
async fn memo_settings_are_validated_field_by_field() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.shop("Acme").await;
        let long = "拦".repeat(400);
        let (s, b) = app
            .call(
                Method::PUT,
                "/v1/settings/memo",
                &key,
                Some(json!({"memo_text": long, "flag": "orange"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let fields: Vec<_> = b["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["field"].as_str().unwrap().to_owned(),
                    e["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            fields,
            vec![
                ("memo_text".into(), "too_long".into()),
                ("flag".into(), "invalid".into())
            ]
        );
        let (s, b) = app
            .call(
                Method::PUT,
                "/v1/settings/memo",
                &key,
                Some(json!({"memo_text": "x", "colour": "red"})),
            )
            .await;
        assert_eq!(
            s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown fields are refused: {b}"
        );
        // Nothing was stored.
        let (_, b) = app.call(Method::GET, "/v1/settings", &key, None).await;
        assert_eq!(b["memo_text"], serde_json::Value::Null);
    });
}

#[tokio::test]
async fn roles_limit_what_a_key_may_do() {
    on_every_backend!(|_| {}, |app| {
        let (_, admin) = app.ready_shop().await;
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/api-keys",
                &admin,
                Some(json!({"label": "intake", "roles": ["integration"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let intake = b["api_key"].as_str().unwrap().to_owned();
        let intake_id = b["id"].as_str().unwrap().to_owned();
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/api-keys",
                &admin,
                Some(json!({"label": "cs", "roles": ["agent"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let agent = b["api_key"].as_str().unwrap().to_owned();

        // The integration key pushes orders but may not change settings or intercept.
        app.order(&intake, "o-1", "buyer-1", &[("s1", "awaiting_shipment")])
            .await;
        let (s, b) = app
            .call(Method::POST, "/v1/settings/disable", &intake, None)
            .await;
        assert_eq!(
            (s, b["type"].as_str()),
            (StatusCode::FORBIDDEN, Some("/problems/forbidden"))
        );
        let (s, _) = app
            .call(Method::POST, "/v1/orders/o-1/interceptions", &intake, None)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // The agent intercepts but may not push orders or manage keys.
        let (s, _) = app
            .call(
                Method::PUT,
                "/v1/orders/o-2",
                &agent,
                Some(json!({"buyer_id": "b", "version": 1, "sub_orders": []})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = app.call(Method::GET, "/v1/api-keys", &agent, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, b) = app
            .call(Method::POST, "/v1/orders/o-1/interceptions", &agent, None)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");

        // No key, a malformed key, an unknown key, a revoked key: 401.
        let (s, _) =
            crate::support::read(app.http.get(app.url("/v1/settings")).send().await.unwrap()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = app
            .call(Method::GET, "/v1/settings", "nonsense", None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = app
            .call(
                Method::GET,
                "/v1/settings",
                "shk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                None,
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = app
            .call(
                Method::DELETE,
                &format!("/v1/api-keys/{intake_id}"),
                &admin,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.call(Method::GET, "/v1/orders/o-1", &intake, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // Keys are listed without their secret.
        let (_, b) = app.call(Method::GET, "/v1/api-keys", &admin, None).await;
        assert!(!b.to_string().contains("shk_"), "{b}");
    });
}

#[tokio::test]
async fn event_windows_are_validated_and_may_not_overlap() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let (s, b) = app.call(Method::GET, "/v1/event-windows", &key, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["items"][0]["active"], true);
        assert_eq!(b["items"][0]["event_day"], "2026-11-11");
        assert_eq!(b["items"][0]["reopen_day"], "2026-11-12");
        let active = b["active_window_id"].as_str().unwrap().to_owned();

        let overlapping = json!({"name": "again", "refunds_off_from": "2026-11-11T12:00:00+08:00", "refunds_off_until": "2026-11-13T00:00:00+08:00", "time_zone": "Asia/Shanghai", "refunds_reopen_at": "2026-11-13T00:00:00+08:00"});
        let (s, b) = app
            .call(Method::POST, "/v1/event-windows", &key, Some(overlapping))
            .await;
        assert_eq!(
            (s, b["type"].as_str()),
            (StatusCode::CONFLICT, Some("/problems/window-overlap"))
        );

        let bad = json!({"name": "", "refunds_off_from": "yesterday", "refunds_off_until": "2026-12-12T00:00:00Z", "time_zone": "Mars/Base", "refunds_reopen_at": "2026-12-11T00:00:00Z"});
        let (s, b) = app
            .call(Method::POST, "/v1/event-windows", &key, Some(bad))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let fields: Vec<_> = b["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(fields, vec!["refunds_off_from", "time_zone"]);

        let end_before_start = json!({"name": "618", "refunds_off_from": "2027-06-18T00:00:00+08:00", "refunds_off_until": "2027-06-17T00:00:00+08:00", "time_zone": "Asia/Shanghai", "refunds_reopen_at": "2027-06-16T00:00:00+08:00"});
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/event-windows",
                &key,
                Some(end_before_start),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let fields: Vec<_> = b["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(fields, vec!["refunds_off_until", "refunds_reopen_at"]);

        let ok = json!({"name": "618", "refunds_off_from": "2027-06-18T00:00:00+08:00", "refunds_off_until": "2027-06-19T00:00:00+08:00", "time_zone": "Asia/Shanghai", "refunds_reopen_at": "2027-06-19T00:00:00+08:00"});
        let (s, b) = app
            .call(Method::POST, "/v1/event-windows", &key, Some(ok.clone()))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let id = b["id"].as_str().unwrap().to_owned();
        let mut renamed = ok;
        renamed["name"] = json!("618 sale");
        let (s, b) = app
            .call(
                Method::PUT,
                &format!("/v1/event-windows/{id}"),
                &key,
                Some(renamed),
            )
            .await;
        assert_eq!((s, b["name"].as_str()), (StatusCode::OK, Some("618 sale")));
        let (s, _) = app
            .call(
                Method::DELETE,
                &format!("/v1/event-windows/{id}"),
                &key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = app
            .call(Method::GET, &format!("/v1/event-windows/{id}"), &key, None)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // After the window, none is active.
        app.clock
            .set(crate::support::event_time() + chrono::Duration::days(2));
        let (_, b) = app.call(Method::GET, "/v1/event-windows", &key, None).await;
        assert_eq!(b["active_window_id"], serde_json::Value::Null);
        assert_ne!(active, "");
    });
}

#[tokio::test]
async fn order_intake_is_idempotent_and_ordered() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let body = json!({"buyer_id": "buyer-1", "version": 3, "seller_memo": "gift", "sub_orders": [
            {"id": "s1", "item_id": "sku-1", "title": "Mug", "quantity": 2, "amount": 3998, "shipping_status": "awaiting_shipment"},
            {"id": "s2", "item_id": "sku-2", "title": "Tea", "quantity": 1, "amount": 1200, "shipping_status": "shipped"}
        ]});
        let (s, b) = app
            .call(Method::PUT, "/v1/orders/TB-1", &key, Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, again) = app
            .call(Method::PUT, "/v1/orders/TB-1", &key, Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::OK, "the same body twice changes nothing");
        assert_eq!(again, b);

        let mut older = body.clone();
        older["version"] = json!(2);
        older["seller_memo"] = json!("older");
        let (s, b) = app
            .call(Method::PUT, "/v1/orders/TB-1", &key, Some(older))
            .await;
        assert_eq!(
            (s, b["type"].as_str()),
            (StatusCode::CONFLICT, Some("/problems/stale-update"))
        );
        let mut same_version_other_body = body.clone();
        same_version_other_body["seller_memo"] = json!("changed");
        let (s, _) = app
            .call(
                Method::PUT,
                "/v1/orders/TB-1",
                &key,
                Some(same_version_other_body),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);

        let mut newer = body.clone();
        newer["version"] = json!(4);
        newer["sub_orders"][0]["shipping_status"] = json!("shipped");
        let (s, b) = app
            .call(Method::PUT, "/v1/orders/TB-1", &key, Some(newer))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["sub_orders"][0]["shipping_status"], "shipped");
        assert_eq!(b["seller_memo"], "gift");

        let (s, b) = app.call(Method::GET, "/v1/orders/TB-1", &key, None).await;
        assert_eq!((s, b["version"].as_i64()), (StatusCode::OK, Some(4)));

        // Lists are paginated by cursor and filterable by buyer.
        for n in 0..5 {
            app.order(
                &key,
                &format!("P-{n}"),
                if n % 2 == 0 { "even" } else { "odd" },
                &[("s1", "awaiting_shipment")],
            )
            .await;
        }
        let (_, page1) = app
            .call(Method::GET, "/v1/orders?limit=2", &key, None)
            .await;
        assert_eq!(page1["items"].as_array().unwrap().len(), 2);
        let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
        let (_, page2) = app
            .call(
                Method::GET,
                &format!("/v1/orders?limit=2&cursor={cursor}"),
                &key,
                None,
            )
            .await;
        assert_ne!(page1["items"][0]["id"], page2["items"][0]["id"]);
        let (_, evens) = app
            .call(Method::GET, "/v1/orders?buyer_id=even", &key, None)
            .await;
        assert_eq!(evens["items"].as_array().unwrap().len(), 3);
    });
}

#[tokio::test]
async fn bad_bodies_get_clear_problems_never_500() {
    on_every_backend!(|c| c.body_limit = 4096, |app| {
        let (_, key) = app.ready_shop().await;
        let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
            ("malformed", b"{\"buyer_id\": ".to_vec(), StatusCode::BAD_REQUEST, "/problems/malformed-request"),
            ("wrong type", br#"{"buyer_id":"b","version":"one","sub_orders":[]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "/problems/validation-failed"),
            ("unknown status", br#"{"buyer_id":"b","version":1,"sub_orders":[{"id":"s","item_id":"i","title":"t","quantity":1,"amount":1,"shipping_status":"lost"}]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "/problems/validation-failed"),
            ("too long id", format!(r#"{{"buyer_id":"{}","version":1,"sub_orders":[]}}"#, "b".repeat(65)).into_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "/problems/validation-failed"),
            ("too large", vec![b' '; 5000], StatusCode::PAYLOAD_TOO_LARGE, "/problems/payload-too-large"),
        ];
        for (name, body, status, kind) in cases {
            let response = app
                .req(Method::PUT, "/v1/orders/X-1", &key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let (s, b) = crate::support::read(response).await;
            assert_eq!((s, b["type"].as_str()), (status, Some(kind)), "{name}: {b}");
        }
        let (s, b) = app.call(Method::PUT, "/v1/orders/X-1", &key, Some(json!({"buyer_id": "b", "version": 1, "sub_orders": [{"id": "s", "item_id": "i", "title": "t", "quantity": 1, "amount": 1, "shipping_status": "lost"}]}))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(b["errors"][0]["field"], "sub_orders[0].shipping_status");
        // Not JSON at all.
        let response = app
            .req(Method::PUT, "/v1/orders/X-1", &key)
            .header("content-type", "text/plain")
            .body("hi")
            .send()
            .await
            .unwrap();
        assert_eq!(
            crate::support::read(response).await.0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        // Unknown routes and methods are problems too.
        assert_eq!(
            app.call(Method::GET, "/v1/nothing", &key, None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.call(Method::PATCH, "/v1/settings", &key, None).await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
    });
}

#[tokio::test]
async fn every_write_honours_an_idempotency_key() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let create = || {
            app.req(Method::POST, "/v1/api-keys", &key)
                .header("idempotency-key", "new-agent-key")
                .json(&json!({"label": "cs", "roles": ["agent"]}))
                .send()
        };
        let first = create().await.unwrap();
        assert_eq!(first.status(), StatusCode::CREATED);
        let first: serde_json::Value = first.json().await.unwrap();
        // The answer carried the key's secret, shown once: a replay names what was made and
        // withholds the secret.
        let (s, again) = crate::support::read(create().await.unwrap()).await;
        assert_eq!(
            (s, again["type"].as_str()),
            (StatusCode::CONFLICT, Some("/problems/replay-withheld")),
            "{again}"
        );
        let detail = again["detail"].as_str().unwrap();
        assert!(detail.contains(first["id"].as_str().unwrap()), "{detail}");
        assert!(!again.to_string().contains("shk_"), "{again}");
        let (_, keys) = app.call(Method::GET, "/v1/api-keys", &key, None).await;
        assert_eq!(
            keys["items"].as_array().unwrap().len(),
            2,
            "one key made, not two"
        );

        // An event window posted twice with one key is created once.
        let window = json!({"name": "618", "refunds_off_from": "2027-06-18T00:00:00+08:00", "refunds_off_until": "2027-06-19T00:00:00+08:00", "time_zone": "Asia/Shanghai", "refunds_reopen_at": "2027-06-19T00:00:00+08:00"});
        for _ in 0..2 {
            let r = app
                .req(Method::POST, "/v1/event-windows", &key)
                .header("idempotency-key", "w-618")
                .json(&window)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
        }
        let (_, windows) = app.call(Method::GET, "/v1/event-windows", &key, None).await;
        assert_eq!(windows["items"].as_array().unwrap().len(), 2);

        // A malformed key is refused, naming the header.
        let r = app
            .req(Method::POST, "/v1/settings/enable", &key)
            .header("idempotency-key", "")
            .send()
            .await
            .unwrap();
        let (s, b) = crate::support::read(r).await;
        assert_eq!(
            (s, b["errors"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("Idempotency-Key"))
        );
        // The documented format is 1 to 255 visible ASCII characters: no space inside, no 256th.
        for bad in ["two words", &"k".repeat(256)] {
            let r = app
                .req(Method::POST, "/v1/settings/enable", &key)
                .header("idempotency-key", bad)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        }
        // Without a credential the answer is 401, whatever key was sent.
        let r = app
            .http
            .post(app.url("/v1/settings/enable"))
            .header("idempotency-key", "two words")
            .send()
            .await
            .unwrap();
        let (s, b) = crate::support::read(r).await;
        assert_eq!(
            (s, b["type"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("/problems/unauthenticated")),
            "{b}"
        );
    });
}

/// An Idempotency-Key belongs to the credential that sent it: another key of the same shop that
/// resends an admin's request with the same key and body gets its own answer (403), never the
/// admin's, and no stored answer holds a secret.
#[tokio::test]
async fn idempotent_answers_never_reach_another_credential_or_leak_a_secret() {
    on_every_backend!(|_| {}, |app| {
        let (_, admin) = app.ready_shop().await;
        let (_, made) = app
            .call(
                Method::POST,
                "/v1/api-keys",
                &admin,
                Some(json!({"label": "erp", "roles": ["integration"]})),
            )
            .await;
        let integration = made["api_key"].as_str().unwrap().to_owned();
        let body = json!({"label": "new admin", "roles": ["admin"]});
        let send = |key: &str| {
            app.req(Method::POST, "/v1/api-keys", key)
                .header("idempotency-key", "same-key")
                .json(&body)
                .send()
        };
        let (s, first) = crate::support::read(send(&admin).await.unwrap()).await;
        assert_eq!(s, StatusCode::CREATED, "{first}");
        let secret = first["api_key"].as_str().unwrap().to_owned();
        let (s, other) = crate::support::read(send(&integration).await.unwrap()).await;
        assert_eq!(
            (s, other["type"].as_str()),
            (StatusCode::FORBIDDEN, Some("/problems/forbidden")),
            "{other}"
        );
        assert!(!other.to_string().contains(&secret));

        // The same for a rotated signing secret.
        app.call(
            Method::PUT,
            "/v1/settings/erp",
            &admin,
            Some(json!({"endpoint": "https://erp.example.com/hook"})),
        )
        .await;
        let rotate = |key: &str| {
            app.req(Method::POST, "/v1/settings/erp/rotate-secret", key)
                .header("idempotency-key", "rotate-1")
                .send()
        };
        let (s, rotated) = crate::support::read(rotate(&admin).await.unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{rotated}");
        let whsec = rotated["signing_secret"].as_str().unwrap().to_owned();
        let (s, other) = crate::support::read(rotate(&integration).await.unwrap()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{other}");
        let (s, replay) = crate::support::read(rotate(&admin).await.unwrap()).await;
        assert_eq!(
            (s, replay["type"].as_str()),
            (StatusCode::CONFLICT, Some("/problems/replay-withheld"))
        );
        assert!(!replay.to_string().contains(&whsec));
        // And the secret was rotated once, not twice: the settings still show one secret.
        let (_, settings) = app.call(Method::GET, "/v1/settings", &admin, None).await;
        assert_eq!(settings["advanced"]["erp"]["signing_secret"], "***");
    });
}

/// The shop's last working admin key cannot be revoked: nobody could manage the shop after it.
#[tokio::test]
async fn the_last_admin_key_stays() {
    on_every_backend!(|_| {}, |app| {
        let (_, first) = app.ready_shop().await;
        let (_, keys) = app.call(Method::GET, "/v1/api-keys", &first, None).await;
        let first_id = keys["items"][0]["id"].as_str().unwrap().to_owned();
        let (s, b) = app
            .call(
                Method::DELETE,
                &format!("/v1/api-keys/{first_id}"),
                &first,
                None,
            )
            .await;
        assert_eq!(
            (s, b["type"].as_str()),
            (StatusCode::CONFLICT, Some("/problems/conflict")),
            "{b}"
        );
        // An agent key does not count: the admin key is still the last one.
        app.call(
            Method::POST,
            "/v1/api-keys",
            &first,
            Some(json!({"label": "cs", "roles": ["agent"]})),
        )
        .await;
        let (s, _) = app
            .call(
                Method::DELETE,
                &format!("/v1/api-keys/{first_id}"),
                &first,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        // With a second admin key, the first may go; then the second is the last.
        let (_, second) = app
            .call(
                Method::POST,
                "/v1/api-keys",
                &first,
                Some(json!({"label": "admin 2", "roles": ["admin"]})),
            )
            .await;
        let (second_id, second_key) = (
            second["id"].as_str().unwrap().to_owned(),
            second["api_key"].as_str().unwrap().to_owned(),
        );
        let (s, b) = app
            .call(
                Method::DELETE,
                &format!("/v1/api-keys/{first_id}"),
                &second_key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, _) = app
            .call(
                Method::DELETE,
                &format!("/v1/api-keys/{second_id}"),
                &second_key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
    });
}

/// Every answer carries a request id (the caller's own when it sent one) and every problem
/// document quotes it, so an error a client reports can be found in the server's log.
#[tokio::test]
async fn every_answer_names_its_request() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let mine = app
            .http
            .get(app.url("/v1/orders/NOPE"))
            .bearer_auth(&key)
            .header("x-request-id", "req-1111")
            .send()
            .await
            .unwrap();
        assert_eq!(mine.headers()["x-request-id"], "req-1111");
        let (s, b) = crate::support::read(mine).await;
        assert_eq!(
            (s, b["request_id"].as_str()),
            (StatusCode::NOT_FOUND, Some("req-1111"))
        );
        let fresh = app.http.get(app.url("/healthz")).send().await.unwrap();
        let id = fresh.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        let other = app.http.get(app.url("/healthz")).send().await.unwrap();
        assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);
        // Also on the answers of the fallback and of a refused body.
        let unknown = app.http.get(app.url("/nowhere")).send().await.unwrap();
        let header = unknown.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let (_, b) = crate::support::read(unknown).await;
        assert_eq!(b["request_id"].as_str(), Some(header.as_str()));
    });
}

/// The routes reached without an API key are rate-limited per client address: over its
/// allowance a client gets 429 with `Retry-After`, another client does not, and authenticated
/// routes are not limited at all.
#[tokio::test]
async fn unauthenticated_routes_are_rate_limited_per_client() {
    let limits = |c: &mut shiphold_api::ApiConfig| {
        c.rate_limits = Some(shiphold_api::RateLimits {
            buyer_per_minute: 2,
            callback_per_minute: 1,
            sign_in_per_minute: 1,
            client_ip_header: Some(reqwest::header::HeaderName::from_static("x-forwarded-for")),
        });
    };
    on_every_backend!(limits, |app| {
        let (shop, key) = app.ready_shop().await;
        let get = |path: String, client: &'static str| {
            app.http
                .get(app.url(&path))
                .header("x-forwarded-for", format!("192.0.2.9, {client}"))
                .send()
        };
        for _ in 0..2 {
            let r = get("/v1/buyer/cards/ct_nope".into(), "198.51.100.1")
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND);
        }
        // The card page shares the buyer allowance.
        let r = get("/c/ct_nope".into(), "198.51.100.1").await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        let (_, b) = crate::support::read(r).await;
        assert_eq!(b["type"], "/problems/too-many-requests", "{b}");

        // Another address has its own allowance.
        let r = get("/v1/buyer/cards/ct_nope".into(), "198.51.100.2")
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);

        // The ERP callback has its own, smaller one here.
        let callback = || {
            app.http
                .post(app.url(&format!("/v1/erp/shops/{shop}/results")))
                .header("x-forwarded-for", "198.51.100.3")
                .header("content-type", "application/json")
                .body("{}")
                .send()
        };
        assert_eq!(callback().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            callback().await.unwrap().status(),
            StatusCode::TOO_MANY_REQUESTS
        );

        // A shop's key is never limited.
        for _ in 0..5 {
            let r = app
                .req(Method::GET, "/v1/settings", &key)
                .header("x-forwarded-for", "198.51.100.1")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
    });
}

/// Orders are found by the start of their id, exactly (case and `_` included) on both
/// databases, alone or with a buyer.
#[tokio::test]
async fn orders_are_found_by_the_start_of_their_id() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        for (order, buyer) in [
            ("TB-1001", "b1"),
            ("TB-1002", "b2"),
            ("tb-1003", "b1"),
            ("TB-2001", "b1"),
            ("TB-10_1", "b3"),
        ] {
            app.order(&key, order, buyer, &[("s1", "awaiting_shipment")])
                .await;
        }
        let ids = |b: &serde_json::Value| -> Vec<String> {
            let mut ids: Vec<String> = b["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        };
        let (s, b) = app
            .call(Method::GET, "/v1/orders?order_id_prefix=TB-10", &key, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(ids(&b), ["TB-1001", "TB-1002", "TB-10_1"]);
        let (_, b) = app
            .call(Method::GET, "/v1/orders?order_id_prefix=TB-10_", &key, None)
            .await;
        assert_eq!(ids(&b), ["TB-10_1"], "a _ is a character, not a wildcard");
        let (_, b) = app
            .call(
                Method::GET,
                "/v1/orders?order_id_prefix=T&buyer_id=b1",
                &key,
                None,
            )
            .await;
        assert_eq!(ids(&b), ["TB-1001", "TB-2001"]);
        let (_, b) = app
            .call(
                Method::GET,
                "/v1/orders?order_id_prefix=TB-1001",
                &key,
                None,
            )
            .await;
        assert_eq!(ids(&b), ["TB-1001"]);
        let long = "x".repeat(65);
        let (s, b) = app
            .call(
                Method::GET,
                &format!("/v1/orders?order_id_prefix={long}"),
                &key,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["errors"][0]["field"], "order_id_prefix");
        // An empty one is refused too: leaving it out is how to list every order.
        let (s, b) = app
            .call(Method::GET, "/v1/orders?order_id_prefix=", &key, None)
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    });
}

/// A problem's title is in the caller's language (`Accept-Language`, Chinese or English;
/// English without one), and `Content-Language` says which.
#[tokio::test]
async fn problem_titles_follow_accept_language() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        for (accept, title, language) in [
            (Some("zh-CN,zh;q=0.9,en;q=0.8"), "未找到", "zh-CN"),
            (Some("en-US,en;q=0.9"), "Not found", "en"),
            (None, "Not found", "en"),
        ] {
            let mut req = app.req(Method::GET, "/v1/orders/NOPE", &key);
            if let Some(accept) = accept {
                req = req.header("accept-language", accept);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.headers()["content-language"], language, "{accept:?}");
            let (s, b) = crate::support::read(r).await;
            assert_eq!(s, StatusCode::NOT_FOUND);
            assert_eq!(b["title"], title, "{accept:?}: {b}");
            assert_eq!(b["type"], "/problems/not-found");
        }
        // In Chinese, the detail and every field's message too; in English, as before.
        let (_, b) = crate::support::read(
            app.req(Method::GET, "/v1/orders/NOPE", &key)
                .header("accept-language", "zh-CN")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(b["detail"], "没有这个订单", "{b}");
        for (accept, message, detail) in [
            ("zh-CN", "请填写备注内容", "输入无效"),
            ("en", "memo text is required", "invalid input"),
        ] {
            let (s, b) = crate::support::read(
                app.req(Method::PUT, "/v1/settings/memo", &key)
                    .header("accept-language", accept)
                    .json(&serde_json::json!({"memo_text": "", "accept_terms": true}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
            assert_eq!(b["errors"][0]["field"], "memo_text");
            assert_eq!(b["errors"][0]["code"], "required");
            assert_eq!(b["errors"][0]["message"], message, "{accept}: {b}");
            assert!(
                b["detail"].as_str().unwrap().starts_with(detail),
                "{accept}: {b}"
            );
        }
        // A field without a Chinese sentence still reads Chinese: by its code.
        let (_, b) = crate::support::read(
            app.req(Method::PUT, "/v1/settings/memo", &key)
                .header("accept-language", "zh")
                .json(&serde_json::json!({"memo_text": 5}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(b["errors"][0]["message"], "格式或取值无效", "{b}");
        // The same for refusals before any route: an unknown path, a bad key.
        let r = app
            .http
            .get(app.url("/v1/settings"))
            .header("accept-language", "zh")
            .send()
            .await
            .unwrap();
        let (s, b) = crate::support::read(r).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(b["title"], "需要登录或凭据", "{b}");
    });
}

/// Disabling takes an optional reason, kept in the audit trail; a reason over 200 characters is
/// refused and disables nothing.
#[tokio::test]
async fn disabling_records_why() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/settings/disable",
                &key,
                Some(json!({"reason": "x".repeat(201)})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["errors"][0]["field"], "reason");
        let (_, settings) = app.call(Method::GET, "/v1/settings", &key, None).await;
        assert_eq!(settings["enabled"], true);
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/settings/disable",
                &key,
                Some(json!({"reason": "退款已重开 / refunds are open again"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["enabled"], false);
        let (_, audit) = app.call(Method::GET, "/v1/audit", &key, None).await;
        let entry = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "settings.disable")
            .unwrap_or_else(|| panic!("no disable in the audit: {audit}"));
        assert_eq!(
            entry["after"]["reason"], "退款已重开 / refunds are open again",
            "{entry}"
        );
        // Without a body, as before.
        let (s, _) = app
            .call(Method::POST, "/v1/settings/enable", &key, None)
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app
            .call(Method::POST, "/v1/settings/disable", &key, None)
            .await;
        assert_eq!(s, StatusCode::OK);
    });
}
