//! Shared pieces of the tests: a fake Shiphold callback endpoint built on the crate's own
//! extractor, and message builders.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use chrono::{DateTime, Utc};
use http::request::Parts;
use shiphold_erp_adapter::*;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Serves `app` on a free loopback port until the test ends.
pub async fn spawn(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

pub fn requested(id: &str, shop: &str, sub_orders: &[&str]) -> Message {
    Message::new(
        id,
        Utc::now(),
        Event::InterceptionRequested(InterceptionRequested {
            shop_id: shop.into(),
            order_id: "order-7".into(),
            interception_id: format!("icp-{id}"),
            requested_by: Actor::Buyer,
            items: sub_orders
                .iter()
                .map(|s| Item::new(*s, format!("item {s}"), 1))
                .collect(),
            memo: "Intercepted: do not ship".into(),
            flag: Flag::Red,
        }),
    )
}

pub fn released(id: &str, shop: &str, sub_orders: &[&str]) -> Message {
    Message::new(
        id,
        Utc::now(),
        Event::InterceptionReleased(InterceptionReleased {
            shop_id: shop.into(),
            order_id: "order-7".into(),
            interception_id: format!("icp-{id}"),
            released_by: Actor::Agent,
            items: sub_orders
                .iter()
                .map(|s| Item::new(*s, format!("item {s}"), 1))
                .collect(),
        }),
    )
}

/// A minimal Shiphold callback endpoint: one secret per shop, replays answered with
/// `replayed: true`, items outside `known_items` reported `unknown`.
#[derive(Clone, Default)]
pub struct FakeShiphold {
    pub secrets: Arc<HashMap<String, Secret>>,
    pub known_items: Arc<HashSet<String>>,
    pub seen: Arc<Mutex<HashSet<String>>>,
    pub applied: Arc<Mutex<Vec<ResultsCallback>>>,
    /// When set, the clock the extractor checks timestamps against.
    pub now: Option<DateTime<Utc>>,
}

impl SecretSource for FakeShiphold {
    async fn secrets_for(&self, parts: &Parts) -> Option<Vec<Secret>> {
        // /v1/erp/shops/{shop_id}/results
        let shop = parts.uri.path().split('/').nth(4)?;
        self.secrets.get(shop).map(|s| vec![s.clone()])
    }

    fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }
}

async fn results(
    State(fake): State<FakeShiphold>,
    Path(shop_id): Path<String>,
    SignedJson { request, body }: SignedJson<ResultsCallback>,
) -> Result<axum::Json<CallbackReceipt>, (http::StatusCode, String)> {
    if body.shop_id != shop_id {
        return Err((http::StatusCode::BAD_REQUEST, "shop mismatch".into()));
    }
    let first = fake
        .seen
        .lock()
        .expect("lock")
        .insert(request.webhook_id.clone());
    if !first {
        return Ok(axum::Json(CallbackReceipt {
            replayed: true,
            results: vec![],
        }));
    }
    let receipts = body
        .results
        .iter()
        .map(|r| ResultReceipt {
            sub_order_id: r.sub_order_id.clone(),
            status: if fake.known_items.contains(&r.sub_order_id) {
                ResultStatus::Applied
            } else {
                ResultStatus::Unknown
            },
        })
        .collect();
    fake.applied.lock().expect("lock").push(body);
    Ok(axum::Json(CallbackReceipt {
        replayed: false,
        results: receipts,
    }))
}

impl FakeShiphold {
    pub fn new(shop: &str, secret: &Secret, known_items: &[&str]) -> Self {
        Self {
            secrets: Arc::new(HashMap::from([(shop.to_owned(), secret.clone())])),
            known_items: Arc::new(known_items.iter().map(|s| s.to_string()).collect()),
            ..Self::default()
        }
    }

    pub async fn start(&self) -> String {
        let app = Router::new()
            .route("/v1/erp/shops/{shop_id}/results", post(results))
            .with_state(self.clone());
        format!("http://{}", spawn(app).await)
    }

    pub fn applied(&self) -> Vec<ResultsCallback> {
        self.applied.lock().expect("lock").clone()
    }
}
