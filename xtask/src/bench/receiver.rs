//! A minimal ERP on loopback for the bench: it verifies every delivery's Standard Webhooks
//! signature with the adapter's own verification, answers `interception.requested` with every
//! item `locked` in the response (so the server applies the results at once), and counts.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use shiphold_erp_adapter::{DeliveryResponse, Event, ItemResult, Secret, receive_message};
use tokio::sync::oneshot;

/// How many refusals keep their reason for the report.
const KEPT_REFUSALS: usize = 5;

struct Inner {
    /// The shop's secret, known once the ERP link was made.
    secret: RwLock<Option<Secret>>,
    origin: Instant,
    /// When each verified message arrived, in microseconds since `origin`.
    arrivals: Mutex<Vec<u64>>,
    /// Webhook ids seen, to count redeliveries apart.
    seen: Mutex<HashSet<String>>,
    duplicates: AtomicU64,
    refused: AtomicU64,
    first_refusals: Mutex<Vec<String>>,
}

/// The running receiver; stopped when dropped.
pub(crate) struct Receiver {
    addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
}

impl Receiver {
    /// Listens on a free port of 127.0.0.1.
    pub(crate) async fn start() -> Result<Self> {
        let inner = Arc::new(Inner {
            secret: RwLock::new(None),
            origin: Instant::now(),
            arrivals: Mutex::new(Vec::new()),
            seen: Mutex::new(HashSet::new()),
            duplicates: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            first_refusals: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("the ERP receiver could not listen")?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(inner.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                eprintln!("xtask bench: the ERP receiver stopped: {e}");
            }
        });
        Ok(Self {
            addr,
            inner,
            stop: Some(stop),
        })
    }

    /// The endpoint to link the shop's ERP to.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/erp", self.addr)
    }

    /// The secret deliveries must be signed with.
    pub(crate) fn set_secret(&self, secret: Secret) {
        if let Ok(mut slot) = self.inner.secret.write() {
            *slot = Some(secret);
        }
    }

    /// Verified messages so far (redeliveries included).
    pub(crate) fn received(&self) -> u64 {
        self.inner.arrivals.lock().map_or(0, |a| a.len() as u64)
    }

    /// Verified messages that arrived between `from` and `to`.
    pub(crate) fn received_between(&self, from: Instant, to: Instant) -> u64 {
        let offset = |t: Instant| t.saturating_duration_since(self.inner.origin).as_micros() as u64;
        let (from, to) = (offset(from), offset(to));
        self.inner.arrivals.lock().map_or(0, |a| {
            a.iter().filter(|&&at| at >= from && at < to).count() as u64
        })
    }

    /// Messages delivered again with a webhook id already seen.
    pub(crate) fn duplicates(&self) -> u64 {
        self.inner.duplicates.load(Ordering::Relaxed)
    }

    /// Deliveries refused (bad signature, stale timestamp, unreadable body), and the first
    /// few reasons.
    pub(crate) fn refused(&self) -> (u64, Vec<String>) {
        (
            self.inner.refused.load(Ordering::Relaxed),
            self.inner
                .first_refusals
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default(),
        )
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let secrets: Vec<Secret> = inner
        .secret
        .read()
        .ok()
        .and_then(|s| s.clone())
        .into_iter()
        .collect();
    match receive_message(&headers, &body, &secrets, chrono::Utc::now()) {
        Ok((verified, message)) => {
            let at = inner.origin.elapsed().as_micros() as u64;
            if let Ok(mut arrivals) = inner.arrivals.lock() {
                arrivals.push(at);
            }
            let new = inner
                .seen
                .lock()
                .map(|mut seen| seen.insert(verified.webhook_id))
                .unwrap_or(true);
            if !new {
                inner.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            let results = match &message.event {
                Event::InterceptionRequested(requested) => Some(
                    requested
                        .items
                        .iter()
                        .map(|item| ItemResult::locked(item.sub_order_id.clone()))
                        .collect(),
                ),
                _ => None,
            };
            axum::Json(DeliveryResponse { results }).into_response()
        }
        Err(e) => {
            inner.refused.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut kept) = inner.first_refusals.lock()
                && kept.len() < KEPT_REFUSALS
            {
                kept.push(e.to_string());
            }
            (e.status(), e.to_string()).into_response()
        }
    }
}
