//! Background jobs that finish what requests began: deliver the outbox (ERP messages, chat
//! gateway messages) with retries and dead letters, remind buyers when refunds reopen, and
//! purge expired idempotency and replay records.
//!
//! Every replica runs the same loops; outbox leases keep them from doing an entry twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use shiphold_domain::InterceptionId;
use shiphold_erp_adapter::{DeliveryOutcome, EndpointPolicy, ErpClient, Event, Message, Secret};
use shiphold_messaging::gateway::GatewayEvent;
use shiphold_storage::{AttemptRecord, ClaimedEntry};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::service::{self, ChatPayload, ErpPayload, TOPIC_CHAT, TOPIC_ERP};
use crate::state::{AppState, Metrics};

/// Starts the jobs; the handle ends after `shutdown` turns true and in-flight deliveries finish.
pub fn spawn(state: AppState, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !state.config().run_jobs {
            return;
        }
        let clients = match Clients::new(&state) {
            Ok(c) => Arc::new(c),
            Err(error) => {
                tracing::error!(%error, "delivery jobs not started: cannot build the HTTP client");
                return;
            }
        };
        let mut tasks = JoinSet::new();
        tasks.spawn(dispatch_loop(state.clone(), clients, shutdown.clone()));
        tasks.spawn(housekeeping_loop(state.clone(), shutdown.clone()));
        while tasks.join_next().await.is_some() {}
        tracing::info!("delivery jobs stopped");
    })
}

/// The HTTP clients of the jobs.
struct Clients {
    erp: ErpClient,
    /// The chat gateway is the platform's own service, so the ERP address policy does not apply.
    gateway: ErpClient,
}

impl Clients {
    fn new(state: &AppState) -> Result<Self, shiphold_erp_adapter::ClientError> {
        let timeout = state.config().delivery.timeout;
        Ok(Self {
            erp: ErpClient::new(
                EndpointPolicy {
                    allow_insecure: state.config().allow_insecure_endpoints,
                },
                timeout,
            )?,
            gateway: ErpClient::new(
                EndpointPolicy {
                    allow_insecure: true,
                },
                timeout,
            )?,
        })
    }
}

async fn dispatch_loop(
    state: AppState,
    clients: Arc<Clients>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = state.config().delivery.clone();
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut running = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let mut claimed_any = false;
        for topic in [TOPIC_ERP, TOPIC_CHAT] {
            let free = permits.available_permits();
            if free == 0 {
                break;
            }
            let limit = u32::try_from(free).unwrap_or(u32::MAX).min(config.batch);
            match state
                .store()
                .claim(
                    topic,
                    &state.config().worker_id,
                    config.lease,
                    limit,
                    state.wire_now(),
                )
                .await
            {
                Ok(entries) => {
                    claimed_any |= !entries.is_empty();
                    for entry in entries {
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            break;
                        };
                        let (state, clients) = (state.clone(), clients.clone());
                        running.spawn(async move {
                            deliver(&state, &clients, entry).await;
                            drop(permit);
                        });
                    }
                }
                Err(error) => tracing::warn!(%error, topic, "could not claim outbox entries"),
            }
        }
        while running.try_join_next().is_some() {}
        if claimed_any {
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

fn attempt(
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

/// When the next try of an entry with `attempts` tries behind it is due, or `None` once the
/// schedule is used up. Jitter spreads retries of many entries after an outage.
fn next_try(
    schedule: &[Duration],
    attempts: i32,
    retry_after: Option<Duration>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let index = usize::try_from(attempts).unwrap_or(0);
    let base = *schedule.get(index)?;
    let jitter = if base.is_zero() {
        Duration::ZERO
    } else {
        base.mul_f64(rand::rng().random_range(0.0..0.2))
    };
    let delay = (base + jitter).max(retry_after.unwrap_or_default());
    Some(now + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::hours(24)))
}

async fn deliver(state: &AppState, clients: &Clients, entry: ClaimedEntry) {
    let started = Instant::now();
    let result = match entry.topic.as_str() {
        TOPIC_ERP => deliver_erp(state, clients, &entry, started).await,
        TOPIC_CHAT => deliver_chat(state, clients, &entry)
            .await
            .map(|status| Delivered {
                status,
                completed: false,
            }),
        other => Err(Verdict::Dead {
            status: None,
            error: format!("unknown topic '{other}'"),
        }),
    };
    let now = state.wire_now();
    let metrics = state.metrics();
    let recorded = match result {
        Ok(Delivered {
            completed: true, ..
        }) => {
            Metrics::inc(&metrics.deliveries_ok);
            Ok(true)
        }
        Ok(Delivered { status, .. }) => {
            Metrics::inc(&metrics.deliveries_ok);
            if entry.topic == TOPIC_CHAT {
                mark_message(state, &entry, "delivered", None).await;
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
        Err(Verdict::Retry {
            status,
            error,
            retry_after,
        }) => {
            match next_try(
                &state.config().delivery.retry_schedule,
                entry.attempts,
                retry_after,
                now,
            ) {
                Some(at) => {
                    Metrics::inc(&metrics.deliveries_retried);
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
                    Metrics::inc(&metrics.deliveries_dead);
                    tracing::warn!(id = entry.id, topic = %entry.topic, %error, "retries used up; dead letter");
                    if entry.topic == TOPIC_CHAT {
                        mark_message(state, &entry, "dead", Some(error.clone())).await;
                    }
                    state
                        .store()
                        .dead_letter(
                            entry.id,
                            &entry.lease_token,
                            attempt(now, started, "dead", status, Some(error)),
                        )
                        .await
                }
            }
        }
        Err(Verdict::Dead { status, error }) => {
            Metrics::inc(&metrics.deliveries_dead);
            tracing::warn!(id = entry.id, topic = %entry.topic, %error, "delivery refused; dead letter");
            if entry.topic == TOPIC_CHAT {
                mark_message(state, &entry, "dead", Some(error.clone())).await;
            }
            state
                .store()
                .dead_letter(
                    entry.id,
                    &entry.lease_token,
                    attempt(now, started, "dead", status, Some(error)),
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

/// A delivery the peer accepted; `completed` when the entry was already marked delivered in
/// the same transaction that applied the peer's answer.
struct Delivered {
    status: u16,
    completed: bool,
}

enum Verdict {
    Retry {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    Dead {
        status: Option<u16>,
        error: String,
    },
}

fn dead(error: impl Into<String>) -> Verdict {
    Verdict::Dead {
        status: None,
        error: error.into(),
    }
}

async fn deliver_erp(
    state: &AppState,
    clients: &Clients,
    entry: &ClaimedEntry,
    started: Instant,
) -> Result<Delivered, Verdict> {
    let payload: ErpPayload = serde_json::from_value(entry.payload.clone())
        .map_err(|e| dead(format!("unreadable payload: {e}")))?;
    let message: Message = serde_json::from_value(payload.message.clone())
        .map_err(|e| dead(format!("unreadable message: {e}")))?;
    let shop = entry.shop_id.clone();
    let record = state
        .store()
        .read(move |tx| tx.settings(&shop))
        .await
        .map_err(|e| Verdict::Retry {
            status: None,
            error: e.to_string(),
            retry_after: None,
        })?;
    let Some(link) = record.settings.advanced.erp.as_ref() else {
        return Err(dead("the shop no longer has an ERP linked"));
    };
    if !link.active {
        return Err(dead(format!(
            "the ERP link is switched off: {}",
            link.disabled_reason
                .as_deref()
                .unwrap_or("no reason recorded")
        )));
    }
    let secret = record
        .erp_secret
        .as_deref()
        .and_then(|s| Secret::parse(s).ok())
        .ok_or_else(|| dead("the shop has no signing secret"))?;
    let body = message.to_body();
    let outcome = clients
        .erp
        .deliver(
            &link.endpoint,
            &entry.message_id,
            state.wire_now().timestamp(),
            &body,
            &[secret],
        )
        .await
        .map_err(|e| dead(format!("endpoint not allowed: {e}")))?;
    match outcome {
        DeliveryOutcome::Delivered {
            status,
            results,
            note,
        } => {
            if let Some(note) = note {
                tracing::info!(id = entry.id, %note, "ERP answered with a body that is not a result list");
            }
            if let Event::InterceptionRequested(requested) = &message.event
                && let Ok(interception_id) = InterceptionId::parse(&requested.interception_id)
            {
                let (shop, config, now) =
                    (entry.shop_id.clone(), state.config().clone(), state.now());
                let results = results.unwrap_or_default();
                let (id, token, wire_now) = (entry.id, entry.lease_token.clone(), state.wire_now());
                // The answer's effects and the entry's completion commit together: one commit
                // fewer per message, and no window in which one is recorded without the other.
                state
                    .store()
                    .write(move |tx| {
                        service::apply_erp_results(
                            tx,
                            &config,
                            &shop,
                            &interception_id,
                            true,
                            &results,
                            now,
                        )?;
                        let record = attempt(wire_now, started, "delivered", Some(status), None);
                        tx.complete(id, &token, wire_now, &record)
                    })
                    .await
                    .map_err(|e| Verdict::Retry {
                        status: Some(status),
                        error: format!("could not apply the ERP's answer: {e}"),
                        retry_after: None,
                    })?;
                state.wake_worker();
                return Ok(Delivered {
                    status,
                    completed: true,
                });
            }
            Ok(Delivered {
                status,
                completed: false,
            })
        }
        DeliveryOutcome::Retry {
            retry_after,
            reason,
        } => Err(Verdict::Retry {
            status: None,
            error: reason,
            retry_after,
        }),
        DeliveryOutcome::Rejected { status, reason } => Err(Verdict::Dead {
            status: Some(status),
            error: reason,
        }),
        DeliveryOutcome::Gone => {
            switch_off_erp(state, entry).await;
            Err(Verdict::Dead {
                status: Some(410),
                error: "the ERP answered 410 Gone; the ERP link was switched off".into(),
            })
        }
    }
}

/// A 410 means the ERP wants no more messages: stop sending, and say why in the settings.
async fn switch_off_erp(state: &AppState, entry: &ClaimedEntry) {
    let (shop, now) = (entry.shop_id.clone(), state.now());
    let result = state
        .store()
        .write(move |tx| -> Result<(), shiphold_storage::StoreError> {
            tx.lock_settings(&shop)?;
            let mut record = tx.settings(&shop)?;
            let before = serde_json::to_value(&record.settings.advanced.erp).unwrap_or_default();
            if let Some(erp) = record.settings.advanced.erp.as_mut() {
                erp.active = false;
                erp.disabled_reason = Some(format!("the ERP answered 410 Gone at {now}"));
            }
            tx.save_settings(&shop, &record, now)?;
            tx.insert_audit(&shiphold_storage::AuditRecord {
                shop_id: shop.clone(),
                id: 0,
                at: now,
                actor: "system".into(),
                action: "settings.erp.switched_off".into(),
                target: "settings".into(),
                before,
                after: serde_json::to_value(&record.settings.advanced.erp).unwrap_or_default(),
            })
            .map(|_| ())
        })
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, "could not switch the ERP link off");
    }
}

async fn deliver_chat(
    state: &AppState,
    clients: &Clients,
    entry: &ClaimedEntry,
) -> Result<u16, Verdict> {
    let Some(gateway) = state.config().chat_gateway.clone() else {
        return Err(Verdict::Retry {
            status: None,
            error: "no chat gateway is configured".into(),
            retry_after: Some(Duration::from_secs(300)),
        });
    };
    let payload: ChatPayload = serde_json::from_value(entry.payload.clone())
        .map_err(|e| dead(format!("unreadable payload: {e}")))?;
    let secret = Secret::parse(&gateway.secret)
        .map_err(|e| dead(format!("the chat gateway secret is invalid: {e}")))?;
    let body = GatewayEvent::buyer_message_created(&payload.message)
        .to_body()
        .map_err(|e| dead(format!("cannot encode the gateway body: {e}")))?;
    let outcome = clients
        .gateway
        .deliver(
            &gateway.url,
            &entry.message_id,
            state.wire_now().timestamp(),
            &body,
            &[secret],
        )
        .await
        .map_err(|e| dead(format!("gateway URL not usable: {e}")))?;
    match outcome {
        DeliveryOutcome::Delivered { status, .. } => Ok(status),
        DeliveryOutcome::Retry {
            retry_after,
            reason,
        } => Err(Verdict::Retry {
            status: None,
            error: reason,
            retry_after,
        }),
        DeliveryOutcome::Rejected { status, reason } => Err(Verdict::Dead {
            status: Some(status),
            error: reason,
        }),
        DeliveryOutcome::Gone => Err(Verdict::Dead {
            status: Some(410),
            error: "the chat gateway answered 410 Gone".into(),
        }),
    }
}

async fn mark_message(
    state: &AppState,
    entry: &ClaimedEntry,
    status: &'static str,
    error: Option<String>,
) {
    let Ok(payload) = serde_json::from_value::<ChatPayload>(entry.payload.clone()) else {
        return;
    };
    let (shop, now) = (entry.shop_id.clone(), state.now());
    let delivered_at = (status == "delivered").then_some(now);
    let result = state
        .store()
        .write(move |tx| {
            tx.set_message_status(
                &shop,
                &payload.message_id,
                status,
                delivered_at,
                error.as_deref(),
            )
        })
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, "could not record the message's delivery status");
    }
}

/// Reminders when refunds reopen, and purging of records past their keep time.
async fn housekeeping_loop(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(30);
    loop {
        if *shutdown.borrow() {
            break;
        }
        if let Err(error) = remind_refunds(&state).await {
            tracing::warn!(%error, "refund reminders failed; will try again");
        }
        // Idempotency keys are kept at least 24 hours, webhook ids as long as the ERP protocol
        // promises to recognise a replay (30 days).
        let now = state.now();
        if let Err(error) = state
            .store()
            .purge_idempotency(now - chrono::Duration::hours(48))
            .await
        {
            tracing::warn!(%error, "could not purge idempotency keys");
        }
        if let Err(error) = state
            .store()
            .purge_webhooks(now - chrono::Duration::days(30))
            .await
        {
            tracing::warn!(%error, "could not purge the webhook replay guard");
        }
        // Delivered entries are kept a week for inspection (attempts, timing); dead letters stay
        // until an admin re-drives them.
        if let Err(error) = state
            .store()
            .purge_outbox(state.wire_now() - chrono::Duration::days(7))
            .await
        {
            tracing::warn!(%error, "could not purge delivered outbox entries");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// When refunds reopen, reminds every buyer whose items are still intercepted (not refunded)
/// to file the refund; once per interception.
pub async fn remind_refunds(state: &AppState) -> Result<usize, crate::ApiError> {
    let (now, config) = (state.now(), state.config().clone());
    let sent = state
        .store()
        .write(move |tx| -> Result<usize, crate::ApiError> {
            let due = tx.interceptions_due_for_reminder(now, 500)?;
            let mut sent = 0;
            for (shop, interception_id) in due {
                let Some(interception) = tx.interception(&shop, &interception_id)? else {
                    continue;
                };
                let Some(order) = tx.order(&shop, &interception.order_id)? else {
                    continue;
                };
                let messages = tx.messages_for_order(&shop, &order.id)?;
                if messages.iter().any(|m| {
                    m.kind == "refund_reminder"
                        && m.interception_id.as_ref() == Some(&interception_id)
                }) {
                    continue;
                }
                let active: Vec<_> = interception
                    .lines
                    .iter()
                    .filter(|l| l.state.is_active())
                    .map(|l| l.sub_order_id.clone())
                    .collect();
                if active.is_empty() {
                    continue;
                }
                let record = tx.settings(&shop)?;
                let locale = service::interception_locale(tx, &shop, &order, &interception_id)?;
                let ctx = service::MessageContext::load(tx, &shop, &record, &config, now)?;
                service::send_buyer_message(
                    tx,
                    &ctx,
                    &order,
                    service::Outgoing {
                        kind: shiphold_messaging::TemplateKind::RefundReminder,
                        locale,
                        interception_id: Some(interception_id.clone()),
                        items: service::titles(&order, active),
                        card: None,
                    },
                )?;
                sent += 1;
            }
            Ok(sent)
        })
        .await?;
    if sent > 0 {
        state.wake_worker();
    }
    Ok(sent)
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
        assert_eq!(next_try(&schedule, 0, None, now), Some(now));
        let second = next_try(&schedule, 1, None, now).unwrap_or(now);
        assert!(
            second >= now + chrono::Duration::seconds(5)
                && second <= now + chrono::Duration::seconds(6)
        );
        // Retry-After wins when it asks for more time.
        let later = next_try(&schedule, 1, Some(Duration::from_secs(120)), now).unwrap_or(now);
        assert!(later >= now + chrono::Duration::seconds(120));
        assert_eq!(next_try(&schedule, 3, None, now), None);
    }
}
