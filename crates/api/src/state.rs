//! The state every route and job shares: the store, the clock, the configuration, and the
//! signal that wakes the local delivery worker after a commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use shiphold_domain::Clock;
use shiphold_storage::Store;
use tokio::sync::Notify;

use crate::config::ApiConfig;

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    config: ApiConfig,
    wake: Notify,
    metrics: Metrics,
}

/// Counters exported at `/metrics`.
#[derive(Default)]
pub struct Metrics {
    /// Requests answered, by status class.
    pub http_2xx: AtomicU64,
    /// 4xx answers.
    pub http_4xx: AtomicU64,
    /// 5xx answers.
    pub http_5xx: AtomicU64,
    /// Deliveries that succeeded.
    pub deliveries_ok: AtomicU64,
    /// Deliveries scheduled for a retry.
    pub deliveries_retried: AtomicU64,
    /// Deliveries that were dead-lettered.
    pub deliveries_dead: AtomicU64,
    /// Interceptions created.
    pub interceptions_created: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl AppState {
    /// Builds the state.
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: ApiConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                wake: Notify::new(),
                metrics: Metrics::default(),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// Now, by the injected clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    /// Now by the wall clock, for the wire and the outbox: signature timestamps are checked by
    /// the peer against its own clock, and leases and retries run in real time, while the
    /// injected clock may be set to an event day (demos, tests) for the business rules.
    pub fn wire_now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }

    /// The configuration.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Wakes the local delivery worker: something was just committed to the outbox.
    pub fn wake_worker(&self) {
        self.inner.wake.notify_one();
    }

    /// Waits until [`AppState::wake_worker`] is called.
    pub async fn woken(&self) {
        self.inner.wake.notified().await;
    }
}
