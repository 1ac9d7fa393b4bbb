//! Hundreds of random and malformed bodies on every write route: never a 5xx, always a
//! problem document for errors.

use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shiphold_api::{Auth, route_table};

use crate::on_every_backend;

fn random_value(rng: &mut rand::rngs::StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 2 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>() * 1e6),
        4 => json!(
            [
                "",
                "0",
                "s1",
                "none",
                "red",
                "zh-CN",
                "awaiting_shipment",
                "2026-11-11T00:00:00Z",
                "\u{0}",
                "拦截"
            ][rng.random_range(0..10)]
        ),
        5 => json!("x".repeat(rng.random_range(0..3000))),
        6 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "buyer_id",
                "version",
                "sub_orders",
                "memo_text",
                "flag",
                "accept_terms",
                "name",
                "time_zone",
                "refunds_off_from",
                "refunds_off_until",
                "refunds_reopen_at",
                "sub_order_ids",
                "locale",
                "endpoint",
                "locking",
                "label",
                "roles",
                "text",
                "card_expiry_seconds",
                "test_buyers",
                "test_mode",
                "id",
                "item_id",
                "title",
                "quantity",
                "amount",
                "shipping_status",
            ];
            let mut map = serde_json::Map::new();
            for _ in 0..rng.random_range(0..6) {
                map.insert(
                    keys[rng.random_range(0..keys.len())].to_owned(),
                    random_value(rng, depth + 1),
                );
            }
            Value::Object(map)
        }
    }
}

fn mangle(rng: &mut rand::rngs::StdRng, body: &Value) -> Vec<u8> {
    let text = body.to_string().into_bytes();
    match rng.random_range(0..4) {
        0 => text,
        1 => text[..rng.random_range(0..=text.len())].to_vec(),
        2 => (0..rng.random_range(0..64))
            .map(|_| rng.random::<u8>())
            .collect(),
        _ => {
            let mut t = text;
            if !t.is_empty() {
                let i = rng.random_range(0..t.len());
                t[i] = rng.random();
            }
            t
        }
    }
}

#[tokio::test]
async fn random_bodies_never_cause_a_server_error() {
    on_every_backend!(|_| {}, |app| {
        let (shop, key) = app.ready_shop().await;
        app.order(
            &key,
            "F-1",
            "buyer",
            &[("s1", "awaiting_shipment"), ("s2", "awaiting_shipment")],
        )
        .await;
        let (_, card) = app
            .call(Method::POST, "/v1/orders/F-1/cards", &key, None)
            .await;
        let token = card["link"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        let mut rng = rand::rngs::StdRng::seed_from_u64(11_11);
        let writes: Vec<_> = route_table()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect();
        let mut sent = 0;
        for route in &writes {
            let path = route
                .path
                .replace("{order_id}", "F-1")
                .replace("{token}", &token)
                .replace("{shop_id}", &shop)
                .replace("{kind}", "acknowledgement")
                .replace("{locale}", "en")
                .replace("{card_id}", "crd_x")
                .replace("{interception_id}", "icp_x")
                .replace("{window_id}", "evw_x")
                .replace("{key_id}", "key_x")
                .replace("{entry_id}", "1");
            for _ in 0..200 {
                let value = random_value(&mut rng, 0);
                let body = mangle(&mut rng, &value);
                let method = Method::from_bytes(route.method.as_bytes()).unwrap();
                let mut req = app
                    .http
                    .request(method, app.url(&path))
                    .header("content-type", "application/json")
                    .body(body);
                if route.auth == Auth::Key {
                    req = req.bearer_auth(&key);
                }
                let response = req.send().await.unwrap();
                let (status, value) = crate::support::read(response).await;
                assert!(
                    status.as_u16() < 500,
                    "{} {path} answered {status}: {value}",
                    route.method
                );
                sent += 1;
            }
        }
        eprintln!("sent {sent} random bodies to {} write routes", writes.len());
    });
}

/// Bad query values and path segments that are not UTF-8 get problem documents, on every route,
/// like bad bodies do (axum's own extractors answer them with plain text).
#[tokio::test]
async fn bad_query_strings_and_path_segments_are_problem_documents() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let agent = app.staff(&key, "fuzz.agent@example.com", "agent").await;
        let mut checked = 0;
        for route in route_table() {
            let method = Method::from_bytes(route.method.as_bytes()).unwrap();
            let mut paths = Vec::new();
            if route.path.contains('{') {
                // Every parameter undecodable at once: the route must still answer a problem.
                let mut bad = String::new();
                let mut rest = route.path.as_str();
                while let Some(open) = rest.find('{') {
                    bad.push_str(&rest[..open]);
                    bad.push_str("%FF%FE");
                    rest = &rest[open + rest[open..].find('}').unwrap() + 1..];
                }
                bad.push_str(rest);
                paths.push((bad, None));
            } else if route.method == "GET" {
                for query in ["limit=abc", "limit=-1", "limit=99999999999", "cursor=%FF"] {
                    paths.push((format!("{}?{query}", route.path), Some(query)));
                }
            }
            for (path, query) in paths {
                let mut req = app.http.request(method.clone(), app.url(&path));
                if route.auth == Auth::Key {
                    req = req.bearer_auth(&key);
                }
                if route.auth == Auth::Session {
                    req = req
                        .header("cookie", &agent.cookie)
                        .header("x-csrf-token", &agent.csrf);
                }
                let response = req.send().await.unwrap();
                let status = response.status();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let (_, body) = crate::support::read(response).await;
                assert!(
                    status.as_u16() < 500,
                    "{} {path}: {status} {body}",
                    route.method
                );
                if status.is_client_error() {
                    assert_eq!(
                        content_type, "application/problem+json",
                        "{} {path}: {status} {body}",
                        route.method
                    );
                    assert!(
                        body["type"]
                            .as_str()
                            .is_some_and(|t| t.starts_with("/problems/"))
                    );
                }
                // A limit that does not parse names the parameter.
                if query == Some("limit=abc") && status.is_client_error() {
                    assert_eq!(body["errors"][0]["field"], "limit", "{path}: {body}");
                }
                checked += 1;
            }
        }
        assert!(checked > 40, "only {checked} requests checked");
    });
}

/// What the OpenAPI document allows is accepted, and only that: `null` for an optional body, a
/// whole number written `2.0`, an empty cursor (the first page); an array where an object
/// belongs is refused, naming where; a method a path does not have answers 405 whatever
/// `Idempotency-Key` it sent.
#[tokio::test]
async fn bodies_and_queries_are_read_as_the_document_says() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        app.order(&key, "D-1", "b1", &[("s1", "awaiting_shipment")])
            .await;
        let send = |method: Method, path: &str, body: &str| {
            app.req(method, path, &key)
                .header("content-type", "application/json")
                .body(body.to_owned())
                .send()
        };
        // `null` is "no options", as the document's `oneOf [null, DirectBody]` says.
        let (s, b) = crate::support::read(
            send(Method::POST, "/v1/orders/D-1/interceptions", "null")
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");

        // A whole number written as a float is an integer to JSON Schema, and to the server.
        let order = r#"{"buyer_id":"b1","version":2.0,"sub_orders":[{"id":"s1","item_id":"i","title":"t","quantity":1.0,"amount":5.0,"shipping_status":"awaiting_shipment"}]}"#;
        let (s, b) =
            crate::support::read(send(Method::PUT, "/v1/orders/D-1", order).await.unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let half = order
            .replace("\"quantity\":1.0", "\"quantity\":1.5")
            .replace("2.0", "3");
        let (s, b) =
            crate::support::read(send(Method::PUT, "/v1/orders/D-1", &half).await.unwrap()).await;
        assert_eq!(
            (s, b["errors"][0]["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("sub_orders[0].quantity")
            ),
            "{b}"
        );

        // serde would read a struct from an array of its fields; the API does not.
        for (path, body, field) in [
            ("/v1/settings/memo", "[null, null]", "body"),
            (
                "/v1/orders/D-1",
                r#"{"buyer_id":"b1","version":4,"sub_orders":[["s1","i","t",1,5,"closed"]]}"#,
                "sub_orders[0]",
            ),
        ] {
            let (s, b) = crate::support::read(send(Method::PUT, path, body).await.unwrap()).await;
            assert_eq!(
                (s, b["errors"][0]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{path} {body}: {b}"
            );
        }

        // An empty cursor is the first page; a cursor the list never gave is refused, named.
        let (s, b) = app
            .call(Method::GET, "/v1/orders?cursor=", &key, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = app
            .call(Method::GET, "/v1/orders?cursor=nope", &key, None)
            .await;
        assert_eq!(
            (s, b["errors"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor")),
            "{b}"
        );
        assert!(!b["errors"][0]["message"].as_str().unwrap().is_empty());

        // PUT on a POST-only route is 405, not an Idempotency-Key complaint.
        let r = app
            .req(Method::PUT, "/v1/orders/D-1/interceptions", &key)
            .header("idempotency-key", "two words")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    });
}
