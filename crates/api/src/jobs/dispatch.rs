//! The dispatcher: claims due outbox entries by lease, runs a bounded number of deliveries at
//! once, and records each outcome — delivered, a retry on the schedule, or a dead letter.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use shiphold_domain::ShopId;
use shiphold_erp_adapter::DeliveryOutcome;
use shiphold_storage::{AttemptRecord, ClaimLimits, ClaimedEntry, MessageStatus, Topic};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::{Clients, chat, erp};
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
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    // Deliveries running now, per shop: a claim gives a shop at most `per_shop_concurrency`.
    let in_flight = Arc::new(InFlight::default());
    let mut running = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Whether a claim took all it was allowed: then more may be waiting, so claim again at
        // once. A claim that came back short found everything claimable now; another straight
        // away would only walk past the entries of shops at their limit, so the loop waits for
        // a delivery to end, new work, or the poll interval.
        let mut filled = false;
        for topic in Topic::ALL {
            let free = permits.available_permits();
            if free == 0 {
                break;
            }
            let total = u32::try_from(free).unwrap_or(u32::MAX).min(config.batch);
            let limits_total = usize::try_from(total).unwrap_or(usize::MAX);
            let limits = ClaimLimits {
                total,
                per_shop: config.per_shop_concurrency,
                in_flight: in_flight.snapshot(),
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
                    filled |= !entries.is_empty() && entries.len() >= limits_total;
                    for entry in entries {
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            break;
                        };
                        let (state, clients) = (state.clone(), clients.clone());
                        let slot = in_flight.start(&entry.shop_id);
                        running.spawn(async move {
                            deliver(&state, &clients, entry).await;
                            drop(slot);
                            drop(permit);
                        });
                    }
                }
                Err(error) => tracing::warn!(%error, %topic, "could not claim outbox entries"),
            }
        }
        while running.try_join_next().is_some() {}
        if filled {
            continue;
        }
        tokio::select! {
            _ = state.woken() => {}
            _ = tokio::time::sleep(config.poll_interval) => {}
            _ = running.join_next(), if !running.is_empty() => {}
            _ = shutdown.changed() => {}
        }
    }
    // Let started deliveries finish; their leases would otherwise make others wait.
    while running.join_next().await.is_some() {}
}

/// How many deliveries of each shop are running.
#[derive(Default)]
struct InFlight {
    shops: std::sync::Mutex<HashMap<ShopId, u32>>,
}

impl InFlight {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<ShopId, u32>> {
        // The map stays consistent even if a holder panicked: each change is one step.
        self.shops
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn snapshot(&self) -> HashMap<ShopId, u32> {
        self.counts().clone()
    }

    /// Counts a delivery of `shop` until the returned slot is dropped.
    fn start(self: &Arc<Self>, shop: &ShopId) -> Slot {
        *self.counts().entry(shop.clone()).or_insert(0) += 1;
        Slot {
            in_flight: Arc::clone(self),
            shop: shop.clone(),
        }
    }
}

/// One running delivery of a shop; dropping it ends the count (also if the delivery panicked).
struct Slot {
    in_flight: Arc<InFlight>,
    shop: ShopId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.in_flight.counts();
        if let Some(n) = counts.get_mut(&self.shop) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.shop);
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
