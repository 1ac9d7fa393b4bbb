//! The state every route, job and service shares: the store, the two clocks, the randomness
//! that spreads retries, the configuration, and the signal that wakes the local delivery worker
//! after a commit.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shiphold_domain::{Clock, ShopId, SystemClock};
use shiphold_storage::{MessageChannel, Store, Topic};
use tokio::sync::Notify;

use crate::config::ApiConfig;

/// The clock of the business rules: event windows, card expiry, history timestamps. Tests and
/// demos set it to an event day.
#[derive(Clone)]
pub struct BusinessClock(Arc<dyn Clock>);

/// The clock of real time: signature timestamps (the peer checks them against its own clock),
/// outbox scheduling, leases and retries, which happen in real time whatever day the business
/// clock says it is.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Clock>);

impl BusinessClock {
    /// A business clock reading `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self(clock)
    }

    /// Now, for the business rules.
    pub fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

impl WallClock {
    /// A wall clock reading `clock` (the system clock outside tests).
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self(clock)
    }

    /// Now, in real time.
    pub fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// One reading of both clocks, taken once per use case so that everything it writes agrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// By the business clock.
    pub business: DateTime<Utc>,
    /// By the wall clock.
    pub wall: DateTime<Utc>,
}

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    business: BusinessClock,
    wall: WallClock,
    jitter: Mutex<StdRng>,
    config: ApiConfig,
    wake: Notify,
    /// What new entries were committed to since the worker last looked.
    woken: Mutex<Woken>,
    metrics: crate::metrics::Metrics,
}

impl AppState {
    /// Builds the state with `clock` as the business clock, the system clock as the wall
    /// clock, and retry jitter seeded from the operating system.
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: ApiConfig) -> Self {
        Self::with_clocks(
            store,
            BusinessClock::new(clock),
            WallClock::new(Arc::new(SystemClock)),
            rand::rng().random(),
            config,
        )
    }

    /// Builds the state with both clocks and the jitter seed chosen (tests control all three).
    pub fn with_clocks(
        store: Store,
        business: BusinessClock,
        wall: WallClock,
        jitter_seed: u64,
        config: ApiConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                business,
                wall,
                jitter: Mutex::new(StdRng::seed_from_u64(jitter_seed)),
                config,
                wake: Notify::new(),
                woken: Mutex::new(Woken::default()),
                metrics: crate::metrics::Metrics::new(),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Both clocks, read once.
    pub fn now(&self) -> Now {
        Now {
            business: self.inner.business.now(),
            wall: self.inner.wall.now(),
        }
    }

    /// A fraction in `[0, max)` that spreads retries of many entries after an outage.
    pub fn jitter(&self, max: f64) -> f64 {
        if max <= 0.0 {
            return 0.0;
        }
        let mut rng = self
            .inner
            .jitter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rng.random_range(0.0..max)
    }

    /// The configuration.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// Where buyer messages go: the chat gateway when one is configured, else the inbox.
    pub fn message_channel(&self) -> MessageChannel {
        if self.inner.config.chat_gateway.is_some() {
            MessageChannel::ChatGateway
        } else {
            MessageChannel::Inbox
        }
    }

    /// The metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    /// Counts a new interception and wakes the worker for its messages.
    pub(crate) fn intercepted(&self, outcome: &crate::service::intercept::Intercepted) {
        if outcome.created {
            self.inner.metrics.intercepted();
            self.wake_for(&outcome.shop_id, &Topic::ALL);
        }
    }

    /// Wakes the local delivery worker: something was just committed to the outbox (of any
    /// topic and shop, as far as the caller knows).
    pub fn wake_worker(&self) {
        self.woken_set().topics.extend(Topic::ALL);
        self.inner.wake.notify_one();
    }

    /// Wakes the local delivery worker for new entries of `shop` in `topics`. It claims only
    /// for those topics, and not at all for a shop that already has as many entries claimed as
    /// it may: so a delivery that queued a buyer message does not make it claim ERP messages,
    /// and a busy shop's new interceptions wait for its next batch rather than make a claim
    /// walk past its backlog.
    pub fn wake_for(&self, shop: &ShopId, topics: &[Topic]) {
        self.woken_set()
            .shops
            .extend(topics.iter().map(|t| (*t, shop.clone())));
        self.inner.wake.notify_one();
    }

    fn woken_set(&self) -> std::sync::MutexGuard<'_, Woken> {
        // Each change is one insert: consistent even if a holder panicked.
        self.inner
            .woken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until [`AppState::wake_for`] or [`AppState::wake_worker`] is called; what was
    /// woken for since the last call.
    pub async fn woken(&self) -> Woken {
        self.inner.wake.notified().await;
        std::mem::take(&mut *self.woken_set())
    }
}

/// What the delivery worker was woken for.
#[derive(Debug, Default)]
pub struct Woken {
    /// Topics with new entries of any shop.
    pub topics: std::collections::BTreeSet<Topic>,
    /// New entries of these shops, by topic.
    pub shops: std::collections::HashSet<(Topic, ShopId)>,
}
