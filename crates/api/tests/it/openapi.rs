//! The OpenAPI document covers every route the server answers, with its method, its
//! credential and its problem responses, and is what `/openapi.json` serves.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;
use shiphold_api::openapi::{API_KEY_SCHEME, SESSION_SCHEME, WEBHOOK_SCHEME, openapi};
use shiphold_api::problem::PROBLEM_JSON;
use shiphold_api::{Auth, RouteInfo, route_table};
use shiphold_testkit::TestDatabase;

use crate::support::TestApp;

fn document() -> Value {
    serde_json::to_value(openapi()).expect("the document serialises")
}

fn operation<'a>(doc: &'a Value, route: &RouteInfo) -> &'a Value {
    let op = &doc["paths"][route.path.as_str()][route.method.to_ascii_lowercase()];
    assert!(
        op.is_object(),
        "{} {} is served but missing from the OpenAPI document: annotate its handler with \
         #[utoipa::path] and list it in crates/api/src/openapi.rs",
        route.method,
        route.path
    );
    op
}

/// A response, with a `$ref` to `components/responses` resolved.
fn resolve<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(target) => {
            let name = target
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("unexpected response reference {target}"));
            let resolved = &doc["components"]["responses"][name];
            assert!(resolved.is_object(), "{target} does not resolve");
            resolved
        }
        None => response,
    }
}

fn is_problem(doc: &Value, response: &Value) -> bool {
    let content = &resolve(doc, response)["content"][PROBLEM_JSON];
    content["schema"]["$ref"] == "#/components/schemas/Problem"
}

#[test]
fn every_route_is_documented_with_its_method() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    for route in route_table() {
        let op = operation(&doc, &route);
        assert!(
            op["operationId"].is_string(),
            "{} {}",
            route.method,
            route.path
        );
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{} {} documents no response",
            route.method,
            route.path
        );
    }
}

#[test]
fn the_document_has_no_route_the_server_does_not_answer() {
    let served: BTreeSet<(String, String)> = route_table()
        .iter()
        .map(|r| (r.method.to_ascii_lowercase(), r.path.to_owned()))
        .collect();
    let doc = document();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            assert!(
                served.contains(&(method.clone(), path.clone())),
                "the document has {method} {path}, which the server does not serve"
            );
            let id = op["operationId"].as_str().expect("operationId").to_owned();
            assert!(ids.insert(id.clone()), "operationId {id} is used twice");
        }
    }
}

#[test]
fn every_route_documents_its_credential_and_its_problems() {
    let doc = document();
    for route in route_table() {
        let op = operation(&doc, &route);
        let name = format!("{} {}", route.method, route.path);
        let schemes: Vec<&str> = op["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|requirement| requirement.as_object())
            .flat_map(|requirement| requirement.keys().map(String::as_str))
            .collect();
        let params: Vec<(&str, &str)> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or(""),
                    p["in"].as_str().unwrap_or(""),
                )
            })
            .collect();
        match route.auth {
            // A system's key, or a person's session with the same roles.
            Auth::Key => assert_eq!(schemes, [API_KEY_SCHEME, SESSION_SCHEME], "{name}"),
            Auth::Session => assert_eq!(schemes, [SESSION_SCHEME], "{name}"),
            Auth::Password => {
                assert!(schemes.is_empty(), "{name}");
                assert!(op["responses"]["429"].is_object(), "{name}: 429");
            }
            Auth::Signature => {
                assert_eq!(schemes, [WEBHOOK_SCHEME], "{name}");
                for header in ["webhook-id", "webhook-timestamp"] {
                    assert!(params.contains(&(header, "header")), "{name}: {header}");
                }
            }
            Auth::Token => {
                assert!(schemes.is_empty(), "{name}");
                assert!(params.contains(&("token", "path")), "{name}");
            }
            Auth::Public => assert!(schemes.is_empty(), "{name}"),
        }
        // Every path parameter of the template is documented.
        for segment in route.path.split('/') {
            if let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(params.contains(&(param, "path")), "{name}: {{{param}}}");
            }
        }

        let responses = op["responses"].as_object().expect("responses");
        let problems: Vec<&String> = responses
            .iter()
            .filter(|(status, response)| status.starts_with('4') && is_problem(&doc, response))
            .map(|(status, _)| status)
            .collect();
        // A route can refuse a request when it takes a credential or names an object.
        let can_refuse = route.auth != Auth::Public || route.path.contains('{');
        if can_refuse {
            assert!(
                !problems.is_empty(),
                "{name} documents no 4xx problem response"
            );
        }
        if route.auth != Auth::Public {
            // An invitation that cannot be used is gone (410), like an expired card.
            let unauthenticated = ["401", "404", "410"]
                .iter()
                .any(|s| responses.get(*s).is_some_and(|r| is_problem(&doc, r)));
            assert!(
                unauthenticated,
                "{name}: a bad credential's answer is undocumented"
            );
        }
        if route.auth == Auth::Key {
            assert!(problems.iter().any(|s| *s == "401"), "{name}: 401");
        }
        // Errors are problem documents, except readiness, whose 503 is its answer.
        for (status, response) in responses {
            if status.as_str() >= "400" && name != "GET /readyz" {
                assert!(
                    is_problem(&doc, response),
                    "{name}: {status} is not a problem"
                );
            }
        }
        if op["requestBody"].is_object() {
            // Signed bodies are verified as bytes, whatever their declared type.
            let statuses: &[&str] = match route.auth {
                Auth::Signature => &["400", "413"],
                _ => &["400", "413", "415"],
            };
            for &status in statuses {
                assert!(
                    responses.get(status).is_some_and(|r| is_problem(&doc, r)),
                    "{name} takes a body but does not document {status}"
                );
            }
        }
    }
}

#[test]
fn every_reference_resolves() {
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    match item.as_str() {
                        Some(target) if key == "$ref" => out.push(target),
                        _ => refs(item, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
            _ => {}
        }
    }
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
    let types = doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
        .as_array()
        .expect("the problem types are listed");
    assert!(types.contains(&Value::from("/problems/not-found")));
}

#[tokio::test]
async fn the_server_serves_the_document() {
    let app = TestApp::start(TestDatabase::sqlite(), |_| {}).await;
    let response = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "content type"
    );
    let served: Value = response.json().await.expect("JSON");
    assert_eq!(served, document());
    app.stop().await;
}

/// The site's root leads to the console, and the pages' icon is served.
#[tokio::test]
async fn the_root_leads_to_the_console_and_the_icon_is_served() {
    let app =
        crate::support::TestApp::start(shiphold_testkit::TestDatabase::sqlite(), |_| {}).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/console");
    let r = client.get(app.url("/favicon.svg")).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(r.text().await.unwrap().starts_with("<svg"));
    app.stop().await;
}

/// The interception terms can be read before they are accepted, at the address the settings
/// give, and are of the version the settings call current.
#[tokio::test]
async fn the_terms_are_readable_before_they_are_accepted() {
    let app =
        crate::support::TestApp::start(shiphold_testkit::TestDatabase::sqlite(), |_| {}).await;
    let (_, key) = app.shop("Acme").await;
    let (_, settings) = app
        .call(reqwest::Method::GET, "/v1/settings", &key, None)
        .await;
    assert_eq!(settings["terms"]["accepted"], false);
    let url = settings["terms"]["url"].as_str().unwrap();
    let version = settings["terms"]["current_version"].as_str().unwrap();
    let r = reqwest::get(app.url(url)).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(page.contains(&format!("Version {version}")), "{page}");
    assert!(page.contains("拦截发货条款") && page.contains("best-effort"));
    app.stop().await;
}

/// The JSON examples of a docs page, in order.
fn json_examples(page: &str) -> Vec<Value> {
    let path = format!("{}/../../docs/{page}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split("```json\n")
        .skip(1)
        .map(|block| {
            let body = block.split("```").next().unwrap_or_default();
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{page}: {e} in {body}"))
        })
        .collect()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// The connector page's request and answer examples carry exactly the fields the server reads
/// and answers with, as the OpenAPI document declares them.
#[test]
fn the_marketplace_pages_examples_are_the_servers_shapes() {
    let doc = document();
    let schema = |name: &str| keys(&doc["components"]["schemas"][name]["properties"]);
    let examples = json_examples("connectors/marketplace.md");
    let [body, link, write_back, hook_link, hook_body] = examples.as_slice() else {
        panic!(
            "expected the request, the link, the write-back, the webhook link and the webhook body examples: {examples:?}"
        );
    };
    assert_eq!(keys(body), schema("MarketplaceBody"));
    assert_eq!(keys(link), schema("MarketplaceView"));
    assert_eq!(keys(write_back), schema("WriteBackView"));
    assert_eq!(keys(hook_link), schema("MarketplaceWebhookView"));
    // The webhook's body as the server writes it.
    let payload = shiphold_api::service::marketplace_outbox::MarketplacePayload {
        order_id: "TB-5001".into(),
        memo: Some("gift wrap".into()),
        reset: false,
        flag: 1,
    };
    let shop = shiphold_domain::ShopId::parse("shp_1").unwrap();
    let sent: Value =
        serde_json::from_slice(&shiphold_api::service::marketplace_outbox::webhook_body(
            &shop,
            &payload,
            chrono::Utc::now(),
        ))
        .unwrap();
    assert_eq!(keys(hook_body), keys(&sent));
    assert_eq!(keys(&hook_body["data"]), keys(&sent["data"]));
    assert_eq!(hook_body["type"], sent["type"]);
}

/// Likewise for the Qimen page: the link request and the link as the settings show it.
#[test]
fn the_qimen_pages_examples_are_the_servers_shapes() {
    let doc = document();
    let schema = |name: &str| keys(&doc["components"]["schemas"][name]["properties"]);
    let examples = json_examples("connectors/qimen.md");
    let [body, link] = examples.as_slice() else {
        panic!("expected the request and the link examples: {examples:?}");
    };
    assert_eq!(keys(body), schema("QimenBody"));
    assert_eq!(keys(link), schema("QimenView"));
}
