//! Receive messages in my ERP: a minimal HTTP server that verifies Shiphold's signed
//! deliveries with the framework-neutral receiver helper and answers with results at once.
//!
//! Run it with the shop's secret, then point the shop's ERP endpoint at it:
//!
//! ```text
//! SHIPHOLD_SECRET=whsec_... cargo run -p shiphold-erp-adapter --example receive_messages
//! ```
//!
//! Any HTTP framework works the same way: hand the raw body bytes and the headers to
//! `receive_message`. This example uses axum only because it is short.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use shiphold_erp_adapter::{
    DeliveryResponse, Event, ItemResult, ParseError, ReceiveError, Secret, receive_message,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
struct Erp {
    secrets: Arc<Vec<Secret>>,
    /// Ids of messages already handled: Shiphold delivers at least once.
    seen: Arc<Mutex<HashSet<String>>>,
}

async fn shiphold(
    State(erp): State<Erp>,
    headers: http::HeaderMap,
    body: Bytes,
) -> (http::StatusCode, String) {
    let (request, message) =
        match receive_message(&headers, &body, &erp.secrets, chrono::Utc::now()) {
            Ok(ok) => ok,
            // A newer Shiphold may send types this ERP does not know: acknowledge and ignore them.
            Err(ReceiveError::Parse(ParseError::UnknownType(t))) => {
                eprintln!("ignoring message type {t}");
                return (http::StatusCode::OK, "{}".into());
            }
            Err(e) => return (e.status(), e.to_string()),
        };
    let first_time = erp
        .seen
        .lock()
        .map(|mut seen| seen.insert(request.webhook_id.clone()))
        .unwrap_or(true);
    match message.event {
        Event::InterceptionRequested(requested) => {
            if first_time {
                println!(
                    "lock order {} items {:?}",
                    requested.order_id, requested.items
                );
            }
            // A real ERP would hold the items here; this one locks everything.
            let results = requested
                .items
                .iter()
                .map(|item| ItemResult::locked(&item.sub_order_id))
                .collect();
            let body = DeliveryResponse {
                results: Some(results),
            };
            (
                http::StatusCode::OK,
                serde_json::to_string(&body).unwrap_or_default(),
            )
        }
        Event::InterceptionReleased(released) => {
            if first_time {
                println!(
                    "release order {} items {:?}",
                    released.order_id, released.items
                );
            }
            (http::StatusCode::OK, "{}".into())
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = match std::env::var("SHIPHOLD_SECRET") {
        Ok(text) => Secret::parse(&text)?,
        Err(_) => {
            let secret = Secret::generate();
            println!("no SHIPHOLD_SECRET given; using {}", secret.to_whsec());
            secret
        }
    };
    let erp = Erp {
        secrets: Arc::new(vec![secret]),
        seen: Arc::default(),
    };
    let app = Router::new()
        .route("/shiphold", post(shiphold))
        .with_state(erp);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8091").await?;
    println!("listening on http://{}/shiphold", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
