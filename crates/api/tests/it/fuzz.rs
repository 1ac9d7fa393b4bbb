//! Hundreds of random and malformed bodies on every write route: never a 5xx, always a
//! problem document for errors.

use rand::{Rng, SeedableRng};
use reqwest::Method;
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
