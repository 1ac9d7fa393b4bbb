//! The clients and the extractor against real loopback servers: how each kind of answer is
//! classified, what the endpoint policy refuses, and how the callback endpoint rejects.

use crate::support::{FakeShiphold, requested, spawn};
use axum::Router;
use axum::routing::post;
use chrono::Utc;
use shiphold_erp_adapter::*;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

fn client() -> ErpClient {
    ErpClient::new(EndpointPolicy::INSECURE, TIMEOUT).expect("client builds")
}

async fn deliver(client: &ErpClient, url: &str, secret: &Secret) -> DeliveryOutcome {
    let message = requested("msg_c1", "shop-1", &["so-1", "so-2"]);
    client
        .deliver(
            url,
            &message.id,
            Utc::now().timestamp(),
            &message.to_body(),
            std::slice::from_ref(secret),
        )
        .await
        .expect("endpoint allowed")
}

/// An ERP that answers each path in a different way; `/verified` checks the signature with the
/// crate's extractor before answering with results.
async fn erp(secret: &Secret) -> String {
    let verified = |SignedJson { request, body }: SignedJson<Message>| async move {
        assert_eq!(request.webhook_id, body.id);
        let Event::InterceptionRequested(r) = body.event else {
            return (http::StatusCode::BAD_REQUEST, String::new());
        };
        let results: Vec<ItemResult> = r
            .items
            .iter()
            .map(|i| ItemResult::failed(&i.sub_order_id, "picked"))
            .collect();
        (
            http::StatusCode::OK,
            serde_json::to_string(&DeliveryResponse {
                results: Some(results),
            })
            .expect("json"),
        )
    };
    let app = Router::new()
        .route("/verified", post(verified))
        .route("/empty", post(|| async { "" }))
        .route(
            "/braces",
            post(|| async { (http::StatusCode::ACCEPTED, "{}") }),
        )
        .route("/garbage", post(|| async { "<html>ok</html>" }))
        .route("/gone", post(|| async { http::StatusCode::GONE }))
        .route(
            "/bad",
            post(|| async { (http::StatusCode::UNPROCESSABLE_ENTITY, "no such order") }),
        )
        .route(
            "/down",
            post(|| async { http::StatusCode::SERVICE_UNAVAILABLE }),
        )
        .route(
            "/busy",
            post(|| async {
                (
                    http::StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "7")],
                    "",
                )
            }),
        )
        .route(
            "/busy-date",
            post(|| async {
                let at = (Utc::now() + chrono::Duration::seconds(120))
                    .to_rfc2822()
                    .replace("+0000", "GMT");
                (
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", at)],
                    "",
                )
            }),
        )
        .route(
            "/redirect",
            post(|| async {
                (
                    http::StatusCode::FOUND,
                    [("location", "http://127.0.0.1:9/")],
                    "",
                )
            }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                ""
            }),
        )
        .with_state(StaticSecrets::new(vec![secret.clone()]));
    format!("http://{}", spawn(app).await)
}

#[tokio::test]
async fn every_kind_of_answer_is_classified_for_the_retry_logic() {
    let secret = Secret::generate();
    let base = erp(&secret).await;
    let c = client();

    match deliver(&c, &format!("{base}/verified"), &secret).await {
        DeliveryOutcome::Delivered {
            status: 200,
            results: Some(results),
            note: None,
        } => {
            assert_eq!(
                results,
                vec![
                    ItemResult::failed("so-1", "picked"),
                    ItemResult::failed("so-2", "picked")
                ]
            );
        }
        other => panic!("verified: {other:?}"),
    }
    // Signed with another secret: the extractor answers 401, a permanent refusal.
    match deliver(&c, &format!("{base}/verified"), &Secret::generate()).await {
        DeliveryOutcome::Rejected {
            status: 401,
            reason,
        } => {
            assert!(reason.contains("signature-mismatch"), "{reason}");
        }
        other => panic!("wrong secret: {other:?}"),
    }
    assert_eq!(
        deliver(&c, &format!("{base}/empty"), &secret).await,
        DeliveryOutcome::Delivered {
            status: 200,
            results: None,
            note: None
        }
    );
    assert_eq!(
        deliver(&c, &format!("{base}/braces"), &secret).await,
        DeliveryOutcome::Delivered {
            status: 202,
            results: None,
            note: None
        }
    );
    match deliver(&c, &format!("{base}/garbage"), &secret).await {
        DeliveryOutcome::Delivered {
            status: 200,
            results: None,
            note: Some(note),
        } => {
            assert!(note.contains("ignored"), "{note}");
        }
        other => panic!("garbage: {other:?}"),
    }
    assert_eq!(
        deliver(&c, &format!("{base}/gone"), &secret).await,
        DeliveryOutcome::Gone
    );
    assert_eq!(
        deliver(&c, &format!("{base}/bad"), &secret).await,
        DeliveryOutcome::Rejected {
            status: 422,
            reason: "no such order".into()
        }
    );
    assert!(matches!(
        deliver(&c, &format!("{base}/down"), &secret).await,
        DeliveryOutcome::Retry {
            retry_after: None,
            ..
        }
    ));
    assert!(matches!(
        deliver(&c, &format!("{base}/busy"), &secret).await,
        DeliveryOutcome::Retry { retry_after: Some(d), .. } if d == Duration::from_secs(7)
    ));
    match deliver(&c, &format!("{base}/busy-date"), &secret).await {
        DeliveryOutcome::Retry {
            retry_after: Some(d),
            ..
        } => {
            assert!((110..=120).contains(&d.as_secs()), "{d:?}");
        }
        other => panic!("busy-date: {other:?}"),
    }
    // Redirects are not followed: they could lead past the endpoint policy.
    assert!(matches!(
        deliver(&c, &format!("{base}/redirect"), &secret).await,
        DeliveryOutcome::Rejected { status: 302, .. }
    ));
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retried() {
    let secret = Secret::generate();
    let base = erp(&secret).await;
    let quick =
        ErpClient::new(EndpointPolicy::INSECURE, Duration::from_millis(300)).expect("client");
    match deliver(&quick, &format!("{base}/slow"), &secret).await {
        DeliveryOutcome::Retry { reason, .. } => assert!(reason.starts_with("timeout"), "{reason}"),
        other => panic!("slow: {other:?}"),
    }

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    match deliver(&client(), &format!("http://{addr}/x"), &secret).await {
        DeliveryOutcome::Retry {
            retry_after: None,
            reason,
        } => {
            assert!(reason.starts_with("connection failed"), "{reason}");
        }
        other => panic!("refused: {other:?}"),
    }
}

#[tokio::test]
async fn the_strict_policy_refuses_before_sending_anything() {
    let secret = Secret::generate();
    let base = erp(&secret).await;
    let port = base.rsplit(':').next().expect("port");
    let strict = ErpClient::new(EndpointPolicy::STRICT, TIMEOUT).expect("client");
    let message = requested("msg_p", "shop-1", &["so-1"]);
    let body = message.to_body();
    let now = Utc::now().timestamp();
    let attempt = |url: String| {
        let strict = strict.clone();
        let body = body.clone();
        let secret = secret.clone();
        async move { strict.deliver(&url, "msg_p", now, &body, &[secret]).await }
    };
    assert!(matches!(
        attempt(format!("{base}/verified")).await,
        Err(EndpointError::Scheme(_))
    ));
    assert!(matches!(
        attempt(format!("https://127.0.0.1:{port}/verified")).await,
        Err(EndpointError::ForbiddenAddress {
            kind: "loopback",
            ..
        })
    ));
    assert!(matches!(
        attempt(format!("https://localhost:{port}/verified")).await,
        Err(EndpointError::LocalName(_))
    ));
    // A name that resolves to this machine is caught by the client's resolver. The machine's
    // own host name is such a name wherever /etc/hosts maps it to loopback.
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim().to_owned();
        let local_only = tokio::net::lookup_host((host.as_str(), 443))
            .await
            .map(|addrs| {
                let addrs: Vec<_> = addrs.collect();
                !addrs.is_empty() && addrs.iter().all(|a| forbidden_kind(a.ip()).is_some())
            })
            .unwrap_or(false);
        if local_only && !host.is_empty() {
            let r = attempt(format!("https://{host}:{port}/verified")).await;
            assert!(
                matches!(r, Err(EndpointError::ForbiddenAddress { .. })),
                "{r:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_callback_client_and_endpoint_agree_on_signatures_replays_and_errors() {
    let secret = Secret::generate();
    let fake = FakeShiphold::new("shop-1", &secret, &["so-1"]);
    let base = fake.start().await;
    let client = CallbackClient::new(base.clone(), TIMEOUT).expect("client");
    let callback = ResultsCallback::new(
        "shop-1",
        "icp-1",
        vec![ItemResult::locked("so-1"), ItemResult::locked("so-404")],
        Utc::now(),
    );

    let receipt = client
        .send(&secret, "msg_cb1", &callback)
        .await
        .expect("accepted");
    assert!(!receipt.replayed);
    assert_eq!(
        receipt.results.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![ResultStatus::Applied, ResultStatus::Unknown]
    );
    let again = client
        .send(&secret, "msg_cb1", &callback)
        .await
        .expect("replay answered");
    assert!(again.replayed);
    assert_eq!(fake.applied().len(), 1);

    let wrong = client
        .send(&Secret::generate(), "msg_cb2", &callback)
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong, CallbackError::Status { status: 401, body } if body.contains("/problems/signature-mismatch")),
        "{wrong:?}"
    );
    assert!(!wrong.is_retryable());

    let stale = client
        .send_at(&secret, "msg_cb3", Utc::now().timestamp() - 600, &callback)
        .await
        .unwrap_err();
    assert!(
        matches!(&stale, CallbackError::Status { status: 401, body } if body.contains("stale-timestamp")),
        "{stale:?}"
    );

    let other_shop = ResultsCallback {
        shop_id: "shop-2".into(),
        ..callback.clone()
    };
    let unknown = client
        .send(&secret, "msg_cb4", &other_shop)
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, CallbackError::Status { status: 404, .. }),
        "{unknown:?}"
    );
    assert_eq!(fake.applied().len(), 1, "nothing refused was applied");

    let nowhere = CallbackClient::new("http://127.0.0.1:9", TIMEOUT).expect("client");
    let err = nowhere
        .send(&secret, "msg_cb5", &callback)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn the_extractor_uses_the_states_clock_and_refuses_malformed_requests() {
    let secret = Secret::generate();
    let mut fake = FakeShiphold::new("shop-1", &secret, &["so-1"]);
    let then = Utc::now() - chrono::Duration::hours(3);
    fake.now = Some(then);
    let base = fake.start().await;
    let url = format!("{base}/v1/erp/shops/shop-1/results");
    let body =
        ResultsCallback::new("shop-1", "icp-1", vec![ItemResult::locked("so-1")], then).to_body();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    // Signed at the state's time, three hours ago: accepted.
    let mut headers = http::HeaderMap::new();
    SignedHeaders::sign(
        std::slice::from_ref(&secret),
        "msg_x1",
        then.timestamp(),
        &body,
    )
    .apply(&mut headers);
    let r = http
        .post(&url)
        .headers(headers)
        .body(body.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 200);

    // Missing headers: 400 problem+json.
    let r = http
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // Signed but not a callback body: 400.
    let junk = b"{\"shop_id\": 5}".to_vec();
    let mut headers = http::HeaderMap::new();
    SignedHeaders::sign(
        std::slice::from_ref(&secret),
        "msg_x2",
        then.timestamp(),
        &junk,
    )
    .apply(&mut headers);
    let r = http
        .post(&url)
        .headers(headers)
        .body(junk)
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 400);
    let problem: serde_json::Value = r.json().await.expect("problem json");
    assert_eq!(problem["type"], "/problems/malformed-request");
}
