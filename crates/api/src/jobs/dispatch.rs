//! The dispatcher: claims due outbox entries by lease, runs a bounded number of deliveries at
//! once, and records each outcome — delivered, a retry on the schedule, or a dead letter.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use shiphold_domain::ShopId;
use shiphold_erp_adapter::DeliveryOutcome;
use shiphold_storage::{AttemptRecord, ClaimLimits, ClaimedEntry, MessageStatus, Topic};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::{Clients, chat, erp, marketplace, qimen};
use crate::metrics::DeliveryOutcome as Outcome;
use crate::state::AppState;

/// What a deliverer made of one attempt.
pub(super) enum Verdict {
    /// The peer accepted it; `completed` when the entry was already completed in the same
    /// transaction that applied the peer's answer.
    Delivered { status: u16, completed: bool },
    /// Try again later.
    Retry {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// Give up: a dead letter an admin may re-drive.
    Dead { status: Option<u16>, error: String },
    /// Keep it aside until its peer can take it again (the ERP link is switched off); the
    /// attempt does not count against the retry schedule.
    Hold { reason: String },
}

impl Verdict {
    /// What an answer that delivered nothing means: a retry when the peer may take it later
    /// (a timeout, a 5xx, a 429), a dead letter when it refused the message (another 4xx).
    pub(super) fn undelivered(outcome: DeliveryOutcome) -> Verdict {
        match outcome {
            DeliveryOutcome::Retry {
                retry_after,
                reason,
            } => Verdict::Retry {
                status: None,
                error: reason,
                retry_after,
            },
            DeliveryOutcome::Rejected { status, reason } => Verdict::Dead {
                status: Some(status),
                error: if reason.trim().is_empty() {
                    format!("refused with HTTP {status} (empty body)")
                } else {
                    format!("refused with HTTP {status}: {reason}")
                },
            },
            DeliveryOutcome::Gone => Verdict::Dead {
                status: Some(410),
                error: "the peer answered 410 Gone".into(),
            },
            DeliveryOutcome::Delivered { status, .. } => Verdict::Delivered {
                status,
                completed: false,
            },
        }
    }
}

/// A dead letter without a status code.
pub(super) fn dead(error: impl Into<String>) -> Verdict {
    Verdict::Dead {
        status: None,
        error: error.into(),
    }
}

pub(super) fn attempt(
    at: DateTime<Utc>,
    started: Instant,
    outcome: &str,
    status: Option<u16>,
    error: Option<String>,
) -> AttemptRecord {
    AttemptRecord {
        at,
        outcome: outcome.to_owned(),
        status_code: status.map(i32::from),
        error,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    }
}

pub(super) async fn run(
    state: AppState,
    clients: Arc<Clients>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = state.config().delivery.clone();
    let slots = config.concurrency.max(1);
    let permits = Arc::new(Semaphore::new(slots));
    // Deliveries running now, per shop and topic: at most `per_shop_concurrency` at once.
    let in_flight = Arc::new(InFlight::default());
    let mut ready = Ready::new(&config);
    let mut running: JoinSet<(Topic, ShopId)> = JoinSet::new();
    // The topics to claim for now: all at first and on every poll; otherwise those new entries
    // were committed to, and those a shop of which runs low on claimed entries.
    let mut due = Due::all();
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Whether a claim took all it asked for: then more may be waiting, so claim again at
        // once. A claim that came back short found everything claimable now; another straight
        // away would only walk past the entries of shops at their limit, so the loop waits for
        // new work, the poll interval, or a shop running low on claimed entries.
        let mut filled = Due::none();
        for topic in Topic::ALL {
            if !due.has(topic) {
                continue;
            }
            let want = ready.wanted(slots, permits.available_permits(), config.batch);
            if want == 0 {
                break;
            }
            let limits = ClaimLimits {
                total: want,
                per_shop: ready.cap,
                in_flight: ready.held_for_claim(topic, &in_flight),
            };
            match state
                .store()
                .claim(
                    topic,
                    &state.config().worker_id,
                    config.lease,
                    limits,
                    state.now().wall,
                )
                .await
            {
                Ok(entries) => {
                    if !entries.is_empty()
                        && entries.len() >= usize::try_from(want).unwrap_or(usize::MAX)
                    {
                        filled.add(topic);
                    }
                    ready.push(entries);
                }
                Err(error) => tracing::warn!(%error, %topic, "could not claim outbox entries"),
            }
        }
        let stale = ready.start(&permits, &in_flight, |entry, permit, slot| {
            let (state, clients) = (state.clone(), clients.clone());
            running.spawn(async move {
                let key = (entry.topic, entry.shop_id.clone());
                deliver(&state, &clients, entry).await;
                drop(slot);
                drop(permit);
                key
            });
        });
        give_back(&state, stale).await;
        due = filled;
        while let Some(ended) = running.try_join_next() {
            due.merge(ready.runs_low(ended, &in_flight));
        }
        if due.any() {
            continue;
        }
        tokio::select! {
            woken = state.woken() => due = ready.woken_for(woken, &in_flight),
            _ = tokio::time::sleep(config.poll_interval) => due = Due::all(),
            Some(ended) = running.join_next(), if !running.is_empty() => {
                due = ready.runs_low(ended, &in_flight);
            }
            _ = shutdown.changed() => {}
        }
    }
    // Entries claimed ahead go back at once rather than wait out their leases on another
    // replica; started deliveries finish, or their leases would make others wait.
    give_back(&state, ready.drain()).await;
    while running.join_next().await.is_some() {}
}

/// A set of topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Due([bool; Topic::ALL.len()]);

impl Due {
    fn all() -> Self {
        Due([true; Topic::ALL.len()])
    }

    fn none() -> Self {
        Due([false; Topic::ALL.len()])
    }

    fn index(topic: Topic) -> usize {
        Topic::ALL.iter().position(|t| *t == topic).unwrap_or(0)
    }

    fn add(&mut self, topic: Topic) {
        self.0[Self::index(topic)] = true;
    }

    fn has(&self, topic: Topic) -> bool {
        self.0[Self::index(topic)]
    }

    fn merge(&mut self, other: Due) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine |= theirs;
        }
    }

    fn any(&self) -> bool {
        self.0.contains(&true)
    }
}

async fn give_back(state: &AppState, entries: Vec<(i64, String)>) {
    if entries.is_empty() {
        return;
    }
    let n = entries.len();
    if let Err(error) = state.store().give_back(entries).await {
        tracing::warn!(%error, entries = n, "could not give claimed entries back; their leases will run out");
    }
}

/// Entries claimed ahead of free delivery slots, in the order they were claimed.
///
/// A delivery slot that frees up takes the next of these without a claim of its own, so a
/// busy shop's deliveries cost one claim per several messages instead of one each. A shop holds
/// at most `cap` entries, running and claimed ahead together (twice its concurrency), and is
/// claimed for again once it is down to `low`. Since a claim never hands out a key's entry
/// while an earlier one of that key is open, holding entries ahead keeps each key's order.
/// An entry that waited so long that its lease could run out during the delivery is given
/// back instead of delivered, so that two workers never deliver it at once.
struct Ready {
    entries: VecDeque<(ClaimedEntry, Instant)>,
    queued: HashMap<(Topic, ShopId), u32>,
    /// How many deliveries of one shop (and topic) run at once.
    per_shop: u32,
    /// How many entries one shop may hold here, running or claimed ahead.
    cap: u32,
    /// At or below this many a shop is claimed for again.
    low: u32,
    /// How long a claimed entry may wait here and still be started.
    fresh_for: Duration,
}

impl Ready {
    fn new(config: &crate::config::DeliveryConfig) -> Self {
        let per_shop = config.per_shop_concurrency.max(1);
        // Room for a whole delivery (its timeout) and some slack within the lease.
        let slack = config.timeout.min(config.lease / 10);
        let fresh_for = config
            .lease
            .saturating_sub(config.timeout)
            .saturating_sub(slack);
        // Without a second of room an entry could not wait here at all: no claiming ahead.
        let cap = if fresh_for >= Duration::from_secs(1) {
            per_shop.saturating_mul(2)
        } else {
            per_shop
        };
        Self {
            entries: VecDeque::new(),
            queued: HashMap::new(),
            per_shop,
            cap,
            low: cap.saturating_sub((per_shop / 2).max(1)),
            fresh_for,
        }
    }

    /// How many entries the next claim should ask for: enough to fill every slot and as many
    /// again ahead, at most `batch`.
    fn wanted(&self, slots: usize, free: usize, batch: u32) -> u32 {
        let held = (slots - free.min(slots)) + self.entries.len();
        let room = (slots.saturating_mul(2)).saturating_sub(held);
        u32::try_from(room).unwrap_or(u32::MAX).min(batch)
    }

    /// What each shop holds, as the claim counts it: a shop above `low` counts as full, so it
    /// is claimed for in batches rather than one entry per delivery that ends.
    fn held_for_claim(&self, topic: Topic, in_flight: &InFlight) -> HashMap<ShopId, u32> {
        let mut held = in_flight.snapshot(topic);
        for ((t, shop), n) in &self.queued {
            if *t == topic {
                *held.entry(shop.clone()).or_insert(0) += n;
            }
        }
        for n in held.values_mut() {
            if *n > self.low {
                *n = self.cap;
            }
        }
        held
    }

    fn push(&mut self, entries: Vec<ClaimedEntry>) {
        let now = Instant::now();
        for entry in entries {
            *self
                .queued
                .entry((entry.topic, entry.shop_id.clone()))
                .or_insert(0) += 1;
            self.entries.push_back((entry, now));
        }
    }

    /// Starts, in order, every entry whose shop has a free slot while slots last; returns the
    /// stale ones to give back.
    fn start(
        &mut self,
        permits: &Arc<Semaphore>,
        in_flight: &Arc<InFlight>,
        mut spawn: impl FnMut(ClaimedEntry, tokio::sync::OwnedSemaphorePermit, Slot),
    ) -> Vec<(i64, String)> {
        let mut stale = Vec::new();
        let mut waiting = VecDeque::with_capacity(self.entries.len());
        while let Some((entry, claimed)) = self.entries.pop_front() {
            let key = (entry.topic, entry.shop_id.clone());
            if claimed.elapsed() > self.fresh_for {
                self.unqueue(&key);
                stale.push((entry.id, entry.lease_token));
                continue;
            }
            if in_flight.count(&key) >= self.per_shop {
                waiting.push_back((entry, claimed));
                continue;
            }
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                waiting.push_back((entry, claimed));
                waiting.extend(self.entries.drain(..));
                break;
            };
            self.unqueue(&key);
            let slot = in_flight.start(key);
            spawn(entry, permit, slot);
        }
        self.entries = waiting;
        stale
    }

    fn unqueue(&mut self, key: &(Topic, ShopId)) {
        if let Some(n) = self.queued.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.queued.remove(key);
            }
        }
    }

    /// The topic to claim for when the shop of a delivery that ended is now down to `low`.
    fn runs_low(
        &self,
        ended: Result<(Topic, ShopId), tokio::task::JoinError>,
        in_flight: &InFlight,
    ) -> Due {
        let Ok(key) = ended else {
            return Due::all();
        };
        let mut due = Due::none();
        if self.runs_low_on(&key, in_flight) {
            due.add(key.0);
        }
        due
    }

    /// Whether a shop holds (running and claimed ahead) no more than `low` entries of a topic.
    fn runs_low_on(&self, key: &(Topic, ShopId), in_flight: &InFlight) -> bool {
        in_flight.count(key) + self.queued.get(key).copied().unwrap_or(0) <= self.low
    }

    /// The topics to claim for after a wake: those with new entries of any shop, and those with
    /// new entries of a shop that is not already holding all it may.
    fn woken_for(&self, woken: crate::state::Woken, in_flight: &InFlight) -> Due {
        let mut due = Due::none();
        woken.topics.into_iter().for_each(|t| due.add(t));
        for key in woken.shops {
            if self.runs_low_on(&key, in_flight) {
                due.add(key.0);
            }
        }
        due
    }

    /// Every entry still waiting, to give back.
    fn drain(&mut self) -> Vec<(i64, String)> {
        self.queued.clear();
        self.entries
            .drain(..)
            .map(|(entry, _)| (entry.id, entry.lease_token))
            .collect()
    }
}

/// How many deliveries of each shop are running, per topic: a shop's ERP and the chat gateway
/// are different peers, so a slow ERP does not hold up the shop's buyer messages.
#[derive(Default)]
struct InFlight {
    shops: std::sync::Mutex<HashMap<(Topic, ShopId), u32>>,
}

impl InFlight {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<(Topic, ShopId), u32>> {
        // The map stays consistent even if a holder panicked: each change is one step.
        self.shops
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The running deliveries of `topic`, per shop.
    fn snapshot(&self, topic: Topic) -> HashMap<ShopId, u32> {
        self.counts()
            .iter()
            .filter(|((t, _), _)| *t == topic)
            .map(|((_, shop), n)| (shop.clone(), *n))
            .collect()
    }

    fn count(&self, key: &(Topic, ShopId)) -> u32 {
        self.counts().get(key).copied().unwrap_or(0)
    }

    /// Counts a delivery of a shop's entry of a topic until the returned slot is dropped.
    fn start(self: &Arc<Self>, key: (Topic, ShopId)) -> Slot {
        *self.counts().entry(key.clone()).or_insert(0) += 1;
        Slot {
            in_flight: Arc::clone(self),
            key,
        }
    }
}

/// One running delivery of a shop; dropping it ends the count (also if the delivery panicked).
struct Slot {
    in_flight: Arc<InFlight>,
    key: (Topic, ShopId),
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.in_flight.counts();
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// When the next try of an entry with `attempts` tries behind it is due, or `None` once the
/// schedule is used up. `jitter` (a fraction in [0, 0.2)) spreads retries of many entries
/// after an outage.
pub(super) fn next_try(
    schedule: &[Duration],
    attempts: i32,
    retry_after: Option<Duration>,
    jitter: f64,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let index = usize::try_from(attempts).unwrap_or(0);
    let base = *schedule.get(index)?;
    let delay = (base + base.mul_f64(jitter)).max(retry_after.unwrap_or_default());
    Some(now + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::hours(24)))
}

async fn deliver(state: &AppState, clients: &Clients, entry: ClaimedEntry) {
    let started = Instant::now();
    let verdict = match entry.topic {
        Topic::Erp => erp::deliver(state, clients, &entry, started).await,
        Topic::Chat => chat::deliver(state, clients, &entry).await,
        Topic::Marketplace => marketplace::deliver(state, clients, &entry).await,
        Topic::Qimen => qimen::deliver(state, clients, &entry, started).await,
    };
    let now = state.now().wall;
    let metrics = state.metrics();
    let recorded = match verdict {
        Verdict::Delivered {
            completed: true, ..
        } => {
            metrics.delivery(entry.topic, Outcome::Delivered, started.elapsed());
            Ok(true)
        }
        Verdict::Delivered { status, .. } => {
            metrics.delivery(entry.topic, Outcome::Delivered, started.elapsed());
            if entry.topic == Topic::Chat {
                chat::mark(state, &entry, MessageStatus::Delivered, None).await;
            }
            state
                .store()
                .complete(
                    entry.id,
                    &entry.lease_token,
                    now,
                    attempt(now, started, "delivered", Some(status), None),
                )
                .await
        }
        Verdict::Retry {
            status,
            error,
            retry_after,
        } => {
            let schedule = &state.config().delivery.retry_schedule;
            match next_try(
                schedule,
                entry.attempts,
                retry_after,
                state.jitter(0.2),
                now,
            ) {
                Some(at) => {
                    metrics.delivery(entry.topic, Outcome::Retry, started.elapsed());
                    if entry.topic == Topic::Chat {
                        // Still pending, but the order's history says what went wrong so far.
                        chat::mark(state, &entry, MessageStatus::Pending, Some(error.clone()))
                            .await;
                    }
                    tracing::info!(id = entry.id, topic = %entry.topic, attempts = entry.attempts, %error, next = %at, "delivery failed; will retry");
                    state
                        .store()
                        .retry(
                            entry.id,
                            &entry.lease_token,
                            at,
                            attempt(now, started, "retry", status, Some(error)),
                        )
                        .await
                }
                None => {
                    tracing::warn!(id = entry.id, topic = %entry.topic, %error, "retries used up; dead letter");
                    bury(state, &entry, started, status, error).await
                }
            }
        }
        Verdict::Dead { status, error } => {
            tracing::warn!(id = entry.id, topic = %entry.topic, %error, "delivery refused; dead letter");
            bury(state, &entry, started, status, error).await
        }
        Verdict::Hold { reason } => {
            metrics.delivery(entry.topic, Outcome::Held, started.elapsed());
            tracing::info!(id = entry.id, topic = %entry.topic, %reason, "held until the link is on again");
            state
                .store()
                .hold(
                    entry.id,
                    &entry.lease_token,
                    attempt(now, started, "held", None, Some(reason)),
                )
                .await
        }
    };
    match recorded {
        Ok(true) => {}
        Ok(false) => tracing::info!(
            id = entry.id,
            "lease lost before the outcome was recorded; another worker owns the entry"
        ),
        Err(error) => {
            tracing::warn!(id = entry.id, %error, "could not record the delivery outcome; the lease will run out and it is tried again")
        }
    }
}

/// Dead-letters an entry (and marks its buyer message dead).
async fn bury(
    state: &AppState,
    entry: &ClaimedEntry,
    started: Instant,
    status: Option<u16>,
    error: String,
) -> Result<bool, shiphold_storage::StoreError> {
    state
        .metrics()
        .delivery(entry.topic, Outcome::Dead, started.elapsed());
    if entry.topic == Topic::Chat {
        chat::mark(state, entry, MessageStatus::Dead, Some(error.clone())).await;
    }
    let now = state.now().wall;
    state
        .store()
        .dead_letter(
            entry.id,
            &entry.lease_token,
            attempt(now, started, "dead", status, Some(error)),
        )
        .await
}

/// A retry on the schedule for a failure on Shiphold's side (the store could not be read), with
/// its error kept in the attempt.
pub(super) fn retry_later(error: impl std::fmt::Display) -> Verdict {
    Verdict::Retry {
        status: None,
        error: error.to_string(),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let schedule = [
            Duration::ZERO,
            Duration::from_secs(5),
            Duration::from_secs(30),
        ];
        assert_eq!(next_try(&schedule, 0, None, 0.1, now), Some(now));
        assert_eq!(
            next_try(&schedule, 1, None, 0.0, now),
            Some(now + chrono::Duration::seconds(5))
        );
        assert_eq!(
            next_try(&schedule, 1, None, 0.1, now),
            Some(now + chrono::Duration::milliseconds(5_500))
        );
        // Retry-After wins when it asks for more time.
        assert_eq!(
            next_try(&schedule, 1, Some(Duration::from_secs(120)), 0.1, now),
            Some(now + chrono::Duration::seconds(120))
        );
        assert_eq!(next_try(&schedule, 3, None, 0.0, now), None);
    }
}
